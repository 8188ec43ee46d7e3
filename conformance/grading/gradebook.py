"""Grading outputs: the grade document of ``ioconform grade``, turned into what graders
and students read.

This module owns every rendering of the *grade document* (the JSON that ``ioconform
grade`` writes): Gradescope's ``results.json``, GitHub Classroom's runner result, a
Markdown summary (for ``$GITHUB_STEP_SUMMARY``), JUnit XML, a self-contained HTML report
(in :mod:`conformance.grading.html`), and the merge of sharded grade documents.
Everything here is a pure function of the document, except ``write_github_output`` and
``write_step_summary``, which append to the files GitHub Actions names.

The grade document and every output format here are stable public interfaces: graders
and CI workflows script against them.  Add fields, never rename or remove them.

Hidden clauses are run and counted, but the student-facing outputs (``gradescope``'s
visible tests and top-level output, ``classroom``, ``markdown(student=True)``) never show
their names, requirements or diagnoses; ``html``, ``junit`` and the document itself are
for graders and show everything.  Text a student's server printed may hold any bytes, so
every output escapes it for its medium (control characters are shown as visible
symbols, GitHub workflow commands are defused, HTML and Markdown are escaped).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from conformance.report import junit_case
from conformance.text import (
    defuse_workflow_commands,
    first_sentence,
    md_code,
    md_fence,
    md_inline,
    printable,
    truncate,
)

Doc = dict[str, Any]

STATUSES = ("graded", "build-failed", "invalid", "not-started", "error")
_SUMMARY_KEYS = {"graded": "graded", "build-failed": "build_failed", "invalid": "invalid",
                 "not-started": "not_started", "error": "errors"}
# A clause that cost the student: shown even when it carries no points.
FAILED = frozenset({"fail", "error", "non-strict"})
NOT_COUNTED = frozenset({"n/a", "skip"})

# -- reading the document -----------------------------------------------------------------
def submission(doc: Mapping[str, Any], name: str) -> Doc:
    for sub in doc.get("submissions", []):
        if sub.get("name") == name:
            return dict(sub)
    known = ", ".join(repr(s.get("name")) for s in doc.get("submissions", [])) or "none"
    raise ValueError(f"no submission named {name!r} in the grade document (it has: {known})")


def requirements(doc: Mapping[str, Any]) -> dict[str, str]:
    return {c["clause"]: c.get("requirement", "") for c in doc.get("clauses", [])}


def failed(clause: Mapping[str, Any]) -> bool:
    return clause.get("verdict") in FAILED or (
        float(clause.get("score", 0)) < float(clause.get("max_score", 0)))


def shown(clause: Mapping[str, Any]) -> bool:
    """Clauses a per-test output lists: those that carry points, and every failure."""
    return float(clause.get("max_score", 0)) > 0 or clause.get("verdict") in FAILED


def title(clause: Mapping[str, Any], reqs: Mapping[str, str]) -> str:
    req = first_sentence(reqs.get(clause["clause"], ""))
    head = f"{clause['clause']} ({clause.get('level', '?')})"
    return f"{head}: {req}" if req else head


def points(x: object) -> str:
    """2.0 -> '2', 2.5 -> '2.5'."""
    return f"{float(x):g}" if isinstance(x, int | float) else "?"


def hidden_totals(sub: Mapping[str, Any]) -> tuple[int, float, float]:
    hid = [c for c in sub.get("clauses", []) if c.get("hidden")]
    return (len(hid), sum(float(c.get("score", 0)) for c in hid),
            sum(float(c.get("max_score", 0)) for c in hid))


def max_score(doc: Mapping[str, Any], sub: Mapping[str, Any]) -> float:
    """A submission's possible points; one that never got graded still had them."""
    own = float(sub.get("max_score") or 0)
    return own or float(doc.get("summary", {}).get("max_score") or 0)


