"""Mutant ``mut-threaded-thread-leak`` (model threaded): finished threads never end.

Defect: the threaded reference, except that a connection's thread, once its client has
left and its socket is closed, waits on the server's ``stopping`` event "so that it can
be joined at shutdown".  Nothing sets that event before the process exits, so every
client that ever connected leaves a thread behind, asleep forever.  Every client is
served correctly, and the sockets are closed.

The classic mistake it mirrors: keeping workers alive for an orderly shutdown (a list of
threads joined in a finally), and parking them on an event instead of letting them
return.  Each thread holds its stack; after enough clients, thread creation fails.

Must be caught by LEAK-2 (the thread count returns to its idle value after clients leave).
"""

from __future__ import annotations

import socket
import threading

from implementations._common import Options, listen, run
from implementations.blocking import serve_client

stopping = threading.Event()  # set at shutdown, the student thought; nothing sets it


def _worker(conn: socket.socket, options: Options) -> None:
    serve_client(conn, options)
    stopping.wait()  # DEFECT: the thread outlives its client, asleep until shutdown


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            worker = threading.Thread(target=_worker, args=(conn, options), daemon=True)
            try:
                worker.start()
            except RuntimeError:
                conn.close()


if __name__ == "__main__":
    run(main, "MUTANT: threaded server whose connection threads never end.")
