"""Model ``epoll-et``: epoll, edge-triggered (EPOLLET).

With EPOLLET, epoll_wait() reports a descriptor when something *happens* to it — bytes
arrive, send-buffer space frees up after a send() hit EAGAIN, a connection completes —
and then not again until something else happens.  Nothing is re-checked for us, so each
registration is made once, for EPOLLIN | EPOLLOUT | EPOLLRDHUP, and never modified.

The rule that follows: on a notification, keep going until the kernel says EAGAIN.
- Listener: accept() until BlockingIOError.  Ten connections completing together may be
  one notification; accepting one leaves nine in the queue, unannounced until an eleventh.
- Client: recv() until EAGAIN or EOF.  Read 255 bytes of a 64 KiB burst and the rest sits
  in the kernel buffer with no edge to come: the client waits for its echo, we wait for a
  notification, and both wait forever (the seed's text names the rule; mutant
  et_no_drain breaks it).
- Output: send() until the queue is empty or EAGAIN; only an EAGAIN arms the next EPOLLOUT.
Draining until EAGAIN is also why ET needs non-blocking sockets: on a blocking one the
last recv(), the one that should say "empty", sleeps instead, and freezes every client.

The trap within the trap is stopping early on purpose.  A turn does not read a client
whose queued echo exceeds HIGH_WATER (memory), and ends after READ_TURN bytes (fairness:
a client that sends fast would otherwise keep the loop to itself); the queue thus stays
within HIGH_WATER + READ_TURN.  Either way data is still readable and no new edge will
say so: ET plus stop-reading is a lost wake-up.  So each connection remembers
``may_read`` (an edge came, EAGAIN not seen since), and:
- stopped at HIGH_WATER with send() at EAGAIN: the EPOLLOUT edge that comes when the client
  reads its echo gives the connection its next turn, and draining resumes there;
- otherwise (budget spent, a short read, or the echo drained): the connection goes in a
  ``pending`` set,
  which makes the next epoll_wait() non-blocking and gives it another turn after
  everyone else's.

What draining costs, and what it need not.  Some recv() must fail with EAGAIN: a second
system call and a Python exception per message, the price of ET.  It cannot be skipped:
a short read does not prove the buffer empty (TCP may hand over less than is queued,
and more may land during the call), so only EAGAIN clears ``may_read``.  But it need
not come at once.  A short read ends the *turn*, not the draining: the connection stays
pending, and the read that should fail comes in the next round, after everyone else's
turn; by then a request-reply client has often sent its next request, and that read
returns data instead of raising.  The rest is overhead we avoid:
- One receive buffer for all: recv_into() fills a shared, preallocated buffer instead of
  allocating a bytes object per call.  Safe because its bytes are used up (copied into
  stdout's buffer or written out, and into ``out``) before the next recv_into()
  overwrites them: one thread, nothing in between.  Idle connections hold no receive
  buffer at all.
- Full reads are batched: a read that fills the buffer says more is probably queued, so
  the turn reads on (up to READ_TURN, four 64 KiB buffers) before sending, and the echo
  of all four goes out in one send().  Each send() runs the loopback delivery and wakes
  the client once, whatever its size, and at bulk that is much of what the kernel
  charges us.  Bulk echo here, medians of 5 alternating runs: 1,587 MB/s, against 1,272
  with two reads per send() and 1,030 with one.
- stdout is flushed once per round, before epoll_wait(), not once per chunk: one write()
  for a round's lines, and never a line held while we sleep.
"""

from __future__ import annotations

import functools
import select
import socket
import sys

from implementations._common import HIGH_WATER, Conn, Options, emit, flush_stdout, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

# Bytes one client may be read per turn before the others get theirs: four 64 KiB reads,
# whose echo leaves in one send().
READ_TURN = 256 * 1024
_EDGE_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_INPUT_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


class _EdgeConn(Conn):
    __slots__ = ("may_read",)

    def __init__(self, sock: socket.socket, echo: bool) -> None:
        super().__init__(sock, echo)
        self.may_read = False  # an input edge came and recv() has not said EAGAIN since


@functools.cache
def _receive_buffer(bufsize: int) -> memoryview:
    """The one buffer every recv_into() fills: its bytes are used up before the next call."""
    return memoryview(bytearray(bufsize))


def _accept_all(listener: socket.socket, ep: select.epoll, conns: dict[int, _EdgeConn],
                echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return  # drained: the next connection will bring a new edge
        except ConnectionAbortedError:
            continue
        except OSError:
            # e.g. EMFILE.  Connections left queued get no new edge until another arrives;
            # a production server keeps a spare fd to accept-and-close them.
            return
        conn = _EdgeConn(sock, echo)
        conns[sock.fileno()] = conn
        # Registration checks readiness once, so data that beat us here is not missed.
        ep.register(sock, _EDGE_MASK)


def _drain_output(conn: _EdgeConn) -> None:
    while conn.out and conn.flush():
        pass


def _read_turn(conn: _EdgeConn, bufsize: int, flush: bool = True) -> None:
    if conn.eof or len(conn.out) > HIGH_WATER:
        return  # EOF, or HIGH_WATER: may_read stays True for when the echo drains
    buf, sock = _receive_buffer(bufsize), conn.sock
    try:
        for _ in range(max(1, READ_TURN // bufsize)):
            n = sock.recv_into(buf)
            if not n:
                conn.eof = True
                return
            chunk = buf[:n]
            emit(chunk, flush)
            if conn.echo:
                conn.out += chunk
            if n < bufsize:
                return  # the turn ends, not the draining: EAGAIN is read in a later round
    except BlockingIOError:
        conn.may_read = False  # EAGAIN: the next arrival is a new edge


def _take_turn(conn: _EdgeConn, bufsize: int, flush: bool = True) -> bool:
    """Move what can be moved now; True if the connection needs a turn no edge will give.
    ``flush=False``: the caller flushes stdout before it next sleeps."""
    _drain_output(conn)  # first, so the echo makes room below HIGH_WATER
    if conn.may_read:
        _read_turn(conn, bufsize, flush)
    _drain_output(conn)  # a short send is no EPOLLOUT promise: on until EAGAIN
    # If we stopped with output still queued, send() said EAGAIN and an EPOLLOUT edge is due.
    return conn.may_read and not conn.eof and len(conn.out) <= HIGH_WATER


def _close(ep: select.epoll, conns: dict[int, _EdgeConn], fd: int) -> None:
    ep.unregister(fd)  # before close(): afterwards the fd no longer names the registration
    conns.pop(fd).sock.close()


def main(options: Options) -> None:
    conns: dict[int, _EdgeConn] = {}
    pending: set[_EdgeConn] = set()  # readable data that no edge will announce
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN | select.EPOLLET)
        listening = listener.fileno()
        while True:
            flush_stdout()  # the lines of this round, in one write(), before we may sleep
            turns, pending = pending, set()
            for fd, events in ep.poll(0 if turns else -1):
                if fd == listening:
                    _accept_all(listener, ep, conns, options.echo)
                    continue
                conn = conns[fd]
                if events & _INPUT_EVENTS:
                    conn.may_read = True
                turns.add(conn)
            for conn in turns:
                try:
                    again = _take_turn(conn, options.bufsize, flush=False)
                    done = conn.eof and not conn.out
                except OSError:  # reset, broken pipe: the peer is gone, and what it was owed
                    again, done = False, True
                if done:
                    _close(ep, conns, conn.sock.fileno())
                elif again:
                    pending.add(conn)


if __name__ == "__main__":
    run(main, "epoll echo/print server, edge-triggered (single-threaded, drains to EAGAIN).")
