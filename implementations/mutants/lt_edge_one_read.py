"""Mutant ``mut-lt-edge-one-read`` (model epoll-lt): one read per event, on EPOLLET.

Defect: a level-triggered server's turn -- one bounded recv() per readiness report, the
rest left for the next report -- on registrations that carry EPOLLET.  Each client is
registered once, for EPOLLIN | EPOLLOUT | EPOLLET, as in epoll(7)'s example, and never
modified.  Everything else is the epoll-lt reference: non-blocking sockets, output kept
in order and flushed when writable, close on EOF.

The classic mistake it mirrors: "level-triggered, so one recv() per event is enough",
written on top of a registration copied from an edge-triggered example.  Level
triggering would report the socket again while bytes remain; edge triggering reports it
once per arrival.  A message that arrives in one piece while the server is busy is one
edge: the server reads 255 bytes of it and the rest waits, unannounced, until the client
sends again -- which a client waiting for its echo never does.  (Mutant lt_with_et_flag
makes the same registration mistake but drains each socket, so no client sees it.)

Must be caught by LT-1 (a burst that arrived while the server was stopped is consumed
with no further client activity).
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

# DEFECT: EPOLLET on a level-triggered server's registrations.
_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLET
_READABLE = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
_WRITABLE = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR


def _accept_all(listener: socket.socket, ep: select.epoll, conns: dict[int, Conn],
                echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return
        conns[sock.fileno()] = Conn(sock, echo)
        ep.register(sock, _MASK)


def _serve(conn: Conn, events: int, bufsize: int) -> bool:
    """True when the connection is to be closed."""
    try:
        if events & _READABLE and conn.wants_read:
            conn.receive(bufsize)  # one bounded read, trusting a re-report that never comes
        while conn.wants_write and conn.flush():
            pass  # until EAGAIN, so that an EPOLLOUT edge is due for the rest
        return conn.finished
    except OSError:
        return True


def main(options: Options) -> None:
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN)
        while True:
            for fd, events in ep.poll():
                if fd == listener.fileno():
                    _accept_all(listener, ep, conns, options.echo)
                elif _serve(conns[fd], events, options.bufsize):
                    ep.unregister(fd)
                    conns.pop(fd).sock.close()


if __name__ == "__main__":
    run(main, "MUTANT: epoll server reading once per event on EPOLLET registrations.")
