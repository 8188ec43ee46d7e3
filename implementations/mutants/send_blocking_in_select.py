"""Mutant ``mut-send-blocking-in-select`` (model select): sendall() on blocking sockets.

Defect: the select reference's loop, except that client sockets stay blocking and each
chunk is echoed at once with ``sock.sendall(chunk)``, right after the recv() that got it.
There is no output queue and the writable set stays empty.  Reading, EOF, errors and
FD_SETSIZE are handled as in the reference.

The classic mistake it mirrors: select() is understood as "tells me when to read", and
writing is left as it was in the blocking server, because "send() on a TCP socket
always works".  It does, until a client stops reading: its receive window and our send
buffer fill, sendall() sleeps in the kernel, and so does the only thread there is.  Every
other client, and every new connection, waits for the one that does not read.

Must be caught by FAIRNESS-1 (a client that sends a lot and never reads does not freeze
the server: the other client is never served).
"""

from __future__ import annotations

import select
import socket

from implementations._common import Options, emit, listen, run
from implementations.select_loop import _can_watch


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
            sock.setblocking(True)  # explicitly, as accept() hands it back on Linux
            clients.add(sock)
        else:
            sock.close()


def _serve(sock: socket.socket, options: Options) -> bool:
    """One read and its echo; True when the connection is to be closed."""
    try:
        chunk = sock.recv(options.bufsize)  # select() said readable: this does not block
        if not chunk:
            return True
        emit(chunk)
        if options.echo:
            sock.sendall(chunk)  # DEFECT: sleeps while this client does not read
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
    run(main, "MUTANT: select() server that echoes with sendall() on blocking sockets.")
