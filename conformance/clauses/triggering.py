"""LT and ET: what the server must do about how its readiness mechanism notifies it.

Level-triggered (select, poll, epoll without EPOLLET) reports an fd as ready for as long
as data is waiting, so a server may read one buffer per wake-up and rely on being told
again.  Edge-triggered (EPOLLET) reports only the *arrival* of data: bytes left unread
after a wake-up produce no further notification, so the server must read until EAGAIN,
and likewise accept() until EAGAIN on the listening socket.

To make the stimulus deterministic the harness suspends the server (SIGSTOP, or
NtSuspendProcess on Windows), lets the whole burst queue up in the kernel, and resumes it:
the server then wakes up to one readiness event for data it has never seen, and no
further client activity follows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from conformance.clause import Applies, Failed, Level, clause
from conformance.clauses import verify
from conformance.harness.session import Session
from conformance.models import Triggering
from conformance.syscalls import ACCEPTS, READS, WRITES, Call, Trace, quote

LEVEL = Applies(triggering=frozenset({Triggering.LEVEL}))
EDGE = Applies(triggering=frozenset({Triggering.EDGE}))
BURST = 64 << 10  # fits in a default socket receive buffer, needs many 255-byte reads


def _burst_while_suspended(s: Session) -> None:
    c = s.connect_one()
    warmup = s.payload(0, 16, "warmup")
    s.roundtrip([(c, warmup)])  # the connection is accepted and registered
    verify.served(s, [(c, warmup)])
    data = s.payload(0, BURST, "burst")
    s.server.suspend()
    try:
        s.send([(c, data)], read_back=False)
    finally:
        s.server.resume()
    if s.echo:
        s.receive([(c, BURST)])
    else:
        s.wait_printed(c.conn, data, timeout=s.timing.total)
    verify.served(s, [(c, warmup + data)])


@clause("LT-1", Level.MUST, """
    A burst larger than one read, arriving while the server is busy, is consumed completely
    with no further client activity: the server relies on level-triggered re-notification
    (and does not lose it by, e.g., clearing the fd from its interest set).""",
    applies=LEVEL,
    hint="""after a partial read, keep the fd in the interest set so the next select/poll/
    epoll_wait reports it again; do not switch it off until the client is gone""")
def lt_renotified(s: Session) -> None:
    _burst_while_suspended(s)


@clause("ET-1", Level.MUST, """
    A burst larger than one read, arriving while the server is busy, is consumed completely
    with no further client activity: after an edge-triggered notification the server reads
    until EAGAIN.""",
    applies=EDGE,
    hint="""with EPOLLET loop on recv() until it fails with EAGAIN/EWOULDBLOCK (on a
    non-blocking socket): whatever you leave unread produces no new event""")
def et_drains(s: Session) -> None:
    _burst_while_suspended(s)


@clause("ET-2", Level.MUST, """
    A burst of 20 connections arriving while the server is busy is accepted completely: the
    server calls accept() until EAGAIN after an edge-triggered notification.""",
    applies=EDGE,
    hint="""the listening socket is edge-triggered too: one event may stand for many pending
    connections, so loop on accept() until EAGAIN""")
def et_accept_drain(s: Session) -> None:
    first = s.connect_one()
    s.roundtrip([(first, s.payload(0, 16, "first"))])
    s.server.suspend()
    try:
        # The kernel completes the handshakes on its own; the connections wait in the
        # accept queue behind a single edge.
        clients = s.connect(20)
        work = [(c, s.payload(c.conn, 40)) for c in clients]
        s.send(work, read_back=False)
    finally:
        s.server.resume()
    verify.connected(s, clients)
    if s.echo:
        s.receive([(c, len(d)) for c, d in work])
    else:
        for c, d in work:
            s.wait_printed(c.conn, d)
    verify.served(s, work)


# -- white-box: the same rules, observed in the syscall trace ------------------------------
_FINAL = ("EAGAIN", "EWOULDBLOCK", "ECONNRESET", "EPIPE", "ENOTCONN", "ETIMEDOUT")


def _traced_burst(s: Session, size: int) -> tuple[Trace, Callable[[], None]]:
    """The trace of one client's burst, and the black-box verdict on it to give after the
    trace has been judged (the trace explains a failure better than the bytes do)."""
    c = s.connect_one()
    data = s.payload(0, size, "traced")
    s.roundtrip([(c, data)], stall=2.0)
    trace = s.trace()
    c.close("fin")
    return trace, lambda: verify.served(s, [(c, data)])


@clause("LT-2", Level.SHOULD, """
    White-box: a burst larger than one read makes the level-triggered wait report the same
    client socket ready again and again, each time followed by one bounded read --
    re-notification observed in the syscall trace, not assumed.  (SHOULD: a
    level-triggered server that drains to EAGAIN is correct, but shows no
    re-notification.)""",
    applies=LEVEL, traced=True,
    hint="""read one buffer per readiness report and go back to select/poll/epoll_wait: a
    level-triggered wait reports the socket again while data is left""")
def lt_renotification_traced(s: Session) -> None:
    t, served = _traced_burst(s, 4096)
    data = t.epoll_data()
    waits = [c for c in t.calls if c.mechanism in ("select", "poll", "epoll")]
    for w1, w2 in itertools.pairwise(waits):
        between = [c for c in t.calls if w1.index < c.index < w2.index]
        for fd in t.readable(w1, data) & t.readable(w2, data):
            reads = [c for c in between if c.name in READS and c.fds and c.fds[0].num == fd
                     and t.is_client(c.fds[0])]
            if len(reads) == 1 and (reads[0].ret or 0) > 0:
                served()
                return  # reported, read once (not drained), reported again
    ready = [w for w in waits if any(t.is_client(f) for f in w.fds) or w.ret]
    raise Failed("no level-triggered re-notification was observed",
                 expected="wait → one read of the client socket → wait reporting it again",
                 actual=f"{len(waits)} waits, {len(t.on_clients(READS))} reads on the client; "
                        "the socket was never reported twice around a single read",
                 details=quote(ready[:2] + t.on_clients(READS)[:3], 5))


@clause("ET-3", Level.MUST, """
    White-box: after every edge-triggered notification that a client socket is readable,
    the server reads that socket until recv() fails with EAGAIN (or returns EOF or an
    error) before it sleeps in the next wait -- unless its send() to that client is
    blocked (EAGAIN), which brings a new edge.""",
    applies=EDGE, traced=True,
    hint="""loop on recv() until it fails with EAGAIN before calling epoll_wait() (or waiting
    for the next SIGIO) again; a read that stops early strands the rest with no new event""")
def et_drain_traced(s: Session) -> None:
    t, served = _traced_burst(s, 64 << 10)
    data = t.epoll_data()
    for wait, after in t.segments():
        notified = {fd for fd in t.readable(wait, data)}
        if wait.mechanism == "signal":  # SIGIO names no descriptor: every read counts
            notified = {c.fds[0].num for c in after if c.name in READS and c.fds}
        for fd in sorted(notified):
            mine = [c for c in after if c.fds and c.fds[0].num == fd]
            if not mine or not t.is_client(mine[0].fds[0]):
                if mine or wait.mechanism == "signal":
                    continue
                listener = [c for c in after if c.name in ACCEPTS]
                if listener:
                    continue  # the listening socket: ET-4's business
                raise _stopped_short(wait, None, fd, "was never read after the notification")
            reads = [c for c in mine if c.name in READS]
            blocked = any(c.name in WRITES and c.errno == "EAGAIN" for c in mine)
            closed = any(c.name == "close" for c in mine)
            last = reads[-1] if reads else None
            if blocked or closed or (last and (last.ret == 0 or last.errno in _FINAL)):
                continue
            raise _stopped_short(wait, last, fd, "stopped short of EAGAIN" if last
                                 else "was never read after the notification")
    served()


def _stopped_short(wait: Call, read: Call | None, fd: int, what: str) -> Failed:
    return Failed(f"after an edge-triggered notification, client socket {fd} {what}",
                  expected="reads until recv() fails with EAGAIN, then the next wait",
                  actual="the server went back to sleep with data possibly left unread",
                  details=("the notification, then the last read before sleeping:",
                           *quote([wait] + ([read] if read else []), 2)))


@clause("ET-4", Level.MUST, """
    White-box: after every edge-triggered notification of the listening socket, the server
    calls accept() until it fails with EAGAIN before it sleeps in the next wait.""",
    applies=EDGE, traced=True,
    hint="""loop on accept() until EAGAIN: one edge on the listening socket can stand for
    many queued connections""")
def et_accept_drain_traced(s: Session) -> None:
    clients = s.connect(20)
    work = [(c, s.payload(c.conn, 40, "accepts")) for c in clients]
    s.roundtrip(work, stall=2.0)
    t = s.trace()
    for wait, after in t.segments():
        accepts = [c for c in after if c.name in ACCEPTS]
        if accepts and accepts[-1].errno not in ("EAGAIN", "EWOULDBLOCK", "EMFILE", "ENFILE"):
            raise Failed("the server stopped accepting before accept() failed with EAGAIN",
                         expected="accept() repeated until EAGAIN after each notification",
                         actual=f"{len(accepts)} accept call(s), the last one succeeded",
                         details=quote([wait, accepts[-1]], 2))
    verify.served(s, work)
