"""Mutant ``mut-sigio-read-once`` (model sigio): one recv() per connection per SIGIO.

Defect: signal-driven I/O set up right (SIGIO blocked, then F_SETOWN and O_ASYNC on the
listener and on every accepted socket, collected with sigwaitinfo), and on each signal
every connection gets a turn, but a turn is a single recv(bufsize), not a drain to
EAGAIN.  Everything else is right: accept() until EAGAIN, queued output sent until
EAGAIN, EOF and errors handled.

The classic mistake it mirrors: reading SIGIO as "one signal, one read", as if it were a
level-triggered readiness report.  SIGIO is a standard signal and is not queued: a 64 KiB
burst that lands while the server is busy (or stopped) raises one SIGIO, gets one 255-byte
read, and the rest sits in the kernel buffer with no further signal to announce it, so
the echo stalls for good unless the client sends again.

Must be caught by ET-1 (a burst is drained and echoed in full under edge triggering).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys

from implementations._common import Conn, Options, listen, run

assert sys.platform == "linux", "Linux only, like sigio.py"

_SIGIO = {signal.SIGIO}


def _enable_sigio(sock: socket.socket) -> None:
    fcntl.fcntl(sock, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(sock, fcntl.F_SETFL, fcntl.fcntl(sock, fcntl.F_GETFL) | fcntl.FASYNC)


def _accept_all(listener: socket.socket, conns: dict[int, Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return
        conns[sock.fileno()] = Conn(sock, echo)
        _enable_sigio(sock)


def _serve(conn: Conn, bufsize: int) -> bool:
    try:
        while conn.wants_write and conn.flush():
            pass
        if conn.wants_read:
            conn.receive(bufsize)  # DEFECT: one read per signal; the rest is never announced
        while conn.wants_write and conn.flush():
            pass
        return conn.finished
    except OSError:
        return True


def main(options: Options) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGIO)
    conns: dict[int, Conn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        _enable_sigio(listener)
        while True:
            _accept_all(listener, conns, options.echo)
            for fd in list(conns):
                if _serve(conns[fd], options.bufsize):
                    conns.pop(fd).sock.close()
            signal.sigwaitinfo(_SIGIO)


if __name__ == "__main__":
    run(main, "MUTANT: signal-driven I/O server that reads once per connection per SIGIO.")
