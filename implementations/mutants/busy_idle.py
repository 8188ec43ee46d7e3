"""Mutant ``mut-busy-idle`` (model nonblocking): the polling loop never sleeps.

Defect: the nonblocking reference's loop with its idle sleep removed.  When no socket has
anything to do, the loop immediately starts the next pass: accept() and recv() fail with
EAGAIN as fast as the CPU can issue them.  Every client is still served correctly.

The classic mistake it mirrors: "non-blocking means never wait", or removing the seed's
Sleep(1000) because it made accepts slow, instead of bounding it.  An idle server then
burns a whole core, and slows everything else on the machine, while doing nothing.

Must be caught by IDLE-1 (an idle server uses next to no CPU).
"""

from __future__ import annotations

import socket

from implementations._common import Conn, Options, listen, run


def _accept_all(listener: socket.socket, conns: list[Conn], echo: bool) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except ConnectionAbortedError:
            continue
        except OSError:
            return
        conns.append(Conn(sock, echo))


def _serve_pass(conns: list[Conn], bufsize: int) -> None:
    survivors: list[Conn] = []
    for conn in conns:
        try:
            if conn.wants_read:
                conn.receive(bufsize)
            if conn.wants_write:
                conn.flush()
            done = conn.finished
        except OSError:
            done = True
        if done:
            conn.sock.close()
        else:
            survivors.append(conn)
    conns[:] = survivors


def main(options: Options) -> None:
    conns: list[Conn] = []
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        while True:
            _accept_all(listener, conns, options.echo)
            _serve_pass(conns, options.bufsize)
            # DEFECT: no time.sleep() when the pass moved nothing: a busy loop


if __name__ == "__main__":
    run(main, "MUTANT: non-blocking polling server with no idle sleep (burns a core).")
