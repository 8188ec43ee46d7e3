"""Models ``kqueue-lt`` and ``kqueue-et``: kqueue, level-triggered or edge-triggered (EV_CLEAR).

kqueue is the BSD answer to the problem epoll solves on Linux (FreeBSD 4.1, 2000; macOS
since 10.3): the interest list lives in the kernel and a wait returns only what is ready.
Its interface differs from epoll's in four ways that shape this module.

One call, two lists.  kevent() takes a *changelist* (registrations to add, enable,
disable or delete) and fills an *eventlist* (what happened), both in one system call.
There is no epoll_ctl() per change: we collect changes as we go and hand them in with the
next wait.  Errors in a change come back as an event carrying EV_ERROR with the errno in
``data`` when the eventlist has room, not as a failed call, so a loop must look for them.

Filters, not masks.  "A kevent is identified by the (ident, filter) pair" (kqueue(2)): a
socket's readability (EVFILT_READ) and writability (EVFILT_WRITE) are two registrations,
enabled, disabled and reported separately.  A socket ready both ways is two events in one
batch, and the first may close the socket the second is about.  ``data`` says how much:
bytes to read, free space in the send buffer, or on a listening socket the length of the
accept queue.  EV_EOF on EVFILT_READ means the peer shut down its side; bytes may still
be queued before the end, and ``fflags`` holds the socket error, if any.

Closing forgets.  "Calling close() on a file descriptor will remove any kevents that
reference the descriptor" (kqueue(2)), so there is no unregister-before-close as with
epoll.  Changes not yet submitted do name the number, though, and accept() hands that
number out again: a closed connection's unsent changes must be dropped.

Level or edge, per registration.  By default a filter is run again when we retrieve the
event, and the event is returned for as long as its condition holds: level-triggered.
That mode does one bounded recv() per event and lets kqueue report the rest, enables
EVFILT_WRITE only while output is pending, and disables EVFILT_READ after EOF (an EOF is
readable forever).  With EV_CLEAR "the state of the filter is reset after the event is
retrieved by the user" (kqueue(2)): the event comes back only when the filter fires anew
(more bytes, freed space, another connection).  That is edge triggering, and it has
EPOLLET's trap.  Read 255 bytes of a 64 KiB burst and wait, and the rest sits in the
kernel with no event to come: the client waits for its echo and we wait for an event.
So on every event: recv() until EAGAIN, accept() until EAGAIN, send() until EAGAIN.  And
when we stop reading on purpose (HIGH_WATER, or READ_TURN for fairness) the connection
goes in a ``pending`` set that makes the next wait non-blocking, as in epoll_et.py.

Sources: kqueue(2) in the FreeBSD and macOS manuals (man.freebsd.org/kqueue(2); the
macOS page is `man 2 kqueue`); Jonathan Lemon, "Kqueue: A generic and scalable event
notification facility", USENIX ATC 2001 (FREENIX track).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import socket
import sys

from implementations._common import HIGH_WATER, Conn, Options, listen, run

# kqueue exists on macOS and the BSDs only.  Said here, this also tells mypy, run on Linux
# or Windows, to skip the rest of the module instead of reporting select.kqueue missing.
assert sys.platform != "linux" and sys.platform != "win32", "kqueue: macOS and the BSDs only"

READ_TURN = HIGH_WATER  # edge mode: bytes one client may be read per turn
_MAX_EVENTS = 256  # events not returned by one call stay queued for the next
_READ, _WRITE = select.KQ_FILTER_READ, select.KQ_FILTER_WRITE
_READ_BIT, _WRITE_BIT = 1, 2  # level mode: Conn.interest, the filters currently enabled


class _KConn(Conn):
    __slots__ = ("may_read",)

    def __init__(self, sock: socket.socket, echo: bool) -> None:
        super().__init__(sock, echo)
        self.may_read = False  # edge mode: a read event came, recv() has not said EAGAIN since


class _Loop:
    """The kqueue, the clients, and the changes to submit with the next kevent() call."""

    def __init__(self, kq: select.kqueue, options: Options, edge: bool) -> None:
        self.kq = kq
        self.edge = edge
        self.echo = options.echo
        self.bufsize = options.bufsize
        self.conns: dict[int, _KConn] = {}
        # Keyed by (ident, filter) like the kernel's registrations: a later change to a filter
        # replaces an earlier one, and close() can drop a connection's changes.
        self.changes: dict[tuple[int, int], select.kevent] = {}
        self.pending: set[int] = set()  # edge mode: readable data that no event will announce

    def change(self, fd: int, filt: int, enable: bool) -> None:
        # EV_ADD on an existing registration modifies it, so every change can be the same
        # idempotent ADD: whether the filter exists yet does not matter.
        flags = select.KQ_EV_ADD | (select.KQ_EV_ENABLE if enable else select.KQ_EV_DISABLE)
        if self.edge:
            flags |= select.KQ_EV_CLEAR
        self.changes[fd, filt] = select.kevent(fd, filt, flags)

    def wait(self) -> list[select.kevent]:
        changes, self.changes = list(self.changes.values()), {}
        events = self.kq.control(changes, _MAX_EVENTS, 0 if self.pending else None)
        for ev in events:
            if ev.flags & select.KQ_EV_ERROR and ev.data:
                # Our bookkeeping submitted a change the kernel refused: a bug, said loudly.
                raise OSError(ev.data, f"kevent on fd {ev.ident}: {os.strerror(ev.data)}")
        return events

    def accept_all(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return  # drained: in edge mode the next connection brings a new event
            except ConnectionAbortedError:
                continue
            except OSError:
                # e.g. EMFILE.  Level mode hears of the queue again; edge mode only when
                # another connection arrives (a production server keeps a spare fd).
                return
            fd = sock.fileno()
            self.conns[fd] = _KConn(sock, self.echo)
            # Registration runs the filter once, so bytes that beat us here are reported.
            # Edge mode registers both filters once and never changes them; level mode
            # keeps EVFILT_WRITE disabled until there is output.
            self.change(fd, _READ, True)
            self.change(fd, _WRITE, self.edge)
            self.conns[fd].interest = _READ_BIT

    def update_interest(self, fd: int, conn: _KConn) -> None:
        for filt, bit, wanted in ((_READ, _READ_BIT, conn.wants_read),
                                  (_WRITE, _WRITE_BIT, conn.wants_write)):
            if wanted != bool(conn.interest & bit):
                self.change(fd, filt, wanted)
                conn.interest ^= bit

    def close(self, fd: int) -> None:
        self.changes.pop((fd, _READ), None)
        self.changes.pop((fd, _WRITE), None)
        self.pending.discard(fd)
        self.conns.pop(fd).sock.close()  # the kernel drops the registrations itself


def _serve_level(conn: _KConn, ev: select.kevent, bufsize: int) -> bool:
    """Level mode: do what the event said is possible; True when the connection is done."""
    try:
        if ev.filter == _READ and conn.wants_read:
            conn.receive(bufsize)  # one bounded read: the filter reports the rest
        elif ev.filter == _WRITE and conn.wants_write:
            conn.flush()
        return conn.finished
    except OSError:  # reset, broken pipe: the peer is gone, and what it was owed with it
        return True


def _take_turn(conn: _KConn, bufsize: int) -> bool:
    """Edge mode: move what can be moved; True if the connection needs a turn no event gives."""
    while conn.wants_write and conn.flush():
        pass  # first, so the echo makes room below HIGH_WATER
    if conn.may_read:
        for _ in range(max(1, READ_TURN // bufsize)):
            if not conn.wants_read:
                break  # EOF, or HIGH_WATER: may_read stays True for when the echo drains
            if not conn.receive(bufsize):
                conn.may_read = False  # EAGAIN: the next arrival fires the filter again
                break
    while conn.wants_write and conn.flush():
        pass
    # Output still queued means send() said EAGAIN, and EVFILT_WRITE will fire when it drains.
    return conn.may_read and conn.wants_read


def _edge_turns(loop: _Loop, turns: set[int]) -> None:
    for fd in turns:
        conn = loop.conns[fd]
        try:
            again = _take_turn(conn, loop.bufsize)
            done = conn.finished
        except OSError:
            again, done = False, True
        if done:
            loop.close(fd)
        elif again:
            loop.pending.add(fd)


def main(options: Options, edge: bool) -> None:
    with listen(options.host, options.port) as listener, \
            contextlib.closing(select.kqueue()) as kq:
        listener.setblocking(False)  # accept() until EAGAIN, and a queued client can vanish
        loop = _Loop(kq, options, edge)
        loop.change(listener.fileno(), _READ, True)
        while True:
            events = loop.wait()
            turns, loop.pending = loop.pending, set()
            incoming = False
            for ev in events:
                if ev.ident == listener.fileno():
                    incoming = True
                    continue
                conn = loop.conns.get(ev.ident)
                if conn is None:
                    continue  # closed by this batch's event for its other filter
                if edge:
                    if ev.filter == _READ:
                        conn.may_read = True
                    turns.add(ev.ident)
                elif _serve_level(conn, ev, options.bufsize):
                    loop.close(ev.ident)
                else:
                    loop.update_interest(ev.ident, conn)
            _edge_turns(loop, turns)
            if incoming:
                # Last: accept() may reuse a number closed above, and the batch's remaining
                # events about the old socket must not reach the new one.
                loop.accept_all(listener)


def _edge_flag() -> bool:
    """Take ``--edge`` (kqueue-et) off the command line; the rest is ``_common``'s."""
    edge = "--edge" in sys.argv[1:]
    sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != "--edge"]
    return edge


if __name__ == "__main__":
    edge = _edge_flag()
    run(functools.partial(main, edge=edge),
        "kqueue echo/print server (single-threaded): level-triggered, or with --edge "
        "edge-triggered (EV_CLEAR, drains to EAGAIN).")
