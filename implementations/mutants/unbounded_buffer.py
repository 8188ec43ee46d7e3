"""Mutant ``mut-unbounded-buffer`` (model select): reads on, whatever it still owes.

Defect: the select reference, except that a connection is watched for reading whenever
it has not seen EOF, however much echo is queued for it: no HIGH_WATER.  Short writes and
EAGAIN are handled correctly (the queue keeps every byte, in order), so every echo is
whole; but a client that sends without reading makes the queue, and the process, grow
for as long as it sends.

The classic mistake it mirrors: the per-connection output buffer, the fix for lost
partial writes, with no bound.  Reading is what a server wants to do, and TCP flow
control, which would slow the client down, only works if the server stops reading.

Must be caught by BACKPRESSURE-2 (SHOULD: memory stays bounded while a client sends
without reading).
"""

from __future__ import annotations

import select
import socket

from implementations._common import Conn, Options, listen, run
from implementations.select_loop import _can_watch, _serve


class _GreedyConn(Conn):
    __slots__ = ()

    @property
    def wants_read(self) -> bool:
        return not self.eof  # DEFECT: no `len(self.out) <= HIGH_WATER`


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
            conns[sock] = _GreedyConn(sock, echo)
        else:
            sock.close()


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
    run(main, "MUTANT: select() server with an unbounded per-connection output queue.")
