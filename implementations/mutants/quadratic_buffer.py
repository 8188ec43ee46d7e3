"""Mutant ``mut-quadratic-buffer`` (model poll): ``outb += data``, with no bound.

Defect: the poll reference, except that each connection's pending echo is an immutable
``bytes`` grown with ``+=`` and cut with ``outb = outb[sent:]``, and the connection is
watched for reading whatever it still owes.  Every byte is echoed, whole and in order;
but a client that sends without reading makes the buffer grow for as long as it sends.

The classic mistake it mirrors, twice over.  The buffer has no bound, so TCP flow
control never slows the client down (the server keeps reading).  And ``+=`` on bytes
copies the whole buffer on every read: the more it holds, the slower it reads, so a
memory figure sampled for a few seconds grows slowly and looks bounded.  Only counting
bytes catches it: what the client sent, less what came back and what the kernel's
socket buffers hold, is what the server keeps.

Must be caught by BACKPRESSURE-2 (SHOULD: a client that does not read makes the server
hold a bounded amount of its echo).
"""

from __future__ import annotations

import select
import socket
import sys

from implementations._common import Conn, Options, emit, listen, run

assert sys.platform != "win32", "poll() is POSIX; Windows has WSAPoll"


class _BytesConn(Conn):
    __slots__ = ("outb",)

    def __init__(self, sock: socket.socket, echo: bool) -> None:
        super().__init__(sock, echo)
        self.outb = b""

    @property
    def wants_read(self) -> bool:
        return not self.eof  # DEFECT: no `len(self.outb) <= HIGH_WATER`

    @property
    def wants_write(self) -> bool:
        return bool(self.outb)

    @property
    def finished(self) -> bool:
        return self.eof and not self.outb

    def receive(self, bufsize: int) -> bool:
        try:
            chunk = self.sock.recv(bufsize)
        except BlockingIOError:
            return False
        if chunk:
            emit(chunk)
            if self.echo:
                self.outb += chunk  # DEFECT: copies the whole buffer, every time
        self.eof = not chunk
        return True

    def flush(self) -> bool:
        try:
            sent = self.sock.send(self.outb)
        except BlockingIOError:
            return False
        self.outb = self.outb[sent:]
        return sent > 0


def _interest(conn: _BytesConn) -> int:
    return (select.POLLIN if conn.wants_read else 0) | (select.POLLOUT if conn.wants_write else 0)


def _serve(conn: _BytesConn, events: int, bufsize: int) -> bool:
    """Do what poll() said is possible; True when the connection is to be closed."""
    try:
        if events & (select.POLLIN | select.POLLHUP | select.POLLERR) and conn.wants_read:
            conn.receive(bufsize)
        if events & (select.POLLOUT | select.POLLHUP | select.POLLERR) and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:
        return True


def main(options: Options) -> None:
    poller = select.poll()
    conns: dict[int, _BytesConn] = {}
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        poller.register(listener, select.POLLIN)
        while True:
            for fd, events in poller.poll():
                if fd == listener.fileno():
                    while True:
                        try:
                            sock, _ = listener.accept()
                        except OSError:  # EAGAIN, ECONNABORTED, EMFILE: poll() says again
                            break
                        conns[sock.fileno()] = conn = _BytesConn(sock, options.echo)
                        conn.interest = select.POLLIN
                        poller.register(sock, conn.interest)
                    continue
                conn = conns[fd]
                if _serve(conn, events, options.bufsize):
                    poller.unregister(fd)
                    del conns[fd]
                    conn.sock.close()
                elif _interest(conn) != conn.interest:
                    conn.interest = _interest(conn)
                    poller.modify(fd, conn.interest)


if __name__ == "__main__":
    run(main, "MUTANT: poll() server whose per-connection output is bytes grown with +=.")
