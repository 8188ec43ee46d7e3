"""The I/O model registry: data that later platforms extend.

A model is the mechanism a server uses to wait for and perform socket I/O.  The suite
needs three facts about each: where it exists (``platforms``), how it reports readiness
(``triggering``) and whether one process serves clients one at a time or all at once
(``concurrency``).  Clauses select the models they apply to by those facts, so adding a
model (sigio, io_uring, iocp, kqueue ...) is one entry here, not a change to any clause.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass

PLATFORMS = ("linux", "windows", "darwin")
SERVICES = ("echo", "print", "echo-only")
# What each service owes a client, shown by `ioconform list` and the contract.  `echo` is
# the textbook program: it sends every byte back and prints every chunk; `print` only
# prints; `echo-only` only sends back (most real echo servers: benchmarks, language
# documentation examples) and may print anything or nothing.
SERVICE_SUMMARY = {
    "echo": "every byte sent back on its connection, and every chunk printed to stdout",
    "print": "every chunk printed to stdout; nothing sent back",
    "echo-only": "every byte sent back on its connection; stdout is not judged",
}
ECHOING = frozenset({"echo", "echo-only"})  # services that owe the client its bytes back
PRINTING = frozenset({"echo", "print"})  # services that owe stdout every chunk


class Triggering(str, enum.Enum):
    NONE = "none"  # no readiness notification: the call itself blocks or fails with EAGAIN
    LEVEL = "level"  # notified while the condition holds (select, poll, epoll without EPOLLET)
    EDGE = "edge"  # notified when the condition changes (EPOLLET, EV_CLEAR, SIGIO)
    COMPLETION = "completion"  # notified when an operation has finished (IOCP, io_uring)


class Concurrency(str, enum.Enum):
    SEQUENTIAL = "sequential"  # one client at a time; the rest wait in the listen backlog
    CONCURRENT = "concurrent"  # every connected client is served


@dataclass(frozen=True)
class Model:
    name: str
    summary: str
    platforms: frozenset[str]
    triggering: Triggering
    concurrency: Concurrency
    single_threaded: bool
    # Share of one core an idle server may use (IDLE clauses).  Polling models sleep
    # between passes and get a looser, documented bound; everything else sleeps in the
    # kernel and should use next to nothing.
    idle_cpu: float = 0.05


def _model(
    name: str,
    summary: str,
    platforms: tuple[str, ...],
    triggering: Triggering,
    concurrency: Concurrency,
    *,
    single_threaded: bool = True,
    idle_cpu: float = 0.05,
) -> Model:
    return Model(name, summary, frozenset(platforms), triggering, concurrency, single_threaded,
                 idle_cpu)


_ALL = PLATFORMS
_POSIX = ("linux", "darwin")

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        _model("blocking", "blocking sockets, one client at a time (sequential accept loop)",
               _ALL, Triggering.NONE, Concurrency.SEQUENTIAL),
        _model("threaded", "blocking sockets, one thread per connection",
               _ALL, Triggering.NONE, Concurrency.CONCURRENT, single_threaded=False),
        _model("nonblocking", "O_NONBLOCK/FIONBIO sockets polled in a loop with a short sleep",
               _ALL, Triggering.NONE, Concurrency.CONCURRENT, idle_cpu=0.25),
        _model("select", "select(): level-triggered readiness over fd_sets",
               _ALL, Triggering.LEVEL, Concurrency.CONCURRENT),
        _model("poll", "poll(): level-triggered readiness over a pollfd array",
               _POSIX, Triggering.LEVEL, Concurrency.CONCURRENT),
        _model("epoll-lt", "epoll, level-triggered (no EPOLLET)",
               ("linux",), Triggering.LEVEL, Concurrency.CONCURRENT),
        _model("epoll-et", "epoll, edge-triggered (EPOLLET): drain to EAGAIN",
               ("linux",), Triggering.EDGE, Concurrency.CONCURRENT),
        _model("sigio", "signal-driven I/O: O_ASYNC + F_SETOWN, wait for SIGIO, drain to EAGAIN",
               ("linux",), Triggering.EDGE, Concurrency.CONCURRENT),
        _model("io_uring", "io_uring: submit accept/recv/send, reap completions",
               ("linux",), Triggering.COMPLETION, Concurrency.CONCURRENT),
        _model("wsapoll", "WSAPoll(): Winsock's level-triggered poll() over a WSAPOLLFD array",
               ("windows",), Triggering.LEVEL, Concurrency.CONCURRENT),
        _model("iocp", "I/O completion ports: overlapped accept/recv/send, completions "
               "dequeued by GetQueuedCompletionStatus", ("windows",), Triggering.COMPLETION,
               Concurrency.CONCURRENT, single_threaded=False),
        _model("kqueue-lt", "kqueue, level-triggered (EVFILT_READ without EV_CLEAR)",
               ("darwin",), Triggering.LEVEL, Concurrency.CONCURRENT),
        _model("kqueue-et", "kqueue, edge-triggered (EV_CLEAR): drain to EAGAIN",
               ("darwin",), Triggering.EDGE, Concurrency.CONCURRENT),
    )
}


def register(model: Model) -> None:
    """Add a model; later platform work calls this instead of editing clauses."""
    if model.name in MODELS:
        raise ValueError(f"model {model.name!r} is already registered")
    MODELS[model.name] = model


def current_platform() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "darwin"
    return sys.platform
