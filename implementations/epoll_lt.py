"""Model ``epoll-lt``: epoll, level-triggered (the default: no EPOLLET).

epoll splits poll() in two.  The interest list lives in the kernel, set up once per
descriptor (epoll_ctl ADD, MOD, DEL) instead of being copied in on every call.  And the
kernel keeps a ready list: the socket's wait-queue callback puts the registration there
when data, buffer space or an error arrives, so epoll_wait() returns only ready descriptors.
A wake-up costs O(ready), not O(watched), which is why it scales to many idle clients.

Level-triggered means epoll_wait() reports a descriptor again on every call for as long
as its condition holds: after it returns a registration, the kernel puts it back on the
ready list and re-checks it next time.  This server relies on that re-notification: it
does one bounded recv(bufsize) per readiness and leaves the rest in the kernel buffer,
to be reported on the next call; after the others have had their turn, so no single
client monopolises the loop.  The flip side, as with poll: a condition that stays true is
reported forever, so EPOLLOUT is in the interest mask only while output is pending, and a
client at EOF is no longer read (an EOF is readable forever).

What epoll registers is the open file description behind the fd, not the number: a
registration outlives close() while a dup() of the descriptor is open, and is removed
silently when the last one closes.  So unregister first, then close: the other order
makes EPOLL_CTL_DEL fail with EBADF (an OSError in Python), which the seed never checked.

The seed's epoll loop also used blocking sockets (a stray wake-up would freeze it in
recv), treated recv() == -1 as data (buffer[-1] = 0) and wrote buffer[255] on a 255-byte
buffer.  Its LT/ET note is right: ET is only safe with non-blocking sockets.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

_READABLE = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
_WRITABLE = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR


def _interest(conn: Conn) -> int:
    return (select.EPOLLIN if conn.wants_read else 0) | (
        select.EPOLLOUT if conn.wants_write else 0
    )


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
            return  # e.g. EMFILE: the connection stays queued, and epoll will say so again
        conn = Conn(sock, echo)
        conn.interest = select.EPOLLIN
        ep.register(sock, conn.interest)
        conns[sock.fileno()] = conn


def _serve(conn: Conn, events: int, bufsize: int) -> bool:
    """Do what epoll said is possible; True when the connection is to be closed."""
    try:
        if events & _READABLE and conn.wants_read:
            conn.receive(bufsize)  # one bounded read: level triggering reports the rest
        if events & _WRITABLE and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True


def main(options: Options) -> None:
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)  # a queued connection can vanish between epoll and accept
        ep.register(listener, select.EPOLLIN)
        while True:
            for fd, events in ep.poll():
                if fd == listener.fileno():
                    _accept_all(listener, ep, conns, options.echo)
                    continue
                conn = conns[fd]
                if _serve(conn, events, options.bufsize):
                    ep.unregister(fd)
                    del conns[fd]
                    conn.sock.close()
                elif _interest(conn) != conn.interest:
                    conn.interest = _interest(conn)
                    ep.modify(fd, conn.interest)


if __name__ == "__main__":
    run(main, "epoll echo/print server, level-triggered (single-threaded).")
