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

from conformance.clause import Applies, Level, clause
from conformance.clauses import verify
from conformance.harness.session import Session
from conformance.models import Triggering

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
