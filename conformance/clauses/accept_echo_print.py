"""ACCEPT, ECHO and PRINT: clients are accepted and their bytes are served exactly.

ECHO clauses apply to the services that send bytes back (echo, echo-only), PRINT clauses
to those that print every chunk (echo, print); ACCEPT judges whichever the service owes.
"""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from conformance.clause import Applies, Failed, Level, clause
from conformance.clauses import verify
from conformance.harness.driver import Client
from conformance.harness.session import Session
from conformance.models import ECHOING, PRINTING, Concurrency

CONCURRENT = Applies(concurrency=Concurrency.CONCURRENT)
SEQUENTIAL = Applies(concurrency=Concurrency.SEQUENTIAL)
ECHO = Applies(services=ECHOING)
PRINTS = Applies(services=PRINTING)
CONCURRENT_PRINTS = Applies(concurrency=Concurrency.CONCURRENT, services=PRINTING)


@clause("ACCEPT-1", Level.MUST, """
    A single client is accepted and served.""",
    hint="the accept loop must hand the new connection to the code that reads from it",
    source="accept(2): 'extracts the first connection request on the queue of pending connections'")
def accept_one(s: Session) -> None:
    c = s.connect_one()
    verify.connected(s, [c])
    work = [(c, s.payload(0, 64))]
    s.roundtrip(work)
    verify.served(s, work)


@clause("ACCEPT-2", Level.MUST, """
    Twenty clients connected at the same time are all served while all of them stay
    connected.""",
    applies=CONCURRENT,
    hint="""a concurrent server must not finish one client before accepting the next: watch
    the listening socket and every client socket at once""",
    source="""select(2), poll(2), epoll(7), pthread_create(3): a concurrent server watches
    every connection at once; a client never served is a defect""")
def accept_concurrent(s: Session) -> None:
    clients = s.connect(20)
    verify.connected(s, clients)
    work = [(c, s.payload(c.conn, 100)) for c in clients]
    s.roundtrip(work)
    verify.served(s, work)


@clause("ACCEPT-3", Level.MUST, """
    Clients that connect while another is being served wait in the listen backlog and are
    then served in the order they connected, each after the previous one disconnects.""",
    applies=SEQUENTIAL,
    hint="""after a client disconnects, close its socket and go back to accept(); a listen()
    backlog of at least a few connections keeps waiting clients from being refused""",
    source="listen(2): pending connections wait in the queue until accept(2) takes them")
def accept_queued(s: Session) -> None:
    clients = s.connect(3)
    verify.connected(s, clients)
    work = [(c, s.payload(c.conn, 100)) for c in clients]
    # Everyone sends at once; a sequential server serves them one by one as each leaves.
    s.send(work, read_back=False)
    for k, (c, data) in enumerate(work):
        if s.echo:
            s.receive([(c, len(data))])
        else:
            s.wait_printed(c.conn, data)
        verify.served(s, [(c, data)])
        if k + 1 < len(work):
            _not_served_yet(s, *work[k + 1], before=c)
        c.close("fin")


# How long a waiting client is watched for service it must not get yet.  A server that
# serves clients at once does so within milliseconds; a sequential one never does.
_OVERTAKE_WINDOW = 0.3


def _not_served_yet(s: Session, c: Client, data: bytes, *, before: Client) -> None:
    """``c``, queued behind ``before`` in the backlog, got no service while ``before``
    was still connected: the server is sequential, as its model says."""
    if s.served_within(c, data, _OVERTAKE_WINDOW):
        raise Failed(
            "a queued client was served while the previous one was still connected",
            expected=f"connection #{c.conn} served only after connection #{before.conn} "
                     "disconnects (one client at a time)",
            actual=f"connection #{c.conn} was {'echoed' if s.echo else 'printed'} while "
                   f"connection #{before.conn} was still connected",
            hint="""a sequential server serves one client at a time: accept, serve until
            that client disconnects, then accept the next -- no threads or processes per
            client (that is the threaded model)""")


