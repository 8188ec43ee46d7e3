"""Mutant ``mut-rst-crash`` (model blocking): a connection reset kills the server.

Defect: the blocking reference with its ``except OSError`` removed.  When a client
resets its connection, recv() raises ConnectionResetError (send() raises it, or
BrokenPipeError), nothing catches it, and the exception unwinds main(): the server exits
with a traceback, for the client that left and for everyone queued behind it.

The classic mistake it mirrors: handling the two outcomes of recv() that tutorials show,
data and b"" (EOF), and not the third: an error.  In C it is the seed's loop that spins
on -1; in Python it is an uncaught exception.  Clients that leave politely never show it.

Must be caught by DISCONNECT-2 (a client resetting mid-transfer does not crash the
server) and ROBUST-2 (clients that vanish mid-transfer do not crash it).
"""

from __future__ import annotations

import socket

from implementations._common import Options, emit, listen, run


def serve_client(conn: socket.socket, options: Options) -> None:
    with conn:
        # DEFECT: no try/except OSError: ECONNRESET and EPIPE propagate out of main()
        while chunk := conn.recv(options.bufsize):
            emit(chunk)
            if options.echo:
                conn.sendall(chunk)


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            serve_client(conn, options)


if __name__ == "__main__":
    run(main, "MUTANT: blocking server that dies when a client resets its connection.")
