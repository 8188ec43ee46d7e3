"""Free TCP ports on 127.0.0.1 that are safe to hand out under pytest-xdist.

Two hazards shape this.  Ports from ``bind(0)`` come from the ephemeral range, the same
range the kernel draws client ports from, so a test client can take the port between
our probe and the server's bind.  And a port handed out twice in a row may still hold
TIME_WAIT connections of the previous server, which a server without SO_REUSEADDR (the
textbook ones) cannot bind.  So ports come from below the ephemeral range, each xdist
worker owns a disjoint residue class, a process never hands the same port out twice, and
a port is handed out only when a bind without SO_REUSEADDR succeeds, which also rules out
TIME_WAIT leftovers.
"""

from __future__ import annotations

import os
import random
import socket
import threading

_LOW, _HIGH = 20000, 32000
_STRIDE = 64  # more xdist workers than this wrap around: still disjoint per process run


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in worker if ch.isdigit())
    return int(digits or 0) % _STRIDE


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 65535


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortAllocator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        lo, hi = _LOW, _HIGH
        eph_lo, eph_hi = _ephemeral_range()
        if eph_lo < hi and eph_hi > lo:  # a machine with an unusual ephemeral range
            lo, hi = (1024, eph_lo) if eph_lo - 1024 > 4096 else (eph_hi + 1, 65535)
        worker = _worker_index()
        first = lo + (lo - worker) % _STRIDE + worker % _STRIDE
        self._candidates = list(range(first, hi, _STRIDE))
        # A random start spreads consecutive runs apart, so TIME_WAIT leftovers of the
        # previous run are rarely even probed.
        start = random.randrange(len(self._candidates))
        self._candidates = self._candidates[start:] + self._candidates[:start]
        self._next = 0

    def allocate(self) -> int:
        with self._lock:
            for _ in range(len(self._candidates)):
                port = self._candidates[self._next % len(self._candidates)]
                self._next += 1
                if _bindable(port):
                    return port
        raise RuntimeError("no free TCP port on 127.0.0.1 in the suite's range")


_allocator: PortAllocator | None = None


def free_port() -> int:
    global _allocator
    if _allocator is None:
        _allocator = PortAllocator()
    return _allocator.allocate()
