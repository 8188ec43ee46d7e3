"""Mutant ``mut-fd-leak`` (model poll): at EOF the socket is unregistered but never closed.

Defect: when a client's EOF has been seen and its echo sent, the server forgets the fd
in poll() and in its table, but instead of closing the socket it parks it in a list
(so the garbage collector cannot close it either).  Resets and other errors still close.

The classic mistake it mirrors: forgetting a connection instead of closing it.  The
seed's select and poll loops do it to every socket accepted while their pool is full
(neither watched nor closed); in Python it hides behind the garbage collector until
something still holds a reference, as here.  Each finished client costs the process
an fd until accept() fails with EMFILE; and since no FIN is ever sent, a client that
half-closed never gets EOF after its echo (its socket waits in FIN_WAIT_2, ours in
CLOSE_WAIT, for as long as the server lives).

Must be caught by LEAK-1 (open descriptors return to the baseline after clients leave)
and DISCONNECT-1 (a client that half-closes gets the rest of its echo, then EOF).
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform != "win32", "poll() is POSIX"

_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR
_finished: list[socket.socket] = []


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
            return
        conn = Conn(sock, echo)
        conn.interest = select.POLLIN
        poller.register(sock, conn.interest)
        conns[sock.fileno()] = conn


def _serve(conn: Conn, events: int, bufsize: int) -> bool | None:
    """True: finished normally; None: broken; False: keep serving."""
    try:
        if events & _READABLE and conn.wants_read:
            conn.receive(bufsize)
        if events & _WRITABLE and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:
        return None


def main(options: Options) -> None:
    poller = select.poll()
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        poller.register(listener, select.POLLIN)
        while True:
            for fd, events in poller.poll():
                if fd == listener.fileno():
                    _accept_all(listener, poller, conns, options.echo)
                    continue
                conn = conns[fd]
                outcome = _serve(conn, events, options.bufsize)
                if outcome is False:
                    if _interest(conn) != conn.interest:
                        conn.interest = _interest(conn)
                        poller.modify(fd, conn.interest)
                    continue
                poller.unregister(fd)
                del conns[fd]
                if outcome is None:
                    conn.sock.close()
                else:
                    _finished.append(conn.sock)  # DEFECT: forgotten, never closed


if __name__ == "__main__":
    run(main, "MUTANT: poll() server that leaks the socket of every client that ends cleanly.")