@clause("ACCEPT-4", Level.SHOULD, """
    A burst of simultaneous connection attempts (64 for concurrent models, 16 for
    sequential ones) is accepted and every client is served without waiting for TCP to
    retry a dropped handshake.  (SHOULD: listen(2) makes the backlog a hint, and a
    request that finds the queue full may be dropped so that a later attempt succeeds;
    a small backlog slows clients down, it loses none.)""",
    hint="""use a listen() backlog of at least 64 (SOMAXCONN is best): with listen(fd, 1)
    the kernel drops the burst's SYNs and clients wait seconds for retransmissions""",
    source="""listen(2): the backlog is a hint; when the queue is full 'the request may be
    ignored so that a later reattempt at connection succeeds' (quality, not a
    defect)""")
def accept_burst(s: Session) -> None:
    try:
        _burst(s)
    except Failed as f:
        if (cap := s.driver.queue_limit()) is not None:
            f.details += (f"the server's listen() backlog is {cap - 1}: its accept queue "
                          f"holds {cap} connections, and the kernel dropped the rest of the "
                          "burst's handshakes for TCP to retry seconds later",)
        raise


def _burst(s: Session) -> None:
    concurrent = s.model.concurrency is Concurrency.CONCURRENT
    clients = s.connect(64 if concurrent else 16, burst=True)
    verify.connected(s, clients)
    work = [(c, s.payload(c.conn, 48)) for c in clients]
    if concurrent:
        s.roundtrip(work)
        verify.served(s, work)
        return
    for c, data in work:
        s.roundtrip([(c, data)])
        verify.served(s, [(c, data)])
        c.close("fin")


@clause("ECHO-1", Level.MUST, """
    Every byte received is sent back on the same connection, unchanged.""",
    applies=ECHO, hint="send back exactly the n bytes recv() returned, not the whole buffer",
    source="""RFC 862 (Echo Protocol): 'any data received is sent back'; recv(2) returns the
    number of bytes received""")
def echo_exact(s: Session) -> None:
    c = s.connect_one()
    work = [(c, s.payload(0, 1000))]
    s.roundtrip(work)
    verify.echoed(s, work)


@clause("ECHO-2", Level.MUST, """
    The echo is binary-safe: all 256 byte values, NUL included, come back unchanged.""",
    applies=ECHO,
    hint="""treat the data as bytes with a length, never as a C string: strlen(), strcpy()
    and printf("%s") stop at the first NUL byte""",
    source="RFC 862; recv(2), send(2) move bytes with a length, not NUL-terminated strings")
def echo_binary(s: Session) -> None:
    c = s.connect_one()
    data = bytes(range(256)) * 4 + bytes(reversed(range(256))) * 4
    s.roundtrip([(c, data)])
    verify.echoed(s, [(c, data)])


@clause("ECHO-3", Level.MUST, """
    Many messages sent back to back in separate writes come back in the order they were
    sent, with nothing lost, duplicated or reordered.""",
    applies=ECHO,
    hint="""keep one output buffer per connection and append to its end; never reuse a
    buffer that still holds unsent bytes""",
    source="""tcp(7): a reliable, ordered byte stream; send(2) returns the number of bytes
    sent, the rest is the caller's""")
def echo_order(s: Session) -> None:
    c = s.connect_one()
    data = b"".join(b"<%04d:" % i + s.payload(0, i % 50 + 1, f"m{i}") + b">"
                    for i in range(300))
    # How the kernel cuts back-to-back writes into segments is chance, and a server that
    # reads once per readiness event passed when each write came alone and failed when
    # they merged.  Corked (Linux TCP_CORK), the writes leave together: every run sends
    # the server the same stream, so a verdict never depends on that chance.
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or c.sock is None:
        s.roundtrip([(c, data)], write_chunk=37)
    else:
        c.sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
        s.send([(c, data)], read_back=False, write_chunk=37)
        c.sock.setsockopt(socket.IPPROTO_TCP, cork, 0)  # uncorked: the writes leave
        s.receive([(c, len(data))])
    verify.echoed(s, [(c, data)])


