"""The client driver: the only code that touches the client sockets.

Every operation is non-blocking underneath and bounded by a *stall* timeout (how long
to wait without any progress) and, for bulk transfers, a *total* timeout.  Nothing
raises on a misbehaving server: the driver records what happened (Sent, Received, Eof,
Reset, Stalled ...) in the transcript and returns, and the verifiers judge afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from conformance.events import (
    Closed,
    Connected,
    ConnectFailed,
    Eof,
    Received,
    Reset,
    Sent,
    Stalled,
    Transcript,
)
from conformance.harness import backlog

_CHUNK = 1 << 16


def _is_reset(e: OSError) -> bool:
    return e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN,
                       getattr(errno, "WSAECONNRESET", -1), getattr(errno, "WSAECONNABORTED", -1))


class Client:
    """One connection.  ``done`` becomes True once it has ended (EOF, reset, stall)."""

    def __init__(self, transcript: Transcript, conn: int, port: int) -> None:
        self.t = transcript
        self.conn = conn
        self.port = port
        self.sock: socket.socket | None = None
        self.local_port = 0
        self.sent = 0
        self.received = 0
        self.eof = False
        self.broken = False  # reset, stalled or never connected

    # -- connect / close ---------------------------------------------------------------
    def start_connect(self, rcvbuf: int = 0) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if rcvbuf:
            # Set before connect(): the window scale is fixed by the handshake.  A small
            # window makes the server's send() return short or EAGAIN quickly.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN,
                       getattr(errno, "WSAEWOULDBLOCK", -1)):
            self._connect_failed(errno.errorcode.get(err, str(err)))

    def finish_connect(self) -> bool:
        """After writability: True when connected; records the outcome."""
        assert self.sock is not None
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(errno.errorcode.get(err, str(err)))
            return False
        self.local_port = self.sock.getsockname()[1]
        self.t.record(Connected(self.conn, self.t.now(), self.local_port))
        return True

    def _connect_failed(self, why: str) -> None:
        self.broken = True
        self.t.record(ConnectFailed(self.conn, self.t.now(), why))
        self._drop()

    def close(self, how: str = "fin") -> None:
        """'fin' (orderly close), 'rst' (SO_LINGER 0: abortive) or 'shut_wr' (half-close)."""
        if self.sock is None:
            return
        with contextlib.suppress(OSError):
            if how == "rst":
                _abortive(self.sock)
            if how == "shut_wr":
                self.sock.shutdown(socket.SHUT_WR)
        self.t.record(Closed(self.conn, self.t.now(), how))
        if how != "shut_wr":
            self._drop()

    def _drop(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    @property
    def open(self) -> bool:
        return self.sock is not None and not self.broken

    # -- the two halves of I/O, one step each --------------------------------------------
    def send_some(self, data: memoryview) -> int:
        assert self.sock is not None
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as e:
            self._reset(e)
            return 0
        if n:
            self.sent += n
            self.t.record(Sent(self.conn, self.t.now(), bytes(data[:n])))
        return n

    def recv_some(self, limit: int = _CHUNK) -> int:
        """Bytes read; 0 on EOF/reset (then ``eof``/``broken`` tells which) or EAGAIN."""
        assert self.sock is not None
        try:
            data = self.sock.recv(limit)
        except BlockingIOError:
            return 0
        except OSError as e:
            self._reset(e)
            return 0
        if not data:
            self.eof = True
            self.t.record(Eof(self.conn, self.t.now()))
            return 0
        self.received += len(data)
        self.t.record(Received(self.conn, self.t.now(), data))
        return len(data)

    def _reset(self, e: OSError) -> None:
        self.broken = True
        name = errno.errorcode.get(e.errno or 0, str(e))
        self.t.record(Reset(self.conn, self.t.now(), name if _is_reset(e) else str(e)))

    def stalled(self, waiting_for: str, seconds: float, budget: float = 0.0) -> None:
        self.broken = True
        self.t.record(Stalled(self.conn, self.t.now(), waiting_for, seconds, budget))


def _waiting_for(c: Client, todo: memoryview, want: int, until_eof: bool) -> str:
    if todo:
        return f"the server to accept byte {c.sent + 1} of {c.sent + len(todo)} (send blocked)"
    if c.received < want:
        return f"byte {c.received + 1} of {want} to come back"
    return "EOF from the server"


# Sockets per select() call: Windows' select() watches at most 512 (CPython's FD_SETSIZE
# there); elsewhere the selector has no such limit.
_SELECT_GROUP: int | None = 500 if sys.platform == "win32" else None


def _read_ready(clients: Sequence[Client], timeout: float) -> bool:
    """Read once from each of ``clients`` that becomes readable within ``timeout``."""
    if not clients:
        return False
    with selectors.DefaultSelector() as sel:
        for c in clients:
            assert c.sock is not None
            sel.register(c.sock, selectors.EVENT_READ, c)
        events = sel.select(timeout)
        for key, _ in events:
            key.data.recv_some()
        return bool(events)


def _abortive(sock: socket.socket) -> None:
    """Make the next close() of ``sock`` send RST (SO_LINGER 0), not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass
