"""Grading a class: many submissions, one course, one deterministic score each.

The pipeline, one stage after another so that a submission stopped at one stage carries
that stage's diagnosis and costs nothing afterwards:

1. *discover* -- every folder named, or every sub-folder of a class folder;
2. *shard* -- ``i/n`` keeps every n-th submission by name, so a CI matrix splits a class
   with no coordination and ``ioconform merge`` puts the pieces back together;
3. *prepare* -- copy the folder to a private work folder (the student's folder is never
   written to), read its manifest with the course's keys imposed;
4. *build* -- in the work folder, with the build's time limit (and the sandbox);
5. *start* -- START-1 once per submission: a server that never listens or never answers
   its first client could pass no clause, and would wait out a deadline on every one; it
   is ``not-started`` and every clause carries START-1's diagnosis;
6. *check* -- one contract run (pytest-xdist) over every submission still standing;
7. *score* -- points per clause from the course; a clause that does not apply (n/a) or
   cannot be checked on this machine (skip) is out of the maximum.

Every submission sees the same payloads (the course's seed), so a re-run gives the same
score.  The grade document built here is a stable interface; see ``conformance.grading.gradebook``
for the formats made from it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from conformance import failure, manifest
from conformance.clause import Clause, Failed, Verdict
from conformance.grading import intake
from conformance.grading.course import Course
from conformance.harness import build, sandbox
from conformance.implementation import Implementation
from conformance.manifest import ManifestError
from conformance.models import MODELS
from conformance.runner import Options, Result, foreign, not_applicable, start_problem

STATUSES = ("graded", "build-failed", "invalid", "not-started", "error")
MAX_FOLDER_BYTES = 64 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_T = TypeVar("_T")
_R = TypeVar("_R")


class GradingError(Exception):
    """The grading run itself cannot go on (no submissions, a bad shard ...)."""


@dataclass
class Submission:
    name: str
    folder: Path
    impl: Implementation | None = None
    status: str = "graded"
    message: str = ""
    seconds: float = 0.0

    def stop(self, status: str, message: str) -> None:
        self.status, self.message = status, message.rstrip()


# -- 1, 2: discover and shard -------------------------------------------------------------
def discover(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """(name, folder) of every submission, sorted by name.  A folder holding an
    ``ioconform.toml`` is one submission; any other folder is a class, whose sub-folders
    are the submissions (hidden ones and ``__pycache__`` aside)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            raise GradingError(f"{p}: not a folder (give submission folders, or a folder "
                               "holding one folder per submission)")
        if (p / manifest.MANIFEST_NAME).is_file():
            found.append(p)
        else:
            found += sorted(c for c in p.iterdir() if c.is_dir()
                            and not c.name.startswith((".", "__")))
    named: dict[str, Path] = {}
    for folder in found:
        base = _UNSAFE.sub("_", folder.resolve().name).strip("._") or "submission"
        name, k = base, 2
        while name in named:
            name, k = f"{base}-{k}", k + 1
        named[name] = folder.resolve()
    if not named:
        raise GradingError("no submissions found in " + ", ".join(map(str, paths)))
    return sorted(named.items())


def shard(items: Sequence[_T], spec: str | None) -> list[_T]:
    """The ``i``-th of ``n`` interleaved shards (``spec`` = "i/n", 1-based)."""
    if not spec:
        return list(items)
    m = re.fullmatch(r"([1-9][0-9]*)/([1-9][0-9]*)", spec)
    if not m or int(m[1]) > int(m[2]):
        raise GradingError(f"--shard: expected I/N with 1 <= I <= N, got {spec!r}")
    i, n = int(m[1]), int(m[2])
    return list(items[i - 1::n])


# -- 3: prepare ---------------------------------------------------------------------------
def prepare(name: str, folder: Path, course: Course, work: Path) -> Submission:
    """Copy ``folder`` into ``work`` and read its manifest with the course imposed."""
    sub = Submission(name, folder)
    size = intake.size(folder)
    if size > MAX_FOLDER_BYTES:
        sub.stop("invalid", f"{folder}: the folder holds {size >> 20} MiB; submissions are "
                 f"limited to {MAX_FOLDER_BYTES >> 20} MiB (leave out build output and data)")
        return sub
    copy = work / name
    left_out = intake.copy(folder, copy)  # no FIFO opened, no symlink followed out
    try:
        impl = manifest.load_submission(copy, name=name, imposed=course.submission)
    except ManifestError as e:
        sub.stop("invalid", str(e).replace(str(copy), str(folder)))
        return sub
    if not impl.cwd.is_relative_to(copy.resolve()):
        sub.stop("invalid", f"{folder / manifest.MANIFEST_NAME}: key 'cwd': must stay inside "
                 "the submission's folder")
        return sub
    if "command" not in course.submission and (outside := [
            a for a in impl.command if os.path.isabs(a) and not sandbox.system_path(a)]):
        sub.stop("invalid", f"{folder / manifest.MANIFEST_NAME}: key 'command': "
                 f"{outside[0]!r} is outside the submission: name its files relative to "
                 "its folder")
        return sub
    if course.models and impl.model not in course.models:
        sub.stop("invalid", f"{folder / manifest.MANIFEST_NAME}: key 'model': "
                 f"{impl.model!r} is not among the models this course accepts "
                 f"({', '.join(course.models)})")
        return sub
    sub.impl = impl
    sub.message = "\n".join(left_out)
    if why := foreign(impl):
        sub.stop("error", f"{why}: it cannot be graded here")
    return sub


