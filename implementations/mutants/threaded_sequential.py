"""Mutant ``mut-threaded-sequential`` (model threaded): no threads at all.

Defect: the code is the blocking reference's loop; the manifest declares ``threaded``.
Each client is served in the main thread, to its end, before the next is accepted.

The classic mistake it mirrors: the assignment asks for a thread per connection, the
student's blocking server already echoes, and ``threading.Thread(...)`` is written but
``target(...)`` is called instead of ``start()``ed, or never written at all.  A single
test client cannot tell.

Must be caught by MODEL-4 (ten concurrent clients run on ten more threads) and by the
concurrency the model promises: ACCEPT-2 (twenty clients served at once) and the other
clauses that keep several clients connected at a time.
"""

from __future__ import annotations

from implementations._common import Options, listen, run
from implementations.blocking import serve_client


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            serve_client(conn, options)  # DEFECT: in this thread, not in a new one


if __name__ == "__main__":
    run(main, "MUTANT: sequential blocking server whose manifest claims threaded.")
