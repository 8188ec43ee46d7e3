"""The typed events of a transcript: what the client driver saw, in order.

Only the driver (``harness.driver``) produces events and only the verifiers
(``clauses.verify``) interpret them, so a clause's judgement can be unit-tested by
building a transcript by hand, with no server and no socket at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    conn: int  # the driver's number for the connection, in order of connect()
    at: float  # seconds since the transcript began


@dataclass(frozen=True)
class Connected(Event):
    local_port: int


@dataclass(frozen=True)
class ConnectFailed(Event):
    error: str


@dataclass(frozen=True)
class Sent(Event):
    data: bytes


@dataclass(frozen=True)
class Received(Event):
    data: bytes


@dataclass(frozen=True)
class Eof(Event):
    """The server closed its side: recv() returned b''."""


@dataclass(frozen=True)
class Reset(Event):
    """The connection was reset (ECONNRESET, EPIPE ...) while the driver used it."""

    error: str


@dataclass(frozen=True)
class Stalled(Event):
    """The driver waited ``seconds`` without progress and gave up; or, with ``budget``,
    the transfer's whole time ran out while bytes still flowed (too slow, not stuck)."""

    waiting_for: str
    seconds: float
    budget: float = 0.0


@dataclass(frozen=True)
class Closed(Event):
    """The client closed: ``how`` is 'fin' (close), 'rst' (SO_LINGER 0) or 'shut_wr'."""

    how: str


@dataclass
class Transcript:
    events: list[Event] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    # Bytes received from the server so far, on every connection: a clause's watchdog
    # (runner._Watchdog) reads it from its own thread to tell a server still answering
    # from one that stopped.  One int, written by the check's thread alone: a read from
    # the watchdog needs no lock, where summing ``events`` while they grow would.
    answered: int = 0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def record(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Received):
            self.answered += len(event.data)

    def of(self, conn: int) -> list[Event]:
        return [e for e in self.events if e.conn == conn]

    def sent(self, conn: int) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, Sent) and e.conn == conn)

    def received(self, conn: int) -> bytes:
        return b"".join(
            e.data for e in self.events if isinstance(e, Received) and e.conn == conn
        )

    def ending(self, conn: int) -> Event | None:
        """The first Eof, Reset, Stalled or ConnectFailed of ``conn``, if any."""
        for e in self.events:
            if e.conn == conn and isinstance(e, (Eof, Reset, Stalled, ConnectFailed)):
                return e
        return None

    def conns(self) -> list[int]:
        return sorted({e.conn for e in self.events})
