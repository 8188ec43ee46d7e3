"""Mutant ``mut-et-accept-once`` (model epoll-et): one accept() per listener notification.

Defect: the epoll-et reference, except that a notification on the edge-triggered
listening socket gets a single accept() instead of accept() until EAGAIN.  Client
sockets are drained exactly as the reference drains them (recv and send until EAGAIN,
with its fairness budget and ``pending`` set), so every connection that is accepted is
served correctly.

The classic mistake it mirrors: draining the client sockets, the rule every epoll
tutorial stresses, but treating the listener like a level-triggered one, as in the
seed's loop: "readable listener, so accept()".  Under EPOLLET a completed connection
queues a report of the listener only if none is queued already, so connections that
complete together, or while the server is busy or stopped, share one notification.
Accepting one leaves the others queued, unannounced until yet another client connects:
they have finished their TCP handshake (the kernel does that), they send, and nobody
ever reads them.

Must be caught by ET-2 (20 connections made while the server is stopped are all
accepted after it resumes).  ET-4 sees the single accept() in the trace.  Any other
clause that opens several connections at once can be caught by it too, whenever two of
them land between two epoll_wait() calls: STOP, DISCONNECT, LEAK and others do.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations import epoll_et
from implementations._common import Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"


def _accept_one(listener: socket.socket, ep: select.epoll,
                conns: dict[int, epoll_et._EdgeConn], echo: bool) -> None:
    try:
        sock, _ = listener.accept()  # DEFECT: once per edge; the rest of the queue waits
    except OSError:  # EAGAIN (taken already), ECONNABORTED, EMFILE
        return
    conns[sock.fileno()] = epoll_et._EdgeConn(sock, echo)
    ep.register(sock, epoll_et._EDGE_MASK)


def main(options: Options) -> None:
    conns: dict[int, epoll_et._EdgeConn] = {}
    pending: set[int] = set()  # fds with readable data that no edge will announce
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN | select.EPOLLET)
        while True:
            turns, pending = pending, set()
            for fd, events in ep.poll(0 if turns else -1):
                if fd == listener.fileno():
                    _accept_one(listener, ep, conns, options.echo)
                    continue
                if events & epoll_et._INPUT_EVENTS:
                    conns[fd].may_read = True
                turns.add(fd)
            for fd in turns:
                conn = conns[fd]
                try:
                    again = epoll_et._take_turn(conn, options.bufsize)
                    done = conn.finished
                except OSError:
                    again, done = False, True
                if done:
                    epoll_et._close(ep, conns, fd)
                elif again:
                    pending.add(fd)


if __name__ == "__main__":
    run(main, "MUTANT: epoll edge-triggered server that accepts once per listener edge.")
