"""Mutant ``mut-ignores-sigterm`` (model blocking): SIGTERM only sets a flag.

Defect: the blocking reference, except that SIGTERM gets a handler that sets ``stopping``
for the accept loop to check between clients.  The handler runs, but the loop is asleep
in accept() or in a client's recv(), and since Python 3.5 (PEP 475) those calls are
retried after a handler that raises nothing.  The flag is seen only when a client leaves
and the next accept() is due; with a client connected, SIGTERM does nothing.

The classic mistake it mirrors: the "graceful shutdown" flag, `while (!stop)` around a
blocking accept, with a handler that sets it.  In C, SA_RESTART (the BSD semantics
signal() installs on Linux) restarts accept() the same way.

Must be caught by STOP-1 (on SIGTERM the server exits within the stop deadline, and its
clients' connections are closed).
"""

from __future__ import annotations

import signal
from types import FrameType

from implementations._common import Options, listen, run
from implementations.blocking import serve_client

stopping = False


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    global stopping
    stopping = True  # DEFECT: the blocked accept() or recv() is retried, none the wiser


def main(options: Options) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    with listen(options.host, options.port) as listener:
        while not stopping:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            serve_client(conn, options)


if __name__ == "__main__":
    run(main, "MUTANT: blocking server whose SIGTERM handler sets a flag nobody checks in time.")
