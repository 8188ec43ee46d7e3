"""Bounded, concurrent capture of a server's stdout or stderr.

A reader thread drains the stream as fast as the server writes, so a server never
blocks on a full pipe or pty, and keeps at most ``head`` bytes from the start (what the
PRINT clauses match against) plus a ``tail`` ring for diagnoses.  A server that prints
gigabytes costs the suite a constant amount of memory: the excess is only counted.
Waiters are woken on every chunk, so tests wait on a condition with a deadline instead
of sleeping.  A capture owns the descriptor it reads: it closes it when the stream ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Capture:
    def __init__(self, fd: int, *, head: int = 32 << 20, tail: int = 16 << 10) -> None:
        self._fd = fd
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self.closed = False
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"capture-fd{fd}", daemon=True)
        self._thread.start()

    def _read(self) -> bytes | None:
        """The next chunk; b'' at end of stream; None when nothing arrived yet."""
        if os.name == "posix":
            # Poll with a timeout so stop() is honoured even when a stray process keeps
            # the other end of the pty or pipe open.
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                return b"" if self._stop.is_set() else None
        try:
            return os.read(self._fd, 1 << 16)
        except OSError:  # EIO: the pty's slave side is closed everywhere
            return b""

    def _run(self) -> None:
        while (chunk := self._read()) != b"":
            if chunk is None:
                continue
            with self._cond:
                self.total += len(chunk)
                room = self._head_limit - len(self._head)
                if room > 0:
                    self._head += chunk[:room]
                self._tail += chunk
                del self._tail[: max(0, len(self._tail) - self._tail_limit)]
                self._cond.notify_all()
        # The descriptor is ours alone (the reading end of the server's pty or pipe):
        # left open, every server would leak two into the harness, and past 1,023 the
        # select() above fails and the next server's output goes unread.
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def data(self) -> bytes:
        with self._cond:
            return bytes(self._head)

    def truncated(self) -> bool:
        return self.total > self._head_limit

    def wait(self, probe: Callable[[bytearray], T | None], stall: float,
             total: float | None = None) -> T | None:
        """Call ``probe`` on the captured head after every chunk until it returns
        something other than None, the stream closes, ``stall`` seconds pass with no
        new output, or ``total`` seconds pass in all.  A server busy printing something
        else is making progress, not stalling.  The probe runs under the lock and must
        not keep the buffer it is given."""
        now = time.monotonic()
        cap = now + (stall if total is None else max(stall, total))
        seen, deadline = self.total, now + stall
        with self._cond:
            while True:
                found = probe(self._head)
                if found is not None:
                    return found
                now = time.monotonic()
                if self.total != seen:
                    seen, deadline = self.total, now + stall
                left = min(deadline, cap) - now
                if left <= 0 or self.closed:
                    return None
                self._cond.wait(left)

    def tail(self) -> bytes:
        """The last bytes captured (at most ``tail`` of them)."""
        with self._cond:
            return bytes(self._tail)

    def tail_lines(self, n: int = 10, width: int = 160) -> list[str]:
        with self._cond:
            text = bytes(self._tail).decode("utf-8", "backslashreplace")
        lines = [ln if len(ln) <= width else ln[:width] + "…" for ln in text.splitlines()]
        return lines[-n:]

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