def brief(sub: Mapping[str, Any], *, student: bool) -> str:
    """One paragraph about a submission, hidden clauses only counted when ``student``."""
    status = sub.get("status", "?")
    if status != "graded":
        msg = truncate(printable(sub.get("message", "")), 2000, "the test below")
        return f"{printable(sub.get('name'))}: {status}, 0 points.\n{msg}"
    bad = [c for c in sub.get("clauses", []) if failed(c)]
    vis = [c["clause"] for c in bad if not (student and c.get("hidden"))]
    out = [f"{printable(sub.get('name'))}: {points(sub.get('score'))} / "
           f"{points(sub.get('max_score'))} points."]
    if vis:
        out.append(f"Not met: {', '.join(vis)}.")
    n_hid = sum(1 for c in bad if c.get("hidden"))
    if student and n_hid:
        out.append(f"{n_hid} hidden check(s) not met.")
    if not bad:
        out.append("Every clause met.")
    return " ".join(out)


# -- Gradescope ---------------------------------------------------------------------------
def gradescope(doc: Doc, name: str) -> Doc:
    """Gradescope's ``/autograder/results/results.json`` for submission ``name``.

    Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (source:
    github.com/gradescope/autograder_samples, docs/specs.md).  Top level: ``score``
    (it overrides the tests' total), ``execution_time`` (seconds), ``output``,
    ``tests``; there is no top-level ``max_score`` in the spec, Gradescope sums the
    tests'.  Each test: ``name``, ``score``, ``max_score``, ``status`` ("passed" /
    "failed" overrides the score-based display), ``output`` (the diagnosis), ``tags``,
    ``visibility``, ``extra_data`` (clause ID and verdict).  Every ``*_format`` is set
    to "text": the default for the top-level output is "simple_format", which would
    render the server's bytes as HTML.

    Hidden clauses get ``"visibility": "hidden"``; the spec warns that students then
    cannot see their total score.  The top-level output counts them without naming them.
    """
    sub = submission(doc, name)
    head = doc.get("ioconform", {})
    out: Doc = {
        "score": float(sub.get("score") or 0) if sub.get("status") == "graded" else 0.0,
        "execution_time": round(float(sub.get("duration_s") or 0)),
        "output": brief(sub, student=True)
        + f"\n(ioconform {head.get('version', '?')}, seed {head.get('seed', '?')})",
        "output_format": "text", "test_output_format": "text", "test_name_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"ioconform_status": sub.get("status"), "model": sub.get("model"),
                       "service": sub.get("service")},
    }
    if sub.get("status") != "graded":
        out["tests"] = [{
            "name": f"{sub.get('status')}: the submission could not be graded",
            "score": 0.0, "max_score": max_score(doc, sub), "status": "failed",
            "output": truncate(printable(sub.get("message", "")), 50_000),
            "visibility": "visible", "tags": [str(sub.get("status"))]}]
        return out
    reqs = requirements(doc)
    out["tests"] = [{
        "name": title(c, reqs),
        "score": float(c.get("score", 0)), "max_score": float(c.get("max_score", 0)),
        "status": "failed" if failed(c) else "passed",
        "output": f"[{c.get('verdict')}]\n" + truncate(printable(c.get("detail", "")), 50_000),
        "tags": [c.get("family", "")],
        "visibility": "hidden" if c.get("hidden") else "visible",
        "extra_data": {"clause": c["clause"], "verdict": c.get("verdict")},
    } for c in sub.get("clauses", []) if shown(c)]
    return out


