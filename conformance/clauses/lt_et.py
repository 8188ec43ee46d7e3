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

import bisect
from collections.abc import Callable

from conformance.clause import Applies, Failed, Level, Skipped, clause
from conformance.clauses import verify
from conformance.harness.session import Session
from conformance.matching import size as size_of
from conformance.models import Triggering
from conformance.syscalls import ACCEPTS, READS, SPLICES, WRITES, Call, Trace, quote

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
    epoll_wait reports it again; do not switch it off until the client is gone""",
    source="""select(2), poll(2), epoll(7): level-triggered readiness is reported while data
    is unread""")
def lt_renotified(s: Session) -> None:
    _burst_while_suspended(s)


@clause("ET-1", Level.MUST, """
    A burst larger than one read, arriving while the server is busy, is consumed completely
    with no further client activity: after an edge-triggered notification the server reads
    until EAGAIN.""",
    applies=EDGE,
    hint="""with EPOLLET loop on recv() until it fails with EAGAIN/EWOULDBLOCK (on a
    non-blocking socket): whatever you leave unread produces no new event""",
    source="""epoll(7): with EPOLLET 'wait for an event only after read(2) or write(2) return
    EAGAIN'""")
def et_drains(s: Session) -> None:
    _burst_while_suspended(s)


@clause("ET-2", Level.MUST, """
    A burst of 20 connections arriving while the server is busy is accepted completely: the
    server calls accept() until EAGAIN after an edge-triggered notification.""",
    applies=EDGE,
    hint="""a listening socket registered with EPOLLET (or O_ASYNC) is edge-triggered too:
    one event may stand for many pending connections, so loop on accept() until EAGAIN --
    or register the listener without EPOLLET, and it is reported again while connections
    wait""",
    source="""epoll(7) (EPOLLET), accept(2): with no pending connection a non-blocking
    accept() fails with EAGAIN""")
def et_accept_drain(s: Session) -> None:
    first = s.connect_one()
    s.roundtrip([(first, s.payload(0, 16, "first"))])
    s.server.suspend()
    try:
        # The kernel completes the handshakes on its own; the connections wait in the
        # accept queue behind a single edge.
        clients = s.connect(s.room(20))  # a listen(fd, 1) queue holds two, not twenty
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


def _traced_burst(s: Session, size: int, until: Callable[[Trace], bool] | None = None
                  ) -> tuple[Trace, Callable[[], None]]:
    """The trace of one client's burst, and the black-box verdict on it to give after the
    trace has been judged (the trace explains a failure better than the bytes do)."""
    c = s.connect_one()
    data = s.payload(0, size, "traced")
    s.roundtrip([(c, data)], stall=2.0)
    trace = s.trace(until=until)
    c.close("fin")
    return trace, lambda: verify.served(s, [(c, data)])


def _read_size(t: Trace) -> int:
    """The largest buffer the server has asked a client read to fill (0: not seen)."""
    sizes = [int(a[2]) for c in t.on_clients(["read", "recv", "recvfrom"])
             if len(a := c.arglist) > 2 and a[2].isdigit()]
    return max(sizes, default=0)


def renotified(t: Trace) -> tuple[Call, Call, Call] | None:
    """(wait, read, wait): a wait reports a client socket readable, one read fills its
    whole buffer (so data is left), and the next wait reports the socket again with no
    other read of it in between -- level-triggered re-notification.  None: not seen."""
    data = t.epoll_data()
    waits = [c for c in t.calls if c.mechanism in ("select", "poll", "epoll")]
    for r in t.on_clients(["read", "recv", "recvfrom"]):
        args, fd = r.arglist, r.fds[0].num
        if not (len(args) > 2 and args[2].isdigit() and r.ret == int(args[2]) > 0):
            continue
        w1 = next((w for w in reversed(waits) if w.index < r.index), None)
        w2 = next((w for w in waits if w.index > r.index), None)
        if w1 is None or w2 is None or fd not in t.readable(w1, data) & t.readable(w2, data):
            continue
        reads = [c for c in t.calls if w1.index < c.index < w2.index and c.name in READS
                 and c.fds and c.fds[0].num == fd]
        if reads == [r]:
            return w1, r, w2
    return None


