"""How long a verdict takes: the figures of the README's "Speed" table.

    python benchmarks/speed.py                      # every row, the table to stdout
    python benchmarks/speed.py --mutants 6          # only 6 mutants (the slowest rows)
    python benchmarks/speed.py --readme             # and write the table into README.md

Rows, each the wall time of one ``ioconform`` command run as a user would (a fresh
process, ``-q``), with its exit status:

- ``check`` of a correct reference, whole contract (py-epoll-et, c-epoll-et);
- ``check --quick`` of the same;
- ``check`` of each shipped mutant, whole contract (``--mutants N``: the first N);
- ``check`` of servers that hang, stop reading or spin (tests/servers/);
- ``run`` over every reference that runs here.

Wall time is the measure: it is what a student waits for.  Run on an otherwise idle
machine, and say which, beside the table.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
CLI = [sys.executable, "-m", "conformance.cli"]
LIMIT = 1800.0  # one command: a row that takes this long is a finding, not a hang
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
# (row, model, service, script): servers broken the ways students' servers hang.
HUNG = [("hangs after its first client (print)", "blocking", "print", "hangs_after_first.py"),
        ("stops reading its clients (echo)", "threaded", "echo", "stops_reading.py"),
        ("spins on one client (echo)", "nonblocking", "echo", "spins.py")]


def _timed(argv: list[str]) -> tuple[float, int]:
    t0 = time.monotonic()
    try:
        code = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=LIMIT, check=False).returncode
    except subprocess.TimeoutExpired:
        code = -1
    return time.monotonic() - t0, code


def _manifest(name: str, mutants: bool = False) -> str:
    from conformance.manifest import bundled

    return str(next(i for i in bundled(mutants=mutants) if i.name == name).source)


def rows(n_mutants: int | None) -> list[tuple[str, str, float, int]]:
    """(what, command, seconds, exit status) of every row."""
    from conformance.manifest import bundled

    out = []

    def row(what: str, args: list[str]) -> None:
        secs, code = _timed(CLI + args)
        shown = "ioconform " + " ".join(a if "/" not in a else Path(a).name for a in args)
        out.append((what, shown, secs, code))
        print(f"{secs:7.1f} s  exit {code:>3}  {what}", file=sys.stderr, flush=True)

    for ref in ("py-epoll-et", "c-epoll-et"):
        row(f"check {ref} (correct), whole contract", ["check", _manifest(ref), "-q"])
        row(f"check --quick {ref}", ["check", _manifest(ref), "--quick", "-q"])
    mutants = [m.name for m in bundled(mutants=True) if "linux" in m.platforms]
    for name in mutants[:n_mutants]:
        row(f"check {name}, whole contract", ["check", _manifest(name, True), "-q"])
    for what, model, service, script in HUNG:
        row(f"check a server that {what}",
            ["check", "-q", "--model", model, "--service", service, "--name", script, "--",
             sys.executable, str(SERVERS / script), "{port}"])
    row("run, every reference that runs here", ["run", "-q"])
    return out


def table(found: list[tuple[str, str, float, int]]) -> str:
    lines = ["| what | seconds | exit |", "|---|---:|---:|"]
    lines += [f"| {what} | {secs:.1f} | {code} |" for what, _, secs, code in found]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=None, metavar="N",
                    help="time only the first N mutants (default: all)")
    ap.add_argument("--readme", action="store_true",
                    help=f"write the table into README.md between {BEGIN} and {END}")
    args = ap.parse_args()
    found = rows(args.mutants)
    text = table(found)
    print(text)
    if args.readme:
        readme = ROOT / "README.md"
        old = readme.read_text(encoding="utf-8")
        if BEGIN not in old or END not in old:
            print(f"README.md has no {BEGIN} ... {END} block", file=sys.stderr)
            return 2
        new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                     lambda _: f"{BEGIN}\n{text}{END}", old, flags=re.S)
        readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
