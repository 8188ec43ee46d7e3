"""Model ``poll``: one thread waits in poll() over an array of (fd, events) pairs.

poll() is select() with the bitmap replaced by an array of struct pollfd: each entry names
a descriptor, the events wanted (POLLIN, POLLOUT) and, on return, the events that happened
(revents).  Descriptor numbers are no longer bit positions, so there is no FD_SETSIZE: the
limit is RLIMIT_NOFILE, like everything else.  POLLHUP and POLLERR are reported whether
asked for or not; we answer them by trying the operation, which then fails or reads EOF.
Like select() it is level-triggered, so one bounded recv() per wake-up is enough, and we
ask for POLLOUT only while output is pending, or an idle socket would wake us every call.

The trap that remains is cost: every call copies the whole array into the kernel, which
checks every entry, and we scan every revents: O(watched descriptors) per wake-up even
when one is ready.  Python's select.poll object keeps the array for us (register, modify,
unregister) and rebuilds it only when it changed; the kernel still walks all of it.

The seed's fixed array of POLL_SIZE (20) slots was mostly bugs:
- its slot search took a free slot but broke out of the loop only when that slot was
  beyond the highest one in use, so a free slot below it got the fd and the search went
  on, putting the same descriptor in several slots (each then read by turn, and all
  "closed" when one saw EOF);
- when all 19 client slots were taken, the accepted descriptor was never watched nor
  closed: a hung client and a leaked fd;
- `if (--nready < 0) continue;` should have been `<= 0`, and the highest slot in use
  never shrank, so poll() kept scanning slots long emptied.
Here the kernel-side array is managed by select.poll, and our table is a dict by fd.
Unregister before close: a closed fd left registered is reported as POLLNVAL on every
call, and its number is the next one accept() returns.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform != "win32", "poll() is POSIX; Windows has WSAPoll"

_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR


def _interest(conn: Conn) -> int:
    return (select.POLLIN if conn.wants_read else 0) | (select.POLLOUT if conn.wants_write else 0)


def _accept_all(listener: socket.socket, poller: select.poll, conns: dict[int, Conn],
                echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return  # e.g. EMFILE: the connection stays queued, and poll() will say so again
        conn = Conn(sock, echo)
        conn.interest = select.POLLIN
        poller.register(sock, conn.interest)
        conns[sock.fileno()] = conn


def _serve(conn: Conn, events: int, bufsize: int) -> bool:
    """Do what poll() said is possible; True when the connection is to be closed."""
    try:
        if events & _READABLE and conn.wants_read:
            conn.receive(bufsize)
        if events & _WRITABLE and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True


def main(options: Options) -> None:
    poller = select.poll()
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)  # a queued connection can vanish between poll and accept
        poller.register(listener, select.POLLIN)
        while True:
            for fd, events in poller.poll():
                if fd == listener.fileno():
                    _accept_all(listener, poller, conns, options.echo)
                    continue
                conn = conns[fd]
                if _serve(conn, events, options.bufsize):
                    poller.unregister(fd)
                    del conns[fd]
                    conn.sock.close()
                elif _interest(conn) != conn.interest:
                    conn.interest = _interest(conn)
                    poller.modify(fd, conn.interest)


if __name__ == "__main__":
    run(main, "poll() echo/print server (single-threaded, level-triggered).")