# -- GitHub Classroom ----------------------------------------------------------------------
def classroom(doc: Doc, name: str) -> str:
    """The base64 ``result`` step output that GitHub Classroom's grading reporter reads.

    Shape, as the official runners emit it and the reporter consumes it
    (github.com/classroom-resources/autograding-io-grader, src/main.js: ``{version: 1,
    status, max_score, tests: [{name, status, message, test_code, filename, line_no,
    duration, score}]}``, base64 of the JSON via ``core.setOutput('result', ...)``;
    github.com/classroom-resources/autograding-grading-reporter, src/main.js decodes
    ``<RUNNER>_RESULTS`` from base64 and fails the job on status "fail" or "error";
    src/helpers/test-helpers.js sums ``tests[].score`` against the top ``max_score``;
    console-results prints each ``name``, ``test_code`` and, for "error", ``message``).
    ``duration`` is in milliseconds as the runners write it; ``execution_time`` (seconds,
    as text) is added for readers that expect it.

    Hidden clauses are folded into one test, "hidden checks", carrying their summed score
    and only a count of failures.  The reporter prints ``test_code`` to the job log, so
    failing clauses put their diagnosis there; workflow commands in it are defused.
    """
    sub = submission(doc, name)
    status = sub.get("status")
    if status != "graded":
        tests = [_classroom_test(f"{status}: the submission could not be graded", "error"
                                 if status == "error" else "fail", 0.0, sub.get("message", ""),
                                 sub.get("message", ""), float(sub.get("duration_s") or 0))]
    else:
        tests = _classroom_tests(doc, sub)
    statuses = {t["status"] for t in tests}
    overall = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    result = {"version": 1, "status": overall, "max_score": max_score(doc, sub),
              "tests": tests}
    return base64.b64encode(json.dumps(result).encode()).decode("ascii")


def _classroom_test(name: str, status: str, score: float, message: str, code: str,
                    seconds: float) -> Doc:
    def clean(text: str) -> str:
        return defuse_workflow_commands(truncate(printable(text), 20_000, "the grade report"))

    return {"name": defuse_workflow_commands(printable(name)), "status": status,
            "score": score, "message": clean(message), "test_code": clean(code),
            "filename": "", "line_no": 0, "duration": round(seconds * 1000),
            "execution_time": f"{seconds:.2f}s"}


def _classroom_tests(doc: Doc, sub: Doc) -> list[Doc]:
    """A graded submission's tests: one per visible clause, and one for the hidden ones."""
    reqs = requirements(doc)
    tests = []
    for c in sub.get("clauses", []):
        if c.get("hidden") or not shown(c):
            continue
        verdict = c.get("verdict")
        status = "error" if verdict == "error" else "fail" if failed(c) else "pass"
        detail = c.get("detail", "")
        tests.append(_classroom_test(
            title(c, reqs), status, float(c.get("score", 0)),
            detail if status != "pass" else "",
            detail if status != "pass" else reqs.get(c["clause"], ""),
            float(c.get("duration_s") or 0)))
    if hid := [c for c in sub.get("clauses", []) if c.get("hidden") and shown(c)]:
        _, got, of = hidden_totals(sub)
        bad = sum(1 for c in hid if failed(c))
        note = (f"{bad} of {len(hid)} hidden checks not met "
                f"({points(got)} / {points(of)} points)")
        tests.append(_classroom_test(f"hidden checks ({len(hid)})", "fail" if bad else "pass",
                                     got, note if bad else "", note,
                                     sum(float(c.get("duration_s") or 0) for c in hid)))
    return tests


def _append_env_file(var: str, text: str) -> bool:
    path = os.environ.get(var)
    if not path:
        return False
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
    return True


