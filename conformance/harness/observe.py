"""What the harness can see of a running server from outside, through psutil.

Every figure is summed over the server's whole process tree, so a server started through
a shell script or one that forks is measured as a whole.  A process that vanishes while
it is being measured simply stops counting.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable

import psutil


def _each(procs: Iterable[psutil.Process]) -> Iterable[psutil.Process]:
    for p in procs:
        if p.is_running():
            yield p


def open_fds(procs: Iterable[psutil.Process]) -> int:
    """Open file descriptors (POSIX) or handles (Windows)."""
    total = 0
    for p in _each(procs):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            if sys.platform == "win32":
                total += p.num_handles()
            else:
                total += p.num_fds()
    return total


def threads(procs: Iterable[psutil.Process]) -> int:
    total = 0
    for p in _each(procs):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            total += p.num_threads()
    return total


def cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    total = 0.0
    for p in _each(procs):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return total


# (pid, tid) -> seconds runnable but waiting for a CPU, voluntary and involuntary context
# switches.
Tasks = dict[tuple[int, int], tuple[float, int, int]]


def scheduler_tasks(procs: Iterable[psutil.Process]) -> Tasks:
    """Per-thread scheduler counters from /proc (Linux); empty elsewhere."""
    out: Tasks = {}
    if not sys.platform.startswith("linux"):
        return out
    for p in _each(procs):
        with contextlib.suppress(OSError, ValueError):
            for tid in os.listdir(f"/proc/{p.pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    base = f"/proc/{p.pid}/task/{tid}"
                    with open(f"{base}/schedstat", encoding="ascii") as f:
                        wait = int(f.read().split()[1]) / 1e9  # the first field is time on a CPU
                    with open(f"{base}/status", encoding="utf-8") as f:
                        fields = dict(line.split(":", 1) for line in f if ":" in line)
                    out[p.pid, int(tid)] = (wait, int(fields["voluntary_ctxt_switches"]),
                                            int(fields["nonvoluntary_ctxt_switches"]))
    return out


def preempted_wait(before: Tasks, after: Tasks) -> float:
    """Seconds the tree's threads spent waiting for a CPU after being preempted, between two
    samples: the CPU a thread wanted and a busy machine did not give it.

    A thread waits in the run queue for one of two reasons: it was preempted while running
    (an involuntary switch), or it woke from a sleep (after a voluntary one).  Only the
    first is CPU the thread would have used on an idle machine, so each thread's wait is
    split in the ratio of its two kinds of switches.  A spinning loop never sleeps: all its
    wait counts, and with it the loop shows its whole core however loaded the machine.  A
    loop that sleeps between passes waits mostly after waking: next to nothing counts.
    """
    total = 0.0
    for key in before.keys() & after.keys():
        wait0, vol0, invol0 = before[key]
        wait1, vol1, invol1 = after[key]
        switches = (vol1 - vol0) + (invol1 - invol0)
        if switches > 0 and wait1 > wait0:
            total += (wait1 - wait0) * (invol1 - invol0) / switches
    return total


def rss_bytes(procs: Iterable[psutil.Process]) -> int:
    total = 0
    for p in _each(procs):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def tcp_sockets(procs: Iterable[psutil.Process]) -> list[tuple[int, int, str]]:
    """(local port, remote port or 0, status) of every TCP socket the tree holds."""
    found = []
    for p in _each(procs):
        try:
            conns = p.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        for c in conns:
            remote = c.raddr.port if c.raddr else 0
            found.append((c.laddr.port if c.laddr else 0, remote, c.status))
    return found


def tcp_sockets_on(port: int) -> list[tuple[int, int, str]]:
    """(local port, remote port or 0, status) of every TCP socket on local ``port``,
    whoever holds it: for when the owner cannot be seen (see ``wine``)."""
    if sys.platform == "win32":
        from conformance.harness import wintcp

        return wintcp.sockets_on(port)
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    return [(port, c.raddr.port if c.raddr else 0, c.status)
            for c in conns if c.laddr and c.laddr.port == port and c.status in _HELD]


# The states of a socket someone still holds open.  After close() a socket lingers
# without an owner (FIN_WAIT*, TIME_WAIT, LAST_ACK): by port alone it would pass for held.
_HELD = frozenset({psutil.CONN_LISTEN, psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT})
