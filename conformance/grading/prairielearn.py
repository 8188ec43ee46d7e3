"""PrairieLearn's external-grader ``results.json`` for one submission of a grade document.

Format (PrairieLearn docs, "External grading", "Grading results"): ``gradable`` (false:
the submission is invalid, and the student is not charged an attempt), ``score`` from 0
to 1, ``message``, ``output``, and ``tests``, each with ``name``, ``description``,
``points``, ``max_points``, ``message`` and ``output``.  PrairieLearn refuses a results
file over 1 MB, so every text is cut to fit a share of that budget.

A submission that could not be built, or was invalid, is not gradable: a build error
is the student's to fix, but not a score.  One that was built and never served (``not
started``) is gradable, with 0.  A harness error is not gradable either: it is ours.
Hidden clauses are folded into one test, "hidden checks", with their summed points and
only a count of failures, as in the GitHub Classroom output.
"""

from __future__ import annotations

import json
from typing import Any

from conformance import failure
from conformance.grading.gradebook import (
    Doc,
    brief,
    failed,
    hidden_totals,
    max_score,
    points,
    requirements,
    shown,
    submission,
    title,
)
from conformance.text import printable, truncate

LIMIT = 1_000_000  # bytes of the whole results.json that PrairieLearn accepts
_NOT_GRADABLE = frozenset({"build-failed", "invalid", "error"})


def results(doc: Doc, name: str) -> Doc:
    """The results.json of submission ``name``, under PrairieLearn's size limit."""
    sub = submission(doc, name)
    status = sub.get("status")
    most = max_score(doc, sub)
    score = float(sub.get("score") or 0) if status == "graded" else 0.0
    out: Doc = {
        "gradable": status not in _NOT_GRADABLE,
        "score": round(score / most, 4) if most else 0.0,
        "message": brief(sub, student=True),
        "output": "",
        "tests": _tests(doc, sub) if status == "graded" else [],
    }
    if status != "graded":
        out["output"] = printable(sub.get("message", ""))
    return _fitted(out)


def _tests(doc: Doc, sub: Doc) -> list[Doc]:
    reqs = requirements(doc)
    tests: list[Doc] = []
    for c in sub.get("clauses", []):
        if c.get("hidden") or not shown(c):
            continue
        detail = printable(c.get("detail", ""))
        tests.append({
            "name": printable(title(c, reqs)), "description": reqs.get(c["clause"], ""),
            "points": float(c.get("score", 0)), "max_points": float(c.get("max_score", 0)),
            "message": f"[{c.get('verdict')}]"
                       + (f" {failure.problem(detail)}" if failed(c) else ""),
            "output": detail if failed(c) else ""})
    if hid := [c for c in sub.get("clauses", []) if c.get("hidden") and shown(c)]:
        _, got, of = hidden_totals(sub)
        bad = sum(1 for c in hid if failed(c))
        tests.append({"name": f"hidden checks ({len(hid)})", "description": "",
                      "points": got, "max_points": of,
                      "message": f"{bad} of {len(hid)} hidden checks not met "
                                 f"({points(got)} / {points(of)} points)", "output": ""})
    return tests


def _fitted(out: Doc) -> Doc:
    """``out`` with its texts cut until the JSON is under the limit: each test's output
    gets an equal share of what the rest leaves."""
    def size(d: Any) -> int:
        return len(json.dumps(d).encode())

    share = LIMIT // 2
    while size(out) >= LIMIT and share > 200:
        out["output"] = truncate(out["output"], share, "the grade report")
        each = share // max(1, len(out["tests"]))
        for t in out["tests"]:
            t["output"] = truncate(t["output"], each, "the grade report")
        share //= 2
    return out
