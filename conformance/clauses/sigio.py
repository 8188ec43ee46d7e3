"""SIGIO: signal-driven servers must survive the way the kernel raises the signal.

SIGIO is a standard signal: while one is pending, more arrivals do not queue, so five
clients sending while the server is busy can raise a single SIGIO, and the signal does
not say which descriptor is ready.  A correct server therefore treats every SIGIO as
"something, somewhere, is ready": it accepts until EAGAIN and reads every connection
until EAGAIN.  The suspension trick (see the LT/ET clauses) makes the coalescing certain.
"""

from __future__ import annotations

from conformance.clause import Applies, Level, clause
from conformance.clauses import verify
from conformance.harness.session import Session

SIGIO_MODELS = Applies(models=frozenset({"sigio"}))


@clause("SIGIO-1", Level.MUST, """
    Signals coalesce: five clients that each send a message while the server is busy
    raise as little as one SIGIO, and all five messages are still served.""",
    applies=SIGIO_MODELS,
    hint="""on every SIGIO, visit every connection (and the listening socket) and read each
    until EAGAIN: one signal may stand for many ready descriptors""",
    source="""fcntl(2) F_SETOWN/O_ASYNC, signal(7): standard signals are not queued; one SIGIO
    may stand for many events""")
def sigio_coalesced(s: Session) -> None:
    clients = s.connect(5)
    warm = [(c, s.payload(c.conn, 8, "warm")) for c in clients]
    s.roundtrip(warm)
    verify.served(s, warm)
    work = [(c, s.payload(c.conn, 600, "burst")) for c in clients]
    s.server.suspend()
    try:
        s.send(work, read_back=False)
    finally:
        s.server.resume()
    if s.echo:
        s.receive([(c, len(d)) for c, d in work])
        verify.echoed(s, [(c, w + d) for (c, w), (_, d) in zip(warm, work, strict=True)])
    else:
        for c, d in work:
            s.wait_printed(c.conn, d)
        verify.printed(s, work)


@clause("SIGIO-2", Level.MUST, """
    Ten clients sending bursts at the same moment are all served, and a connection that
    was quiet for a while is still noticed when it sends again (its O_ASYNC ownership
    stays in place).""",
    applies=SIGIO_MODELS,
    hint="""set F_SETOWN and O_ASYNC on each accepted socket once, and keep them; drain all
    descriptors on every signal""",
    source="""fcntl(2): F_SETOWN and O_ASYNC are set per open file description and not
    inherited by accept(2)'s socket""")
def sigio_simultaneous(s: Session) -> None:
    clients = s.connect(10)
    work = [(c, s.payload(c.conn, 8 << 10, "simul")) for c in clients]
    s.roundtrip(work)
    verify.served(s, work)
    again = [(clients[0], s.payload(0, 64, "again"))]
    s.roundtrip(again)
    verify.served(s, [(clients[0], work[0][1] + again[0][1])] if s.echo else again)