@clause("LT-2", Level.SHOULD, """
    White-box: a burst of four reads (four times the server's own read size, at least
    4 KiB; skipped for reads over 16 KiB), queued while the server is stopped, makes the
    level-triggered wait report the client socket again after a read that filled the
    server's buffer, with no other read in between -- re-notification observed in the
    syscall trace, not assumed.  (SHOULD: a level-triggered server that drains to EAGAIN
    is correct, but shows no re-notification.)""",
    applies=LEVEL, traced=True,
    hint="""read one buffer per readiness report and go back to select/poll/epoll_wait: a
    level-triggered wait reports the socket again while data is left""",
    source="""select(2), poll(2), epoll(7): level-triggered readiness while data is unread
    (quality: evidence of reliance on it, beyond what the model demands)""")
def lt_renotification_traced(s: Session) -> str | None:
    c = s.connect_one()
    s.roundtrip([(c, s.payload(0, 16, "size"))], stall=2.0)
    # The burst must outgrow one read, whatever buffer the server reads into (a 64 KiB
    # read swallows a 4 KiB burst whole), and be queued whole before the server wakes, so
    # that data is left after the first read on every run, not only on lucky ones.
    size = _read_size(s.trace())
    if 4 * size > BURST:
        raise Skipped(f"the server reads {size_of(size)} at a time: the {size_of(BURST)} the "
                      "kernel queues for a stopped server is not several reads' worth, so no "
                      "read is sure to leave data behind and re-notification cannot be shown")
    burst = s.payload(0, max(4096, 4 * size), "traced")
    s.server.suspend()
    try:
        s.send([(c, burst)], read_back=False)
    finally:
        s.server.resume()
    if s.echo:
        s.receive([(c, len(burst))], stall=2.0)
    else:
        s.wait_printed(c.conn, burst)
    t = s.trace()
    c.close("fin")
    if (seen := renotified(t)) is not None:
        verify.served(s, [(c, s.payload(0, 16, "size") + burst)] if s.echo else [(c, burst)])
        return "re-notified after a full read:\n" + "\n".join(quote(seen, 3, width=160))
    waits = [w for w in t.calls if w.mechanism in ("select", "poll", "epoll")]
    raise Failed("no level-triggered re-notification was observed",
                 expected="wait → one read that fills the buffer → next wait reporting the "
                          "socket again",
                 actual=f"{len(waits)} waits, {len(t.on_clients(READS))} reads on the client; "
                        "after every full read the server read again before waiting",
                 details=quote(waits[:2] + t.on_clients(READS)[:3], 5))


@clause("ET-3", Level.MUST, """
    White-box: after every edge-triggered notification that a client socket is readable,
    the server reads that socket until recv() fails with EAGAIN (or returns EOF or an
    error) before it sleeps in the next wait -- unless its send() to that client is
    blocked (EAGAIN), which brings a new edge.""",
    applies=EDGE, traced=True,
    hint="""loop on recv() until it fails with EAGAIN before calling epoll_wait() (or waiting
    for the next SIGIO) again; a read that stops early strands the rest with no new event""",
    source="""epoll(7) (EPOLLET: read until EAGAIN); fcntl(2) F_SETOWN/O_ASYNC: SIGIO signals
    are not queued""")
def et_drain_traced(s: Session) -> str:
    t, served = _traced_burst(s, 64 << 10, until=lambda t: drain_stopped_short(t)[0] is None)
    short, judged = drain_stopped_short(t)
    if short is not None:
        raise short
    served()
    if not judged:
        # Threads asleep in futex(2) (Go) end no turn the trace can see: a trace with no
        # finished turn reading a client proves nothing either way.
        raise Skipped("the trace shows no finished turn of the server reading a client "
                      "socket after an edge-triggered notification, so the drain cannot "
                      "be judged from it; ET-1 judges the bytes")
    return f"{judged} notification(s) of a client socket, each read until EAGAIN or EOF"


