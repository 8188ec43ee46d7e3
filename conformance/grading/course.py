"""The course config (``course.toml``): what an instructor imposes on every submission
and how the contract is scored.

A student's ``ioconform.toml`` says what they built; the course says what was asked.
Keys of ``[submission]`` override the student's manifest, so a course can insist on the
model ("this is the epoll-ET assignment") or on the exact command and build, instead of
trusting each student.  Every error names the file and the key at fault.

Schema (every table and key is optional)::

    [course]
    name = "Network Programming, assignment 3"
    seed = "netprog-a3"           # payload seed: every submission sees the same cases
    clauses = ["ECHO", "ET-1"]    # IDs or families graded (default: the whole contract)
    hidden = ["ROBUST-2"]         # run and counted, never shown to students
    strict = false                # SHOULD clauses: fail instead of non-strict
    sanitize = false              # build C with AddressSanitizer/UBSan (ROBUST-4)

    [submission]                  # imposed on every submission (manifest keys)
    model = "epoll-et"            # or models = ["epoll-lt", "epoll-et"]: any of these,
                                  # as the student's manifest says (see Course.models)
    service = "echo"
    command = "./server {port}"
    build = ["make"]
    build_timeout = 60
    platforms = ["linux"]

    [points]                      # per clause; lookup: clause ID, family, level, default
    default = 1
    SHOULD = 0.5
    ECHO = 2
    "ET-1" = 4

    [limits]                      # per server process (see conformance/harness/sandbox.py)
    cpu = 60                      # seconds of CPU time
    memory = 1024                 # MiB (0: unlimited)
    files = 16384                 # open descriptors
    processes = 256               # processes and threads
    file_size = 64                # MiB per file written

    [sandbox]
    mode = "require"              # require | auto | off
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import conformance.clauses  # noqa: F401  (registers the clauses)
from conformance import manifest
from conformance.clause import FAMILIES, REGISTRY, Clause, Level
from conformance.models import MODELS
from conformance.runner import DEFAULT_SEED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SANDBOX_MODES = ("require", "auto", "off")
_TABLES = {
    "course": {"name", "seed", "clauses", "hidden", "strict", "sanitize"},
    "submission": {"model", "models", "service", "command", "build", "build_timeout",
                   "platforms"},
    "points": None,  # clause IDs, families, levels and "default"
    "limits": {"cpu", "memory", "files", "processes", "file_size"},
    "sandbox": {"mode"},
}
_LIMIT_ARG = {"cpu": "cpu", "memory": "memory", "files": "files", "processes": "processes",
              "file_size": "fsize"}


class CourseError(Exception):
    """A course config that cannot be used: names the file and the key."""


@dataclass(frozen=True)
class Course:
    name: str = "ioconform"
    source: str = ""
    seed: str = DEFAULT_SEED
    clauses: tuple[str, ...] = ()
    hidden: frozenset[str] = frozenset()
    strict: bool = False
    sanitize: bool = False
    submission: Mapping[str, Any] = field(default_factory=dict)
    points: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    sandbox: str = "require"
    # The models a submission may use ([submission] models), () when the course imposes
    # one or leaves it free.  Every submission of the course is then out of the same
    # total (``total``): its clauses' points are scaled by the course's maximum over its
    # own, so that the clauses of an allowed model that has fewer of them (an epoll-lt
    # server has no ET clause) weigh more, rather than the missing ones count for nothing.
    models: tuple[str, ...] = ()

    def points_for(self, clause: Clause) -> float:
        for key in (clause.id, clause.family, clause.level.value, "default"):
            if key in self.points:
                return self.points[key]
        return 1.0

    def is_hidden(self, clause: Clause) -> bool:
        return clause.id in self.hidden or clause.family in self.hidden

    def limits_arg(self) -> str:
        """The limits in the harness's ``--ioconform-limits`` syntax ('' for defaults)."""
        return ",".join(f"{_LIMIT_ARG[k]}={v}" for k, v in sorted(self.limits.items()))

    def most_points(self, clauses: Sequence[Clause], model: str, service: str) -> float:
        """The points ``clauses`` are worth to a submission of ``model`` and ``service``."""
        return sum(self.points_for(c) for c in clauses
                   if c.applies(MODELS[model], service))

    def total(self, clauses: Sequence[Clause], service: str) -> float | None:
        """With several allowed models, the one total every submission is out of: that of
        the allowed model whose clauses are worth the most.  None otherwise."""
        if not self.models:
            return None
        return max(self.most_points(clauses, m, service) for m in self.models)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source,
                "model": self.submission.get("model"),
                "service": self.submission.get("service"),
                **({"models": list(self.models)} if self.models else {})}


def _fail(source: str, key: str, problem: str) -> CourseError:
    return CourseError(f"{source}: key '{key}': {problem}")


