"""Model ``io_uring``: submit accept/recv/send to the kernel, then reap their completions.

Every other server here asks "which sockets are ready?" and then does the I/O itself.
io_uring (Linux 5.1+; accept 5.5, send and recv 5.6) turns that round: we describe the
operation -- "recv up to 255 bytes from fd 7 into this buffer" -- in a submission queue
entry (SQE), and the kernel performs it and later reports "done: 42 bytes" in a
completion queue entry (CQE) carrying the user_data we chose.  The kernel tries the
operation at once; if it would block, it waits for the socket internally and finishes
the work then.  We never see readiness, only results.  Both queues are rings in memory
shared with the kernel, and one io_uring_enter() both submits new entries and sleeps
for completions (_uring.py explains the rings and why we wrote that binding ourselves).

So the loop is: keep an ACCEPT outstanding on the listener and one RECV on each
connection; on each completion, act and post what follows.  A RECV of n bytes is
printed and its echo queued; the echo goes out as a SEND, and a SEND completes with the
count the kernel took, which can be short: the rest is submitted again, in order, one
SEND at a time per connection.

The trap is that the kernel owns what we handed it until the completion arrives.
- Buffers: the kernel writes a RECV's buffer and reads a SEND's long after we asked.
  Freed or resized meanwhile, they would take a stranger's bytes or corrupt memory.
  The binding holds each buffer until its CQE, and the pinned bytearray refuses to
  resize; a pending SEND's bytes stay untouched (new echo goes in a fresh bytearray).
- And memory: a RECV is outstanding on every idle connection, so a buffer per RECV
  pins bufsize bytes per client (19,000 idle clients with 64 KiB: 1.2 GB).  So RECVs
  take *provided buffers* (Linux 5.7): the kernel gets a pool once, picks a buffer
  only when data arrives, and names it in the CQE; we copy the bytes out and provide
  that buffer again.  Idle clients hold none.  Should every buffer be taken when data
  arrives (-ENOBUFS), the RECV is simply posted again, behind the buffers we give back.
- News only comes through completions: EOF is a RECV that completes with 0, a reset one
  that completes with -ECONNRESET.  With no operation outstanding we learn nothing.
- So forgetting to re-arm stalls silently: echo a RECV's bytes but post no new RECV and
  the connection never reads again; no error, no busy loop, just silence.  The same
  after an ACCEPT completion for the whole server.  (mutant uring_no_rearm does it.)
- Closing a socket does not end an operation outstanding on it (the request holds its
  own reference to the socket), so a broken connection cancels what it still has in
  flight and is closed only when nothing is.
Backpressure: while a client's unsent echo exceeds HIGH_WATER we post no RECV; the SEND
completion that brings it back under re-arms it.  Signals: Python's handlers run in
bytecode, never inside io_uring_enter(); EINTR brings us back there, and a RECV kept on
signal.set_wakeup_fd()'s socket covers a signal arriving just before we entered.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import socket
import sys
from collections.abc import Callable

assert sys.platform == "linux", "io_uring exists on Linux only"

from implementations._common import HIGH_WATER, Options, emit, listen, run  # noqa: E402
from implementations._uring import Ring, probe  # noqa: E402

_ACCEPT, _RECV, _SEND, _CANCEL, _WAKEUP, _PROVIDE = range(6)  # what an operation was for
_POOL = 64  # provided receive buffers, shared by all connections
_GROUP = 0  # their buffer group id


class _Conn:
    """One client: its descriptor, what it is owed, and which operations it has in flight."""

    __slots__ = ("broken", "eof", "fd", "offset", "out", "paused", "recv", "send")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.out: bytearray | None = None  # echo not yet handed to a SEND (idle: none)
        self.offset = 0  # bytes of the outstanding SEND's buffer the kernel has taken
        self.recv: int | None = None  # user_data of the outstanding RECV
        self.send: tuple[int, bytearray] | None = None  # user_data and buffer of the SEND
        self.paused = False  # no RECV posted because the echo is over HIGH_WATER
        self.eof = False  # the client has shut down its sending side
        self.broken = False  # reset or failed: to close once nothing is in flight

    @property
    def owed(self) -> int:
        unsent = len(self.send[1]) - self.offset if self.send else 0
        return len(self.out or b"") + unsent


class _Server:
    def __init__(self, ring: Ring, listener: socket.socket, wakeup: socket.socket,
                 options: Options) -> None:
        self.ring, self.listener, self.wakeup = ring, listener, wakeup
        self.echo, self.bufsize = options.echo, options.bufsize
        self.conns: dict[int, _Conn] = {}
        self.ops: dict[int, tuple[int, _Conn | None]] = {}  # user_data -> (kind, conn)
        self.tokens = itertools.count(1)
        self.wakeup_buf = bytearray(64)
        self.pool = bytearray(_POOL * self.bufsize)  # buffer i: pool[i * bufsize:][:bufsize]
        self.handlers: dict[int, Callable[[_Conn | None, int, int | None], None]] = {
            _ACCEPT: self._on_accept, _RECV: self._on_recv, _SEND: self._on_send,
            _CANCEL: lambda conn, res, bid: None, _PROVIDE: lambda conn, res, bid: None,
            _WAKEUP: lambda conn, res, bid: self._arm_wakeup()}

    def _token(self, kind: int, conn: _Conn | None) -> int:
        user_data = next(self.tokens)  # comes back in the CQE: we look up what it was for
        self.ops[user_data] = (kind, conn)
        return user_data

    def serve_forever(self) -> None:
        self._provide(0, _POOL)
        self.ring.accept(self.listener.fileno(), self._token(_ACCEPT, None))
        self._arm_wakeup()
        while True:
            self.ring.submit(wait_nr=1)  # submit what we queued, sleep until a completion
            for user_data, res, bid in self.ring.reap():
                kind, conn = self.ops.pop(user_data)
                self.handlers[kind](conn, res, bid)

    def _provide(self, first: int, count: int) -> None:
        self.ring.provide(self.pool, self.bufsize, first, count, _GROUP,
                          self._token(_PROVIDE, None))

    def _arm_wakeup(self) -> None:
        # Python's C-level handler writes a byte here on every signal, so a signal that
        # comes just before we enter the kernel still ends the wait.  Its Python handler
        # then runs as soon as we are back in bytecode.
        self.ring.recv(self.wakeup.fileno(), self.wakeup_buf, self._token(_WAKEUP, None))

    def _on_accept(self, _: _Conn | None, res: int, bid: int | None) -> None:
        # Re-arm first, whatever the result.  (At EMFILE the new ACCEPT fails again at once,
        # and we spin until a client leaves: the completion twin of a level-triggered loop.)
        self.ring.accept(self.listener.fileno(), self._token(_ACCEPT, None))
        if res >= 0:  # the new fd; negative: -ECONNABORTED and the like, nothing to clean up
            conn = self.conns[res] = _Conn(res)
            self._post_recv(conn)

    def _post_recv(self, conn: _Conn) -> None:
        conn.recv = self._token(_RECV, conn)
        self.ring.recv_from_pool(conn.fd, self.bufsize, _GROUP, conn.recv)

    def _on_recv(self, conn: _Conn | None, res: int, bid: int | None) -> None:
        assert conn is not None
        conn.recv = None
        chunk = b""
        if bid is not None:  # copy the bytes out, then the kernel may have the buffer back
            start = bid * self.bufsize
            chunk = bytes(self.pool[start:start + max(res, 0)])
            self._provide(bid, 1)
        if res > 0:
            emit(chunk)
            if self.echo:
                if conn.out is None:
                    conn.out = bytearray(chunk)
                else:
                    conn.out += chunk
                self._post_send(conn)
            self._rearm_recv(conn)
        elif res == -errno.ENOBUFS:  # every buffer was in use: try again, after the above
            self._post_recv(conn)
        elif res == 0:
            conn.eof = True
        else:  # -ECONNRESET and the like, or -ECANCELED because the connection broke
            conn.broken = True
        self._settle(conn)

    def _rearm_recv(self, conn: _Conn) -> None:
        """The next RECV, unless the echo is backed up (then the SEND completion re-arms)."""
        if conn.owed > HIGH_WATER:
            conn.paused = True
        elif not conn.broken:
            self._post_recv(conn)

    def _post_send(self, conn: _Conn) -> None:
        if conn.send is None and conn.out and not conn.broken:
            conn.send, conn.out, conn.offset = (self._token(_SEND, conn), conn.out), None, 0
            self.ring.send(conn.fd, conn.send[1], 0, conn.send[0])

    def _on_send(self, conn: _Conn | None, res: int, bid: int | None) -> None:
        assert conn is not None and conn.send is not None
        data, conn.send = conn.send[1], None
        if res < 0:  # -EPIPE, -ECONNRESET, or -ECANCELED because the connection broke
            conn.broken = True
        elif conn.offset + res < len(data) and not conn.broken:  # short: the rest, in order
            conn.offset += res
            conn.send = (self._token(_SEND, conn), data)
            self.ring.send(conn.fd, data, conn.offset, conn.send[0])
        else:
            self._post_send(conn)  # the echo that arrived while this SEND was out
        if conn.paused and conn.owed <= HIGH_WATER and not conn.broken:
            conn.paused = False
            self._post_recv(conn)
        self._settle(conn)

    def _settle(self, conn: _Conn) -> None:
        """Close a connection that is finished or broken, once the kernel holds nothing of it."""
        if not (conn.broken or (conn.eof and not conn.owed)):
            return
        in_flight = [op for op in (conn.recv, conn.send[0] if conn.send else None) if op]
        if not in_flight:
            del self.conns[conn.fd]
            os.close(conn.fd)  # a finished client gets its FIN; a reset one, nothing
        elif conn.broken:
            for target in in_flight:  # they complete with -ECANCELED, then we close
                self.ring.cancel(target, self._token(_CANCEL, None))
        # else: EOF with echo still going out; the SEND completion settles it again


def main(options: Options, server: type[_Server] = _Server) -> None:
    reason = probe()
    if reason is not None:
        sys.exit(f"io_uring is not available here: {reason}")
    rsock, wsock = socket.socketpair()
    wsock.setblocking(False)  # set_wakeup_fd() requires it
    with listen(options.host, options.port) as listener, rsock, wsock, Ring(512) as ring:
        # The listener and the accepted sockets stay in blocking mode: io_uring never
        # blocks our thread on them, it waits for readiness inside the kernel.
        signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        try:
            server(ring, listener, rsock, options).serve_forever()
        finally:
            signal.set_wakeup_fd(-1)


if __name__ == "__main__":
    run(main, "io_uring echo/print server (single-threaded, completion-based).")
