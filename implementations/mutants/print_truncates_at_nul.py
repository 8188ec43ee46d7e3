"""Mutant ``mut-print-truncates-at-nul`` (model blocking): stdout stops at a NUL byte.

Defect: the blocking reference, except that each chunk is printed only up to its first
NUL byte, ``emit(chunk.split(b"\\0")[0])``.  The echo is the whole chunk, unchanged.

The classic mistake it mirrors: the seed's ``printf("%s\\n", buf)``, which stops at the
first NUL because it takes the buffer for a C string, carried over to Python by someone
told that "the print must behave like the C one".  The echo, sent with its length, is
right; only the log is short.

Must be caught by PRINT-3 (SHOULD: received bytes are printed exactly, NUL included).
"""

from __future__ import annotations

import socket

from implementations._common import Options, emit, listen, run


def serve_client(conn: socket.socket, options: Options) -> None:
    with conn:
        try:
            while chunk := conn.recv(options.bufsize):
                emit(chunk.split(b"\0")[0])  # DEFECT: printf("%s"): a C string ends at NUL
                if options.echo:
                    conn.sendall(chunk)
        except OSError:
            pass


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            serve_client(conn, options)


if __name__ == "__main__":
    run(main, "MUTANT: blocking server that prints each chunk only up to its first NUL byte.")
