"""Mutant ``mut-exits-after-first-client`` (model blocking): one client, then exit.

Defect: the blocking reference without its accept loop: the server accepts one
connection, serves it to its end, and main() returns, so the process exits with status 0
while the clients queued in the backlog are reset.

The classic mistake it mirrors: the first socket program, written to the tutorial's
linear story (socket, bind, listen, accept, recv/send, close) with no loop around the
accept, and tested with a single client.

Must be caught by ACCEPT-3 (clients queued behind the first are served in turn) and
DISCONNECT-4 (two thousand clients one after another are all served).
"""

from __future__ import annotations

from implementations._common import Options, listen, run
from implementations.blocking import serve_client


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        conn, _ = listener.accept()  # DEFECT: no `while True:` around accept and serve
        serve_client(conn, options)


if __name__ == "__main__":
    run(main, "MUTANT: blocking server that serves its first client and exits.")