_READS = READS | SPLICES


def drain_stopped_short(t: Trace) -> tuple[Failed | None, int]:
    """(the failure of a turn that slept again with a notified client socket not read
    until EAGAIN, or None; how many notifications were judged).

    A runtime with threads of its own (Go) reads a socket on whichever thread runs its
    goroutine, not on the thread whose epoll_pwait() reported it: there every report
    of a client socket that is read must be followed, on whatever thread, by a read
    that ends in EAGAIN, EOF or an error (or a send() that got EAGAIN, or close())."""
    data = t.epoll_data()
    if t.waits("epoll") and len({c.pid for c in t.waits("epoll")} |
                                {c.pid for c in t.on_clients(_READS)}) > 1:
        return _reads_never_drained(t, data)
    judged = 0
    for wait, after in t.segments():
        notified = {fd for fd in t.readable(wait, data)}
        if wait.mechanism == "signal":  # SIGIO names no descriptor: every read counts
            notified = {c.fds[0].num for c in after if c.name in _READS and c.fds}
        for fd in sorted(notified):
            if wait.mechanism == "epoll" and t.edge_registered(fd, wait.index) is False:
                continue  # registered without EPOLLET: level-triggered, MODEL-1's business
            mine = [c for c in after if c.fds and c.fds[0].num == fd]
            if not mine or not t.is_client(mine[0].fds[0]):
                if mine or wait.mechanism == "signal":
                    continue
                if any(c.name in ACCEPTS for c in after):
                    continue  # the listening socket: ET-4's business
                return _stopped_short(wait, None, fd, "was never read after the "
                                      "notification"), judged
            judged += 1
            if not _drained(mine):
                reads = [c for c in mine if c.name in _READS]
                last = reads[-1] if reads else None
                return _stopped_short(wait, last, fd, "stopped short of EAGAIN" if last
                                      else "was never read after the notification"), judged
    return None, judged


def _drained(calls: list[Call]) -> bool:
    """Do a socket's calls reach the end of its data: a read that fails with EAGAIN
    (or returns EOF or an error), a send() blocked by EAGAIN (a new edge comes when it
    can go on), or close()?"""
    reads = [c for c in calls if c.name in _READS]
    last = reads[-1] if reads else None
    return (any(c.name in WRITES and c.errno == "EAGAIN" for c in calls)
            or any(c.name == "close" for c in calls)
            or (last is not None and (last.ret == 0 or last.errno in _FINAL)))


def _reads_never_drained(t: Trace, data: dict[str, int]) -> tuple[Failed | None, int]:
    judged = 0
    on: dict[int, list[Call]] = {}  # fd -> the calls made on it, in trace order
    for c in t.calls:
        if c.fds:
            on.setdefault(c.fds[0].num, []).append(c)
    at = {fd: [c.index for c in calls] for fd, calls in on.items()}
    for report in t.waits("epoll"):
        for fd in sorted(t.readable(report, data)):
            if t.edge_registered(fd, report.index) is False:
                continue
            mine: list[Call] = []
            for c in on.get(fd, [])[bisect.bisect_right(at.get(fd, []), report.index):]:
                mine.append(c)
                if c.name == "close":
                    break  # the number may be a new socket's after this
            if not mine or not t.is_client(mine[0].fds[0]):
                continue  # the listener (ET-4's business), or not read since: ET-1's
            if not any(c.name in _READS for c in mine):
                continue
            judged += 1
            if not any(_drained([c]) for c in mine):  # on whatever thread, in any order
                reads = [c for c in mine if c.name in _READS]
                return _stopped_short(report, reads[-1], fd, "stopped short of EAGAIN"), \
                    judged
    return None, judged


