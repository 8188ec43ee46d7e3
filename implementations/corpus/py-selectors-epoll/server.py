"""An echo server in the shape of the selectors documentation's example: DefaultSelector,
an accept() callback and a read() callback stored as the key's data, recv(1000).

On Linux DefaultSelector is an EpollSelector, registered without EPOLLET: level-
triggered, so one accept() per wake-up and one recv() per wake-up are enough -- what is
left is reported again.  The documentation's example hopes send() will not block; here
what send() could not take waits in a per-connection buffer, the socket is watched for
EVENT_WRITE while it is not empty, and reading pauses while it holds more than 256 KiB.
"""

import contextlib
import selectors
import socket
import sys

HIGH_WATER = 256 * 1024
sel = selectors.DefaultSelector()
out = sys.stdout.buffer


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.pending = bytearray()
        self.eof = False


def accept(listener, mask):
    try:
        sock, _ = listener.accept()
    except OSError:  # the client reset while queued (ECONNABORTED), or no descriptor left
        return
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, Conn(sock))


def close(conn):
    sel.unregister(conn.sock)
    conn.sock.close()


def watch(conn):
    """Read while there is room (and no EOF), write while something waits."""
    events = 0
    if not conn.eof and len(conn.pending) <= HIGH_WATER:
        events |= selectors.EVENT_READ
    if conn.pending:
        events |= selectors.EVENT_WRITE
    if events == 0:
        close(conn)  # EOF and everything sent back
    else:
        sel.modify(conn.sock, events, conn)


def serve(conn, mask):
    try:
        if mask & selectors.EVENT_READ:
            data = conn.sock.recv(1000)
            if data:
                out.write(b"recv: " + data + b"\n")
                out.flush()
                conn.pending += data
            else:
                conn.eof = True
        if conn.pending:
            sent = conn.sock.send(conn.pending)
            del conn.pending[:sent]
    except BlockingIOError:
        pass
    except OSError:  # reset by the client, broken pipe
        close(conn)
        return
    watch(conn)


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen(100)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, mask in sel.select():
            if key.data is None:
                accept(key.fileobj, mask)
            else:
                serve(key.data, mask)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
