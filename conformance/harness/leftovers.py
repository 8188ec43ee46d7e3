"""What a run killed before its teardown (SIGKILL, the OOM killer) leaves behind, found
and removed by the next run.

Every run (one id, see ``process.RUN_ENV``) holds an exclusive lock on a file named
after it in the temporary folder for as long as its top process lives; the kernel
drops the lock when that process dies, however it dies.  So a lock file nobody holds
names a dead run, and whatever still carries that run's id (servers started without
the sandbox, whose pid namespace would have died with the run) and the run's
``ioconform-*`` cgroup folders are its leftovers.  A run that is alive is never
touched; neither is one that left no lock file (started by an older version).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

_PREFIX = "ioconform-run-"
_held: list[int] = []  # our runs' locked descriptors, never closed: closing drops the lock


def _folder() -> str:
    return tempfile.gettempdir()


def hold(run: str) -> None:
    """Mark ``run`` alive for as long as this process lives.  The file is locked under
    another name first and then renamed into place, so a sweep never sees it unlocked."""
    if sys.platform == "win32":
        return
    import fcntl

    path = os.path.join(_folder(), f"{_PREFIX}{run}.lock")
    with contextlib.suppress(OSError):
        fd = os.open(f"{path}.{os.getpid()}", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(f"{path}.{os.getpid()}", path)
        _held.append(fd)


@contextlib.contextmanager
def dead_runs() -> Iterator[list[str]]:
    """The ids of runs whose top process is gone; their lock files are removed once the
    caller has swept them (they stay locked by us meanwhile, so no two sweeps race)."""
    if sys.platform == "win32":
        yield []
        return
    import fcntl

    found: list[tuple[str, str, int]] = []
    with contextlib.suppress(OSError):
        for name in os.listdir(_folder()):
            if not (name.startswith(_PREFIX) and name.endswith(".lock")):
                continue
            path = os.path.join(_folder(), name)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # held: that run is alive
                continue
            found.append((name[len(_PREFIX):-len(".lock")], path, fd))
    try:
        yield [run for run, _, _ in found]
    finally:
        for _, path, fd in found:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