def write_github_output(key: str, value: str) -> bool:
    """Append ``key=value`` to ``$GITHUB_OUTPUT`` when it is set; returns whether written.

    A value with a line break uses the file's ``key<<DELIMITER`` form, with a random
    delimiter that does not occur in the value."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        raise ValueError(f"not a valid step output name: {key!r}")
    if "\n" not in value and "\r" not in value:
        return _append_env_file("GITHUB_OUTPUT", f"{key}={value}\n")
    delim = f"ioconform_{secrets.token_hex(8)}"
    while delim in value:  # pragma: no cover - 64 random bits
        delim = f"ioconform_{secrets.token_hex(8)}"
    return _append_env_file("GITHUB_OUTPUT", f"{key}<<{delim}\n{value}\n{delim}\n")


STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub rejects step summaries over 1 MiB


def write_step_summary(text: str) -> bool:
    """Append ``text`` to ``$GITHUB_STEP_SUMMARY`` when it is set (cut to fit its 1 MiB)."""
    room = STEP_SUMMARY_LIMIT - 4096
    if len(text.encode("utf-8", "backslashreplace")) > room:
        text = text.encode("utf-8", "backslashreplace")[:room].decode("utf-8", "ignore")
        text += "\n\n*(cut to fit GitHub's 1 MiB step summary; see the full report)*\n"
    return _append_env_file("GITHUB_STEP_SUMMARY", text if text.endswith("\n") else text + "\n")


def family_points(clauses: Iterable[Mapping[str, Any]]) -> dict[str, list[float | int]]:
    """family -> [score, max_score, clauses met, clauses counted], in first-seen order."""
    out: dict[str, list[float | int]] = {}
    for c in clauses:
        row = out.setdefault(c.get("family", "?"), [0.0, 0.0, 0, 0])
        row[0] += float(c.get("score", 0))
        row[1] += float(c.get("max_score", 0))
        if c.get("verdict") not in NOT_COUNTED:
            row[3] += 1
            row[2] += 0 if failed(c) else 1
    return out


def setup(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(title, model, service, course) for a report's header, never "None": ``check``
    reports one server with its own model and service and no course; a course that
    imposes no model takes each submission's."""
    head, course = doc.get("ioconform", {}), doc.get("course", {})
    subs = doc.get("submissions", [])
    if head.get("command") == "check" and len(subs) == 1:
        sub = subs[0]
        return (f"ioconform check: {sub.get('name', '?')}", str(sub.get("model") or "?"),
                str(sub.get("service") or "?"), "none: the whole contract, no points")
    name = course.get("name") or "no course file"
    source = course.get("source") or ""
    return (f"ioconform grades: {name}",
            str(course.get("model") or "each submission's own"),
            str(course.get("service") or "each submission's own"),
            f"{name} ({source})" if source else name)


def markdown(doc: Doc, *, student: bool = True, diagnosis_lines: int = 15) -> str:
    """A Markdown summary of every submission in ``doc``.

    ``student=True`` leaves out hidden clauses (one line gives their count and points)
    and the class statistics; ``student=False`` shows everything."""
    head = doc.get("ioconform", {})
    title, model, service, _ = setup(doc)
    out = [f"# {md_inline(title)}", "",
           f"ioconform {md_inline(head.get('version', '?'))} · model "
           f"{md_code(model)} · service {md_code(service)} · seed "
           f"{md_code(head.get('seed', '?'))} · {md_inline(head.get('started', ''))}"]
    if not student:
        s = doc.get("summary") or summarize(doc.get("submissions", []))
        out += ["", f"{s['submissions']} submissions: {s['graded']} graded, "
                f"{s['build_failed']} build failed, {s['invalid']} invalid, "
                f"{s['not_started']} not started, {s['errors']} errors. "
                f"Mean {points(s.get('mean_score'))}, median {points(s.get('median_score'))} "
                f"of {points(s.get('max_score'))} points."]
    reqs = requirements(doc)
    for sub in doc.get("submissions", []):
        status = sub.get("status", "?")
        score = points(sub.get("score", 0) if status == "graded" else 0)
        out += ["", f"## {md_inline(sub.get('name'))}: {score} / "
                f"{points(max_score(doc, sub))} points", "", f"Status: **{md_inline(status)}**"]
        if status != "graded":
            msg = truncate(printable(sub.get("message", "")), 8000, "the grade report")
            out += ["", md_fence(msg)]
            continue
        clauses = sub.get("clauses", [])
        visible = [c for c in clauses if not (student and c.get("hidden"))]
        out += ["", "| family | points | clauses met |", "|---|---:|---:|"]
        for fam, (got, of, met, n) in family_points(visible).items():
            out.append(f"| {md_inline(fam)} | {points(got)} / {points(of)} | {met} / {n} |"
                       if n else f"| {md_inline(fam)} | – | not applicable or skipped |")
        n_hid, got, of = hidden_totals(sub)
        if student and n_hid:
            out += ["", f"{n_hid} hidden checks: {points(got)} / {points(of)} points"]
        bad = [c for c in visible if failed(c)]
        if bad:
            out += ["", "### Not met", ""]
        for c in bad:
            mark = " (hidden)" if c.get("hidden") else ""
            out += [f"**{md_inline(c['clause'])}** ({md_inline(c.get('level', '?'))}, "
                    f"{md_inline(c.get('verdict'))}, {points(c.get('score', 0))} / "
                    f"{points(c.get('max_score', 0))}){mark}: "
                    f"{md_inline(first_sentence(reqs.get(c['clause'], ''), 300))}", ""]
            lines = printable(c.get("detail", "")).splitlines()
            shown_lines = "\n".join(line[:400] for line in lines[:diagnosis_lines])
            if len(lines) > diagnosis_lines:
                shown_lines += f"\n... ({len(lines) - diagnosis_lines} more lines)"
            out += [md_fence(shown_lines), ""]
    # the step summary is a log too: no line of it, fenced or not, may be a command
    return defuse_workflow_commands("\n".join(out).rstrip() + "\n")