# -- 4, 5: build and start ----------------------------------------------------------------
def build_all(subs: Sequence[Submission], workers: int, options: Options) -> None:
    def one(sub: Submission) -> None:
        assert sub.impl is not None
        done = build.ensure_built(sub.impl, options.sandbox)
        sub.seconds += done.seconds
        if not done.ok:
            sub.stop("build-failed", "\n".join(failure.lines(done.failure())))
        elif sub.impl.executable() is None:
            sub.stop("build-failed", "\n".join(failure.lines(Failed(
                f"the build succeeded but did not produce {sub.impl.argv(0)[0]!r} "
                f"(in {sub.impl.cwd})"))))

    _each(one, [s for s in subs if s.status == "graded" and s.impl and s.impl.build], workers)
    for sub in subs:  # nothing to build: the program must be there already
        if sub.status == "graded" and sub.impl and not sub.impl.build \
                and sub.impl.executable() is None:
            sub.stop("invalid", f"cannot find the program {sub.impl.argv(0)[0]!r} "
                     f"(looked in PATH and relative to the submission's folder)")


def start_all(subs: Sequence[Submission], options: Options, workers: int) -> None:
    def one(sub: Submission) -> None:
        assert sub.impl is not None
        if problem := start_problem(sub.impl, options):
            sub.stop("not-started", problem)

    _each(one, [s for s in subs if s.status == "graded"], workers)


def _each(fn: Callable[[_T], _R], items: Sequence[_T], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(fn, items):
            pass


# -- 7: score -----------------------------------------------------------------------------
def clause_table(course: Course, clauses: Sequence[Clause]) -> list[dict[str, Any]]:
    return [{"clause": c.id, "family": c.family, "level": c.level.value,
             "requirement": c.requirement, "points": course.points_for(c),
             "hidden": course.is_hidden(c)} for c in clauses]


def _scored(course: Course, c: Clause, verdict: Verdict, detail: str, seconds: float,
            result: Result | None = None) -> dict[str, Any]:
    points = course.points_for(c)
    counted = verdict not in (Verdict.NA, Verdict.SKIP)
    earned = verdict in (Verdict.PASS, Verdict.XPASS)
    return {"clause": c.id, "family": c.family, "level": c.level.value,
            "verdict": verdict.value, "score": points if counted and earned else 0.0,
            "max_score": points if counted else 0.0, "hidden": course.is_hidden(c),
            "detail": detail, "duration_s": seconds,
            "runs": result.runs if result else [], "confirm_s": result.confirm_s if result else 0.0}


def _stopped(course: Course, sub: Submission, c: Clause) -> dict[str, Any]:
    """A clause never run because the submission stopped at an earlier stage."""
    model = sub.impl.model if sub.impl else course.submission.get("model")
    service = sub.impl.service if sub.impl else course.submission.get("service", "echo")
    if model in MODELS and not c.applies(MODELS[model], str(service)):
        return _scored(course, c, Verdict.NA, f"{c.id} applies to {c.applies.describe()}", 0)
    first = sub.message.strip().splitlines()[0].strip() if sub.message.strip() else ""
    return _scored(course, c, Verdict.FAIL, failure.text(c.heading, Failed(
        f"not checked: the submission is {sub.status}: {first}")), 0)


def submission_entry(course: Course, clauses: Sequence[Clause], sub: Submission,
                     results: Sequence[Result]) -> dict[str, Any]:
    mine = {r.clause: r for r in results if r.impl == sub.name}
    rows = []
    for c in clauses:
        r = mine.get(c.id)
        if sub.status == "graded" and r is not None:
            rows.append(_scored(course, c, r.verdict, r.detail, r.duration_s, r))
        elif sub.status == "graded" and sub.impl and (why := not_applicable(c, sub.impl)):
            rows.append(_scored(course, c, Verdict.NA, why, 0))
        elif sub.status == "graded":
            rows.append(_scored(course, c, Verdict.ERROR, f"{c.id}: no verdict was recorded "
                                "(the contract run ended early)", 0))
        else:
            rows.append(_stopped(course, sub, c))
    service = sub.impl.service if sub.impl else course.submission.get("service", "echo")
    total, own = course.total(clauses, str(service)), sum(r["max_score"] for r in rows)
    if total is not None and own:  # several models allowed: every submission out of one total
        for row in rows:
            row["score"], row["max_score"] = (round(row["score"] * total / own, 4),
                                              round(row["max_score"] * total / own, 4))
    status = sub.status
    if status == "graded" and any(r["verdict"] == Verdict.ERROR.value for r in rows):
        status = "error"
    return {"name": sub.name, "folder": str(sub.folder),
            "model": sub.impl.model if sub.impl else course.submission.get("model"),
            "service": sub.impl.service if sub.impl else course.submission.get("service"),
            "status": status, "message": sub.message,
            "score": round(sum(r["score"] for r in rows), 3),
            "max_score": round(sum(r["max_score"] for r in rows), 3),
            "duration_s": round(sub.seconds + sum(r["duration_s"] for r in rows), 3),
            "clauses": rows}
