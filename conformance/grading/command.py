"""``ioconform grade`` and ``ioconform merge``: a class graded, and its shards rejoined.

Exit status of ``grade``: 0 when every submission was graded (whatever the scores), 3
when the harness failed on some check (re-run them), 2 for a bad course, shard or
folder, 130 when interrupted.  A submission that does not build, start or even parse is
a grade (zero, with the reason), not an error of the grading run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance import __version__, launch, report, settings
from conformance.clause import Clause
from conformance.clauses import select_clauses
from conformance.exits import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_OK, UsageError
from conformance.grading import gradebook, html, prairielearn, submissions
from conformance.grading.course import Course
from conformance.grading.course import load as load_course
from conformance.harness import sandbox
from conformance.harness.session import Timing
from conformance.implementation import Implementation
from conformance.manifest import to_toml
from conformance.runner import Options, Result

# The settings a grader may give on the command line; the course sets the others.
SETTINGS = ("sanitize", "timeout_scale", "no_trace", "confirm", "sandbox")


def add_parsers(sub: Any) -> None:
    grade = sub.add_parser(
        "grade", help="grade many submissions against a course config",
        description="Grade every submission folder given (or every sub-folder of a class "
        "folder): copy, build, start and check each, then score it with the course's points.")
    grade.add_argument("folders", nargs="+", metavar="DIR",
                       help="a submission folder, or a folder of submission folders")
    grade.add_argument("--course", metavar="FILE",
                       help="course.toml: imposed model/command, points, hidden clauses, "
                            "limits, sandbox (default: the whole contract, 1 point each)")
    grade.add_argument("--shard", metavar="I/N",
                       help="grade only the I-th of N interleaved shares of the class")
    settings.add_arguments(grade, SETTINGS, defaults={"sandbox": None, "timeout_scale": None},
                           notes={"sandbox": "default: the course's mode, else require",
                                  "sanitize": "as the course's sanitize = true does"})
    grade.add_argument("-n", "--workers", default="auto", metavar="N",
                       help="parallel checks, i.e. servers running at once; 'auto' = CPUs + 1")
    _outputs(grade)
    grade.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    grade.set_defaults(handler=grade_main)

    merge = sub.add_parser("merge", help="join the JSON reports of `grade --shard` runs",
                           description="Join grade reports (from `grade --json`) into one "
                           "and write any of the grade outputs from it.")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    _outputs(merge)
    merge.set_defaults(handler=merge_main)


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="FILE", help="the grade report (JSON, for scripts)")
    p.add_argument("--junit", metavar="FILE", help="JUnit XML")
    p.add_argument("--html", metavar="FILE", help="a self-contained HTML report")
    p.add_argument("--markdown", metavar="FILE",
                   help="a Markdown summary without hidden clauses (also appended to "
                        "$GITHUB_STEP_SUMMARY when set)")
    p.add_argument("--gradescope", metavar="PATH",
                   help="Gradescope results.json: the file for one submission, else a folder "
                        "of NAME.json")
    p.add_argument("--prairielearn", metavar="PATH",
                   help="PrairieLearn external-grader results.json: the file for one "
                        "submission, else a folder of NAME.json (each under 1 MB)")
    p.add_argument("--classroom", action="store_true",
                   help="GitHub Classroom autograding result (one submission): set as the "
                        "step output 'result', or printed")


# -- grade --------------------------------------------------------------------------------
def grade_main(args: argparse.Namespace) -> int:
    launch.check_outputs(args)
    settings.from_arguments(args, SETTINGS)
    course = load_course(args.course) if args.course else Course(source="")
    clauses = select_clauses(list(course.clauses))
    items = submissions.shard(submissions.discover(args.folders), args.shard)
    workers = launch.workers(args.workers, len(items) * len(clauses))
    scale = args.timeout_scale or 1.0
    sanitized = args.sanitize or course.sanitize
    policy = _policy(course, args.sandbox, sanitized)
    if policy.sandboxed and not sandbox.in_loopback_only():
        return _in_loopback_only(args.argv)
    sandbox.activate(policy)
    outward = sandbox.outward_attempts()
    options = Options(strict=course.strict, timing=Timing().scaled(scale), seed=course.seed,
                      trace=not args.no_trace, sandbox=policy, sanitize=sanitized,
                      confirm=args.confirm)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    say = _say(args.quiet)
    with tempfile.TemporaryDirectory(prefix="ioconform-grade-") as tmp:
        folder = Path(tmp)
        (folder / "work").mkdir()
        subs = [submissions.prepare(name, path, course, folder / "work") for name, path in items]
        say(f"{len(subs)} submission(s): building")
        submissions.build_all(subs, workers, options)
        say("starting each server once")
        submissions.start_all(subs, options, workers)
        ready = [s for s in subs if s.status == "graded" and s.impl is not None]
        results = []
        if ready:
            say(f"checking {len(ready)} submission(s) x {len(clauses)} clause(s) with "
                f"{workers} worker(s)")
            manifests = []
            for s in ready:
                assert s.impl is not None
                path = folder / f"{s.name}.toml"
                path.write_text(to_toml(s.impl), encoding="utf-8")  # workers: up to date
                manifests += ["--ioconform-manifest", str(path)]
            code, found = launch.contract(folder, manifests + _settings(course, options, scale),
                                          workers)
            results = found or []
            if code == EXIT_INTERRUPTED:
                return launch.interrupted()
    doc = document(course, clauses, subs, results, meta={
        "started": started, "duration_s": round(time.monotonic() - t0, 3),
        "workers": workers, "shard": args.shard or "1/1", "timeout_scale": scale,
        "trace": options.trace, "confirm": options.confirm, "sanitize": sanitized,
        "sandbox": sandbox.describe(policy),
        "outward_attempts": sandbox.outward_attempts() - outward})
    print(console(doc))
    write_outputs(doc, args)
    errors = doc["summary"]["errors"]
    return EXIT_HARNESS if errors else EXIT_OK


def _policy(course: Course, mode: str | None, sanitized: bool) -> sandbox.Policy:
    try:
        limits = sandbox.Limits.from_arg(course.limits_arg())
    except ValueError as e:
        raise UsageError(f"{course.source}: [limits]: {e}") from None
    policy = sandbox.Policy(mode or course.sandbox,
                            sandbox.for_sanitizer(limits) if sanitized else limits)
    if why := sandbox.check_policy(policy):
        raise UsageError(f"{why}\n(--sandbox auto grades without it, with a warning in "
                         "every report; --sandbox off runs with resource limits only)")
    return policy


def _in_loopback_only(argv: list[str]) -> int:
    """Grade again in a network namespace of its own with only ``lo``: the harness and
    the servers share it, and nothing a server sends can leave the machine."""
    cmd = sandbox.loopback_only_argv([sys.executable, "-m", "conformance.cli", *argv])
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the child has its own Ctrl-C; let it clean up first
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return EXIT_INTERRUPTED


def _settings(course: Course, options: Options, scale: float) -> list[str]:
    return [f"--ioconform-clause={c}" for c in course.clauses] + settings.pytest_options({
        "sandbox": options.sandbox.mode, "limits": options.sandbox.limits,
        "sanitize": options.sanitize, "seed": course.seed, "confirm": options.confirm,
        "strict": course.strict, "no_trace": not options.trace,
        "timeout_scale": scale if scale != 1.0 else None})


def _say(quiet: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if not quiet:
            print(f"ioconform: {text}", file=sys.stderr, flush=True)
    return say


def document(course: Course, clauses: list[Clause], subs: list[submissions.Submission],
             results: list[Any], meta: dict[str, Any]) -> dict[str, Any]:
    entries = [submissions.submission_entry(course, clauses, s, results) for s in subs]
    return {
        "ioconform": {"version": __version__, "command": "grade",
                      "platform": platform.system().lower(),
                      "python": platform.python_version(), "seed": course.seed,
                      "strict": course.strict, **meta},
        "course": course.to_dict(),
        "clauses": submissions.clause_table(course, clauses),
        "summary": gradebook.summarize(entries),
        "submissions": entries,
    }


def console(doc: dict[str, Any]) -> str:
    """The table a grader reads in the terminal: one line per submission."""
    subs = doc["submissions"]
    width = max([len(s["name"]) for s in subs] + [10])
    out = [f"{'submission':<{width}}  {'status':<12} {'score':>13}  not passed"]
    for s in subs:
        missed = [c["clause"] for c in s["clauses"]
                  if c["max_score"] and c["score"] < c["max_score"]]
        shown = ", ".join(missed[:8]) + (f" (+{len(missed) - 8})" if len(missed) > 8 else "")
        out.append(f"{s['name']:<{width}}  {s['status']:<12} "
                   f"{s['score']:>6g} / {s['max_score']:<4g}  {shown}")
    sm = doc["summary"]
    out.append("")
    if line := report.confirmations((c["verdict"], c.get("runs", []), c.get("confirm_s", 0.0))
                                    for s in subs for c in s["clauses"]):
        out.append(line)
    out.append(f"{sm['submissions']} submission(s): {sm['graded']} graded, "
               f"{sm['build_failed']} build failed, {sm['invalid']} invalid, "
               f"{sm['not_started']} not started, {sm['errors']} with harness errors; "
               f"mean {sm['mean_score']:g} of {sm['max_score']:g} "
               f"in {doc['ioconform'].get('duration_s', 0):.1f}s")
    return "\n".join(out)


def write_outputs(doc: dict[str, Any], args: argparse.Namespace) -> None:
    def write(path: str, text: str) -> None:
        Path(path).write_text(text, encoding="utf-8")

    if args.json:
        write(args.json, json.dumps(doc, indent=1))
    if args.junit:
        write(args.junit, gradebook.junit(doc))
    if args.html:
        write(args.html, html.render(doc))
    summary = gradebook.markdown(doc, student=True)
    if args.markdown:
        write(args.markdown, summary)
    gradebook.write_step_summary(summary)
    names = [s["name"] for s in doc["submissions"]]
    for path, render in ((args.gradescope, gradebook.gradescope),
                         (args.prairielearn, prairielearn.results)):
        if not path:
            continue
        target = Path(path)
        if len(names) == 1 and not target.is_dir():
            write(str(target), json.dumps(render(doc, names[0]), indent=1))
        else:
            target.mkdir(parents=True, exist_ok=True)
            for name in names:
                write(str(target / f"{name}.json"), json.dumps(render(doc, name), indent=1))
    if args.classroom:
        if len(names) != 1:
            raise UsageError("--classroom reports one submission; this run has "
                             f"{len(names)}")
        result = gradebook.classroom(doc, names[0])
        if not gradebook.write_github_output("result", result):
            print(result)


def publish_check(impl: Implementation, results: list[Result], args: argparse.Namespace,
                  started: str, duration_s: float) -> None:
    """The student-facing summaries of ``ioconform check`` (Markdown, HTML), made from
    a one-submission grade document with the default course."""
    course = Course(source="", seed=args.seed, strict=args.strict)
    sub = submissions.Submission(impl.name, impl.cwd, impl)
    clauses = select_clauses(args.clause)
    doc = document(course, clauses, [sub], results, meta={
        "started": started, "duration_s": round(duration_s, 3), "workers": args.workers,
        "shard": "1/1"})
    doc["ioconform"]["command"] = "check"
    summary = gradebook.markdown(doc, student=True)
    if args.markdown:
        Path(args.markdown).write_text(summary, encoding="utf-8")
    gradebook.write_step_summary(summary)
    if args.html:
        Path(args.html).write_text(html.render(doc), encoding="utf-8")
    if args.prairielearn:
        target = Path(args.prairielearn)
        target = target / "results.json" if target.is_dir() else target
        target.write_text(json.dumps(prairielearn.results(doc, impl.name), indent=1),
                          encoding="utf-8")


# -- merge --------------------------------------------------------------------------------
def merge_main(args: argparse.Namespace) -> int:
    launch.check_outputs(args)
    docs = []
    for path in args.reports:
        try:
            docs.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: cannot read a grade report: {e}") from None
    try:
        doc = gradebook.merge(docs)
    except ValueError as e:
        raise UsageError(f"cannot merge: {e}") from None
    print(console(doc))
    write_outputs(doc, args)
    return EXIT_HARNESS if doc["summary"]["errors"] else EXIT_OK
