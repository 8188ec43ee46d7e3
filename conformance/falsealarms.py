"""The false-alarm matrix: whether the contract fails servers that are correct.

The kill matrix proves that clauses *can* fail; this proves that they fail only for a
reason.  ``implementations/corpus/`` holds correct servers written unlike the
references, in the shapes people actually write (the textbook's banners and 255-byte
buffers, the man page's epoll example, ``socketserver``, one-byte reads, a backlog of
1 ...), each with a manifest exactly like a student's.  After a run of the whole
contract over them:

- a MUST clause that fails one of them is a *false alarm*: the worst error this tool
  can make, since the server does nothing its model's documentation forbids;
- a SHOULD clause not met is shown apart: advice, not a verdict on correctness;
- a skip or a harness error is neither, and is listed so that nobody mistakes it for a
  pass.

Everything here is a pure function of the implementations and their results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conformance.clause import FAMILIES, Level, Verdict
from conformance.implementation import Implementation
from conformance.runner import Result

_SHOULD_UNMET = frozenset({Verdict.FAIL, Verdict.NON_STRICT})
_CELL_LEGEND = ("! false alarm (a MUST clause of the family failed) · s a SHOULD clause not "
                "met · . passed · - not applicable · ? skipped or error")


@dataclass
class Correct:
    """One corpus server and its verdicts, by clause ID."""

    impl: Implementation
    results: dict[str, Result]

    def _where(self, level: Level, verdicts: Iterable[Verdict]) -> list[Result]:
        return [r for r in self.results.values()
                if r.level == level.value and r.verdict in verdicts]

    @property
    def false_alarms(self) -> list[Result]:
        # A declared xfail excuses nothing here: a correct server has none to declare.
        return self._where(Level.MUST, (Verdict.FAIL, Verdict.XFAIL))

    @property
    def should_unmet(self) -> list[Result]:
        return self._where(Level.SHOULD, _SHOULD_UNMET)

    @property
    def unjudged(self) -> list[Result]:
        """Skipped or broken checks: not a pass, whatever else they are."""
        return [r for r in self.results.values()
                if r.verdict in (Verdict.SKIP, Verdict.ERROR)]

    def cell(self, family: str) -> str:
        mine = [r for r in self.results.values() if r.family == family]
        if any(r in self.false_alarms for r in mine):
            return "!"
        if any(r in self.should_unmet for r in mine):
            return "s"
        if any(r.verdict in (Verdict.SKIP, Verdict.ERROR) for r in mine):
            return "?"
        return "." if any(r.verdict in (Verdict.PASS, Verdict.XPASS) for r in mine) else "-"


@dataclass
class FalseAlarmMatrix:
    servers: list[Correct]

    @property
    def false_alarms(self) -> int:
        return sum(len(s.false_alarms) for s in self.servers)

    @property
    def ok(self) -> bool:
        return self.false_alarms == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "false_alarms": self.false_alarms, "total": len(self.servers),
            "servers": [{"name": s.impl.name, "model": s.impl.model,
                         "service": s.impl.service,
                         "false_alarms": [r.clause for r in s.false_alarms],
                         "should_unmet": [r.clause for r in s.should_unmet],
                         "unjudged": [r.clause for r in s.unjudged],
                         "families": {f: s.cell(f) for f in FAMILIES}}
                        for s in self.servers],
        }


def build(impls: Sequence[Implementation], results: Iterable[Result]) -> FalseAlarmMatrix:
    by_impl: dict[str, dict[str, Result]] = {}
    for r in results:
        by_impl.setdefault(r.impl, {})[r.clause] = r
    return FalseAlarmMatrix([Correct(i, by_impl.get(i.name, {})) for i in impls])


def console(fm: FalseAlarmMatrix) -> str:
    width = max([len(s.impl.name) for s in fm.servers] + [6])
    lines = [f"{'server':<{width}}  " + " ".join(f"{f[:5]:<5}" for f in FAMILIES)
             + "  verdict"]
    for s in fm.servers:
        cells = " ".join(f"{s.cell(f):<5}" for f in FAMILIES)
        verdict = f"FALSE ALARM ({len(s.false_alarms)})" if s.false_alarms else "clean"
        lines.append(f"{s.impl.name:<{width}}  {cells}  {verdict}")
    lines += ["", _CELL_LEGEND, ""]
    clean = sum(not s.false_alarms for s in fm.servers)
    lines.append(f"false alarms: {fm.false_alarms} MUST failure(s) over {len(fm.servers)} "
                 f"correct servers ({clean} clean)")
    for s in fm.servers:
        for r in s.false_alarms:
            lines.append(f"  false alarm {s.impl.name}: {r.clause} {r.verdict.value}: "
                         f"{_first(r.detail)}")
    for s in fm.servers:
        if s.should_unmet:
            lines.append(f"  SHOULD not met by {s.impl.name}: "
                         + ", ".join(r.clause for r in s.should_unmet))
    return "\n".join(lines + _unjudged(fm))


def _unjudged(fm: FalseAlarmMatrix) -> list[str]:
    """Skips by clause (most are structural: ROBUST-4 needs a C build), errors one by one:
    neither is a pass, and nobody should read them as one."""
    skipped: dict[str, list[str]] = {}
    lines = []
    for s in fm.servers:
        for r in s.unjudged:
            if r.verdict is Verdict.ERROR:
                lines.append(f"  harness error on {s.impl.name}: {r.clause}: {_first(r.detail)}")
            else:
                skipped.setdefault(r.clause, []).append(s.impl.name)
    for clause, names in skipped.items():
        who = ", ".join(names) if len(names) <= 3 else f"{len(names)} servers"
        lines.append(f"  skipped, so not judged: {clause} on {who}")
    return lines


def _first(detail: str) -> str:
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "")
