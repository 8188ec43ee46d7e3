"""The soak: N consecutive full runs over every reference and every mutant, with the
machine loaded, must give zero failing verdicts on the references and the same verdict
for every mutant on every run.

    python benchmarks/soak.py --runs 20 --out /tmp/soak          # stress-ng on every core
    python benchmarks/soak.py --runs 3 --no-stress --out /tmp/s  # unloaded, for comparison

Each run is ``ioconform run -n auto`` then ``ioconform mutants -n auto``, each bounded by
--run-timeout.  The load is stress-ng (Debian: apt-get install stress-ng), one CPU
worker per core, started once for the whole soak and stopped at its end (its own
--timeout bounds it even if this script is killed).  The summary names every verdict
that failed on a reference and every (mutant, clause) whose verdict changed between
runs.  Exit status 0 when there is none.
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
from pathlib import Path

BAD = ("fail", "error")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON reports")
    ap.add_argument("--no-stress", action="store_true", help="leave the machine unloaded")
    ap.add_argument("--run-timeout", type=float, default=1800.0,
                    help="seconds allowed for each ioconform invocation")
    ap.add_argument("--no-mutants", action="store_true", help="the references only")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stress = None if args.no_stress else _stress(args.runs * 2 * args.run_timeout)
    started = time.monotonic()
    try:
        for i in range(1, args.runs + 1):
            t0 = time.monotonic()
            _ioconform(["run", "-n", "auto", "-q", "--json", str(args.out / f"ref-{i}.json")],
                       args.run_timeout)
            if not args.no_mutants:
                _ioconform(["mutants", "-n", "auto", "-q", "--json",
                            str(args.out / f"mut-{i}.json")], args.run_timeout)
            print(f"soak: run {i}/{args.runs} done in {time.monotonic() - t0:.0f} s",
                  flush=True)
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait(30)
    return _summary(args.out, args.runs, time.monotonic() - started)


def _stress(bound: float) -> subprocess.Popen[bytes]:
    if not shutil.which("stress-ng"):
        sys.exit("soak: stress-ng is not installed (Debian: apt-get install stress-ng); "
                 "use --no-stress for an unloaded soak")
    return subprocess.Popen(["stress-ng", "--cpu", str(os.cpu_count() or 1), "--timeout",
                             f"{int(bound)}s", "--quiet"], stdin=subprocess.DEVNULL)


def _ioconform(argv: list[str], timeout: float) -> None:
    cmd = [sys.executable, "-m", "conformance.cli", *argv]
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"soak: {' '.join(argv[:1])} timed out after {timeout:g} s", flush=True)


def _verdicts(path: Path) -> dict[tuple[str, str], str]:
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {(i["name"], c["clause"]): c["verdict"]
            for i in doc["implementations"] for c in i["clauses"]}


def _summary(out: Path, runs: int, wall: float) -> int:
    bad_refs: list[str] = []
    seen: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    missing = 0
    for i in range(1, runs + 1):
        refs = _verdicts(out / f"ref-{i}.json")
        missing += not refs
        bad_refs += [f"run {i}: {impl} {clause} {v}" for (impl, clause), v in refs.items()
                     if v in BAD]
        for key, v in _verdicts(out / f"mut-{i}.json").items():
            seen[key][v].append(i)
    changed = {k: dict(v) for k, v in seen.items() if len(v) > 1}
    print(f"soak: {runs} runs in {wall / 60:.1f} min; {len(bad_refs)} failing reference "
          f"verdict(s); {len(changed)} mutant verdict(s) changed between runs; "
          f"{missing} run(s) without a report")
    for line in bad_refs:
        print(f"  reference: {line}")
    for (impl, clause), runs_by in sorted(changed.items()):
        print(f"  mutant: {impl} {clause}: "
              + "; ".join(f"{v} in runs {r}" for v, r in sorted(runs_by.items())))
    return 1 if bad_refs or changed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
