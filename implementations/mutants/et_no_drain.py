"""Mutant ``mut-et-no-drain`` (model epoll-et): edge-triggered, but one recv() per edge.

Defect: the sockets are registered with EPOLLET, yet each input notification gets a
single recv(bufsize), exactly what a level-triggered loop does.  Everything else is
right: non-blocking sockets, queued output sent until EAGAIN, EOF and errors handled.

The classic mistake it mirrors: taking a working level-triggered loop (the seed's epoll
server reads once per event) and adding EPOLLET "because it is faster", the step the
seed's own notes describe without showing the drain it requires.  Under an edge the
kernel reports new arrivals once; what a single recv() leaves behind is never announced.
A 64 KiB burst that lands while the server is busy (or stopped) becomes one edge, one
255-byte read, and an echo that stalls for good unless the client sends again.

Must be caught by ET-1 (a burst is drained and echoed in full under edge triggering).
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

_INPUT_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET


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
    try:
        while conn.wants_write and conn.flush():
            pass
        if events & _INPUT_EVENTS and conn.wants_read:
            conn.receive(bufsize)  # DEFECT: one read per edge; the rest is never announced
        while conn.wants_write and conn.flush():
            pass
        return conn.finished
    except OSError:
        return True


def main(options: Options) -> None:
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN | select.EPOLLET)
        while True:
            for fd, events in ep.poll():
                if fd == listener.fileno():
                    _accept_all(listener, ep, conns, options.echo)
                elif _serve(conns[fd], events, options.bufsize):
                    ep.unregister(fd)
                    conns.pop(fd).sock.close()


if __name__ == "__main__":
    run(main, "MUTANT: epoll edge-triggered server that reads once per edge.")
