"""Mutant ``mut-blocking-nonblock`` (model blocking): one client at a time, on non-blocking sockets.

Defect: the blocking reference's sequential loop, except that every accepted socket is
made non-blocking, and each recv() or send() that fails with EAGAIN is retried after a
short sleep.  It serves exactly what the blocking reference serves, in the same order,
with the same one-client-at-a-time limits; the listening socket stays blocking.

The classic mistake it mirrors: "recv() must not hang on a silent client", so
``conn.setblocking(False)``; recv() then raises BlockingIOError, so it goes in a retry
loop with a sleep, and sendall(), which on a non-blocking socket gives up midway without
saying how much it sent, becomes a send() loop.  The server looks blocking and behaves
blocking, but it waits by polling, not in the kernel: a server with one silent client
wakes up every POLL_INTERVAL, and it answers up to POLL_INTERVAL late.  That is the
nonblocking model without its one merit (serving many clients), and not the blocking one.

Must be caught by MODEL-2 (client sockets of the blocking model are never made
non-blocking: the trace shows ioctl(FIONBIO) on each).  MODEL-1 passes, rightly: the
trace does show recv() returning data on client sockets; it is MODEL-2 that checks they
were never switched to non-blocking.
"""

from __future__ import annotations

import socket
import time

from implementations._common import Options, emit, listen, run

POLL_INTERVAL = 0.005  # seconds between retries of a recv() or send() that said EAGAIN


def _recv(conn: socket.socket, bufsize: int) -> bytes:
    while True:
        try:
            return conn.recv(bufsize)
        except BlockingIOError:
            time.sleep(POLL_INTERVAL)


def _send_all(conn: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[conn.send(view):]
        except BlockingIOError:
            time.sleep(POLL_INTERVAL)


def serve_client(conn: socket.socket, options: Options) -> None:
    with conn:
        conn.setblocking(False)  # DEFECT: the blocking model's sockets made non-blocking
        try:
            while chunk := _recv(conn, options.bufsize):
                emit(chunk)
                if options.echo:
                    _send_all(conn, chunk)
        except OSError:
            pass


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except ConnectionAbortedError:
                continue
            serve_client(conn, options)


if __name__ == "__main__":
    run(main, "MUTANT: sequential server that polls non-blocking client sockets with sleeps.")