class _Transfer:
    """The clients of one ``Driver.transfer`` between two turns of its loop."""

    todo: dict[Client, memoryview]  # what each client has still to send
    want: dict[Client, int]  # the count of received bytes each client waits for
    until_eof: bool
    lazy_read: float
    held: dict[Client, Callable[[], bool]]  # sends nothing until its condition holds
    last_progress: float
    last_send: dict[Client, float]
    reading: set[Client]

    @classmethod
    def start(cls, work: Sequence[tuple[Client, bytes, int]], *, until_eof: bool,
              lazy_read: float, hold: Mapping[Client, Callable[[], bool]] | None
              ) -> _Transfer:
        todo = {c: memoryview(p) for c, p, _ in work if c.open}
        now = time.monotonic()
        return cls(todo, {c: c.received + n for c, _, n in work if c.open}, until_eof,
                   lazy_read, dict(hold or {}), now, dict.fromkeys(todo, now),
                   {c for c in todo if not lazy_read})

    def reads_now(self, c: Client, now: float) -> bool:
        if not (c.received < self.want[c] or self.until_eof):
            return False
        if c not in self.reading and (not self.todo[c]
                                      or now - self.last_send[c] >= self.lazy_read):
            self.reading.add(c)
        return c in self.reading

    def unfinished(self, c: Client) -> bool:
        return c.open and not c.eof and (
            bool(self.todo[c]) or c.received < self.want[c] or self.until_eof)

    def watch(self, sel: selectors.BaseSelector, active: list[Client], now: float) -> None:
        """Register each active client for what it waits for now, and no other."""
        for key in list(sel.get_map().values()):
            if key.data not in active:
                sel.unregister(key.fileobj)
        if all(c in self.held for c in active):
            self.held.clear()  # nothing left to wait for: the others are done
        for c in [c for c, ready in self.held.items() if ready()]:
            del self.held[c]
        for c in active:
            assert c.sock is not None
            ev = selectors.EVENT_WRITE if self.todo[c] and c not in self.held else 0
            if self.reads_now(c, now):
                ev |= selectors.EVENT_READ
            if not ev:
                if c.sock in sel.get_map():
                    sel.unregister(c.sock)
            elif c.sock in sel.get_map():
                sel.modify(c.sock, ev, c)
            else:
                sel.register(c.sock, ev, c)

    def serve(self, ready: list[tuple[selectors.SelectorKey, int]], *, read_chunk: int,
              write_chunk: int) -> None:
        """Read and send what the ready clients can, noting progress."""
        for key, mask in ready:
            c = key.data
            if mask & selectors.EVENT_READ and c.recv_some(read_chunk):
                self.last_progress = time.monotonic()
            if mask & selectors.EVENT_WRITE and c.open and self.todo[c]:
                n = c.send_some(self.todo[c][:write_chunk])
                if n:
                    self.todo[c] = self.todo[c][n:]
                    self.last_progress = self.last_send[c] = time.monotonic()
            if c.eof or c.broken:
                self.last_progress = time.monotonic()


