"""Model ``iocp``, the textbook program: a completion port and its worker threads, by hand.

What asyncio's proactor (iocp.py) hides, written out on CPython's own binding of the
Win32 calls, the private ``_overlapped`` module that Lib/asyncio/windows_events.py uses.
Written against CPython 3.8 to 3.13 (checked on 3.12): a private module may change in
any release, so the suite probes for the names used here before running this server.

The program, as Microsoft's "I/O Completion Ports" describes it:
- one completion port (CreateIoCompletionPort on INVALID_HANDLE_VALUE), and every socket
  associated with it (CreateIoCompletionPort again, on the socket);
- requests, each with its own OVERLAPPED and buffer, that return at once: AcceptEx on the
  listener (the new socket is created beforehand, and told afterwards that it belongs to
  the listener: SO_UPDATE_ACCEPT_CONTEXT), one WSARecv per connection, WSASends;
- worker threads blocked in GetQueuedCompletionStatus, each dequeuing one completion
  packet -- OVERLAPPED address, byte count, error -- and posting what follows.  Every
  completion is queued, even that of a request which finished before its call returned.

The traps, which are the reasons for the shape of this file:
- Completion, not readiness.  News comes only through a request outstanding: a WSARecv
  completing with 0 bytes is EOF, with ERROR_NETNAME_DELETED (64) a reset.  Forget to
  re-post the receive after a completion and that client is never read again, silently.
- The kernel owns a request's OVERLAPPED and buffer until its completion is dequeued:
  free them earlier and it writes into someone else's memory (_overlapped's Overlapped
  holds both, so we hold the Overlapped, in ``ops``).  A failed completion's buffer holds
  nothing meaningful, so only the error is looked at.
- closesocket() does not wait for outstanding requests: it aborts them, and they still
  complete, with ERROR_OPERATION_ABORTED (995), later.  So a connection is closed once,
  and its requests are kept until their completions have come back.
- Several workers, one connection.  The receive and the send of one socket can complete
  at once on two threads, so each connection has a lock; and a completion can be dequeued
  before the call that made the request has returned, so the request is entered in
  ``ops`` before it is made.  One receive at a time per socket is what keeps the order of
  the bytes: two would complete in order but could be handled in either.
- Backpressure is ours to do: an overlapped WSASend accepts anything and completes when
  the kernel has taken it, however slowly the client reads.  While a client's unsent echo
  exceeds HIGH_WATER no WSARecv is posted; the send completion that brings it back under
  posts it.  Sends go one at a time, and a short one is finished before anything newer.

Sources: Microsoft Learn, "I/O Completion Ports", "GetQueuedCompletionStatus", "AcceptEx",
"WSARecv"; CPython Modules/overlapped.c and Lib/asyncio/windows_events.py (IocpProactor).
"""

from __future__ import annotations

import _overlapped  # type: ignore[import-not-found,unused-ignore]
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from implementations._common import HIGH_WATER, Options, emit, listen, run

WORKERS = 2  # more than one, so that the locking is real; the GIL runs them one at a time
_ACCEPT, _RECV, _SEND = range(3)  # what a request in flight was for


