"""PARTIAL, BACKPRESSURE and FAIRNESS: short reads, short writes, and sharing the server.

A recv() returns at most the buffer's size and often less; a non-blocking send() may
take only part of what it is given, or nothing (EAGAIN).  A server that treats either as
"the whole message" loses data, and one that blocks in send() towards a client that does
not read freezes every other client.
"""

from __future__ import annotations

from typing import Any

from conformance.clause import Applies, Failed, Level, clause
from conformance.clauses import verify
from conformance.events import Received
from conformance.harness import queues
from conformance.harness.session import Session
from conformance.matching import find_printed, size
from conformance.models import ECHOING, Concurrency

ECHO = Applies(services=ECHOING)
CONCURRENT = Applies(concurrency=Concurrency.CONCURRENT)
CONCURRENT_ECHO = Applies(concurrency=Concurrency.CONCURRENT, services=ECHOING)
SMALL_WINDOW = 16 << 10  # client receive buffer that forces the server's sends to go short


def _one_big(s: Session, n: int, **kw: Any) -> None:
    c = s.connect_one()
    work = [(c, s.payload(0, n))]
    s.send(work, **kw)
    if not s.echo:
        s.wait_printed(c.conn, work[0][1], timeout=s.timing.total)
    verify.served(s, work)


@clause("PARTIAL-1", Level.MUST, """
    A 64 KiB message, far larger than the server's read buffer, is served whole.""",
    hint="""call recv() again and again: each call returns at most your buffer's size, and
    the rest of the message waits in the kernel""",
    source="recv(2): 'returns the length of the message'... up to len bytes; the rest stays queued")
def partial_64k(s: Session) -> None:
    _one_big(s, 64 << 10)


@clause("PARTIAL-2", Level.MUST, """
    A 1 MiB message is served whole.""",
    hint="handle every recv() result on its own; never wait for the 'whole message'",
    source="""recv(2), tcp(7): a stream socket returns whatever is available, up to the
    buffer's size""")
def partial_1m(s: Session) -> None:
    _one_big(s, 1 << 20)


@clause("PARTIAL-3", Level.MUST, """
    A message sent one byte per write (TCP_NODELAY) is reassembled: every byte is served,
    in order.""",
    hint="a recv() of one byte is normal; never assume it is the end of a message",
    source="tcp(7) TCP_NODELAY; recv(2): a read of one byte is a complete, normal result")
def partial_bytewise(s: Session) -> None:
    _one_big(s, 300, write_chunk=1)


@clause("BACKPRESSURE-1", Level.MUST, """
    A client that sends 8 MiB while reading slowly through a small receive window gets
    every byte back in order: a send() that returns short or fails with EAGAIN loses
    nothing.""",
    applies=ECHO,
    hint="""send() returns how many bytes it took; keep the rest in a per-connection buffer
    and send it when the socket is writable again (EAGAIN means 'later', not 'dropped')""",
    source="""send(2): returns the number of bytes sent; on a non-blocking socket 'fails with
    EAGAIN' when the buffer is full""")
def backpressure_no_loss(s: Session) -> None:
    c = s.connect(1, rcvbuf=SMALL_WINDOW)[0]
    work = [(c, s.payload(0, 8 << 20))]
    # Read nothing until everything is sent or our send has been blocked for a second.
    # The echo of 8 MiB cannot fit in the server's send buffer (4 MiB at most) plus our
    # 16 KiB window, so the server's send() must come back short or with EAGAIN before
    # we read a byte, and a server that drops what send() did not take is caught.
    s.send(work, read_chunk=4096, lazy_read=1.0)
    verify.echoed(s, work)


FLOOD = 48 << 20  # what BACKPRESSURE-2's client tries to push without reading
HELD_BOUND = 1 << 20  # unread echo past which a server must have stopped reading
HELD_LIMIT = 8 << 20  # unread echo no server should hold for one client, even if it stops
WINDOW = 1.0  # seconds between BACKPRESSURE-2's last two counts


