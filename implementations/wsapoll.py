"""Model ``wsapoll``: one thread waits in WSAPoll(), Winsock's poll(), called through ctypes.

WSAPoll (ws2_32.dll, Windows Vista and later) takes an array of WSAPOLLFD -- a SOCKET,
the events wanted, the events that happened -- and sleeps until one entry has something
to report.  It is poll() with Winsock's spelling: POLLRDNORM (readable: data, a FIN, or
on a listener a connection to accept) and POLLWRNORM (room in the send buffer); POLLERR,
POLLHUP and POLLNVAL are reported whether asked for or not, and we answer them by trying
the operation, which then reads EOF or fails.  Only POLLRDNORM, POLLRDBAND and POLLWRNORM
may be asked for: POLLPRI, which the Microsoft provider does not support, makes the whole
call fail with WSAEINVAL.  Python's select module has no binding for it (select.poll
does not exist on Windows), hence ctypes.  Level-triggered, so the rules of poll_loop.py
hold: one bounded recv() per wake-up, POLLWRNORM asked only while output is pending.
There is no FD_SETSIZE; the cost is poll()'s: the array is copied in and every entry
checked on each call.  We rebuild it every call, as select_loop.py rebuilds its lists.

The traps:
- It is not quite poll().  Before Windows 10 version 2004, WSAPoll did not report a
  non-blocking connect() that failed (connection refused): no POLLHUP, no POLLERR, and a
  program waiting with no timeout waited forever.  Microsoft's own advice was not to
  rely on WSAPoll where a connect can fail (use select(), or a timeout), and curl stopped
  using it.  The WSAPoll page now says that since 2004 a failed connect reports
  POLLHUP | POLLERR | POLLWRNORM.  A server that only accepts never meets this defect,
  which is why a server can use WSAPoll and a portable client library cannot.
- Readiness is a hint, so the sockets must be non-blocking.  The listener: a connection
  reported by POLLRDNORM can be reset before accept(), which on a blocking socket then
  sleeps until the next client, freezing everyone else.  A client: POLLWRNORM says there
  is *some* room, and a blocking send() of more than that sleeps until the client reads.
  Only non-blocking sockets turn "not after all" into BlockingIOError (WSAEWOULDBLOCK).
- WSAPoll with a negative timeout is not interrupted by Ctrl-C or CTRL_BREAK: a console
  event is no EINTR.  (_common.run keeps this loop out of the main thread for that.)

Sources: Microsoft Learn, "WSAPoll function" and "WSAPOLLFD structure"; Daniel Stenberg,
"WSAPoll is broken" (daniel.haxx.se, 2012).
"""

from __future__ import annotations

import ctypes
import socket
from collections.abc import Callable

from implementations._common import Conn, Options, listen, run

POLLRDNORM, POLLWRNORM = 0x0100, 0x0010  # winsock2.h
POLLERR, POLLHUP, POLLNVAL = 0x0001, 0x0002, 0x0004
_READABLE = POLLRDNORM | POLLHUP | POLLERR | POLLNVAL
_WRITABLE = POLLWRNORM | POLLHUP | POLLERR | POLLNVAL


class WSAPOLLFD(ctypes.Structure):
    _fields_ = (("fd", ctypes.c_size_t),  # SOCKET: an unsigned pointer-sized handle
                ("events", ctypes.c_short),
                ("revents", ctypes.c_short))


def _bind_wsapoll() -> Callable[..., int]:
    ws2 = ctypes.WinDLL("ws2_32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    wsapoll = ws2.WSAPoll
    wsapoll.argtypes = (ctypes.POINTER(WSAPOLLFD), ctypes.c_ulong, ctypes.c_int)
    wsapoll.restype = ctypes.c_int
    return wsapoll  # type: ignore[no-any-return,unused-ignore]


def _interest(conn: Conn) -> int:
    return (POLLRDNORM if conn.wants_read else 0) | (POLLWRNORM if conn.wants_write else 0)


def _accept_all(listener: socket.socket, conns: dict[int, Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return  # e.g. WSAEMFILE: the connection stays queued, and WSAPoll will say so again
        conns[sock.fileno()] = Conn(sock, echo)


def _serve(conn: Conn, revents: int, bufsize: int) -> bool:
    """Do what WSAPoll said is possible; True when the connection is to be closed."""
    try:
        if revents & _READABLE and conn.wants_read:
            conn.receive(bufsize)
        if revents & _WRITABLE and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True


def main(options: Options) -> None:
    wsapoll = _bind_wsapoll()
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        while True:
            # Never an empty interest: a connection that wants nothing is finished and closed.
            entries = [WSAPOLLFD(listener.fileno(), POLLRDNORM),
                       *(WSAPOLLFD(fd, _interest(conn)) for fd, conn in conns.items())]
            array = (WSAPOLLFD * len(entries))(*entries)
            if wsapoll(array, len(entries), -1) < 0:
                raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]
            for entry in array[1:]:
                if entry.revents and _serve(conns[entry.fd], entry.revents, options.bufsize):
                    conns.pop(entry.fd).sock.close()
            if array[0].revents:
                _accept_all(listener, conns, options.echo)


if __name__ == "__main__":
    run(main, "WSAPoll() echo/print server (single-threaded, level-triggered, via ctypes).")
