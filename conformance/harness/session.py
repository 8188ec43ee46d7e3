"""What a clause check works with: one started server, a driver and a transcript.

A check stimulates the server through the session and hands what it observed to the
verifiers; it never reads raw sockets itself.  The session knows the service style, so
``roundtrip`` means "send, then see it echoed" for servers that echo (services echo and
echo-only) and "send, then see it printed" for print servers.
"""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.events import Transcript
from conformance.harness import observe
from conformance.harness.driver import Client, Driver
from conformance.harness.process import ServerProcess
from conformance.implementation import Implementation
from conformance.matching import find_printed
from conformance.models import ECHOING, MODELS, PRINTING, Concurrency, Model
from conformance.syscalls import Trace

# Three disjoint alphabets: a payload of connection k never contains a byte of the
# payloads of connections k+1 and k+2, so concurrent prints cannot be confused.
_ALNUM = string.ascii_letters + string.digits
_ALPHABETS = tuple(_ALNUM[i::3].encode() for i in range(3))
_TABLES = tuple(bytes(a[b % len(a)] for b in range(256)) for a in _ALPHABETS)


_ASLEEP = re.compile(r"^\d+\s+(?:\w*select\w*|p?poll|epoll_\w+|rt_sig\w+|pause|"
                     r"io_uring_enter|accept4?|recvfrom|read)\((?!.*\) += )[^\n]*$")


def _asleep(text: str) -> bool:
    """Does the trace end in a call still in progress (the server blocked in it)?"""
    last = text.rstrip("\n").rpartition("\n")[2]
    return bool(_ASLEEP.match(last)) or last.endswith("<unfinished ...>")


@dataclass(frozen=True)
class Timing:
    """Every bound the suite uses, scaled together by ``--timeout-scale``."""

    startup: float = 10.0  # until the port is listening
    stall: float = 5.0  # waiting without any progress
    total: float = 60.0  # one bulk transfer
    stop: float = 5.0  # until exit after SIGTERM/SIGINT
    settle: float = 5.0  # until a resource count returns to its baseline
    scale: float = 1.0  # the factor of every clause's whole budget (Clause.budget)

    def scaled(self, k: float) -> Timing:
        return Timing(*(v * k for v in (self.startup, self.stall, self.total, self.stop,
                                          self.settle, self.scale)))