def judge_held(pushed: int, echoed: int, kernel: int, exact: bool, grown: int,
               growing: int = 0) -> None:
    """BACKPRESSURE-2's verdict: of ``pushed`` bytes, ``echoed`` came back and at most
    ``kernel`` sit in socket buffers (counted when ``exact``, else their capacity); the
    rest is in the server's memory.  It may hold past HELD_BOUND only if it has stopped
    (``growing``: how much more it held than WINDOW seconds before), and never past
    HELD_LIMIT.  The server's RSS must have ``grown`` by half that much at least: bytes
    missing from both the sockets and the memory were dropped, which is BACKPRESSURE-1's
    matter, not this clause's."""
    held = pushed - echoed - kernel
    if grown < held // 2 or held <= HELD_BOUND or (held <= HELD_LIMIT and growing <= 0):
        return
    mib = 1 << 20
    details = [f"the client sent {pushed / mib:.1f} MiB and read back {echoed / mib:.1f} MiB; "
               f"the kernel's socket buffers {'held' if exact else 'can hold at most'} "
               f"{kernel / mib:.1f} MiB of the rest, on both ends",
               f"the server's memory (RSS) grew by {grown / mib:.1f} MiB meanwhile"]
    if growing > 0:
        details.insert(1, f"it held {growing / 1024:.0f} KiB more than {WINDOW:g} s before: "
                          "it was still reading")
    raise Failed(
        "the server keeps reading a client that does not read its echo, and holds the echo",
        expected=f"reading stopped once {size(HELD_BOUND)} is held, and never more than "
                 f"{size(HELD_LIMIT)} held",
        actual=f"at least {held / mib:.1f} MiB held" + (", and growing" if growing > 0 else ""),
        details=tuple(details))


@clause("BACKPRESSURE-2", Level.SHOULD, f"""
    While a client sends up to {size(FLOOD)} without reading its echo, the server stops
    reading it: once the server holds more than {size(HELD_BOUND)} of that echo in its own
    memory it holds no more {WINDOW:g} s later, and it never holds {size(HELD_LIMIT)}
    (held: what the client sent, less what came back and what the kernel's socket buffers
    hold on both ends), however fast or slow it reads.""",
    applies=ECHO,
    hint="""cap each connection's pending output (64 KiB is plenty) and stop watching it for
    reading while the cap is reached; resume when the output drains.  A buffer grown with
    += on bytes (or realloc by a constant) also costs time in proportion to its size on
    every read""",
    source="""send(2) EAGAIN, select(2)/poll(2)/epoll(7) writability; tcp(7) flow control
    slows a sender only while the receiver stops reading (quality: the model does not
    demand bounded memory, and buffered bytes are freed when the connection ends)""")
def backpressure_bounded(s: Session) -> None:
    c = s.connect(1, rcvbuf=SMALL_WINDOW)[0]
    s.send([(c, s.payload(0, 256))])  # settle allocations made on the first read
    before = s.rss()

    def held() -> int | None:
        kernel = queues.between(c, s.server.port)
        return c.sent - c.received - kernel[0] if kernel is not None and kernel[1] else None

    last = [0]  # the most the server has held

    def reading() -> bool:
        # The client's send has been blocked for a second.  A server that has stopped
        # reading holds the same as a second ago; one that reads on, however slowly (a
        # buffer that grows by copying slows every read), holds more: push on.
        now = held()
        grew, last[0] = now is not None and now > last[0], max(last[0], now or 0)
        return grew and last[0] <= HELD_LIMIT

    s.send([(c, s.payload(0, FLOOD, "flood"))], read_back=False, stall=1.0,
           total=4 * s.timing.stall, busy=reading)
    verify.alive(s)
    first = held()
    s.pause(WINDOW)  # the measurement window: does the server still read?
    verify.alive(s)
    grown = s.rss() - before
    if (kernel := queues.between(c, s.server.port)) is None:
        return  # the server closed the connection: it holds nothing for it
    then = held()
    growing = then - first if then is not None and first is not None else 0
    judge_held(c.sent, c.received, *kernel, grown, growing)


