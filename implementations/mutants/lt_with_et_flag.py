"""Mutant ``mut-lt-with-et-flag`` (model epoll-lt): claims level triggering, registers EPOLLET.

Defect: the epoll-lt reference's loop (one registration per client, kept in step with
what the connection wants by epoll_ctl MOD), with EPOLLET ORed into every mask it
registers.  The server declared level-triggered is edge-triggered in the kernel.

The classic mistake it mirrors: ``ev.events = EPOLLIN | EPOLLET`` copied from the example
in epoll(7) into a level-triggered assignment, or added "because edge-triggered is
faster".  The usual result is the stall of mutant et_no_drain; this server escapes it,
because its turn happens to be written the way edge triggering needs:
- it reads until recv() says EAGAIN, so the next arrival is a new edge;
- where it stops reading early (a turn's READ_TURN budget spent, or HIGH_WATER reached
  and then drained in the same turn) the data left behind would never be announced, but
  it then calls epoll_ctl(EPOLL_CTL_MOD), and MOD re-checks readiness and queues an event
  for whatever is still there (the way EPOLLONESHOT registrations are re-armed);
- it sends until EAGAIN, so an EPOLLOUT edge is due whenever output is left queued.
So, in most runs, every client is served and even the level-triggered clause passes
(LT-1: a burst that arrived while the server was stopped is consumed); on a loaded
machine a turn sometimes ends in a state no MOD or edge revisits, and a client stalls.
Only the trace shows the defect every time: no client socket was ever registered
without EPOLLET.

Must be caught by MODEL-1 (epoll-lt's evidence is epoll_ctl() on client sockets without
EPOLLET).  MODEL-2 passes, rightly: epoll is epoll-lt's own mechanism.  LT-2 fails as
well, because a turn drains the socket, so the trace never shows a wait reporting it
again around a single read.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import HIGH_WATER, Conn, Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"

READ_TURN = HIGH_WATER  # bytes one client may be read per turn before the others get theirs
_TRIGGER = select.EPOLLET  # DEFECT: the level-triggered model's registrations carry EPOLLET


def _interest(conn: Conn) -> int:
    return _TRIGGER | (select.EPOLLIN if conn.wants_read else 0) | (
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
            return
        conn = Conn(sock, echo)
        conn.interest = _interest(conn)
        ep.register(sock, conn.interest)
        conns[sock.fileno()] = conn


def _drain_output(conn: Conn) -> None:
    while conn.wants_write and conn.flush():
        pass


def _read_turn(conn: Conn, bufsize: int) -> bool:
    """recv() until EAGAIN, EOF, HIGH_WATER or READ_TURN; True if input may be left unread."""
    for _ in range(max(1, READ_TURN // bufsize)):
        if not conn.wants_read:
            return not conn.eof
        if not conn.receive(bufsize):
            return False
    return True


def _serve(conn: Conn, bufsize: int) -> tuple[bool, bool]:
    """One turn: (close the connection, input may be left that no edge will announce)."""
    try:
        _drain_output(conn)  # first, so the echo makes room below HIGH_WATER
        left = _read_turn(conn, bufsize)
        _drain_output(conn)
        return conn.finished, left
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True, False


def main(options: Options) -> None:
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN)
        while True:
            for fd, _events in ep.poll():
                if fd == listener.fileno():
                    _accept_all(listener, ep, conns, options.echo)
                    continue
                conn = conns[fd]
                done, left = _serve(conn, options.bufsize)
                if done:
                    ep.unregister(fd)
                    del conns[fd]
                    conn.sock.close()
                elif (left and conn.wants_read) or _interest(conn) != conn.interest:
                    conn.interest = _interest(conn)
                    ep.modify(fd, conn.interest)  # also re-checks readiness: the re-arm


if __name__ == "__main__":
    run(main, "MUTANT: epoll server claiming level triggering that registers clients with EPOLLET.")