def _stopped_short(wait: Call, read: Call | None, fd: int, what: str) -> Failed:
    return Failed(f"after an edge-triggered notification, client socket {fd} {what}",
                  expected="reads until recv() fails with EAGAIN, then the next wait",
                  actual="the server went back to sleep with data possibly left unread",
                  details=("the notification, then the last read before sleeping:",
                           *quote([wait] + ([read] if read else []), 2)))


@clause("ET-4", Level.MUST, """
    White-box: after every edge-triggered notification of the listening socket, the server
    calls accept() until it fails with EAGAIN before it sleeps in the next wait.  A
    listener registered without EPOLLET is level-triggered, and one accept() per
    notification is then correct.""",
    applies=EDGE, traced=True,
    hint="""loop on accept() until EAGAIN: one edge on the listening socket can stand for
    many queued connections""",
    source="epoll(7) (EPOLLET), accept(2) EAGAIN")
def et_accept_drain_traced(s: Session) -> str | None:
    clients = s.connect(20)
    work = [(c, s.payload(c.conn, 40, "accepts")) for c in clients]
    s.roundtrip(work, stall=2.0)
    # The last client's echo can come before the accepting thread's final accept():
    # read the trace again while a turn seems to stop short, within the settle time.
    t = s.trace(until=lambda t: accept_stopped_short(t) is None)
    if (short := accept_stopped_short(t)) is not None:
        wait, last = short
        raise Failed("the server stopped accepting before accept() failed with EAGAIN",
                     expected="accept() repeated until EAGAIN after each notification",
                     actual="the last accept() of the turn succeeded, and the server went "
                            "back to sleep",
                     details=quote([wait, last], 2))
    verify.served(s, work)
    if any(t.edge_registered(f.num) is False for c in t.named(ACCEPTS) for f in c.fds
           if t.is_listener(f)):
        return ("the listening socket is registered without EPOLLET (level-triggered): "
                "one accept() per report is correct, and was not required to reach EAGAIN")
    return None


_DONE = ("EAGAIN", "EWOULDBLOCK", "EMFILE", "ENFILE")


def accept_stopped_short(t: Trace) -> tuple[Call, Call] | None:
    """(notification, last accept) of a turn that ended with a successful accept() on an
    edge-triggered listener; None when every such turn reached EAGAIN.  A listener
    registered without EPOLLET is level-triggered: epoll_wait() reports it again while
    connections wait, so one accept() per report is right.

    A turn is a thread's, from one of its waits to its next.  A runtime with threads of
    its own (Go) parks the accepting goroutine and resumes it on any thread while another
    sleeps in epoll_pwait(), and new connections bring new reports mid-loop: there every
    report of the listener must be followed, on whatever thread, by an accept() that
    fails with EAGAIN."""
    if t.waits("epoll") and len({c.pid for c in t.named(ACCEPTS)} |
                                {c.pid for c in t.waits("epoll")}) > 1:
        return _never_drained(t)
    for wait, after in t.segments():
        accepts = [c for c in after if c.name in ACCEPTS]
        if not accepts or accepts[-1].errno in _DONE:
            continue
        listener = next((f.num for f in accepts[-1].fds if t.is_listener(f)), None)
        if listener is not None and t.edge_registered(listener, wait.index) is False:
            continue
        return wait, accepts[-1]
    return None


def _never_drained(t: Trace) -> tuple[Call, Call] | None:
    data = t.epoll_data()
    accepts = t.named(ACCEPTS)
    for fd in sorted({f.num for c in accepts for f in c.fds if t.is_listener(f)}):
        mine = [c for c in accepts if c.fds and c.fds[0].num == fd]
        drained = [c.index for c in mine if c.errno in _DONE]
        for report in (w for w in t.waits("epoll") if fd in t.readable(w, data)):
            if t.edge_registered(fd, report.index) is False:
                continue
            if not any(i > report.index for i in drained):
                after = [c for c in mine if c.index > report.index]
                if after:
                    return report, after[-1]
    return None
