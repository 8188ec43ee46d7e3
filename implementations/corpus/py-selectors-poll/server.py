"""An echo server on selectors.PollSelector, chosen by name so the model is poll(2)
whatever DefaultSelector would be, and written as a small state machine per connection.

poll() is level-triggered: a socket with unread bytes is reported by every call, so each
wake-up reads once (4096 bytes) and leaves the rest for the next.  Received chunks wait in
a per-connection deque and leave from its head; EVENT_WRITE is asked for only while the
deque is not empty (a writable socket is reported ready on every call, and asking for it
when there is nothing to write spins the loop).  A client whose echo is not being read
stops being read at 128 KiB queued.  Before each chunk, the textbook's banner line.
"""

import collections
import contextlib
import selectors
import socket
import sys

HIGH_WATER = 128 * 1024
READ_SIZE = 4096


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.chunks = collections.deque()
        self.queued = 0
        self.eof = False

    def wanted(self):
        events = 0
        if not self.eof and self.queued < HIGH_WATER:
            events |= selectors.EVENT_READ
        if self.chunks:
            events |= selectors.EVENT_WRITE
        return events

    def on_readable(self):
        data = self.sock.recv(READ_SIZE)
        if not data:
            self.eof = True
            return
        sys.stdout.buffer.write(b"******** sys recv() ********\n" + data + b"\n")
        sys.stdout.buffer.flush()
        self.chunks.append(data)
        self.queued += len(data)

    def on_writable(self):
        while self.chunks:
            head = self.chunks[0]
            n = self.sock.send(head)
            self.queued -= n
            if n < len(head):
                self.chunks[0] = head[n:]
                return
            self.chunks.popleft()


def main(port):
    selector = selectors.PollSelector()
    listener = socket.create_server(("127.0.0.1", port), backlog=socket.SOMAXCONN)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, mask in selector.select():
            if key.fileobj is listener:
                try:
                    sock, _ = listener.accept()
                except OSError:
                    continue
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, Connection(sock))
                continue
            conn = key.data
            try:
                if mask & selectors.EVENT_READ:
                    conn.on_readable()
                if mask & selectors.EVENT_WRITE or conn.chunks:
                    conn.on_writable()
            except BlockingIOError:
                pass
            except OSError:
                conn.chunks.clear()
                conn.eof = True
            events = conn.wanted()
            if events:
                selector.modify(conn.sock, events, conn)
            else:
                selector.unregister(conn.sock)
                conn.sock.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(int(sys.argv[1]))
