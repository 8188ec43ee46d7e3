"""A measuring stick, not a server to copy: the least a pure-Python epoll-et echo server
can do per message, to tell how much of a Python reference's CPU time per request is
Python itself and how much its bookkeeping.

    ioconform bench py-epoll-et benchmarks/python_floor --conns 100,1000 --no-capacity

It keeps what the echo service and the model require: every chunk printed, every byte
echoed, each socket read until EAGAIN, the EAGAIN read deferred to the next round as the
reference does (by then the client has often sent its next request).  It drops what makes
a server correct under pressure: no queue for a short send (it blocks until the rest is
sent, stalling every other client), no high-water mark for a client that does not read,
no fairness budget, no error handling beyond closing.  The contract rejects it:
``ioconform check benchmarks/python_floor`` fails FAIRNESS-1, a client that sends and
never reads freezing the server in that blocking send.
"""

import contextlib
import select
import socket
import sys

ET = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET


def main(port: int) -> None:
    buf = bytearray(65536)
    view = memoryview(buf)
    out = sys.stdout.buffer
    listener = socket.create_server(("127.0.0.1", port), backlog=socket.SOMAXCONN)
    listener.setblocking(False)
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN | select.EPOLLET)
    socks: dict[int, socket.socket] = {}
    pending: set[int] = set()  # read data this round: the EAGAIN read is still owed
    while True:
        out.flush()
        turns, pending = pending, set()
        for fd, _ in ep.poll(0 if turns else -1):
            if fd != listener.fileno():
                turns.add(fd)
                continue
            while True:
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    break
                sock.setblocking(False)
                socks[sock.fileno()] = sock
                ep.register(sock.fileno(), ET)
        for fd in turns:
            sock = socks[fd]
            try:
                n = sock.recv_into(buf)
                if not n:
                    raise ConnectionError
                out.write(view[:n])
                out.write(b"\n")
                sent = sock.send(view[:n])
                if sent < n:
                    sock.setblocking(True)
                    sock.sendall(view[sent:n])
                    sock.setblocking(False)
                pending.add(fd)
            except BlockingIOError:
                pass
            except OSError:  # EOF (ConnectionError above), reset
                ep.unregister(fd)
                socks.pop(fd).close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C; SIGTERM's default action ends us
        main(int(sys.argv[1]))
