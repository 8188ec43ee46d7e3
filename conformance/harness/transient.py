"""Answers that mean "try again", and the one bounded way the harness retries them.

Windows answers a call it cannot serve *now* with an error code instead of waiting: a
table that grew while it was being copied out, a kernel allocation refused on a busy
machine, a process snapshot taken while processes came and went (CreateToolhelp32Snapshot
documents ERROR_BAD_LENGTH as "retry the function until it succeeds").  Wine adds one of
its own: its NsiAllocateAndGetTable, under GetTcpTable and psutil's GetExtendedTcpTable
alike, reads a table that keeps growing five times and then gives up with
ERROR_OUTOFMEMORY (Wine's dlls/nsi/nsi.c: "fail if this is the last attempt").  Behind
a churn clause the table is thousands of TIME_WAIT sockets long and still growing, so
"out of memory" there means "the table grew while being read": the Wine leg once failed
DISCONNECT-4 with a harness error on exactly that.

psutil turns only "access denied" and "no such process" into its own exceptions; any
other Windows error reaches the harness as a plain OSError (with ``winerror``), which
code that suppresses ``psutil.Error`` lets through.  Every Windows call of the harness
that can answer "try again" goes through ``retried``: a few more tries with a growing
pause, then the last answer is raised, since by then the condition has lasted too long
to be a passing one.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Win32 codes whose call may succeed when made again (winerror.h).
WINERRORS = frozenset({
    8,  # ERROR_NOT_ENOUGH_MEMORY (also STATUS_NO_MEMORY through psutil's NTSTATUS path)
    14,  # ERROR_OUTOFMEMORY: Wine's "the table kept growing" (see above)
    24,  # ERROR_BAD_LENGTH: a snapshot of a changing list; STATUS_INFO_LENGTH_MISMATCH
    122,  # ERROR_INSUFFICIENT_BUFFER: a table outgrew the room asked for
    170,  # ERROR_BUSY
    234,  # ERROR_MORE_DATA: the same, from Wine's NSI
    299,  # ERROR_PARTIAL_COPY: a starting process's memory read half-way
    1237,  # ERROR_RETRY
    1359,  # ERROR_INTERNAL_ERROR: Wine's CreateProcess, now and then ("Internal error")
    1450, 1451, 1452, 1453, 1454, 1455,  # ERROR_NO_SYSTEM_RESOURCES ... COMMITMENT_LIMIT
    10055,  # WSAENOBUFS: no buffer space for one more socket while others churn
})
# POSIX errnos that mean the same (socket() and bind() say ENOBUFS or ENOMEM for the
# buffers that a churn holds in TIME_WAIT).
ERRNOS = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.ENOMEM})

TRIES = 8
_FIRST_PAUSE = 0.005  # doubling: at most 0.635 s of pauses over TRIES tries


def is_transient(e: OSError) -> bool:
    """Does ``e`` say "try again" rather than "this cannot be done"?"""
    winerror = getattr(e, "winerror", None)
    if winerror is not None:
        return winerror in WINERRORS
    return e.errno in ERRNOS


def retried(call: Callable[[], T], tries: int = TRIES) -> T:
    """``call()``, made again while it answers "try again" (``is_transient``), up to
    ``tries`` times in all; then its last answer is raised.  Any other error is raised
    at once."""
    pause = _FIRST_PAUSE
    for attempt in range(1, tries + 1):
        try:
            return call()
        except OSError as e:
            if attempt == tries or not is_transient(e):
                raise
        time.sleep(pause)  # the condition passes with time; nothing signals when
        pause *= 2
    raise AssertionError("unreachable: the last try returns or raises")
