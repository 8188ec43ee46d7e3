"""Mutant ``mut-poll-claims-select`` (model select): a correct poll() server that claims select.

Defect: the code is the poll reference; the manifest declares ``select``.  No select()
call is ever made: the clients are watched through a pollfd array, which has no
FD_SETSIZE limit.

The classic mistake it mirrors: the assignment asks for select(), and the student hands
in the poll() version because it was simpler (no fd_set rebuilt on every call, no
1024-descriptor trap).  Nothing a client sees gives it away.

Must be caught by MODEL-1 (the trace shows no select() watching client sockets) and
MODEL-2 (it shows poll(), a mechanism the select model does not use).
"""

from __future__ import annotations

import sys

from implementations import poll_loop
from implementations._common import run

assert sys.platform != "win32", "poll() is POSIX"

if __name__ == "__main__":
    run(poll_loop.main, "MUTANT: poll() server whose manifest claims select.")
