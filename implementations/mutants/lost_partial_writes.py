"""Mutant ``mut-lost-partial-writes`` (model select): send() once, whatever it took.

Defect: the echo is written with a single non-blocking ``sock.send(chunk)`` right after
the recv().  Its return value is ignored, so when the kernel takes only part of the chunk
the tail is lost, and when the send buffer is full BlockingIOError is swallowed and the
whole chunk is lost.  There is no per-connection output queue.  Reading, EOF, errors and
FD_SETSIZE are handled as in the reference.

The classic mistake it mirrors: treating send() like a blocking sendall(), the C habit
of `send(fd, buf, n, 0);` with the result unchecked, carried over to non-blocking
sockets, where short writes and EAGAIN are routine as soon as a client reads slower
than it sends.  Nothing is ever reported: the echo just comes back with holes.

Must be caught by BACKPRESSURE-1 (a client that sends much more than it reads, then
reads, gets back every byte in order).
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys

from implementations._common import Options, emit, listen, run

FD_SETSIZE = 512 if sys.platform == "win32" else 1024


def _can_watch(sock: socket.socket, clients: int) -> bool:
    if sys.platform == "win32":
        return clients + 2 <= FD_SETSIZE
    return sock.fileno() < FD_SETSIZE


def _accept_all(listener: socket.socket, clients: set[socket.socket]) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return
        if _can_watch(sock, len(clients)):
            sock.setblocking(False)
            clients.add(sock)
        else:
            sock.close()


def _serve(sock: socket.socket, options: Options) -> bool:
    """One read and its echo; True when the connection is to be closed."""
    try:
        chunk = sock.recv(options.bufsize)
        if not chunk:
            return True
        emit(chunk)
        if options.echo:
            with contextlib.suppress(BlockingIOError):
                sock.send(chunk)  # DEFECT: a short count and EAGAIN both drop bytes
        return False
    except BlockingIOError:
        return False
    except OSError:
        return True


def main(options: Options) -> None:
    clients: set[socket.socket] = set()
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        while True:
            readable, _, _ = select.select([listener, *clients], [], [])
            for sock in readable:
                if sock is listener:
                    _accept_all(listener, clients)
                elif _serve(sock, options):
                    clients.discard(sock)
                    sock.close()


if __name__ == "__main__":
    run(main, "MUTANT: select() server that ignores partial writes.")
