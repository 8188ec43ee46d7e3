"""Model ``select``: one thread waits in select() for any socket to become ready.

select() hands the kernel three sets of descriptors and sleeps until at least one is
readable (data, a FIN, or on a listener a completed connection), writable (room in the
send buffer) or in error.  It is level-triggered: a socket is reported every call for as
long as its condition holds, so reading only part of what is there is fine — the rest is
reported again.  That is also why we ask for writability only while output is pending:
an idle socket is always writable, and asking would wake us in a tight loop.

The traps:
- FD_SETSIZE.  On POSIX an fd_set is a bitmap indexed by descriptor number, fixed at 1024
  bits; FD_SET() on a larger fd writes past it, and CPython refuses with ValueError
  "filedescriptor out of range in select()".  On Windows an fd_set is an array of socket
  handles that CPython builds with room for 512.  The limit belongs to the model, so a
  connection that would exceed it is closed at once: refused, visibly, rather than
  accepted and never watched (a client that hangs forever) or passed to select() (a crash
  that takes every other client down).
- Cost.  The sets are in-out parameters, rebuilt before every call (here: two lists), copied
  into the kernel, scanned there, and scanned again by us: O(watched sockets) per wake-up,
  however few are ready.

The seed's pool of FD_SETSIZE slots had its own bugs:
- when the pool was full, the loop found no free slot and the accepted socket was neither
  watched nor closed: that client hangs and the descriptor leaks;
- after an accept it did `continue`, skipping every client that was readable in the same
  round (harmless with level triggering, starvation under a connect flood);
- select(0, ...) only works on Windows, which ignores nfds; on POSIX it watches nothing;
- a 255-byte recv into a 255-byte buffer, then buffer[255] = 0: one byte past the end.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

# How much select() can watch.  POSIX: descriptor numbers must be below 1024 (the bitmap
# size on Linux and macOS).  Windows: a set holds at most 512 sockets, whatever their values.
FD_SETSIZE = 512 if sys.platform == "win32" else 1024


def _can_watch(sock: socket.socket, clients: int) -> bool:
    if sys.platform == "win32":
        return clients + 2 <= FD_SETSIZE  # the read set also holds the listener and this one
    return sock.fileno() < FD_SETSIZE


def _accept_all(listener: socket.socket, conns: dict[socket.socket, Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return  # another client of the same wake-up already took it, or it was reset
        except ConnectionAbortedError:
            continue
        except OSError:
            return  # e.g. EMFILE: the connection stays queued, and select() will say so again
        if _can_watch(sock, len(conns)):
            conns[sock] = Conn(sock, echo)
        else:
            sock.close()  # refuse: the client sees EOF now instead of silence forever


def _serve(conn: Conn, readable: bool, writable: bool, bufsize: int) -> bool:
    """Do what select() said is possible; True when the connection is to be closed."""
    try:
        if readable:
            conn.receive(bufsize)
        if writable and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True


def main(options: Options) -> None:
    conns: dict[socket.socket, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)  # a queued connection can vanish between select and accept
        while True:
            readers = [listener, *(c.sock for c in conns.values() if c.wants_read)]
            writers = [c.sock for c in conns.values() if c.wants_write]
            readable, writable, _ = select.select(readers, writers, [])
            ready_r, ready_w = set(readable), set(writable)
            for sock in ready_r | ready_w:
                if sock is not listener and _serve(
                    conns[sock], sock in ready_r, sock in ready_w, options.bufsize
                ):
                    del conns[sock]
                    sock.close()
            if listener in ready_r:
                _accept_all(listener, conns, options.echo)


if __name__ == "__main__":
    run(main, "select() echo/print server (single-threaded, level-triggered).")
