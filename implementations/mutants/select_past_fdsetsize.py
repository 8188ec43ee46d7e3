"""Mutant ``mut-select-past-fdsetsize`` (model select): every client goes into select().

Defect: the select reference with its FD_SETSIZE check removed: every accepted socket is
watched, whatever its descriptor number.  The first client whose fd is 1024 or more makes
select() raise ValueError ("filedescriptor out of range in select()"), which nothing
catches: the server exits, and every connected client with it.

The classic mistake it mirrors: not knowing that an fd_set is a fixed bitmap.  In C,
FD_SET(1030, &set) writes past the end of the fd_set and corrupts the stack, silently
or not; CPython checks and raises instead.  Either way a server that works with twenty
clients fails past a thousand.

Must be caught by CAPACITY-1 (past FD_SETSIZE the server refuses the extra clients and
keeps serving the others).
"""

from __future__ import annotations

import select
import socket

from implementations._common import Conn, Options, listen, run
from implementations.select_loop import _serve


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
        conns[sock] = Conn(sock, echo)  # DEFECT: no check against FD_SETSIZE


def main(options: Options) -> None:
    conns: dict[socket.socket, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
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
    run(main, "MUTANT: select() server that passes descriptors past FD_SETSIZE to select().")