# -- JUnit --------------------------------------------------------------------------------
def _xml_text(text: object) -> str:
    """XML 1.0 cannot hold most control characters at all, escaped or not."""
    return printable(text)


def junit(doc: Doc) -> str:
    """JUnit XML: a testsuite per submission, a testcase per clause (hidden ones too,
    marked by a ``hidden`` property); score, max_score and status as properties."""
    suites = ET.Element("testsuites", name="ioconform grade")
    for sub in doc.get("submissions", []):
        name = _xml_text(sub.get("name", "?"))
        status = sub.get("status", "?")
        clauses = sub.get("clauses", []) if status == "graded" else []
        suite = ET.SubElement(suites, "testsuite", name=name,
                              time=f"{float(sub.get('duration_s') or 0):.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (("status", status), ("score", sub.get("score", 0)),
                     ("max_score", max_score(doc, sub)), ("model", sub.get("model", "")),
                     ("service", sub.get("service", ""))):
            ET.SubElement(props, "property", name=k, value=_xml_text(v))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if status != "graded":
            counts["tests"] = 1
            case = ET.SubElement(suite, "testcase", classname=f"ioconform.{name}", name=status)
            kind = "error" if status == "error" else "failure"
            counts["errors" if kind == "error" else "failures"] += 1
            ET.SubElement(case, kind, message=f"{status}: not graded").text = _xml_text(
                sub.get("message", ""))
        for c in clauses:
            counts["tests"] += 1
            # The clause's points are in its properties; its verdict maps as every JUnit
            # output maps it (a SHOULD not met passes, and says so).
            case = junit_case(suite, counts, classname=f"ioconform.{name}", name=c["clause"],
                              seconds=float(c.get("duration_s") or 0),
                              verdict=str(c.get("verdict")), detail=c.get("detail", ""))
            cprops = ET.Element("properties")
            for k, v in (("score", c.get("score", 0)), ("max_score", c.get("max_score", 0)),
                         ("verdict", c.get("verdict")), ("hidden", bool(c.get("hidden")))):
                ET.SubElement(cprops, "property", name=k, value=_xml_text(v))
            case.insert(0, cprops)
        for k, n in counts.items():
            suite.set(k, str(n))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# -- HTML ---------------------------------------------------------------------------------
