"""Mutant ``mut-poll-close-no-unregister`` (model poll): close() without unregister().

Defect: the poll reference, except that a finished connection is closed and dropped
from the table but left registered in the poll object.  A closed descriptor in the
pollfd array is reported as POLLNVAL by every poll() call, at once; the loop finds no
connection for it and goes round again.  Until accept() hands the same number to a new
client (whose register() then replaces the stale entry), the server spins.

The classic mistake it mirrors: the seed's ``client[i].fd = -1`` forgotten, or a stale
pollfd left in the array, and then the KeyError (or the crash on a dead fd) "fixed" by
skipping events for unknown descriptors.  Every client is served; the cost is a core
burned after the last client of a busy period leaves.

Caught by IDLE-1 (almost no CPU while clients are idle), which lets one client leave
after the others have connected: no later accept() reuses the closed number.
"""

from __future__ import annotations

import select
import sys

from implementations import poll_loop
from implementations._common import Conn, Options, listen, run

assert sys.platform != "win32", "poll() is POSIX; Windows has WSAPoll"


def main(options: Options) -> None:
    poller = select.poll()
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        poller.register(listener, select.POLLIN)
        while True:
            for fd, events in poller.poll():
                if fd == listener.fileno():
                    poll_loop._accept_all(listener, poller, conns, options.echo)
                    continue
                conn = conns.get(fd)
                if conn is None:
                    continue  # "a stale event": POLLNVAL, for the closed fd still watched
                if poll_loop._serve(conn, events, options.bufsize):
                    del conns[fd]  # DEFECT: no poller.unregister(fd) before the close
                    conn.sock.close()
                elif poll_loop._interest(conn) != conn.interest:
                    conn.interest = poll_loop._interest(conn)
                    poller.modify(fd, conn.interest)


if __name__ == "__main__":
    run(main, "MUTANT: poll() server that closes finished sockets but leaves them registered.")
