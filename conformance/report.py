"""Reports of a finished run: the console matrix, JSON, JUnit XML, and the contract text.

The JSON report's fields are a public interface that graders script against: add fields,
never rename or remove them.
"""

from __future__ import annotations

import json
import platform
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance import __version__, causes
from conformance.clause import FAMILIES, Clause, Verdict, ordered
from conformance.implementation import Implementation
from conformance.models import MODELS, SERVICE_SUMMARY
from conformance.runner import Result
from conformance.text import printable

# Worst first: the cell of a family shows the worst verdict among its clauses.
_SEVERITY = [Verdict.ERROR, Verdict.FAIL, Verdict.XPASS, Verdict.NON_STRICT, Verdict.XFAIL,
             Verdict.SKIP, Verdict.PASS, Verdict.NA]
_CELL = {Verdict.ERROR: "ERR", Verdict.FAIL: "FAIL", Verdict.XPASS: "XP",
         Verdict.NON_STRICT: "ns", Verdict.XFAIL: "xf", Verdict.SKIP: "skip",
         Verdict.PASS: "ok", Verdict.NA: "-"}
_SHORT = {"ACCEPT": "ACCPT", "PARTIAL": "PART", "BACKPRESSURE": "BACKP",
          "FAIRNESS": "FAIR", "DISCONNECT": "DISC", "CAPACITY": "CAP", "ROBUST": "ROB"}
LEGEND = ("ok pass · FAIL fail · ns SHOULD not met (non-strict) · xf declared limitation · "
          "XP passed despite a declared limitation · skip not checkable here · - n/a · "
          "ERR harness error")
TIME_NOTE = ("clause-s: the seconds of the server's clauses added up; they run side by "
             "side, so the sum may pass the wall time below")


@dataclass
class Run:
    """Everything a report needs about one invocation."""

    command: str
    impls: Sequence[Implementation]
    results: list[Result]
    settings: dict[str, object] = field(default_factory=dict)
    duration_s: float = 0.0
    started: str = ""
    complete: bool = True  # False: interrupted, the results are those reached

    def of(self, impl: str) -> list[Result]:
        return [r for r in self.results if r.impl == impl]

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for r in self.results:
            out[r.verdict.value] += 1
        return out

    def exit_status(self, strict: bool) -> int:
        verdicts = {r.verdict for r in self.results}
        if Verdict.ERROR in verdicts:
            return 3
        if Verdict.FAIL in verdicts or (strict and Verdict.XPASS in verdicts):
            return 1
        return 0


def _worst(results: Iterable[Result]) -> Verdict | None:
    found = {r.verdict for r in results}
    return next((v for v in _SEVERITY if v in found), None)


def impl_status(results: Sequence[Result]) -> str:
    worst = _worst(results)
    if worst is Verdict.ERROR:
        return "error"
    return "fail" if worst is Verdict.FAIL else "pass"


# -- console ------------------------------------------------------------------------------
def console(run: Run, *, details: bool = True) -> str:
    families = [f for f in FAMILIES if any(r.family == f for r in run.results)]
    heads = [_SHORT.get(f, f) for f in families]
    name_w = max([len(i.name) for i in run.impls] + [14])
    model_w = max([len(i.model) for i in run.impls] + [5])
    out = [f"{'implementation':<{name_w}}  {'model':<{model_w}}  "
           + " ".join(f"{h:<{max(len(h), 4)}}" for h in heads) + "  clause-s"]
    for impl in run.impls:
        rs = run.of(impl.name)
        cells = []
        for f, h in zip(families, heads, strict=True):
            worst = _worst(r for r in rs if r.family == f)
            cells.append(f"{_CELL[worst] if worst else '':<{max(len(h), 4)}}")
        secs = sum(r.duration_s for r in rs)
        out.append(f"{impl.name:<{name_w}}  {impl.model:<{model_w}}  " + " ".join(cells)
                   + f"  {secs:7.1f}s")
    out += [LEGEND, TIME_NOTE]
    if port := run.settings.get("fixed_port"):
        out.append(f"fixed port {port}: the program hard-codes it, so its clauses ran one at "
                   "a time on that port, each once the port was free again")
    if lines := [ln for i in run.impls for ln in causes.console(i.name, _causes(run, i.name))]:
        out += ["", "Likely causes (the lead's diagnosis first):", *lines]
    if details:
        out += _details(run)
    c = run.counts()
    shown = ", ".join(f"{n} {v}" for v, n in c.items() if n)
    failing = [i.name for i in run.impls if impl_status(run.of(i.name)) != "pass"]
    out.append("")
    if line := confirmations((r.verdict.value, r.runs, r.confirm_s) for r in run.results):
        out.append(line)
    out.append(f"{len(run.impls)} implementation(s), {len(run.impls) - len(failing)} "
               f"conforming: {shown} in {run.duration_s:.1f}s")
    return printable("\n".join(out))  # a server's output, inert on the grader's terminal


