"""Free TCP ports on 127.0.0.1, safe to hand out to many suite runs at once.

Three hazards shape this.  Ports from ``bind(0)`` come from the ephemeral range, the
same range the kernel draws client ports from, so a test client could take the port
between our probe and the server's bind: ports come from below that range.  Several
suite runs share the machine (xdist workers, a CI job next to a developer's run, a test
that starts the CLI inside a test session), so a port is *reserved* with an exclusive
``flock`` on a lock file named after it; the kernel drops the lock when its holder dies,
so a crashed run never leaks reservations.  And a port whose previous server closed
connections may hold TIME_WAIT entries that a server without SO_REUSEADDR (the textbook
ones) cannot bind, so a port is handed out only when a bind without SO_REUSEADDR
succeeds.  A program that hard-codes its port gets that port (``claim``): the runs that
share it take turns, and each waits until the previous server's TIME_WAIT entries are
gone.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import tempfile
import threading
import time

from conformance.harness import transient

_LOW, _HIGH = 20000, 32000


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 65535


def _bindable(port: int) -> bool:
    """Can a server bind ``port`` now?  Asked again while the answer is "try again":
    Windows refuses a socket or a bind with WSAENOBUFS while a churn holds its buffers
    (see ``transient``), which says nothing about the port; an answer that lasts through
    every try is raised, rather than taken for a port in use (for every port in turn)."""
    return transient.retried(lambda: _binds(port))


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if transient.is_transient(e):
                raise
            return False
    return True


def _lock(path: str) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None if another holds it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class PortAllocator:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        lo, hi = _LOW, _HIGH
        eph_lo, eph_hi = _ephemeral_range()
        if eph_lo < hi and eph_hi > lo:  # a machine with an unusual ephemeral range
            lo, hi = (1024, eph_lo) if eph_lo - 1024 > 4096 else (eph_hi + 1, 65535)
        self._candidates = list(range(lo, hi))
        # A random start spreads runs apart, so that they rarely even probe each other's
        # ports or the TIME_WAIT leftovers of a previous run.
        start = random.randrange(len(self._candidates))
        self._candidates = self._candidates[start:] + self._candidates[:start]
        self._next = 0
        self._held: dict[int, int] = {}
        self._dir = os.path.join(tempfile.gettempdir(), f"ioconform-ports-{_user()}")
        os.makedirs(self._dir, exist_ok=True)

    def allocate(self) -> int:
        with self._mutex:
            for _ in range(len(self._candidates)):
                port = self._candidates[self._next % len(self._candidates)]
                self._next += 1
                if port in self._held:
                    continue
                fd = _lock(os.path.join(self._dir, str(port)))
                if fd is None:
                    continue
                try:
                    if _bindable(port):
                        self._held[port] = fd
                        return port
                except OSError:
                    os.close(fd)
                    raise
                os.close(fd)
        raise RuntimeError("no free TCP port on 127.0.0.1 in the suite's range")

    def claim(self, port: int, timeout: float) -> tuple[bool, float]:
        """Hold ``port`` itself (a program's fixed port), waiting within ``timeout`` for
        any other run that holds it, then for a bind without SO_REUSEADDR to succeed.
        (free, seconds waited); held until ``release`` either way, so that runs sharing
        the port take turns."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        path = os.path.join(self._dir, str(port))
        while True:
            with self._mutex:
                fd = None if port in self._held else _lock(path)
                if fd is not None:
                    self._held[port] = fd
                    break
            if time.monotonic() >= deadline:
                return False, time.monotonic() - t0
            time.sleep(0.05)  # another run holds the port: a lock has no waiting list here
        while not _bindable(port):
            if time.monotonic() >= deadline:
                return False, time.monotonic() - t0
            time.sleep(0.1)  # TIME_WAIT entries expire on the kernel's clock: no event
        return True, time.monotonic() - t0

    def release(self, port: int) -> None:
        with self._mutex:
            fd = self._held.pop(port, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _user() -> str:
    if sys.platform == "win32":
        return os.environ.get("USERNAME", "user")
    return str(os.getuid())


_allocator: PortAllocator | None = None


def _get() -> PortAllocator:
    global _allocator
    if _allocator is None:
        _allocator = PortAllocator()
    return _allocator


def free_port() -> int:
    """Reserve a free port until ``release(port)`` or the end of this process."""
    return _get().allocate()


def claim(port: int, timeout: float) -> tuple[bool, float]:
    """Reserve the fixed port of a program that hard-codes it (see PortAllocator.claim)."""
    return _get().claim(port, timeout)


def release(port: int) -> None:
    _get().release(port)


def taken_by_another(port: int) -> bool:
    """True if something else now holds ``port`` (a race lost to a foreign process)."""
    return not _bindable(port)
