"""The kill matrix: how well the contract catches the mutants, and whether it cries wolf.

A mutant is a reference server with one realistic defect, whose manifest names the
clauses that must reject it (``must_fail``) and the others its defect may also fail
(``may_fail``).  After a run of the whole contract over the mutants:

- a mutant is *killed* when every clause of its ``must_fail`` failed;
- it *survived* when one of them did not: the suite missed the defect;
- a failure outside ``must_fail`` and ``may_fail`` is a *false alarm*: a clause that
  rejects a server for something it does not do wrong (except for a mutant that must
  fail START-1: one that never serves its first client fails every clause);
- a MUST clause that applies to some mutant but fails none is *never exercised*: a
  clause no mutant can fail may be a clause that cannot fail.

Everything here is a pure function of the implementations and their results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from conformance.clause import FAMILIES, REGISTRY, Level, Verdict
from conformance.implementation import Implementation
from conformance.runner import Result

# A failure, strictly: a SHOULD clause not met counts against a mutant too.
_FAILED = frozenset({Verdict.FAIL, Verdict.NON_STRICT})
_CELL_LEGEND = ("K killed (a must_fail clause of the family failed) · S survived (one did "
                "not) · ! false alarm · x expected collateral (may_fail) · . passed · "
                "- not applicable · ? skipped or error")


@dataclass
class Mutant:
    impl: Implementation
    results: dict[str, Result]
    survived: list[Result] = field(default_factory=list)  # must_fail clauses not failed
    false_alarms: list[Result] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return not self.survived

    def cell(self, family: str) -> str:
        mine = [r for r in self.results.values() if r.family == family]
        if any(r.clause in self.impl.must_fail and r.verdict not in _FAILED for r in mine):
            return "S"
        if any(r.clause in self.impl.must_fail for r in mine):
            return "K"
        if any(r in self.false_alarms for r in mine):
            return "!"
        if any(r.verdict in _FAILED for r in mine):
            return "x"
        if any(r.verdict in (Verdict.SKIP, Verdict.ERROR) for r in mine):
            return "?"
        return "." if any(r.verdict is Verdict.PASS for r in mine) else "-"


@dataclass
class KillMatrix:
    mutants: list[Mutant]
    never_failed: list[str]  # MUST clauses run on some mutant that no mutant failed

    @property
    def killed(self) -> int:
        return sum(m.killed for m in self.mutants)

    @property
    def ok(self) -> bool:
        return self.killed == len(self.mutants) and not any(m.false_alarms
                                                              for m in self.mutants)

    def to_dict(self) -> dict[str, object]:
        return {
            "killed": self.killed, "total": len(self.mutants),
            "never_failed": self.never_failed,
            "mutants": [{"name": m.impl.name, "killed": m.killed,
                         "must_fail": list(m.impl.must_fail),
                         "may_fail": list(m.impl.may_fail),
                         "survived": [r.clause for r in m.survived],
                         "false_alarms": [r.clause for r in m.false_alarms],
                         "families": {f: m.cell(f) for f in FAMILIES}}
                        for m in self.mutants],
        }


def build(impls: Sequence[Implementation], results: Iterable[Result]) -> KillMatrix:
    by_impl: dict[str, dict[str, Result]] = {}
    for r in results:
        by_impl.setdefault(r.impl, {})[r.clause] = r
    mutants = []
    for impl in impls:
        mine = by_impl.get(impl.name, {})
        mutants.append(Mutant(
            impl, mine,
            # A must_fail clause left out of the run (--clause) is not judged.
            survived=[mine[c] for c in impl.must_fail
                      if c in mine and mine[c].verdict not in _FAILED],
            false_alarms=[r for r in mine.values()
                          if r.verdict in _FAILED and not impl.foresees(r.clause)]))
    exercised = {r.clause for m in mutants for r in m.results.values()
                 if r.verdict not in (Verdict.NA, Verdict.SKIP)}
    failed = {r.clause for m in mutants for r in m.results.values() if r.verdict in _FAILED}
    never = sorted((c for c in exercised - failed if REGISTRY[c].level is Level.MUST),
                   key=lambda c: (FAMILIES.index(REGISTRY[c].family), REGISTRY[c].number))
    return KillMatrix(mutants, never)


def console(km: KillMatrix) -> str:
    width = max([len(m.impl.name) for m in km.mutants] + [6])
    short = [f[:5] for f in FAMILIES]
    lines = [f"{'mutant':<{width}}  " + " ".join(f"{s:<5}" for s in short) + "  verdict"]
    for m in km.mutants:
        cells = " ".join(f"{m.cell(f):<5}" for f in FAMILIES)
        verdict = "killed" if m.killed else "SURVIVED"
        if m.false_alarms:
            verdict += " + false alarm"
        lines.append(f"{m.impl.name:<{width}}  {cells}  {verdict}")
    lines += ["", _CELL_LEGEND, ""]
    total = len(km.mutants)
    rate = f"{km.killed / total:.0%}" if total else "n/a"
    lines.append(f"kill rate: {km.killed}/{total} mutants killed ({rate})")
    for m in km.mutants:
        for r in m.survived:
            lines.append(f"  survivor {m.impl.name}: {r.clause} gave {r.verdict.value}"
                         + (f" ({_first(r.detail)})" if r.detail else ""))
        for r in m.false_alarms:
            lines.append(f"  false alarm {m.impl.name}: {r.clause} failed outside must_fail "
                         f"and may_fail: {_first(r.detail)}")
    if km.never_failed:
        lines.append("MUST clauses that no mutant failed: " + ", ".join(km.never_failed))
    return "\n".join(lines)


def _first(detail: str) -> str:
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "")