class Driver:
    """Creates clients and runs bounded transfers over any number of them at once."""

    def __init__(self, port: int, transcript: Transcript, stall: float) -> None:
        self.port = port
        self.t = transcript
        self.stall = stall
        self.clients: list[Client] = []
        self._limit: int | None = 0  # the accept queue's size; 0: not asked yet

    def connect(self, n: int = 1, rcvbuf: int = 0, *, burst: bool = False) -> list[Client]:
        """Connect ``n`` clients; failures are recorded, not raised.  They connect at once
        when the listener's accept queue has room for them all (or with ``burst``);
        otherwise in slices that fit the room, each when the server has accepted the
        last (see harness/backlog.py): a small listen() backlog is slow, not wrong."""
        batch = [Client(self.t, len(self.clients) + i, self.port) for i in range(n)]
        self.clients.extend(batch)
        # One client at a time is paced too: a sequential server behind a listen(5) queue
        # drops the SYN that finds it full, and the client retries after a whole second
        # (tcp(7) initial RTO; DISCONNECT-4 took 64 s for 2,000 clients of a
        # socketserver, most of it in such retries).
        paced = not burst and self.queue_limit() is not None
        done, deadline = 0, time.monotonic() + self.stall
        while done < n:
            room = (n - done if not paced or (q := backlog.queue(self.port)) is None
                    else q[1] - q[0])
            if room > 0:
                deadline = time.monotonic() + self.stall
            elif time.monotonic() < deadline:
                time.sleep(0.002)  # polling the kernel's queue count: there is no event
                continue
            else:
                room = n - done  # the server stopped accepting: the rest all at once
            self._open(batch[done:done + room], rcvbuf)
            done += min(room, n - done)
        return batch

    def queue_limit(self) -> int | None:
        """How many connections the server's accept queue holds (None: unknown)."""
        if self._limit == 0:
            q = backlog.queue(self.port)
            self._limit = None if q is None else q[1]
        return self._limit

    def _open(self, batch: Sequence[Client], rcvbuf: int) -> None:
        for c in batch:
            c.start_connect(rcvbuf)
        pending = {c for c in batch if c.sock is not None and not c.broken}
        with selectors.DefaultSelector() as sel:
            for c in pending:
                assert c.sock is not None
                sel.register(c.sock, selectors.EVENT_WRITE, c)
            deadline = time.monotonic() + self.stall
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    for c in pending:
                        c.stalled("connect() to complete", self.stall)
                        c._drop()
                    break
                for key, _ in sel.select(left):
                    c = key.data
                    sel.unregister(key.fileobj)
                    pending.discard(c)
                    c.finish_connect()

    def transfer(
        self,
        work: Sequence[tuple[Client, bytes, int]],
        *,
        total: float = 60.0,
        write_chunk: int = _CHUNK,
        read_chunk: int = _CHUNK,
        until_eof: bool = False,
        stall: float | None = None,
        lazy_read: float = 0.0,
        hold: Mapping[Client, Callable[[], bool]] | None = None,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        """For each (client, payload, n): send the payload and read until ``n`` more
        bytes came back (or until EOF with ``until_eof``).  Clients proceed concurrently.
        Gives up after ``stall`` seconds without progress on any client, or ``total``
        seconds overall, recording Stalled for every unfinished client.

        With ``lazy_read`` a client starts reading only once it has sent everything, or
        once its send has made no progress for that many seconds; from then on it reads
        freely.  Until then the buffers between client and server fill up, so a server
        whose send() comes back short or with EAGAIN must cope with it.

        A client in ``hold`` sends nothing until its condition holds (checked on every
        turn of the loop): a message that must arrive while another transfer is under
        way.  Until then its wait counts as progress, never as a stall.

        ``busy`` is asked when the clients have made no progress for ``stall`` seconds:
        True means the server is at work all the same (the caller sees it in counts the
        clients' own sockets do not show), and the transfer goes on, up to ``total``."""
        stall = self.stall if stall is None else stall
        t = _Transfer.start(work, until_eof=until_eof, lazy_read=lazy_read, hold=hold)
        deadline = time.monotonic() + total
        with selectors.DefaultSelector() as sel:
            while active := [c for c in t.todo if t.unfinished(c)]:
                now = time.monotonic()
                t.watch(sel, active, now)
                left = min(deadline - now, t.last_progress + stall - now)
                if lazy_read:
                    left = min(left, lazy_read)
                if t.held:
                    left = min(left, 0.01)  # re-check the conditions, which no fd signals
                if left <= 0 < deadline - now and busy is not None and busy():
                    t.last_progress = now
                    continue
                if left <= 0:
                    # Out of time with progress within the stall window: the whole
                    # budget ran out on a server still at work, which is not a stall.
                    spent = total if now - t.last_progress < stall else 0.0
                    for c in active:
                        c.stalled(_waiting_for(c, t.todo[c], t.want[c], until_eof),
                                  round(now - t.last_progress, 1), spent)
                    return
                t.serve(sel.select(left), read_chunk=read_chunk, write_chunk=write_chunk)

    def wait_readable(self, clients: Sequence[Client], timeout: float) -> None:
        """Read whatever arrives on ``clients`` within ``timeout`` seconds, without
        waiting for any amount (the bytes go to the transcript as usual)."""
        ready = [c for c in clients if c.open and c.sock is not None]
        # CAPACITY's clients are more than Windows' select() can watch: ask in groups
        # that fit, polling them in turn.
        step = _SELECT_GROUP or max(1, len(ready))
        groups = [ready[i:i + step] for i in range(0, len(ready), step)]
        if len(groups) <= 1:
            _read_ready(groups[0] if groups else [], timeout)
            return
        deadline = time.monotonic() + timeout
        while not any([_read_ready(g, 0) for g in groups]):
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)  # no one select() can watch every group: poll them in turn

    def read_until_eof(self, clients: Sequence[Client], total: float = 60.0) -> None:
        self.transfer([(c, b"", 0) for c in clients], until_eof=True, total=total)

    def close_all(self, *, abort: bool = False) -> None:
        """Close every client; with ``abort``, by RST.  A server that was stopped with
        clients connected closed first: its sockets wait in FIN_WAIT_2, and an orderly
        close from here would leave them in TIME_WAIT on the server's port for a minute,
        where an RST ends them at once -- what a program with a fixed port and no
        SO_REUSEADDR needs before its next start."""
        for c in self.clients:
            if abort and c.sock is not None:
                with contextlib.suppress(OSError):
                    _abortive(c.sock)
            c._drop()