def confirmations(rows: Iterable[tuple[str, Sequence[str], float]]) -> str:
    """One line on the failures run again (see conformance.runner), '' when none was:
    ``rows`` are (final verdict, every run's verdict, seconds of the re-runs)."""
    confirmed = intermittent = dropped = reruns = 0
    seconds = 0.0
    for verdict, runs, secs in rows:
        if not runs:
            continue
        reruns, seconds = reruns + len(runs) - 1, seconds + secs
        fails = sum(v == Verdict.FAIL.value for v in runs)
        if verdict in (Verdict.PASS.value, Verdict.XPASS.value):
            dropped += 1
        elif fails == len(runs):
            confirmed += 1
        else:
            intermittent += 1
    if not reruns:
        return ""
    parts = [f"{confirmed} failure(s) confirmed by a re-run"]
    if intermittent:
        parts.append(f"{intermittent} intermittent (failed in most runs, not all)")
    if dropped:
        parts.append(f"{dropped} not confirmed (passed in most runs: not counted)")
    return f"re-runs: {', '.join(parts)}; {reruns} re-run(s) took {seconds:.1f}s"


def _causes(run: Run, impl: str) -> list[causes.Cause]:
    return causes.likely(run.of(impl))


def _details(run: Run) -> list[str]:
    sections = [("Failures", (Verdict.FAIL, Verdict.ERROR)),
                ("SHOULD clauses not met (failures only with --strict)", (Verdict.NON_STRICT,)),
                ("Passed despite a declared limitation", (Verdict.XPASS,))]
    out: list[str] = []
    for title, verdicts in sections:
        chosen = [r for r in run.results if r.verdict in verdicts]
        if not chosen:
            continue
        out += ["", f"{title}:"]
        for r in chosen:
            out += ["", f"--- {r.impl} {r.clause} [{r.verdict.value}]", r.detail]
    return out


# -- JSON ---------------------------------------------------------------------------------
def to_json(run: Run) -> str:
    return json.dumps(to_doc(run), indent=2)


def to_doc(run: Run) -> dict[str, Any]:
    """The JSON report as a dict (its fields are stable: graders script against them)."""
    strict = bool(run.settings.get("strict", False))
    return {
        "ioconform": {"version": __version__, "command": run.command,
                      "platform": platform.system().lower(),
                      "python": platform.python_version(), "started": run.started,
                      "duration_s": round(run.duration_s, 3), **run.settings,
                      "complete": run.complete},
        "summary": {**run.counts(), "implementations": len(run.impls),
                    "exit_status": run.exit_status(strict)},
        "implementations": [
            {"name": i.name, "model": i.model, "service": i.service, "source": i.source,
             "description": i.description, "status": impl_status(run.of(i.name)),
             "duration_s": round(sum(r.duration_s for r in run.of(i.name)), 3),
             "likely_causes": [c.to_dict() for c in _causes(run, i.name)],
             "clauses": [{"clause": r.clause, "family": r.family, "level": r.level,
                          "verdict": r.verdict.value, "detail": r.detail,
                          "duration_s": r.duration_s, "runs": r.runs,
                          "confirm_s": r.confirm_s} for r in run.of(i.name)]}
            for i in run.impls
        ],
    }


