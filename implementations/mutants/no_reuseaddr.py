"""Mutant ``mut-no-reuseaddr`` (model threaded): the listener has no SO_REUSEADDR.

Defect: the threaded reference with its listening socket made by hand, without
``setsockopt(SO_REUSEADDR)`` before bind().  Everything is served correctly.

The classic mistake it mirrors: the five-call listener of the tutorial (socket, bind,
listen), and "Address already in use" on every second run, blamed on the machine.  When
a server stops with clients connected, it closes those connections first, so they go
into TIME_WAIT on the server's port for 60 s (Linux); without SO_REUSEADDR, bind() on a
port with connections in TIME_WAIT fails with EADDRINUSE, and the restart fails.

Must be caught by STOP-3 (SHOULD: a server stopped with clients connected can be
restarted on the same port at once).
"""

from __future__ import annotations

import socket
import threading

from implementations._common import Options, run
from implementations.blocking import serve_client


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # DEFECT: no sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(socket.SOMAXCONN)
    return sock


def main(options: Options) -> None:
    with _listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve_client, args=(conn, options), daemon=True).start()


if __name__ == "__main__":
    run(main, "MUTANT: threaded server whose listener lacks SO_REUSEADDR.")
