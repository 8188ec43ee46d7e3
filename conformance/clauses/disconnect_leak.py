"""DISCONNECT and LEAK: every way a client can leave, and what it must leave behind (nothing).

A peer's FIN makes recv() return 0; a peer's RST makes recv() or send() fail with
ECONNRESET (or EPIPE); a half-close (shutdown(SHUT_WR)) is a FIN that still expects the
rest of the reply.  In every case the server must close its socket -- otherwise it
lingers in CLOSE_WAIT and its descriptor leaks until the server hits its fd limit.
"""

from __future__ import annotations

import time

import psutil

from conformance.clause import Failed, Level, clause
from conformance.clauses import verify
from conformance.harness.driver import Client
from conformance.harness.session import Session
from conformance.models import Concurrency


def _server_side_of(s: Session, clients: list[Client]) -> list[tuple[int, str]]:
    """(client port, status) of server sockets still attached to these clients."""
    ports = {c.local_port for c in clients}
    return [(remote, status) for _, remote, status in s.server.sockets() if remote in ports]


def _wait_released(s: Session, clients: list[Client]) -> None:
    deadline = time.monotonic() + s.timing.settle
    while (left := _server_side_of(s, clients)) and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the kernel's socket table: there is no event to wait on
    if left:
        port, status = left[0]
        raise Failed(
            f"the server still holds {len(left)} socket(s) of disconnected clients "
            f"{s.timing.settle:g} s later",
            expected="the server closes its socket when the client goes away",
            actual=f"socket to client port {port} is in state {status}"
            + (" (the server never called close())" if status == psutil.CONN_CLOSE_WAIT
               else ""))


def _fresh_client_served(s: Session) -> None:
    c = s.connect_one()
    work = [(c, s.payload(c.conn, 64, "after"))]
    s.roundtrip(work)
    verify.alive(s)
    verify.served(s, work, hint="the server stopped serving new clients after a disconnect")


@clause("DISCONNECT-1", Level.MUST, """
    When a client closes the connection (FIN), the server closes its side promptly.""",
    hint="""recv() returning 0 means the peer closed: close() the socket (and remove it from
    your fd_set / pollfd array / epoll set) right away""",
    source="""recv(2): returns 0 'when the peer has performed an orderly shutdown'; close(2);
    tcp(7) CLOSE_WAIT""")
def disconnect_fin(s: Session) -> None:
    clients = s.connect(3)
    work = [(c, s.payload(c.conn, 64)) for c in clients]
    s.serve_in_turn(work)
    verify.served(s, work)
    for c in clients:
        c.close("fin")
    _wait_released(s, clients)
    _fresh_client_served(s)


@clause("DISCONNECT-2", Level.MUST, """
    A client that resets the connection (RST) in the middle of a transfer does not crash or
    stall the server, and its socket is closed.""",
    hint="""recv() and send() fail with ECONNRESET or EPIPE after a reset: treat any error
    like EOF (close the socket), and ignore SIGPIPE""",
    source="""recv(2), send(2) ERRORS: ECONNRESET, EPIPE; send(2): EPIPE raises SIGPIPE unless
    MSG_NOSIGNAL""")
def disconnect_rst(s: Session) -> None:
    _churn_mixed(s, 1)  # let lazily created descriptors (epoll fd, log files) appear first
    # Sockets only: a runtime may pool pipes or files beside them (Go splices through
    # pipes it keeps), and what a server that never close()s a reset connection keeps
    # is a socket.
    baseline = s.steady("sockets")
    clients = s.connect(3, rcvbuf=16 << 10)
    s.send([(c, s.payload(c.conn, 256 << 10)) for c in clients], read_back=False, stall=1.0)
    for c in clients:
        c.close("rst")
    verify.alive(s)
    _wait_released(s, clients)
    # A reset socket is in state CLOSE, which the kernel's connection table does not
    # list: a server that never close()s it is seen only in its descriptor count.
    now = s.settle("sockets", baseline)
    if now > baseline:
        raise Failed(f"the server kept {now - baseline} socket(s) of clients that reset",
                     expected=f"{baseline} open sockets once the reset clients are gone, "
                              "as before they came",
                     actual=f"{now} open sockets {s.timing.settle:g} s later",
                     hint="""an error from recv() or send() (ECONNRESET, EPIPE) ends the
                     connection as EOF does: close() the socket on that path too""")
    _fresh_client_served(s)


@clause("DISCONNECT-3", Level.MUST, """
    A client that half-closes (shutdown SHUT_WR) after sending still gets the rest of the
    service -- the whole echo, for an echo server -- and then EOF.""",
    hint="""recv() returning 0 only means the client will send no more: first send what you
    still owe it, then close()""",
    source="""shutdown(2): SHUT_WR disallows further transmissions by the peer only; RFC 9293
    §3.6 (half-close)""")
def disconnect_half_close(s: Session) -> None:
    c = s.connect_one()
    data = s.payload(0, 32 << 10)
    # The data and the FIN arrive while the server is stopped, so it always finds both
    # waiting: a server that takes the FIN for the end (closing on EPOLLRDHUP or POLLHUP
    # with data unread) is caught however fast it would have read the data otherwise.
    s.server.suspend()
    try:
        s.send([(c, data)], read_back=False)
        c.close("shut_wr")
    finally:
        s.server.resume()
    s.driver.transfer([(c, b"", len(data) if s.echo else 0)], until_eof=True,
                      total=s.timing.total)
    verify.served(s, [(c, data)])
    verify.eof(s, [c])


