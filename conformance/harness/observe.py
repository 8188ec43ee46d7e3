"""What the harness can see of a running server from outside, through psutil.

Every figure is summed over the server's whole process tree, so a server started through
a shell script or one that forks is measured as a whole.  A process that vanishes while
it is being measured simply stops counting.  A read that Windows answers with "try
again" is made again (``transient``): dropped, the process would stop counting too, and
a count that drops and comes back reads as a leak.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TypeVar

import psutil

from conformance.harness import transient

T = TypeVar("T")


def _each(procs: Iterable[psutil.Process]) -> Iterable[psutil.Process]:
    for p in procs:
        if _read(p, lambda q: q.is_running(), False):
            yield p


def _read(p: psutil.Process, read: Callable[[psutil.Process], T], gone: T) -> T:
    """``read(p)``, or ``gone`` for a process that vanished or may not be read.  Windows
    can answer "try again" (psutil passes it on as a plain OSError): such a read is made
    again, a bounded number of times (see ``transient``)."""
    try:
        return transient.retried(lambda: read(p))
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return gone


def _fds(p: psutil.Process) -> int:
    if sys.platform == "win32":
        return p.num_handles()
    return p.num_fds()


def open_fds(procs: Iterable[psutil.Process]) -> int:
    """Open file descriptors (POSIX) or handles (Windows)."""
    return sum(_read(p, _fds, 0) for p in _each(procs))


def _sockets(p: psutil.Process) -> int:
    """Socket descriptors, where /proc tells a descriptor's kind (Linux); elsewhere every
    descriptor or handle counts."""
    if not sys.platform.startswith("linux"):
        return _fds(p)
    folder = f"/proc/{p.pid}/fd"
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        raise psutil.NoSuchProcess(p.pid) from None
    except PermissionError:
        raise psutil.AccessDenied(p.pid) from None
    count = 0
    for name in names:
        with contextlib.suppress(OSError):  # closed between the listing and the look
            count += os.readlink(f"{folder}/{name}").startswith("socket:")
    return count


def open_sockets(procs: Iterable[psutil.Process]) -> int:
    """Open socket descriptors: what a server that never close()s a reset connection
    keeps, whatever pipes or files its runtime pools beside them (Go's splice pipes)."""
    return sum(_read(p, _sockets, 0) for p in _each(procs))


def threads(procs: Iterable[psutil.Process]) -> int:
    return sum(_read(p, lambda q: q.num_threads(), 0) for p in _each(procs))


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    return sum((_read(p, _cpu, 0.0) for p in _each(procs)), 0.0)


class Task(NamedTuple):
    """One thread's scheduler counters (Linux: /proc/PID/task/TID/schedstat and status)."""

    ran: float  # seconds on a CPU
    waited: float  # seconds runnable but waiting for a CPU, up to the thread's last arrival
    arrivals: int  # times it got a CPU
    voluntary: int  # context switches: went to sleep
    involuntary: int  # context switches: preempted
    runnable: bool  # state R: running, or waiting for a CPU


Tasks = dict[tuple[int, int], Task]  # by (pid, tid)


def scheduler_tasks(procs: Iterable[psutil.Process]) -> Tasks:
    """Per-thread scheduler counters from /proc (Linux); empty elsewhere."""
    out: Tasks = {}
    if not sys.platform.startswith("linux"):
        return out
    for p in _each(procs):
        with contextlib.suppress(OSError, ValueError):
            for tid in os.listdir(f"/proc/{p.pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError, KeyError):
                    base = f"/proc/{p.pid}/task/{tid}"
                    with open(f"{base}/schedstat", encoding="ascii") as f:
                        ran, waited, arrivals = f.read().split()[:3]
                    with open(f"{base}/status", encoding="utf-8") as f:
                        fields = dict(line.split(":", 1) for line in f if ":" in line)
                    out[p.pid, int(tid)] = Task(
                        int(ran) / 1e9, int(waited) / 1e9, int(arrivals),
                        int(fields["voluntary_ctxt_switches"]),
                        int(fields["nonvoluntary_ctxt_switches"]),
                        fields["State"].split()[0] == "R")
    return out


def uncredited(first: Tasks, later: Tasks) -> set[tuple[int, int]]:
    """Threads runnable at ``first`` that have not run since, as ``later`` shows.

    The kernel adds a thread's wait for a CPU to its counters only when the thread gets
    the CPU, so a thread waiting at the moment of a sample has that wait credited after
    it, to whatever window comes next: on a machine where a thread waits a second for its
    turn, a one-second window can see none of it.  Once such a thread has run (more time
    on a CPU, or one more arrival), its counters are up to date again.
    """
    return {key for key, t in first.items()
            if t.runnable and key in later
            and (later[key].ran, later[key].arrivals) == (t.ran, t.arrivals)}


class CpuSample(NamedTuple):
    """The tree's CPU time and scheduler counters, and when they were read."""

    at: float  # time.monotonic()
    cpu: float  # seconds, all threads of the tree
    tasks: Tasks
    # threads still waiting for a CPU without that wait credited (see uncredited), and
    # since when they are known to have been
    waiting: frozenset[tuple[int, int]] = frozenset()
    waiting_since: float = 0.0


def cpu_sample(procs: Sequence[psutil.Process]) -> CpuSample:
    tasks = scheduler_tasks(procs)
    return CpuSample(time.monotonic(), cpu_seconds(procs), tasks)


def settled_cpu_sample(procs: Callable[[], Sequence[psutil.Process]],
                       within: float) -> CpuSample:
    """A CPU sample taken once every thread runnable at the first look has run since, so
    that no wait for a CPU is missing from it (see uncredited), or when ``within`` seconds
    have passed: then it names the threads still waiting."""
    first = last = cpu_sample(procs())
    deadline = first.at + within
    while (waiting := uncredited(first.tasks, last.tasks)) and time.monotonic() < deadline:
        time.sleep(0.005)  # polling /proc: nothing tells when a thread gets a CPU
        last = cpu_sample(procs())
    return last._replace(waiting=frozenset(waiting), waiting_since=first.at)


def preempted_wait(before: CpuSample, after: CpuSample) -> float:
    """Seconds the tree's threads spent waiting for a CPU after being preempted, between two
    samples: the CPU a thread wanted and a busy machine did not give it.

    A thread waits in the run queue for one of two reasons: it was preempted while running
    (an involuntary switch), or it woke from a sleep (after a voluntary one).  Only the
    first is CPU the thread would have used on an idle machine, so each thread's wait is
    split in the ratio of its two kinds of switches.  A spinning loop never sleeps: all its
    wait counts, and with it the loop shows its whole core however loaded the machine.  A
    loop that sleeps between passes waits mostly after waking: next to nothing counts.
    A thread that ``after`` found still waiting, uncredited, adds the time it is known to
    have waited, split the same way.
    """
    total = 0.0
    for key in before.tasks.keys() & after.tasks.keys():
        t0, t1 = before.tasks[key], after.tasks[key]
        switches = (t1.voluntary - t0.voluntary) + (t1.involuntary - t0.involuntary)
        if switches <= 0:
            continue
        share = (t1.involuntary - t0.involuntary) / switches
        waited = max(0.0, t1.waited - t0.waited)
        if key in after.waiting:
            waited += after.at - after.waiting_since
        total += waited * share
    return total


def rss_bytes(procs: Iterable[psutil.Process]) -> int:
    return sum(_read(p, lambda q: int(q.memory_info().rss), 0) for p in _each(procs))


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
