"""Mutant ``mut-unfair-reader`` (model epoll-et): drains one client before the others.

Defect: the epoll-et reference with its turn unbounded: a client's turn is a loop of
recv() and send() until recv() says EAGAIN, without the reference's budget (READ_TURN).
Everything else is the reference: edges, non-blocking sockets, output sent until EAGAIN,
and the stop at HIGH_WATER (so memory stays bounded; only fairness is lost).

The classic mistake it mirrors: "with EPOLLET, read until EAGAIN", the rule every epoll
tutorial stresses, written as the tutorials' drain loop.  A client that sends faster than
we read never lets recv() say EAGAIN: its turn lasts as long as its stream, and the other
clients that became ready in the same epoll_wait() wait for it to end.

Must be caught by FAIRNESS-2: its client writes 1 MiB at a time, faster than any server
that reads and prints, and sends the short message once the server's output shows it is
inside the stream; this server serves it only when the whole 16 MiB has been read.
"""

from __future__ import annotations

import select
import sys

from implementations import epoll_et
from implementations._common import Options, listen, run

assert sys.platform == "linux", "epoll exists on Linux only"


def _take_turn(conn: epoll_et._EdgeConn, bufsize: int) -> bool:
    """True if the connection needs a turn no edge will give."""
    epoll_et._drain_output(conn)
    while conn.may_read and conn.wants_read:  # DEFECT: until EAGAIN, with no budget
        if not conn.receive(bufsize):
            conn.may_read = False
        epoll_et._drain_output(conn)
    return conn.may_read and conn.wants_read


def main(options: Options) -> None:
    conns: dict[int, epoll_et._EdgeConn] = {}
    pending: set[int] = set()
    with listen(options.host, options.port) as listener, select.epoll() as ep:
        listener.setblocking(False)
        ep.register(listener, select.EPOLLIN | select.EPOLLET)
        while True:
            turns, pending = pending, set()
            for fd, events in ep.poll(0 if turns else -1):
                if fd == listener.fileno():
                    epoll_et._accept_all(listener, ep, conns, options.echo)
                    continue
                if events & epoll_et._INPUT_EVENTS:
                    conns[fd].may_read = True
                turns.add(fd)
            for fd in turns:
                conn = conns[fd]
                try:
                    again = _take_turn(conn, options.bufsize)
                    done = conn.finished
                except OSError:
                    again, done = False, True
                if done:
                    epoll_et._close(ep, conns, fd)
                elif again:
                    pending.add(fd)


if __name__ == "__main__":
    run(main, "MUTANT: epoll edge-triggered server that reads each client until EAGAIN.")
