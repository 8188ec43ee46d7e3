"""A polling server (model "nonblocking") in the seed's shape: every socket non-blocking,
one loop that tries accept() and then recv() on every client, and sleeps when a whole
pass found nothing to do.

Nothing tells this loop when a socket is ready, so it asks each one, and an EAGAIN
(BlockingIOError) means "not now".  The sleep is what keeps an idle server from eating a
core; it is short (5 ms), so a client waits at most that long, and it is skipped while
there is work, so a busy server runs flat out.  The seed slept after every EAGAIN of
every client (100 ms each), which serves N clients N times slower.  This is a print
server: nothing is owed back, so there is no output queue.
"""

import contextlib
import socket
import sys
import time

IDLE_SLEEP = 0.005


def main(port):
    listener = socket.create_server(("127.0.0.1", port), backlog=64)
    listener.setblocking(False)
    clients = []
    while True:
        busy = False
        while True:  # every connection already queued
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            except OSError:  # ECONNABORTED, EMFILE: try again next pass
                break
            conn.setblocking(False)
            clients.append(conn)
            busy = True
        for conn in list(clients):
            try:
                data = conn.recv(8192)
            except BlockingIOError:
                continue
            except OSError:
                data = b""  # reset: treat as gone
            busy = True
            if data:
                sys.stdout.buffer.write(b"recv: " + data + b"\n")
                sys.stdout.buffer.flush()
            else:
                clients.remove(conn)
                conn.close()
        if not busy:
            time.sleep(IDLE_SLEEP)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(int(sys.argv[1]))
