"""Clause records, verdicts and the two exceptions a check may raise.

A clause is data: a stable ID (``FAMILY-N``), a level, the requirement sentence, which
models and services it applies to, a hint for students, and the check that judges it.
IDs never change meaning once published; a retired clause keeps its number unused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conformance.models import MODELS, SERVICES, Concurrency, Model, Triggering

if TYPE_CHECKING:
    from conformance.harness.session import Session

FAMILIES = (
    "START", "STOP", "ACCEPT", "ECHO", "PRINT", "PARTIAL", "BACKPRESSURE", "FAIRNESS",
    "DISCONNECT", "LEAK", "LT", "ET", "IDLE", "CAPACITY", "ROBUST", "MODEL", "SIGIO",
)
_ID = re.compile(r"^([A-Z]+)-([1-9][0-9]*)$")


class Level(str, enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # precondition missing on this machine (platform, tool, limit)
    NA = "n/a"  # the clause does not apply to the model or service
    XFAIL = "xfail"  # failed, as the implementation declared it would
    XPASS = "xpass"  # declared to fail, but passed
    NON_STRICT = "non-strict"  # a SHOULD clause failed; a failure only with --strict
    ERROR = "error"  # the harness itself broke: a bug in ioconform, not in the server


class Failed(Exception):
    """Raised by a verifier: the server did not meet the requirement."""

    def __init__(
        self,
        summary: str,
        *,
        expected: str = "",
        actual: str = "",
        details: tuple[str, ...] = (),
        hint: str = "",
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.expected = expected
        self.actual = actual
        self.details = details
        self.hint = hint


class Skipped(Exception):
    """Raised when a precondition of the check is missing here; the reason is shown."""


@dataclass(frozen=True)
class Applies:
    """Which (model, service) pairs a clause covers; ``None`` means 'any'."""

    models: frozenset[str] | None = None
    triggering: frozenset[Triggering] | None = None
    concurrency: Concurrency | None = None
    services: frozenset[str] = frozenset(SERVICES)

    def __call__(self, model: Model, service: str) -> bool:
        return (
            service in self.services
            and (self.models is None or model.name in self.models)
            and (self.triggering is None or model.triggering in self.triggering)
            and (self.concurrency is None or model.concurrency == self.concurrency)
        )

    def describe(self) -> str:
        parts = []
        if self.models is not None:
            parts.append(", ".join(sorted(self.models)))
        if self.triggering is not None:
            parts.append("/".join(sorted(t.value for t in self.triggering)) + "-triggered")
        if self.concurrency is not None:
            parts.append(self.concurrency.value)
        where = " ".join(parts) + " models" if parts else "all models"
        if self.services != frozenset(SERVICES):
            where += "; service " + "/".join(sorted(self.services))
        return where


@dataclass(frozen=True)
class Clause:
    id: str
    level: Level
    requirement: str
    applies: Applies
    hint: str
    # Raises Failed/Skipped, or returns None or a note (evidence) kept with a pass.
    check: Callable[[Session], str | None] = field(compare=False, repr=False)
    traced: bool = False  # runs the server under the syscall tracer (Linux, strace)
    sanitized: bool = False  # with --sanitize, runs the ASan/UBSan build of the server
    # Where the model's own documentation makes the failure a defect (MUST), or why the
    # clause is quality beyond it (SHOULD): a man page section, POSIX, the Winsock docs.
    source: str = ""
    # Wall-clock seconds for the whole check once the server listens (times
    # --timeout-scale): every wait inside has its own bound, the clause has this one.
    budget: float = 0.0


    @property
    def family(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def number(self) -> int:
        return int(self.id.split("-", 1)[1])


REGISTRY: dict[str, Clause] = {}
# A clause's budget unless it declares one: four times the slowest check of a correct
# server seen here (BACKPRESSURE-1 on a server echoing one byte per read, 41 s idle, about
# 2.5 times that beside CI's other jobs).
DEFAULT_BUDGET = 180.0


def clause(
    id: str, level: Level, requirement: str, *, applies: Applies = Applies(), hint: str,
    traced: bool = False, sanitized: bool = False, source: str = "",
    budget: float = 0.0,
) -> Callable[[Callable[[Session], str | None]], Callable[[Session], str | None]]:
    """Declare a clause; the decorated function is its check."""
    m = _ID.match(id)
    if not m or m.group(1) not in FAMILIES:
        raise ValueError(f"bad clause id {id!r}: must be FAMILY-N with FAMILY in {FAMILIES}")
    if id in REGISTRY:
        raise ValueError(f"clause {id} declared twice")
    if applies.models is not None and not applies.models <= MODELS.keys():
        raise ValueError(f"clause {id} names unknown models {set(applies.models) - MODELS.keys()}")

    def register(check: Callable[[Session], str | None]) -> Callable[[Session], str | None]:
        REGISTRY[id] = Clause(id, level, " ".join(requirement.split()), applies,
                              " ".join(hint.split()), check, traced, sanitized,
                              " ".join(source.split()), budget or DEFAULT_BUDGET)
        return check

    return register


def ordered(clauses: dict[str, Clause] | None = None) -> list[Clause]:
    """Clauses in contract order: by family as listed in FAMILIES, then by number."""
    pool = REGISTRY if clauses is None else clauses
    return sorted(pool.values(), key=lambda c: (FAMILIES.index(c.family), c.number))
