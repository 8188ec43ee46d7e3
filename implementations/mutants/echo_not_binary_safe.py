"""Mutant ``mut-echo-not-binary-safe`` (model blocking): the echo goes through text.

Defect: the blocking reference, except that each chunk is echoed as
``chunk.decode(errors="ignore").encode()``.  Printing is unchanged (the bytes as
received).  Bytes that are not valid UTF-8 vanish from the echo, and so do the pieces of
a multi-byte character that a 255-byte recv() cut in two.

The classic mistake it mirrors: treating the network as text.  Python 3 makes recv()
return bytes, the student wants a str "to work with", gets UnicodeDecodeError on the
first binary byte, and silences it with errors="ignore" (or "replace") instead of not
decoding at all.  An ASCII test passes; anything else is corrupted.

Must be caught by ECHO-2 (all 256 byte values come back unchanged).
"""

from __future__ import annotations

import socket

from implementations._common import Options, emit, listen, run


def serve_client(conn: socket.socket, options: Options) -> None:
    with conn:
        try:
            while chunk := conn.recv(options.bufsize):
                emit(chunk)
                if options.echo:
                    text = chunk.decode(errors="ignore")  # DEFECT: bytes are not text
                    conn.sendall(text.encode())
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
    run(main, "MUTANT: blocking server whose echo is decoded and re-encoded as UTF-8 text.")
