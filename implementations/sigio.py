"""Model ``sigio``: signal-driven I/O (O_ASYNC + F_SETOWN), waiting with sigwaitinfo().

A socket opts in with two fcntl() calls: F_SETOWN names the process to signal, and F_SETFL
with O_ASYNC (Python: ``fcntl.FASYNC``) puts the file on the socket's fasync list.  From
then on the kernel raises SIGIO on the owner whenever the socket's wait queue is woken
(net/socket.c, sock_wake_async; socket(7), "Signals" and "I/O events"): data or a FIN
arrives, a handshake completes on a listener, send-buffer space frees up after a send()
hit EAGAIN, an error or reset comes in.  Neither setting is inherited: on Linux accept()
hands back a socket with no O_ASYNC and no owner (accept(2), NOTES), so each accepted
socket gets both, or its client is never heard from.  Nor is data that came *before*
O_ASYNC announced: after enabling it, the socket must be read once unprompted.

SIGIO is a standard signal, and standard signals are not queued (signal(7)): while one is
pending, further ones are dropped.  Five arrivals on five sockets can be one SIGIO, and a
plain SIGIO does not say which fd it was for (fs/fcntl.c, send_sigio_to_task: only with
F_SETSIG does the kernel queue an RT signal carrying si_fd, and it falls back to plain
SIGIO when that queue overflows).  So a SIGIO only means "something happened somewhere",
exactly an edge with no address: every wake-up must accept() until EAGAIN and give every
connection a turn, recv() until EAGAIN or EOF and send() until EAGAIN.  That makes a
wake-up O(clients), the price of this model, and why it lost to epoll.

The textbook installs a SIGIO handler and does the I/O in it.  That is fragile: the
handler interrupts the main program anywhere, may only call async-signal-safe functions,
races with the loop over shared tables, and a signal raised while it runs is merged into
the one being handled.  And SIGIO's default action kills the process, so one raised before
the handler exists is fatal.  The sane form is synchronous: block SIGIO first, then
enable O_ASYNC, and collect it with sigwaitinfo(2): the signal stays pending until we ask
(none lost between two waits, none fatal), and the I/O runs in the ordinary loop.  Only
SIGIO is blocked: SIGTERM and SIGINT still interrupt the wait (EINTR) and end the server.

The trap within the trap is stopping early on purpose, as with EPOLLET: a client read
past HIGH_WATER or past its READ_TURN budget still has data that no new SIGIO announces.
At HIGH_WATER with send() at EAGAIN, the write-space SIGIO restarts it; otherwise the fd
goes in ``pending`` and the next wait is a sigtimedwait() with a zero timeout.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys

from implementations._common import HIGH_WATER, Conn, Options, listen, run

assert sys.platform == "linux", "signal-driven sockets: Linux only here"

READ_TURN = HIGH_WATER  # bytes one client may be read per turn before the others get theirs
_SIGIO = {signal.SIGIO}


def _enable_sigio(sock: socket.socket) -> None:
    # Owner first: with O_ASYNC set and no owner, an event in between signals nobody.
    fcntl.fcntl(sock, fcntl.F_SETOWN, os.getpid())
    flags = fcntl.fcntl(sock, fcntl.F_GETFL)
    fcntl.fcntl(sock, fcntl.F_SETFL, flags | fcntl.FASYNC)


def _accept_all(listener: socket.socket, conns: dict[int, Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return  # drained: the next handshake raises a new SIGIO
        except ConnectionAbortedError:
            continue
        except OSError:
            # e.g. EMFILE.  Connections left queued raise no new SIGIO until another arrives.
            return
        conn = Conn(sock, echo)  # non-blocking: O_NONBLOCK is not inherited either
        _enable_sigio(sock)  # nor are the owner and O_ASYNC: without them, silence
        conns[sock.fileno()] = conn


def _drain_output(conn: Conn) -> None:
    while conn.wants_write and conn.flush():
        pass


def _take_turn(conn: Conn, bufsize: int) -> bool:
    """Move what can be moved now; True if the connection needs a turn no SIGIO will give."""
    _drain_output(conn)  # first, so the echo makes room below HIGH_WATER
    for _ in range(max(1, READ_TURN // bufsize)):
        if not conn.wants_read:
            break  # EOF, or HIGH_WATER: readable data may remain
        if not conn.receive(bufsize):
            _drain_output(conn)
            return False  # EAGAIN: the next arrival raises a new SIGIO
    _drain_output(conn)
    # Still over HIGH_WATER means send() said EAGAIN, and a write-space SIGIO is due; below
    # it (budget spent, or the echo drained), the unread rest is announced by nothing.
    return conn.wants_read


def _wait(pending: bool) -> bool:
    """Wait for SIGIO; True if one came (anything may have happened, to any socket)."""
    if pending:
        return signal.sigtimedwait(_SIGIO, 0) is not None  # take it if raised, never sleep
    signal.sigwaitinfo(_SIGIO)
    return True


def main(options: Options) -> None:
    # Before any O_ASYNC: SIGIO's default action is to terminate the process.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGIO)
    conns: dict[int, Conn] = {}
    pending: set[int] = set()  # fds with readable data that no SIGIO will announce
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)  # drained until EAGAIN, like every socket here
        _enable_sigio(listener)
        # The first pass is unprompted: a client that connected before O_ASYNC raised nothing.
        signalled = True
        while True:
            if signalled:
                _accept_all(listener, conns, options.echo)
                turns = set(conns)  # the signal does not say which: everyone gets a turn
            else:
                turns = pending
            pending = set()
            for fd in turns:
                conn = conns[fd]
                try:
                    again = _take_turn(conn, options.bufsize)
                    done = conn.finished
                except OSError:  # reset, broken pipe: the peer is gone, and what it was owed
                    again, done = False, True
                if done:
                    conns.pop(fd).sock.close()  # close() also takes it off the fasync list
                elif again:
                    pending.add(fd)
            signalled = _wait(bool(pending))


if __name__ == "__main__":
    run(main, "signal-driven I/O echo/print server: O_ASYNC + F_SETOWN, sigwaitinfo, drains.")