@clause("DISCONNECT-4", Level.MUST, """
    Churn: 2,000 clients over time, each connecting, being served and disconnecting, are
    all served -- more clients than any fixed-size table could hold.  Concurrent models get
    them in waves of 8 at a time, sequential ones one by one.""",
    hint="""free a client's slot (fd_set bit, pollfd entry, array cell) when it leaves, so
    the table never fills up; and close the socket, or the fd limit is reached""",
    source="""close(2); select(2) FD_CLR, poll(2), epoll_ctl(2) EPOLL_CTL_DEL: a slot that is
    never freed loses every later client""")
def disconnect_churn(s: Session) -> None:
    wave = 8 if s.model.concurrency is Concurrency.CONCURRENT else 1
    printed: list[tuple[Client, bytes]] = []
    for _ in range(0, 2000, wave):
        clients = s.connect(wave)
        work = [(c, s.payload(c.conn, 24, "churn")) for c in clients]
        if s.echo:
            s.roundtrip(work)
            _churn_served(s, [(c, d) for c, d in work if c.received != len(d)])
        else:
            # A print server owes the client nothing: send, close, and check all the
            # prints at the end (a server that stops accepting stalls our connect()).
            s.send(work)
            verify.connected(s, clients)
            printed += work
        for c in clients:
            c.close("fin")
    missing = next(((c, d) for c, d in printed if not s.wait_printed(c.conn, d)), None)
    _churn_served(s, [missing] if missing else [])
    verify.alive(s)


def _churn_served(s: Session, unserved: list[tuple[Client, bytes]]) -> None:
    if unserved:
        try:
            verify.served(s, unserved[:1])
        except Failed as f:
            f.details += (f"this was client {unserved[0][0].conn + 1} of 2,000",)
            raise


def _churn_mixed(s: Session, n: int) -> None:
    """``n`` clients served and gone: a third by FIN, a third by RST, a third by half-close.

    Concurrent models get them in waves of 10.  The first client not served ends the
    churn with a failure, and a server that never answers a half-close with EOF is waited
    for once, not once per client: the loop stays bounded against any server."""
    wave = _wave(s)
    wait_eof = True
    for first in range(0, n, wave):
        clients = s.connect(min(wave, n - first))
        work = [(c, s.payload(c.conn, 32, "leak")) for c in clients]
        s.serve_in_turn(work) if wave > 1 else s.roundtrip(work)
        try:
            verify.served(s, work)
        except Failed as f:
            f.details += (f"while {n} clients came and went; this was client {first + 1}",)
            raise
        half = [c for c in clients if c.conn % 3 == 2]
        for c in clients:
            c.close(("fin", "rst", "shut_wr")[c.conn % 3])
        if half and wait_eof:
            s.driver.read_until_eof(half, total=s.timing.stall)
            wait_eof = all(c.eof for c in half)
        for c in half:
            c.close("fin")


@clause("LEAK-1", Level.MUST, """
    Once 30 clients have come and gone, 150 more (by FIN, RST and half-close) leave the
    server's open file descriptors (handles on Windows) at their count with no client
    connected -- give or take the clients of one wave (10 at a time, 1 for sequential
    models): a runtime's pool is bounded by how many clients were connected at once, a
    leak grows with every client.""",
    hint="""every accept() needs exactly one close(), on every path: EOF, errors, resets and
    refused connections""",
    source="close(2); getrlimit(2) RLIMIT_NOFILE: leaked descriptors end in EMFILE",
    gaps={"wine": """Wine keeps a program's sockets in wineserver and reports no handle count
          (GetProcessHandleCount gives 0), so a leaked socket cannot be counted"""})
def leak_fds(s: Session) -> None:
    _leak(s, "fds", "open descriptors", "descriptors")


@clause("LEAK-2", Level.MUST, """
    Once 30 clients have come and gone, 150 more leave the server's thread count at its
    count with no client connected, give or take the clients of one wave (as LEAK-1).""",
    hint="""a thread per connection must end when its client leaves (return from the thread
    function); and do not start threads anywhere else per client""",
    source="""pthread_create(3): 'either pthread_join(3) or pthread_detach(3) should be called
    for each thread'; a thread per connection ends with it""")
def leak_threads(s: Session) -> None:
    _leak(s, "threads", "threads", "threads")


def _leak(s: Session, measure: str, what: str, unit: str) -> None:
    # The first 30 let lazily made resources appear (the epoll fd, a log file) and let a
    # runtime size its pools: Go keeps the threads and splice pipes it once needed (its
    # high-water mark), a JVM its compiler threads.  A pool stops growing; a leak does not.
    wave = _wave(s)
    _churn_mixed(s, 30)
    baseline = s.steady(measure)
    _churn_mixed(s, 150)
    now = s.settle(measure, baseline + wave)
    verify.at_most(now - baseline, wave, what=f"{what} left after 150 clients", unit=unit,
                   hint="", details=(f"baseline {baseline} after 30 clients, {now} after 150 "
                                     f"more; up to {wave} is a pool (one wave of clients), "
                                     "more grows with the clients",))


def _wave(s: Session) -> int:
    return 10 if s.model.concurrency is Concurrency.CONCURRENT else 1