class Session:
    def __init__(self, impl: Implementation, server: ServerProcess, timing: Timing,
                 seed: str) -> None:
        self.impl = impl
        self.model: Model = MODELS[impl.model]
        self.server = server
        self.timing = timing
        self.seed = seed
        self.transcript = Transcript()
        self.driver = Driver(server.port, self.transcript, timing.stall)
        # Per connection: the stdout offset just after its last confirmed print.
        self.printed_from: dict[int, int] = {}
        self.sanitize = False  # --sanitize: ROBUST-4 runs the ASan/UBSan build

    @property
    def echo(self) -> bool:
        """The server owes each client its bytes back (services echo and echo-only):
        service is then judged by the echo, never by stdout."""
        return self.impl.service in ECHOING

    @property
    def prints(self) -> bool:
        """The server owes stdout every received chunk (services echo and print)."""
        return self.impl.service in PRINTING

    # -- stimulus ----------------------------------------------------------------------
    def payload(self, conn: int, n: int, tag: str = "") -> bytes:
        """Deterministic bytes for connection ``conn``, from its own alphabet."""
        rng = random.Random(f"{self.seed}/{tag}/{conn}/{n}")
        return rng.randbytes(n).translate(_TABLES[conn % 3])

    def connect(self, n: int = 1, rcvbuf: int = 0, *, burst: bool = False) -> list[Client]:
        return self.driver.connect(n, rcvbuf, burst=burst)

    def room(self, n: int) -> int:
        """At most ``n``: how many connections can wait in the accept queue at once, for
        a stimulus that queues them while the server is stopped (listen(2)'s backlog)."""
        cap = self.driver.queue_limit()
        return n if cap is None else max(1, min(n, cap))

    def connect_one(self) -> Client:
        return self.connect(1)[0]

    def send(self, work: Sequence[tuple[Client, bytes]], *, read_back: bool | None = None,
             total: float | None = None, **kw: Any) -> None:
        """Send each payload and, for an echo server, read its echo; all clients at once."""
        back = self.echo if read_back is None else read_back
        self.driver.transfer([(c, p, len(p) if back else 0) for c, p in work],
                             total=self.timing.total if total is None else total, **kw)

    def receive(self, work: Sequence[tuple[Client, int]], **kw: Any) -> None:
        """Read ``n`` more bytes on each client (an echo of data sent earlier)."""
        self.driver.transfer([(c, b"", n) for c, n in work], total=self.timing.total, **kw)

    def roundtrip(self, work: Sequence[tuple[Client, bytes]], **kw: Any) -> None:
        """``send``, then for a print server wait until every payload was printed."""
        self.send(work, **kw)
        if not self.echo:
            for c, data in work:
                self.wait_printed(c.conn, data, timeout=kw.get("stall"))

    def wait_printed(self, conn: int, data: bytes, timeout: float | None = None) -> bool:
        """Wait until ``data`` appears on stdout after ``conn``'s last confirmed print."""
        assert self.server.stdout is not None
        start = self.printed_from.get(conn, 0)

        # Searching the whole output after every chunk costs O(n) per chunk, quadratic
        # for a long stream; so count, over new output only, the bytes that can belong
        # to ``data`` (the payloads' alphabets are disjoint), and search once it suffices.
        others = bytes(sorted(set(range(256)) - set(data)))
        seen = [start, 0]  # output scanned so far, bytes of data's alphabet in it

        def probe(out: bytearray) -> int | None:
            new = bytes(out[seen[0]:])
            seen[0], seen[1] = len(out), seen[1] + len(new.translate(None, others))
            if seen[1] < len(data):
                return None  # cannot be complete yet: skip the search
            n, end = find_printed(out, data, start)
            return end if n == len(data) else None

        end = self.server.stdout.wait(probe, self.timing.stall if timeout is None else timeout,
                                      total=self.timing.total)
        if end is None:
            return False
        self.printed_from[conn] = end
        return True

    def served_within(self, c: Client, data: bytes, window: float) -> bool:
        """Did ``c`` get any service (an echoed byte, or ``data`` printed) within
        ``window`` seconds?  For checking that a queued client is not served yet."""
        if not self.echo:
            return self.wait_printed(c.conn, data, timeout=window)
        before = c.received
        self.driver.wait_readable([c], window)
        return c.received > before

    def serve_in_turn(self, work: Sequence[tuple[Client, bytes]], **kw: Any) -> None:
        """Round trips on all clients: at once for concurrent models; for sequential ones
        each client is served and closed before the next, as such a server requires."""
        if self.model.concurrency is Concurrency.CONCURRENT:
            self.roundtrip(work, **kw)
            return
        for c, data in work:
            self.roundtrip([(c, data)], **kw)
            c.close("fin")

    def pause(self, seconds: float) -> None:
        """A pause that is part of the stimulus (e.g. between writes), never a wait for
        the server: those poll a condition with a deadline."""
        time.sleep(seconds)

    # -- observation -------------------------------------------------------------------
    def trace(self, settle: float = 2.0,
              until: Callable[[Trace], bool] | None = None) -> Trace:
        """The syscall trace (traced clauses only), once the server has gone back to sleep.

        A client can have its whole echo before the server finishes its turn (the recv
        that says EAGAIN may still be to come), so the trace is read only when its last
        line is a wait still in progress -- polled, within ``settle`` seconds.  In a
        runtime with threads of its own (Go) one thread sleeps in epoll_pwait() while
        another is still in its accept() loop, so the last line proves nothing: a clause
        that knows what a finished turn looks like passes ``until``, and the trace is
        read again until it holds or ``settle`` runs out."""
        assert self.server.trace_to is not None, "not a traced clause"
        deadline = time.monotonic() + settle
        seen, trace, pause = None, None, 0.01
        while True:
            with open(self.server.trace_to, encoding="utf-8", errors="replace") as f:
                text = f.read()
            last = time.monotonic() >= deadline
            # Parsed only when it may be the answer, and once per text: a busy server's
            # trace grows by megabytes, and each parse reads all of it.
            if _asleep(text) or last:
                if text != seen:
                    seen, trace = text, Trace.read(text, self.server.port)
                assert trace is not None
                if last or until is None or until(trace):
                    return trace
            time.sleep(pause)  # polling a file strace appends to: there is no event
            pause = min(pause * 2, 0.2)

    def fds(self) -> int:
        return observe.open_fds(self.server.tree())

    def sockets(self) -> int:
        return observe.open_sockets(self.server.tree())

    def threads(self) -> int:
        return observe.threads(self.server.tree())

    def cpu(self) -> float:
        return observe.cpu_seconds(self.server.tree())

    def cpu_sample(self) -> observe.CpuSample:
        """CPU time and scheduler counters, with every wait for a CPU credited (bounded by
        the settle deadline)."""
        return observe.settled_cpu_sample(self.server.tree, self.timing.settle)

    def rss(self) -> int:
        return observe.rss_bytes(self.server.tree())

    def counter(self, measure: str) -> Callable[[], int]:
        """The reader of a resource count: 'fds', 'sockets' or 'threads'."""
        return {"fds": self.fds, "sockets": self.sockets, "threads": self.threads}[measure]

    def steady(self, measure: str) -> int:
        """``measure`` once it stops changing (within the settle deadline): the count after
        the server has processed what happened before."""
        read = self.counter(measure)
        deadline = time.monotonic() + self.timing.settle
        value = read()
        while time.monotonic() < deadline:
            time.sleep(0.05)  # sampling a counter until it stops changing
            if (again := read()) == value:
                break
            value = again
        return value

    def settle(self, measure: str, target: int, timeout: float | None = None) -> int:
        """Poll ``measure`` ('fds', 'sockets' or 'threads') until it is <= target or time is up;
        return the last value seen."""
        read = self.counter(measure)
        deadline = time.monotonic() + (self.timing.settle if timeout is None else timeout)
        value = read()
        while value > target and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a counter the kernel updates; no event to wait on
            value = read()
        return value
