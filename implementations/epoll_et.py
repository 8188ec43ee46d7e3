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

The trap within the trap is stopping early on purpose.  We stop reading a client whose
queued echo exceeds HIGH_WATER (memory), and after READ_TURN bytes in one turn (fairness:
a client that sends fast would otherwise keep the loop to itself).  Either way data is
still readable and no new edge will say so: ET plus stop-reading is a lost wake-up.  So
each connection remembers ``may_read`` (an edge came, EAGAIN not seen since), and:
- stopped at HIGH_WATER with send() at EAGAIN: the EPOLLOUT edge that comes when the client
  reads its echo gives the connection its next turn, and draining resumes there;
- otherwise (budget spent, or the echo drained): the fd goes in a ``pending`` set, which
  makes the next epoll_wait() non-blocking and gives the connection another turn after
  everyone else's.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import HIGH_WATER, Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

READ_TURN = HIGH_WATER  # bytes one client may be read per turn before the others get theirs
_EDGE_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_INPUT_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


class _EdgeConn(Conn):
    __slots__ = ("may_read",)

    def __init__(self, sock: socket.socket, echo: bool) -> None:
        super().__init__(sock, echo)
        self.may_read = False  # an input edge came and recv() has not said EAGAIN since


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
    while conn.wants_write and conn.flush():
        pass


def _read_turn(conn: _EdgeConn, bufsize: int) -> None:
    for _ in range(max(1, READ_TURN // bufsize)):
        if not conn.wants_read:
            return  # EOF, or HIGH_WATER: may_read stays True for when the echo drains
        if not conn.receive(bufsize):
            conn.may_read = False  # EAGAIN: the next arrival is a new edge
            return


def _take_turn(conn: _EdgeConn, bufsize: int) -> bool:
    """Move what can be moved now; True if the connection needs a turn no edge will give."""
    _drain_output(conn)  # first, so the echo makes room below HIGH_WATER
    if conn.may_read:
        _read_turn(conn, bufsize)
    _drain_output(conn)
    # If we stopped with output still queued, send() said EAGAIN and an EPOLLOUT edge is due.
    return conn.may_read and conn.wants_read


def _close(ep: select.epoll, conns: dict[int, _EdgeConn], fd: int) -> None:
    ep.unregister(fd)  # before close(): afterwards the fd no longer names the registration
    conns.pop(fd).sock.close()


def main(options: Options) -> None:
    conns: dict[int, _EdgeConn] = {}
    pending: set[int] = set()  # fds with readable data that no edge will announce
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN | select.EPOLLET)
        while True:
            turns, pending = pending, set()
            for fd, events in ep.poll(0 if turns else -1):
                if fd == listener.fileno():
                    _accept_all(listener, ep, conns, options.echo)
                    continue
                if events & _INPUT_EVENTS:
                    conns[fd].may_read = True
                turns.add(fd)
            for fd in turns:
                conn = conns[fd]
                try:
                    again = _take_turn(conn, options.bufsize)
                    done = conn.finished
                except OSError:  # reset, broken pipe: the peer is gone, and what it was owed
                    again, done = False, True
                if done:
                    _close(ep, conns, fd)
                elif again:
                    pending.add(fd)


if __name__ == "__main__":
    run(main, "epoll echo/print server, edge-triggered (single-threaded, drains to EAGAIN).")