# -- JUnit --------------------------------------------------------------------------------
def to_junit(run: Run) -> str:
    suites = ET.Element("testsuites", name="ioconform")
    for impl in run.impls:
        rs = run.of(impl.name)
        suite = ET.SubElement(suites, "testsuite", name=impl.name, tests=str(len(rs)),
                              time=f"{sum(r.duration_s for r in rs):.3f}")
        counts = {"failures": 0, "errors": 0, "skipped": 0}
        for r in rs:
            junit_case(suite, counts, classname=f"ioconform.{impl.name}", name=r.clause,
                       seconds=r.duration_s, verdict=r.verdict.value, detail=r.detail)
        for k, v in counts.items():
            suite.set(k, str(v))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def junit_case(suite: ET.Element, counts: dict[str, int], *, classname: str, name: str,
               seconds: float, verdict: str, detail: str) -> ET.Element:
    """One verdict as a JUnit testcase, the one mapping of every JUnit output: "fail" is
    a failure, "error" an error, "skip", "n/a" and "xfail" skipped; any other verdict
    passes, with "non-strict" or "xpass" told in its output."""
    case = ET.SubElement(suite, "testcase", classname=classname, name=name,
                         time=f"{seconds:.3f}")
    # XML 1.0 cannot hold most control characters, escaped or not, and a server's output
    # quoted in a diagnosis may contain any byte.
    detail = printable(detail)
    lines = detail.splitlines()
    first = (lines[1] if len(lines) > 1 else detail).strip()[:300]
    if verdict == "fail":
        counts["failures"] += 1
        ET.SubElement(case, "failure", message=first).text = detail
    elif verdict == "error":
        counts["errors"] += 1
        ET.SubElement(case, "error", message="harness error").text = detail
    elif verdict in ("skip", "n/a", "xfail"):
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=f"{verdict}: {first}")
    elif verdict in ("non-strict", "xpass"):
        ET.SubElement(case, "system-out").text = f"{verdict}\n{detail}"
    return case


# -- the contract -------------------------------------------------------------------------
def contract_markdown(clauses: Sequence[Clause] | None = None) -> str:
    """docs/CONTRACT.md, generated from the clause registry (a test keeps them equal)."""
    chosen = ordered() if clauses is None else list(clauses)
    out = ["# The ioconform contract", "",
           "<!-- Generated by `ioconform list --markdown`; do not edit by hand. -->", "",
           "A server conforms when every MUST clause that applies to its model and service "
           "passes. SHOULD clauses are reported as `non-strict` unless `--strict` is given.",
           "", "**Levels.** A clause is MUST when the model's own documentation (the man "
           "pages, POSIX, the Winsock documentation) makes its failure a defect: bytes lost "
           "or reordered, a hang, a crash, a leak, a client never served, or the claimed "
           "mechanism not used. Quality beyond that (fairness under a firehose, bounded "
           "memory, promptness with a small backlog, capacity beyond the platform's limit) "
           "is SHOULD. Each clause cites its source. A course may still give SHOULD clauses "
           "points.",
           "", "**Re-runs.** A clause that fails on a server that was listening is run again, "
           "each time on a fresh server, and the failure counts only when it holds a majority "
           "of the runs (`--confirm N`: up to N re-runs, 2 by default; 0: one run decides). "
           "The report gives every run's verdict.",
           "", "**Budgets.** Every wait inside a check is bounded, and so is the whole "
           "check: once the server listens, a clause that runs past its budget (times "
           "`--timeout-scale`) has its server stopped. It fails if the server had stopped "
           "answering, and is skipped as too slow to judge if it was still answering.",
           "", "## Models", "",
           "| model | triggering | concurrency | platforms | idle CPU bound | summary |",
           "|---|---|---|---|---|---|"]
    for m in MODELS.values():
        out.append(f"| `{m.name}` | {m.triggering.value} | {m.concurrency.value} | "
                   f"{', '.join(sorted(m.platforms))} | {m.idle_cpu:.0%} | {m.summary} |")
    out += ["", "## Services", "", "| service | what it owes |", "|---|---|"]
    out += [f"| `{name}` | {summary} |" for name, summary in SERVICE_SUMMARY.items()]
    for fam in FAMILIES:
        members = [c for c in chosen if c.family == fam]
        if not members:
            continue
        out += ["", f"## {fam}", ""]
        for c in members:
            gaps = [c.gap([p]) for p in c.gaps]
            out += [f"### {c.id} ({c.level.value})", "", c.requirement, "",
                    f"*Applies to:* {c.applies.describe()}.  ", f"*Hint:* {c.hint}  ",
                    f"*Source:* {c.source}  ", f"*Budget:* {c.budget:g} s  ",
                    *([f"*Not observable:* {'; '.join(g for g in gaps if g)}.  "]
                      if gaps else []),
                    f"*Checked in:* `{c.module_path}`", ""]
    return "\n".join(out).rstrip() + "\n"


def contract_text(clauses: Sequence[Clause] | None = None, width: int = 88) -> str:
    chosen = ordered() if clauses is None else list(clauses)
    out = []
    for c in chosen:
        out.append(f"{c.id:<16} {c.level.value:<6} budget {c.budget:g} s; "
                   f"{c.applies.describe()}")
        out += textwrap.wrap(c.requirement, width, initial_indent=" " * 4,
                             subsequent_indent=" " * 4)
    return "\n".join(out)