@clause("FAIRNESS-1", Level.MUST, """
    A client that sends a lot and never reads does not freeze the server: another client is
    still served.""",
    applies=CONCURRENT_ECHO,
    hint="""in a single-threaded server every socket must be non-blocking: a blocking send()
    to a client that does not read waits forever, and so does everyone else""",
    source="""send(2): on a blocking socket send() blocks until the buffer has room;
    select(2): ready means 'possible to perform the operation without blocking'""")
def fairness_non_reader(s: Session) -> None:
    hog, other = s.connect(2, rcvbuf=SMALL_WINDOW)
    s.send([(hog, s.payload(0, 8 << 20, "hog"))], read_back=False, stall=0.5)
    work = [(other, s.payload(1, 100))]
    s.roundtrip(work)
    verify.served(s, work)


STREAM = 16 << 20  # FAIRNESS-2's stream: long enough that a turn of it is never all of it
LEAD = 1 << 20  # stdout that shows the server is inside the stream before the short message
TURN_BOUND = 2 << 20  # stdout the short message may wait behind once it has arrived


@clause("FAIRNESS-2", Level.SHOULD, f"""
    While one client streams {size(STREAM)} as fast as the server reads it, another
    client's short message, sent once the stream is under way, is served before
    {size(TURN_BOUND)} more of the stream has been received.  (SHOULD: reading a socket
    until EAGAIN, which edge-triggered and signal-driven I/O demand, starves the other
    clients under a firehose; epoll(7) lists that starvation among the possible pitfalls,
    with its remedy, not as a violation of the model.)""",
    applies=CONCURRENT,
    hint="""bound the work done for one client per wake-up, or at least return to the event
    loop between clients: reading one busy socket until EAGAIN, when its client sends as
    fast as you read, never ends and starves the rest""",
    source="""epoll(7), 'Possible pitfalls and ways to avoid them: starvation (edge-
    triggered)' (quality: a pitfall with a remedy, not a violation)""")
def fairness_stream(s: Session) -> None:
    streamer, other = s.connect(2)
    big, small = s.payload(0, STREAM, "stream"), s.payload(1, 64)
    out = s.server.stdout
    assert out is not None
    base, marks = out.total, []

    def mid_stream() -> bool:
        # The server's own output says how far it has read; a server that prints
        # nothing is placed by its echo instead.
        if out.total - base >= LEAD or streamer.received >= LEAD:
            marks.append((out.total, streamer.received))
            return True
        return False

    # 1 MiB writes: the client outruns any server that reads and prints, so a turn that
    # lasts "until EAGAIN" lasts until the stream ends, as it would with a real firehose.
    s.send([(streamer, big), (other, small)], write_chunk=1 << 20,
           hold={other: mid_stream})
    if not s.echo:
        s.wait_printed(streamer.conn, big, timeout=s.timing.total)
    verify.served(s, [(other, small), (streamer, big)])
    at, echoed_at = marks[0] if marks else (base, 0)
    found, end = find_printed(out.data(), small, at)
    if found == len(small):
        waited, unit = end - len(small) - at, "the stream printed"
    else:  # an echo server that does not print: judge by the echo, more loosely
        t = s.transcript
        done_small = max(e.at for e in t.of(other.conn) if isinstance(e, Received))
        waited = sum(len(e.data) for e in t.of(streamer.conn)
                     if isinstance(e, Received) and e.at < done_small) - echoed_at
        unit = "its echo"
    if waited > TURN_BOUND or not marks:
        raise Failed("a short message waited while another client's stream was read",
                     expected=f"served before {size(TURN_BOUND)} more of the stream",
                     actual=(f"served after {max(waited, 0) / (1 << 20):.2f} MiB more of {unit}"
                             if marks
                             else "the stream ended before the server showed progress"),
                     details=(f"the short message was sent once the server had printed "
                              f"{(at - base) / (1 << 20):.2f} MiB and echoed "
                              f"{echoed_at / (1 << 20):.2f} MiB of the {size(STREAM)} stream",))
