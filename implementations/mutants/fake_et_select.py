"""Mutant ``mut-fake-et-select`` (model epoll-et): a correct select() server that claims epoll-et.

Defect: the code is the select reference, every line of it; only the manifest is wrong,
declaring ``epoll-et``.  No epoll instance is ever created: the clients are watched
through fd_sets passed to select(), and no EPOLLET registration exists.

The classic mistake it mirrors: the assignment asks for edge-triggered epoll, the
student's select() loop already worked (or the portable version was the one that
compiled on their laptop), and it is handed in under the name that was asked for.
Nothing a client can see gives it away.  Level triggering re-reports what a read left
behind, so the edge-triggered clauses pass: a burst that arrived while the server was
stopped is drained by successive select() wake-ups (ET-1), and the listener stays
readable until the accept queue is empty (ET-2).  Only the kernel's view tells.

Must be caught by MODEL-1 (the trace shows no epoll_ctl() with EPOLLET on a client
socket) and MODEL-2 (the trace shows select() watching client sockets, a mechanism
epoll-et does not use).  Two consequences of the same claim fail too: ET-3, which reads
each select() wake-up as an edge and sees one recv() where a drain to EAGAIN was due,
and CAPACITY-2 (SHOULD), since descriptors past FD_SETSIZE are refused.
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, listen, run

FD_SETSIZE = 512 if sys.platform == "win32" else 1024


def _can_watch(sock: socket.socket, clients: int) -> bool:
    if sys.platform == "win32":
        return clients + 2 <= FD_SETSIZE
    return sock.fileno() < FD_SETSIZE


def _accept_all(listener: socket.socket, conns: dict[socket.socket, Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return
        if _can_watch(sock, len(conns)):
            conns[sock] = Conn(sock, echo)
        else:
            sock.close()


def _serve(conn: Conn, readable: bool, writable: bool, bufsize: int) -> bool:
    """Do what select() said is possible; True when the connection is to be closed."""
    try:
        if readable:
            conn.receive(bufsize)
        if writable and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:
        return True


def main(options: Options) -> None:
    conns: dict[socket.socket, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        while True:
            # DEFECT (of the claim, not of the code): select(), where epoll-et was declared
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
    run(main, "MUTANT: select() server whose manifest claims epoll-et.")
