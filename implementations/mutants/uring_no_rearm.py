"""Mutant ``mut-uring-no-rearm`` (model io_uring): a RECV completion is echoed, not re-armed.

Defect: when a RECV completes with data, the server prints it and sends the echo, but
posts no new RECV on that connection.  Everything else is the reference server: one
ACCEPT always outstanding, short sends re-submitted, backpressure, resets, cancels.

The classic mistake it mirrors: writing a completion loop as if it were a readiness loop.
Under select or epoll a socket that still has data is reported again; under io_uring (and
IOCP) the kernel reads only when asked, and a connection with no RECV outstanding is
never heard from again -- not its next bytes, not its EOF, not its reset.  There is no
error and no busy loop: the first chunk (up to --bufsize bytes) is echoed, then silence.

Must be caught by ECHO-1 (1,000 bytes sent in one go are echoed in full: with 255-byte
receives the echo stops after the first completion), and by every clause that needs a
second RECV: the rest of ECHO, PRINT-1 and -2 (printing stops too: the fault is in the
reading), PARTIAL, BACKPRESSURE-1, FAIRNESS-2, DISCONNECT-1 and -3 (the EOF that only a
RECV could report never comes, so the socket is never closed) and LEAK-1.
"""

from __future__ import annotations

import sys

from implementations import io_uring
from implementations._common import Options, run

assert sys.platform == "linux", "io_uring exists on Linux only"


class _NoRearm(io_uring._Server):
    def _rearm_recv(self, conn: io_uring._Conn) -> None:
        pass  # the defect: the reference posts the next RECV here


def main(options: Options) -> None:
    io_uring.main(options, server=_NoRearm)


if __name__ == "__main__":
    run(main, "MUTANT: io_uring server that never re-arms RECV after a completion.")
