"""Plumbing shared by the reference servers: the command line, the listening socket, the
stdout format, the exit on SIGTERM or Ctrl-C, and ``Conn``, the per-client state of the
single-threaded multiplexing servers.  When to read and when to write is not decided here:
that is what each model's module is about.
"""

import argparse
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import NamedTuple

# Per-connection limit on echo bytes received but not yet sent back.  Above it a server stops
# reading that client until its output drains: the data waits in kernel buffers and TCP flow
# control slows the client, so memory stays bounded when a client sends but does not read.
HIGH_WATER = 64 * 1024
_PRINTS = True  # False with --service echo-only: emit() prints nothing


class Options(NamedTuple):
    port: int
    echo: bool  # --service echo or echo-only (True), or print (False)
    bufsize: int
    host: str


_backlog = socket.SOMAXCONN


def _parse_args(description: str) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("port", type=int, help="TCP port to listen on")
    parser.add_argument("--service", choices=("echo", "print", "echo-only"), default="echo",
                        help="echo: send every byte back and print it; print: only print it; "
                        "echo-only: only send it back")
    parser.add_argument("--bufsize", type=int, default=255,
                        help="bytes per recv() (default 255, like the seed: partial reads happen)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--backlog", type=int, default=socket.SOMAXCONN,
                        help="listen() backlog (default SOMAXCONN; 1 is the seed's: slow, "
                             "not wrong)")
    ns = parser.parse_args()
    if ns.bufsize < 1 or ns.backlog < 1:
        parser.error("--bufsize and --backlog must be at least 1")
    global _backlog
    _backlog = ns.backlog
    global _PRINTS
    _PRINTS = ns.service != "echo-only"
    return Options(ns.port, ns.service != "print", ns.bufsize, ns.host)


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform != "win32":
        # So that a restarted server does not fail with EADDRINUSE while its previous run's
        # connections sit in TIME_WAIT.  Not on Windows: there SO_REUSEADDR lets another
        # process bind our very port (the safe option there is SO_EXCLUSIVEADDRUSE).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # The seed's listen(fd, 1) drops the SYNs of a connect burst: those clients wait 1 s or more.
    sock.listen(_backlog)
    return sock


def emit(chunk: bytes | memoryview, flush: bool = True) -> None:
    """The seed's ``printf("%s\\n", buf)``, binary-safe: bytes as received, NUL included.

    ``flush=False`` leaves the line in stdout's buffer, for a single-threaded loop that
    calls flush_stdout() before it next sleeps: one write() per round, not one per chunk.
    """
    if not _PRINTS:
        return
    # A reader gone from our stdout must not stop the echo, nor pass for a client socket error.
    try:
        if flush:
            sys.stdout.buffer.write(bytes(chunk) + b"\n")  # one write: lines never interleave
            sys.stdout.buffer.flush()
        else:
            sys.stdout.buffer.write(chunk)  # copied into stdout's buffer: chunk may be reused
            sys.stdout.buffer.write(b"\n")
    except BrokenPipeError:
        pass


def flush_stdout() -> None:
    """Send what emit(..., flush=False) buffered: before sleeping, so lines are never late."""
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.buffer.flush()


class Conn:
    """One client of a single-threaded multiplexing server: its socket and what it is owed."""

    __slots__ = ("echo", "eof", "interest", "out", "sock")

    def __init__(self, sock: socket.socket, echo: bool) -> None:
        sock.setblocking(False)  # explicitly: what accept() hands back differs between OSes
        self.sock = sock
        self.echo = echo
        self.out = bytearray()  # received, not yet sent back
        self.eof = False  # the client has shut down its sending side
        self.interest = 0  # event mask registered with poll/epoll, to skip needless modify()

    @property
    def wants_read(self) -> bool:
        # After EOF a socket stays readable forever: reading on would spin a level-triggered loop.
        return not self.eof and len(self.out) <= HIGH_WATER

    @property
    def wants_write(self) -> bool:
        return bool(self.out)

    @property
    def finished(self) -> bool:
        """EOF seen and everything echoed: time to close (a half-closed client gets its echo)."""
        return self.eof and not self.out

    def receive(self, bufsize: int) -> bool:
        """One recv(); False when the kernel had nothing (EAGAIN).  Other OSErrors propagate."""
        try:
            chunk = self.sock.recv(bufsize)
        except BlockingIOError:
            return False
        if chunk:
            emit(chunk)
            if self.echo:
                self.out += chunk
        self.eof = not chunk
        return True

    def flush(self) -> bool:
        """One send() of pending output; False when the kernel took nothing (EAGAIN)."""
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return False
        del self.out[:sent]  # a short send is normal: the rest stays queued, in order
        return sent > 0


def run(main: Callable[[Options], None], description: str) -> None:
    """Parse the command line and run ``main`` until SIGTERM or Ctrl-C: a quiet exit, status 0."""
    options = _parse_args(description)
    # SIGTERM acts as Ctrl-C: KeyboardInterrupt unwinds the `with` blocks, closing the sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        if sys.platform == "win32":
            # A console program's process group is stopped with CTRL_BREAK_EVENT, which
            # Python sees as SIGBREAK; its default action ends the process on the spot.
            signal.signal(signal.SIGBREAK, signal.default_int_handler)
            _run_beside_signals(main, options)
        else:
            main(options)


def _run_beside_signals(main: Callable[[Options], None], options: Options) -> None:
    """Windows: run ``main`` in a daemon thread while the main thread waits for a signal.

    A Python signal handler runs in the main thread, between two bytecodes, and on Windows
    a console event interrupts no system call: no EINTR, so a main thread blocked in
    accept(), recv() or select() would run the handler only when a client next came by.
    Here the main thread sleeps in recv() on the socket signal.set_wakeup_fd() writes a
    byte to, so the handler runs at once.  ``main``'s sockets are then closed by the exit
    of the process, not by its `with` blocks.
    """
    failure: list[BaseException] = []
    rsock, wsock = socket.socketpair()

    def target() -> None:
        try:
            main(options)
        except BaseException as exc:  # SystemExit included: re-raised in the main thread
            failure.append(exc)
        finally:
            wsock.send(b"\0")  # main ended (e.g. bind() failed): wake the main thread too

    wsock.setblocking(False)  # set_wakeup_fd() requires it
    signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=target, daemon=True).start()
    rsock.recv(1)  # a signal's byte: its handler raises KeyboardInterrupt right here
    if failure:
        raise failure[0]