# -- summary and merge --------------------------------------------------------------------
def summarize(submissions: Sequence[Mapping[str, Any]]) -> Doc:
    """The grade document's ``summary`` object for these submissions.

    ``max_score`` is the largest possible total among them.  ``mean_score`` and
    ``median_score`` are over every submission except those with status ``error`` (a
    harness failure says nothing about the student); one that was not graded for its
    own reasons (build failed, invalid, not started) counts with 0 points.  Both are
    null when no submission qualifies."""
    counts = {key: 0 for key in _SUMMARY_KEYS.values()}
    scores: list[float] = []
    for sub in submissions:
        status = sub.get("status")
        if status in _SUMMARY_KEYS:
            counts[_SUMMARY_KEYS[status]] += 1
        if status != "error":
            scores.append(float(sub.get("score") or 0) if status == "graded" else 0.0)
    tops = [float(sub.get("max_score") or 0) for sub in submissions]
    return {"submissions": len(submissions), **counts,
            "max_score": max(tops, default=0.0),
            "mean_score": round(statistics.fmean(scores), 3) if scores else None,
            "median_score": round(float(statistics.median(scores)), 3) if scores else None}


def _when(text: str) -> float:
    """Seconds since the epoch of an ISO timestamp; infinity when it is not one."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):
        return float("inf")


_MUST_AGREE = (("ioconform", "version"), ("ioconform", "seed"), ("ioconform", "strict"),
               ("course", "name"), ("course", "source"), ("course", "model"),
               ("course", "service"))


def merge(docs: Sequence[Mapping[str, Any]]) -> Doc:
    """One grade document from the documents of several shards (``--shard i/n``).

    They must agree on the ioconform version, seed and strictness, the course (name,
    source, model, service) and the clause list; a submission may appear in only one.
    Submissions are sorted by name and the summary is recomputed with ``summarize``.
    In the ``ioconform`` header: ``shard`` becomes ``"merged N"``; ``started`` is the
    earliest start; ``duration_s`` the longest shard (shards run side by side, so that
    is the wall-clock time of the whole grading); ``workers`` and ``outward_attempts``
    are summed; the shards' own headers are kept, in order, under ``shards``."""
    if not docs:
        raise ValueError("cannot merge: no grade documents given")
    first = docs[0]
    for i, d in enumerate(docs[1:], start=2):
        for part, key in _MUST_AGREE:
            a, b = first.get(part, {}).get(key), d.get(part, {}).get(key)
            if a != b:
                raise ValueError(f"cannot merge grade documents: {part}.{key} differs: "
                                 f"document 1 has {a!r}, document {i} has {b!r}")
        if first.get("clauses") != d.get("clauses"):
            a_ids = [c.get("clause") for c in first.get("clauses", [])]
            b_ids = [c.get("clause") for c in d.get("clauses", [])]
            what = (f"{a_ids!r} vs {b_ids!r}" if a_ids != b_ids
                    else "same IDs, different levels, points, requirements or hidden flags")
            raise ValueError(f"cannot merge grade documents: the clause list differs between "
                             f"document 1 and document {i}: {what}")
    owner: dict[str, int] = {}
    subs: list[Doc] = []
    for i, d in enumerate(docs, start=1):
        for sub in d.get("submissions", []):
            name = sub.get("name")
            if name in owner:
                raise ValueError(f"cannot merge grade documents: submission {name!r} is in "
                                 f"document {owner[name]} and document {i}")
            owner[name] = i
            subs.append(dict(sub))
    subs.sort(key=lambda s: str(s.get("name")))
    heads = [dict(d.get("ioconform", {})) for d in docs]
    starts = sorted((str(h.get("started") or "") for h in heads), key=lambda s: (_when(s), s))
    head = {**heads[0], "shard": f"merged {len(docs)}",
            "started": starts[0] if starts else "",
            "duration_s": max(float(h.get("duration_s") or 0) for h in heads),
            "workers": sum(int(h.get("workers") or 0) for h in heads),
            "outward_attempts": sum(int(h.get("outward_attempts") or 0) for h in heads),
            "shards": [{k: h.get(k) for k in ("shard", "started", "duration_s", "workers",
                                               "platform", "python", "outward_attempts")}
                       for h in heads]}
    out = {k: v for k, v in first.items()}
    out.update({"ioconform": head, "summary": summarize(subs), "submissions": subs})
    return out