@clause("ECHO-4", Level.MUST, """
    Property: however a payload is split into writes, with small pauses in between, the
    same byte stream comes back (derandomized examples, identical on every run).""",
    applies=ECHO,
    hint="""TCP is a byte stream: one send() may arrive as several recv()s and several
    send()s as one; never assume a recv() returns one whole message""",
    source="""tcp(7): SOCK_STREAM has no message boundaries; recv(2) 'may return less than
    requested'""")
def echo_any_split(s: Session) -> None:
    @settings(derandomize=True, database=None, deadline=None, max_examples=20,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.binary(min_size=1, max_size=600),
                              st.sampled_from((0.0, 0.0, 0.001, 0.005))),
                    min_size=1, max_size=12))
    def prop(pieces: list[tuple[bytes, float]]) -> None:
        c = s.connect_one()
        for data, pause in pieces:
            s.driver.transfer([(c, data, len(data))], total=s.timing.total)
            if pause:
                s.pause(pause)
        whole = b"".join(d for d, _ in pieces)
        got = s.transcript.received(c.conn)
        if got != whole:
            verify.echoed(s, [(c, whole)],
                          hint=f"failing split: {[len(d) for d, _ in pieces]} bytes per write")
        c.close("fin")

    try:
        prop()
    except Failed:
        raise
    except Exception as e:
        # Hypothesis reports a failure that did not repeat as Flaky, and several at once
        # as an exception group: a server that fails intermittently still fails.
        inner = [x for x in getattr(e, "exceptions", ()) if isinstance(x, Failed)]
        if inner:
            raise inner[0] from None
        if isinstance(e, HypothesisException):
            raise Failed("the echo failed on some runs of an example but not on others",
                         details=(str(e).splitlines()[0],)) from None
        raise


@clause("PRINT-1", Level.MUST, """
    The bytes received appear on stdout in the order received (a line break after each
    received chunk is allowed, as in the textbook's printf("%s\\n", buf), and so is other
    text around a chunk on its line, as in printf("fd %d: %s (%zd bytes)\\n", ...)).""",
    applies=PRINTS,
    hint="""print each chunk right after recv() returns it, ending the line or flushing
    stdout; on Windows stdout is a pipe and stays buffered until you call fflush(stdout).
    A server that is not meant to print the chunks is service echo-only""",
    source="stdio(3), setvbuf(3), fflush(3): buffered output reaches stdout only when flushed")
def print_in_order(s: Session) -> None:
    c = s.connect_one()
    for i in range(3):
        data = s.payload(0, 40, f"p{i}")
        s.send([(c, data)])
        if not s.wait_printed(c.conn, data):
            verify.printed(s, [(c, data)])
    verify.printed(s, [(c, s.transcript.sent(c.conn))])


@clause("PRINT-2", Level.MUST, """
    With three clients sending at the same time, each client's bytes appear on stdout in
    that client's order.""",
    applies=CONCURRENT_PRINTS,
    hint="""print each chunk in one call (fwrite of the whole chunk), so chunks from
    different clients do not interleave inside one another""",
    source="write(2), fwrite(3): one call writes one chunk; stdio(3) buffering")
def print_concurrent(s: Session) -> None:
    clients = s.connect(3)
    verify.connected(s, clients)
    for i in range(5):
        work = [(c, s.payload(c.conn, 30, f"p{i}")) for c in clients]
        s.send(work)
        for c, data in work:
            if not s.wait_printed(c.conn, data):
                verify.printed(s, [(c, data)])


@clause("PRINT-3", Level.SHOULD, """
    Printing is binary-safe: received bytes are written to stdout exactly, NUL and
    non-UTF-8 bytes included.""",
    applies=PRINTS,
    hint="""write the chunk with its length -- fwrite(buf, 1, n, stdout) -- because
    printf("%s", buf) stops at the first NUL byte""",
    source="""printf(3): %s stops at the first NUL byte; fwrite(3) writes a length (quality
    beyond the service's text)""")
def print_binary(s: Session) -> None:
    c = s.connect_one()
    # Every byte value except LF, which servers may add between chunks themselves.
    data = bytes(b for b in range(256) if b != 0x0A) * 2
    s.send([(c, data)])
    if not s.wait_printed(c.conn, data):
        verify.printed(s, [(c, data)])