class _Conn:
    __slots__ = ("closed", "eof", "lock", "out", "paused", "receiving", "sending", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()  # held while handling a completion or making a request
        self.out = bytearray()  # echo not yet handed to a WSASend
        self.sending: bytes | None = None  # the buffer of the outstanding WSASend
        self.receiving = False  # a WSARecv is outstanding
        self.paused = False  # no WSARecv posted: the echo is over HIGH_WATER
        self.eof = False  # the client has shut down its sending side
        self.closed = False

    @property
    def owed(self) -> int:
        return len(self.out) + len(self.sending or b"")


class _Server:
    def __init__(self, listener: socket.socket, options: Options) -> None:
        self.listener, self.echo, self.bufsize = listener, options.echo, options.bufsize
        # 0 threads may run at once: as many as there are processors.
        self.port = _overlapped.CreateIoCompletionPort(_overlapped.INVALID_HANDLE_VALUE, 0, 0, 0)
        _overlapped.CreateIoCompletionPort(listener.fileno(), self.port, 0, 0)
        # OVERLAPPED address -> (what for, the Overlapped, its socket or connection)
        self.ops: dict[int, tuple[int, Any, Any]] = {}

    def _request(self, kind: int, target: object, start: Callable[[Any], None]) -> bool:
        """Make an overlapped request; False if it failed at once (no completion will come)."""
        ov = _overlapped.Overlapped(0)
        self.ops[ov.address] = (kind, ov, target)  # first: another worker may dequeue it early
        try:
            start(ov)
        except OSError:
            del self.ops[ov.address]
            return False
        return True

    def post_accept(self) -> None:
        sock = socket.socket(self.listener.family)  # AcceptEx wants the new socket up front
        if not self._request(_ACCEPT, sock,
                             lambda ov: ov.AcceptEx(self.listener.fileno(), sock.fileno())):
            sock.close()
            raise OSError("AcceptEx failed: this server would never accept again")

    def work(self) -> None:
        """A worker: dequeue one completion, act on it, post what follows; forever."""
        while True:
            err, transferred, _key, address = _overlapped.GetQueuedCompletionStatus(
                self.port, _overlapped.INFINITE)
            kind, ov, target = self.ops.pop(address)
            if kind == _ACCEPT:
                self._on_accept(err, target)
            elif kind == _RECV:
                self._on_recv(err, ov, target)
            else:
                self._on_send(err, transferred, target)

    def _on_accept(self, err: int, sock: socket.socket) -> None:
        self.post_accept()  # first: the next client must not wait for this one's setup
        if err:  # the client reset while queued, and the like
            sock.close()
            return
        # Until this, the socket lacks the listener's properties: getpeername() and
        # shutdown() fail on it.
        sock.setsockopt(socket.SOL_SOCKET, _overlapped.SO_UPDATE_ACCEPT_CONTEXT,
                        struct.pack("@P", self.listener.fileno()))
        _overlapped.CreateIoCompletionPort(sock.fileno(), self.port, 0, 0)
        conn = _Conn(sock)
        with conn.lock:
            self._post_recv(conn)
            self._settle(conn)

    def _post_recv(self, conn: _Conn) -> None:
        conn.receiving = self._request(
            _RECV, conn, lambda ov: ov.WSARecv(conn.sock.fileno(), self.bufsize, 0))
        conn.eof = conn.eof or not conn.receiving  # failed at once: treat as gone

    def _on_recv(self, err: int, ov: Any, conn: _Conn) -> None:
        with conn.lock:
            conn.receiving = False
            if err or conn.closed:  # reset, or aborted by our closesocket(): nothing to read
                self._break(conn)
                return
            chunk = ov.getresult()  # the bytes the kernel wrote into its buffer
            if not chunk:
                conn.eof = True
            else:
                emit(chunk)
                if self.echo:
                    conn.out += chunk
                    self._post_send(conn)
                if conn.owed > HIGH_WATER:
                    conn.paused = True  # the send completion that drains it re-posts
                elif not conn.closed:
                    self._post_recv(conn)
            self._settle(conn)

    def _post_send(self, conn: _Conn) -> None:
        if conn.sending is not None or not conn.out or conn.closed:
            return
        data, conn.out = bytes(conn.out), bytearray()
        if self._request(_SEND, conn, lambda ov: ov.WSASend(conn.sock.fileno(), data, 0)):
            conn.sending = data
        else:
            self._break(conn)

    def _on_send(self, err: int, transferred: int, conn: _Conn) -> None:
        with conn.lock:
            data, conn.sending = conn.sending or b"", None
            if err or conn.closed:  # reset, broken pipe, or aborted by our closesocket()
                self._break(conn)
                return
            if transferred < len(data):
                conn.out[:0] = data[transferred:]  # short: the rest goes before newer echo
            self._post_send(conn)
            if conn.paused and conn.owed <= HIGH_WATER:
                conn.paused = False
                self._post_recv(conn)
            self._settle(conn)

    def _settle(self, conn: _Conn) -> None:
        """Close a connection that has sent all it owes since the client's EOF."""
        if conn.eof and not conn.owed and not conn.receiving:
            self._break(conn)  # nothing outstanding: a plain close, the client gets our FIN

    def _break(self, conn: _Conn) -> None:
        if not conn.closed:
            conn.closed = True
            # Aborts what is still outstanding; those completions come back with an error.
            conn.sock.close()


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        server = _Server(listener, options)
        server.post_accept()  # one AcceptEx outstanding: a burst waits in the listen backlog
        for _ in range(WORKERS - 1):
            threading.Thread(target=server.work, daemon=True).start()
        server.work()


if __name__ == "__main__":
    run(main, "IOCP echo/print server on _overlapped: a completion port and worker threads.")