def _ids(source: str, key: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _fail(source, key, "must be a list of clause IDs or families, e.g. [\"ECHO\"]")
    if unknown := [x for x in raw if x not in REGISTRY and x not in FAMILIES]:
        raise _fail(source, key, f"unknown clause or family {unknown[0]!r} "
                    "(`ioconform list clauses` shows them)")
    return tuple(raw)


def _bool(source: str, key: str, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise _fail(source, key, "must be true or false")
    return raw


def _points(source: str, raw: Mapping[str, Any]) -> dict[str, float]:
    known = set(REGISTRY) | set(FAMILIES) | {lv.value for lv in Level} | {"default"}
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise _fail(source, f"points.{key}", "not a clause ID, family, level (MUST, "
                        "SHOULD) or 'default'")
        # NaN slips past `value < 0` and would reach every score; inf is no score either.
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise _fail(source, f"points.{key}", f"must be a finite number of points, 0 or "
                        f"more, not {value!r}")
        out[key] = float(value)
    return out


def _hidden(source: str, selected: tuple[str, ...], hidden: tuple[str, ...]) -> None:
    """Every hidden entry must name a clause the course grades: one that is not graded
    would be dropped without a word, and the instructor would believe it hidden."""
    if not selected:
        return  # the whole contract is graded
    graded = [c for c in REGISTRY.values() if c.id in selected or c.family in selected]
    for entry in hidden:
        if not any(entry in (c.id, c.family) for c in graded):
            raise _fail(source, "course.hidden", f"{entry!r} is not among the clauses the "
                        "course grades (course.clauses): add it there or leave it out")


def _models(source: str, submission: dict[str, Any]) -> tuple[str, ...]:
    """``[submission] models``, taken out of the keys imposed on the manifest."""
    if "models" not in submission:
        return ()
    raw = submission.pop("models")
    if "model" in submission:
        raise _fail(source, "submission.models", "give model (one, imposed) or models (any "
                    "of several, as the student's manifest says), not both")
    if (not isinstance(raw, list) or len(raw) < 2
            or not all(isinstance(m, str) and m in MODELS for m in raw)):
        raise _fail(source, "submission.models", f"must list two or more models of "
                    f"{', '.join(MODELS)}")
    return tuple(dict.fromkeys(raw))


def _limits(source: str, raw: Mapping[str, Any]) -> dict[str, int]:
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(source, f"limits.{key}", "must be a whole number, 0 or more")
    return dict(raw)


def parse(data: Mapping[str, Any], *, source: str) -> Course:
    for table, value in data.items():
        if table not in _TABLES:
            raise _fail(source, table, f"unknown table (known: {', '.join(_TABLES)})")
        if not isinstance(value, dict):
            raise _fail(source, table, "must be a table, e.g. [" + table + "]")
        keys = _TABLES[table]
        if keys is not None and (unknown := sorted(set(value) - keys)):
            raise _fail(source, f"{table}.{unknown[0]}",
                        f"unknown key (known: {', '.join(sorted(keys))})")
    course = data.get("course", {})
    name = course.get("name", "ioconform")
    seed = course.get("seed", DEFAULT_SEED)
    for key, value in (("name", name), ("seed", seed)):
        if not isinstance(value, str) or not value.strip():
            raise _fail(source, f"course.{key}", "must be a non-empty string")
    submission = dict(data.get("submission", {}))
    models = _models(source, submission)
    try:  # the imposed keys must be valid manifest values on their own
        manifest.parse({"name": "course", "model": "blocking", "service": "echo",
                        "command": "server {port}", **submission}, source=source, base=Path())
    except manifest.ManifestError as e:
        raise CourseError(str(e).replace("key '", "key 'submission.", 1)) from None
    clauses = _ids(source, "course.clauses", course.get("clauses", []))
    hidden = _ids(source, "course.hidden", course.get("hidden", []))
    _hidden(source, clauses, hidden)
    mode = data.get("sandbox", {}).get("mode", "require")
    if mode not in SANDBOX_MODES:
        raise _fail(source, "sandbox.mode", f"{mode!r} is not one of {', '.join(SANDBOX_MODES)}")
    return Course(
        name=name, source=source, seed=seed,
        clauses=clauses, hidden=frozenset(hidden),
        strict=_bool(source, "course.strict", course.get("strict", False)),
        sanitize=_bool(source, "course.sanitize", course.get("sanitize", False)),
        submission=submission,
        points=_points(source, data.get("points", {})),
        limits=_limits(source, data.get("limits", {})), sandbox=mode, models=models)


def load(path: str | os.PathLike[str]) -> Course:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CourseError(f"{p}: cannot read the course config: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CourseError(f"{p}: not valid TOML: {e}") from None
    return parse(data, source=str(p))
