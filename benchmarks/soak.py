"""The soak: N consecutive full runs over every reference and every mutant, with the
machine loaded, must give zero failing verdicts on the references and the same verdict
for every mutant on every run.

    python benchmarks/soak.py --runs 20 --out /tmp/soak          # stress-ng on every core
    python benchmarks/soak.py --runs 20 --mutant-runs 4 --out /tmp/soak   # mutants 4 times
    python benchmarks/soak.py --runs 3 --no-stress --out /tmp/s  # unloaded, for comparison
    python benchmarks/soak.py --runs 20 --no-references --resume --out /tmp/m  # mutants only,
                                                     # continuing the runs already in /tmp/m
    python benchmarks/soak.py --runs 20 --load 6 --out /tmp/s   # 6 CPU hogs: a harder load

Each run is ``ioconform run -n auto``, then (in --mutant-runs of them, spread evenly)
``ioconform mutants -n auto``, each bounded by --run-timeout.  The load is stress-ng
(Debian: apt-get install stress-ng), one CPU worker per core unless --load says how many,
started once for the whole soak and stopped at its end (its own --timeout, sized from the
runs left, bounds it even if this script is killed).
With --resume a report already in --out is kept and its invocation skipped, so a soak
longer than one sitting (20 mutant runs under load take about 3.5 hours here) is finished
by running the same command again on the same code.

The summary names every verdict that failed on a reference; every mutant whose verdict
(killed, survived, false alarm) was not "killed" in some run; and every (mutant, clause)
whose verdict changed between runs, split into clauses the mutant must fail, clauses it
may fail (declared collateral: a defect such as a missed accept() hits other clauses by
chance) and the rest.  Exit status 0 when no reference failed, every mutant was killed
with no false alarm in every run, and no must-fail or undeclared verdict changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

BAD = ("fail", "error")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON reports")
    ap.add_argument("--no-stress", action="store_true", help="leave the machine unloaded")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="stress-ng CPU workers (default: one per core; CI runs its tox "
                         "envs side by side, which loads a machine harder)")
    ap.add_argument("--run-timeout", type=float, default=1800.0,
                    help="seconds allowed for each ioconform invocation")
    ap.add_argument("--no-mutants", action="store_true", help="the references only")
    ap.add_argument("--no-references", action="store_true", help="the mutants only")
    ap.add_argument("--resume", action="store_true",
                    help="keep the reports already in --out and run only the missing ones")
    ap.add_argument("--mutant-runs", type=int, default=None, metavar="M",
                    help="run the mutants in M of the runs, spread evenly (default: all)")
    ap.add_argument("--summary", action="store_true",
                    help="only summarise the reports already in --out (an interrupted soak)")
    args = ap.parse_args()
    m = 0 if args.no_mutants else min(args.runs, args.mutant_runs or args.runs)
    with_mutants = {round(1 + k * args.runs / m) for k in range(m)} if m else set()
    if args.no_mutants and args.no_references:
        ap.error("--no-mutants and --no-references leave nothing to run")
    with_refs = not args.no_references
    if args.summary:
        return _summary(args.out, args.runs, 0.0, with_mutants, with_refs)
    args.out.mkdir(parents=True, exist_ok=True)
    plan = [(i, cmd, path) for i in range(1, args.runs + 1)
            for cmd, path, wanted in (("run", args.out / f"ref-{i}.json", with_refs),
                                      ("mutants", args.out / f"mut-{i}.json",
                                       i in with_mutants))
            if wanted and not (args.resume and path.exists())]
    # stress-ng's own --timeout is the bound if this script is killed hard: size it from
    # the invocations actually left, not from --runs, so a resumed soak cannot leave a
    # load running for hours.
    stress = (None if args.no_stress or not plan
              else _stress(len(plan) * args.run_timeout, args.load))
    started = time.monotonic()
    try:
        for i, step in groupby(plan, key=itemgetter(0)):
            t0 = time.monotonic()
            for _, cmd, path in step:
                _ioconform([cmd, "-n", "auto", "-q", "--json", str(path)], args.run_timeout)
            print(f"soak: run {i}/{args.runs} done in {time.monotonic() - t0:.0f} s",
                  flush=True)
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait(30)
    return _summary(args.out, args.runs, time.monotonic() - started, with_mutants, with_refs)


def _stress(bound: float, workers: int) -> subprocess.Popen[bytes]:
    if not shutil.which("stress-ng"):
        sys.exit("soak: stress-ng is not installed (Debian: apt-get install stress-ng); "
                 "use --no-stress for an unloaded soak")
    return subprocess.Popen(["stress-ng", "--cpu", str(workers), "--timeout",
                             f"{int(bound)}s", "--quiet"], stdin=subprocess.DEVNULL)


def _ioconform(argv: list[str], timeout: float) -> None:
    cmd = [sys.executable, "-m", "conformance.cli", *argv]
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"soak: {' '.join(argv[:1])} timed out after {timeout:g} s", flush=True)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(i["name"], c["clause"]): c["verdict"]
            for i in doc.get("implementations", ()) for c in i["clauses"]}


def _kill_verdict(m: dict[str, Any]) -> str:
    return ("killed" if m["killed"] else "SURVIVED") + (" + false alarm"
                                                        if m["false_alarms"] else "")


def _summary(out: Path, runs: int, wall: float, with_mutants: set[int],
             with_refs: bool = True) -> int:
    bad_refs: list[str] = []
    seen: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    kills: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    declared: dict[str, tuple[set[str], set[str]]] = {}
    missing = []
    shape: dict[str, list[dict[str, Any]]] = {"reference": [], "mutant": []}
    for i in range(1, runs + 1):
        ref_doc = _load(out / f"ref-{i}.json") if with_refs else {}
        shape["reference"] += [ref_doc] if ref_doc else []
        refs = _verdicts(ref_doc)
        if with_refs and not refs:
            missing.append(f"ref-{i}")
        bad_refs += [f"run {i}: {impl} {clause} {v}" for (impl, clause), v in refs.items()
                     if v in BAD]
        if i not in with_mutants:
            continue
        doc = _load(out / f"mut-{i}.json")
        shape["mutant"] += [doc] if doc else []
        if not doc:
            missing.append(f"mut-{i}")
        for key, v in _verdicts(doc).items():
            seen[key][v].append(i)
        for m in doc.get("kill_matrix", {}).get("mutants", ()):
            kills[m["name"]][_kill_verdict(m)].append(i)
            declared[m["name"]] = (set(m["must_fail"]), set(m["may_fail"]))
    changed = {k: dict(v) for k, v in seen.items() if len(v) > 1}
    unkilled = {k: dict(v) for k, v in kills.items() if set(v) != {"killed"}}
    kinds: dict[str, list[str]] = {"must_fail": [], "may_fail": [], "other": []}
    for (impl, clause), by in sorted(changed.items()):
        must, may = declared.get(impl, (set(), set()))
        kind = ("must_fail" if clause in must else "may_fail"
                if clause in may or "START-1" in must else "other")
        kinds[kind].append(f"{impl} {clause}: "
                           + "; ".join(f"{v} in runs {r}" for v, r in sorted(by.items())))
    runs_done = (f"{runs} reference runs ({len(with_mutants)} with the mutants)" if with_refs
                 else f"{len(with_mutants)} mutant runs")
    took = f" in {wall / 60:.1f} min" if wall else ""
    print(f"soak: {runs_done}{took}; "
          f"{len(bad_refs)} failing reference verdict(s); "
          f"{len(unkilled)} mutant(s) not killed cleanly in every run; mutant clause "
          f"verdicts that changed: {len(kinds['must_fail'])} must_fail, "
          f"{len(kinds['other'])} undeclared, {len(kinds['may_fail'])} may_fail (declared "
          f"collateral); {len(missing)} report(s) missing")
    for kind, docs in shape.items():
        if docs:
            print(f"  {kind} runs: {_ranges(docs)}")
    for line in bad_refs:
        print(f"  reference: {line}")
    for name, by in sorted(unkilled.items()):
        print(f"  mutant {name}: " + "; ".join(f"{v} in runs {r}" for v, r in by.items()))
    for kind, lines in kinds.items():
        for line in lines:
            print(f"  changed ({kind}): {line}")
    for name in missing:
        print(f"  missing report: {name}")
    return 1 if bad_refs or unkilled or kinds["must_fail"] or kinds["other"] or missing else 0


def _ranges(docs: list[dict[str, Any]]) -> str:
    """What every run of one kind looked like, as ranges: a soak's figures at a glance."""
    def span(values: list[float], unit: str = "") -> str:
        lo, hi = min(values), max(values)
        return f"{lo:.0f}{unit}" if lo == hi else f"{lo:.0f}–{hi:.0f}{unit}"

    parts = [f"{len(docs)} report(s)"]
    kills = [k for d in docs if "total" in (k := d.get("kill_matrix", {}))]
    if kills:
        parts.append("killed " + ", ".join(sorted({f"{k['killed']}/{k['total']}"
                                                   for k in kills})))
    for verdict in ("pass", "fail", "error"):
        counts = [d.get("summary", {}).get(verdict, 0) for d in docs]
        if any(counts):
            parts.append(f"{span(counts)} {verdict} verdicts")
    took = [d["ioconform"]["duration_s"] for d in docs if "duration_s" in d.get("ioconform", {})]
    if took:
        parts.append(span(took, " s") + " each")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
