"""Model ``nonblocking``: non-blocking sockets polled in one loop, with a short sleep.

A socket in non-blocking mode (O_NONBLOCK, FIONBIO on Windows; ``setblocking(False)``
sets either) never puts the thread to sleep.  When the call cannot make progress the
kernel fails it at once with EAGAIN / EWOULDBLOCK (WSAEWOULDBLOCK on Windows), which
Python raises as BlockingIOError: accept() with an empty listen queue, recv() with no data,
send() with a full send buffer.  One thread can therefore walk over every socket in turn,
trying each operation and moving on when the answer is "not now".

The trap is the walk itself.  The kernel knows which sockets are ready but is never asked;
we find out by trying them all, one system call each, every pass.  With no sleep an idle
server burns a whole core making failing calls.  With a sleep it is a trade: each idle
pass costs O(clients) system calls, and a client that becomes ready waits up to the sleep
to be noticed.  We sleep 10 ms, and only after a pass that moved no byte at all.  Asking
the kernel to do the waiting is what select, poll and epoll are for.

The seed's version made non-blocking I/O pointless, and slow:
- Sleep(1000) whenever accept() said WSAEWOULDBLOCK: up to a second before a new client
  is even noticed;
- after accepting, it served that one client to the end, inside the accept loop, sleeping
  100 ms per WSAEWOULDBLOCK: one client at a time, like the blocking model but slower;
- an accept() failing with another error fell through to serving INVALID_SOCKET.
Here every client is served in every pass, so none waits for another.

Rules every multiplexing server here follows: never a blocking send (one client that does
not read would freeze all the others), so each connection queues its unsent echo; stop
reading a client whose queue exceeds HIGH_WATER; after EOF, finish the echo, then close.
"""

from __future__ import annotations

import socket
import time

from implementations._common import Conn, Options, listen, run

IDLE_SLEEP = 0.01  # seconds; bounds both the idle CPU cost and the latency of noticing a client


def _accept_all(listener: socket.socket, conns: list[Conn], echo: bool) -> bool:
    """Accept every queued connection; True if there was at least one."""
    accepted = False
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return accepted
        except ConnectionAbortedError:
            continue
        except OSError:
            return accepted  # e.g. EMFILE: the connection stays queued; try again next pass
        conns.append(Conn(sock, echo))
        accepted = True


def _step(conn: Conn, bufsize: int) -> bool:
    """Try once what the connection wants; True if the kernel moved anything."""
    moved = False
    if conn.wants_read:
        moved = conn.receive(bufsize)
    if conn.wants_write:
        moved = conn.flush() or moved
    return moved


def _serve_pass(conns: list[Conn], bufsize: int) -> bool:
    """One step for every client, closing the finished or broken ones; True on progress."""
    moved = False
    survivors: list[Conn] = []
    for conn in conns:
        try:
            moved = _step(conn, bufsize) or moved
            done = conn.finished
        except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
            done = True
        if done:
            conn.sock.close()
        else:
            survivors.append(conn)
    conns[:] = survivors
    return moved


def main(options: Options) -> None:
    conns: list[Conn] = []
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        while True:
            accepted = _accept_all(listener, conns, options.echo)
            moved = _serve_pass(conns, options.bufsize)
            if not (accepted or moved):
                time.sleep(IDLE_SLEEP)


if __name__ == "__main__":
    run(main, "Non-blocking echo/print server: one loop polls every socket, sleeping when idle.")
