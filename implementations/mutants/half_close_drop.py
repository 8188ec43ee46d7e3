"""Mutant ``mut-half-close-drop`` (model epoll-lt): EPOLLRDHUP taken for "gone: close".

Defect: the epoll-lt reference, except that clients are also watched for EPOLLRDHUP,
and a report of it closes the connection at once.  EPOLLRDHUP means the client has sent
its FIN, nothing more: the bytes it sent before are still in our receive buffer, unread,
and their echo is owed.  A client that half-closes right after a burst gets part of its
echo (whatever one 255-byte read per wake-up took before the FIN arrived), then the
connection ends, with a reset if unread data was discarded.

The classic mistake it mirrors: reading a half-close as a hang-up.  recv() returning 0,
POLLHUP, EPOLLRDHUP: each says "the client will send no more", and the student closes
before sending what it is still owed.

Must be caught by DISCONNECT-3 (a client that half-closes after sending gets the whole
echo, then EOF).
"""

from __future__ import annotations

import select
import sys

from implementations import epoll_lt
from implementations._common import Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"


def main(options: Options) -> None:
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN)
        while True:
            for fd, events in ep.poll():
                if fd == listener.fileno():
                    epoll_lt._accept_all(listener, ep, conns, options.echo)
                    continue
                conn = conns[fd]
                # DEFECT: the client's FIN is not the end of what it is owed
                if events & select.EPOLLRDHUP or epoll_lt._serve(conn, events, options.bufsize):
                    ep.unregister(fd)
                    del conns[fd]
                    conn.sock.close()
                elif (epoll_lt._interest(conn) | select.EPOLLRDHUP) != conn.interest:
                    conn.interest = epoll_lt._interest(conn) | select.EPOLLRDHUP
                    ep.modify(fd, conn.interest)


if __name__ == "__main__":
    run(main, "MUTANT: epoll server that closes a client as soon as it half-closes.")
