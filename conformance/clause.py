"""Clause records, verdicts and the two exceptions a check may raise.

A clause is data: a stable ID (``FAMILY-N``), a level, the requirement sentence, which
models and services it applies to, a hint for students, and the check that judges it.
IDs never change meaning once published; a retired clause keeps its number unused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conformance.failure import Failed as Failed
from conformance.failure import Skipped as Skipped
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
    # Where the clause cannot be observed, and why: place ("wine", "windows") -> reason.
    # The clause is skipped there with the reason, and stays in force everywhere else.
    gaps: Mapping[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def number(self) -> int:
        return int(self.id.split("-", 1)[1])

    @property
    def heading(self) -> str:
        """The first line of each of its diagnoses: ID, level and requirement."""
        return f"{self.id} ({self.level.value}): {self.requirement}"

    @property
    def module_path(self) -> str:
        """The file the clause is declared and checked in, from the repository's root."""
        return self.check.__module__.replace(".", "/") + ".py"

    def gap(self, places: Iterable[str]) -> str | None:
        """Why the clause cannot be judged in the first of ``places`` it has a gap in."""
        for place in places:
            if place in self.gaps:
                return f"{GAP_PLACES[place]}: {self.gaps[place]}"
        return None


REGISTRY: dict[str, Clause] = {}
# The places a clause may declare a gap for, as its skip reasons name them: "wine" is a
# Windows program run under Wine (from either side), "windows" any Windows program.
GAP_PLACES = {"wine": "under Wine", "windows": "on Windows"}
# Under Wine the syscalls a tracer sees are Wine's own: every traced clause has this gap.
_TRACED_UNDER_WINE = ("the system calls traced are Wine's, not the program's: the syscall "
                      "oracle cannot see Winsock calls")
# A clause's budget unless it declares one: four times the slowest check of a correct
# server seen here (BACKPRESSURE-1 on a server echoing one byte per read, 41 s idle, about
# 2.5 times that beside CI's other jobs).
DEFAULT_BUDGET = 180.0


def clause(
    id: str, level: Level, requirement: str, *, applies: Applies = Applies(), hint: str,
    traced: bool = False, sanitized: bool = False, source: str = "",
    budget: float = 0.0, gaps: Mapping[str, str] | None = None,
) -> Callable[[Callable[[Session], str | None]], Callable[[Session], str | None]]:
    """Declare a clause; the decorated function is its check."""
    m = _ID.match(id)
    if not m or m.group(1) not in FAMILIES:
        raise ValueError(f"bad clause id {id!r}: must be FAMILY-N with FAMILY in {FAMILIES}")
    if id in REGISTRY:
        raise ValueError(f"clause {id} declared twice")
    if applies.models is not None and not applies.models <= MODELS.keys():
        raise ValueError(f"clause {id} names unknown models {set(applies.models) - MODELS.keys()}")
    gaps = {p: " ".join(why.split()) for p, why in (gaps or {}).items()}
    if unknown := set(gaps) - GAP_PLACES.keys():
        raise ValueError(f"clause {id} declares a gap for unknown places {unknown}")
    if traced:
        gaps.setdefault("wine", _TRACED_UNDER_WINE)

    def register(check: Callable[[Session], str | None]) -> Callable[[Session], str | None]:
        REGISTRY[id] = Clause(id, level, " ".join(requirement.split()), applies,
                              " ".join(hint.split()), check, traced, sanitized,
                              " ".join(source.split()), budget or DEFAULT_BUDGET, gaps)
        return check

    return register


def ordered(clauses: dict[str, Clause] | None = None) -> list[Clause]:
    """Clauses in contract order: by family as listed in FAMILIES, then by number."""
    pool = REGISTRY if clauses is None else clauses
    return sorted(pool.values(), key=lambda c: (FAMILIES.index(c.family), c.number))
