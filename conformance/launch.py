"""Run the contract test in this process, as ``run``, ``check`` and ``grade`` all do.

One pytest session, isolated from any pytest configuration (ini files, conftest.py) of
the folder the command is started from, with its verdicts written to a JSON file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conformance.exits import EXIT_INTERRUPTED, UsageError
from conformance.runner import Result


class WorkersError(UsageError, ValueError):
    pass


# The options that name a file (or, for --gradescope and --prairielearn, a file or a
# folder) to write.
OUTPUTS = ("json", "junit", "html", "markdown", "gradescope", "prairielearn")
_FILE_OR_FOLDER = ("gradescope", "prairielearn")


def check_outputs(args: object) -> None:
    """Refuse, before any server runs, an output that could not be written at the end:
    a folder that does not exist or cannot be written, or a file path that is a folder
    (``--gradescope`` and ``--prairielearn`` may be one)."""
    for name in OUTPUTS:
        value = getattr(args, name, None)
        if not isinstance(value, str) or not value:
            continue
        path = Path(value)
        if path.is_dir() and name not in _FILE_OR_FOLDER:
            raise UsageError(f"--{name} {value}: is a folder; give a file name")
        parent = path.parent if not path.is_dir() else path
        if not parent.is_dir():
            raise UsageError(f"--{name} {value}: the folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"--{name} {value}: the folder {parent} cannot be written")


def workers(spec: str, cases: int) -> int:
    if spec == "auto":
        # One more than the CPUs: most of a clause's time is spent waiting (stall
        # windows, the idle sample, a server's startup), measured 71 s -> 54 s on 2 cores.
        return max(1, min((os.cpu_count() or 1) + 1, cases))
    try:
        n = int(spec)
    except ValueError:
        raise WorkersError(f"--workers: expected a number or 'auto', got {spec!r}") from None
    if n < 0:
        raise WorkersError("--workers must be 0 or more")
    return n


def interrupted() -> int:
    """After Ctrl-C: kill what the run left behind, say so, and return 130."""
    from conformance.harness.process import sweep

    n = sweep()
    print(f"\nioconform: interrupted; {n} stray server process(es) killed", file=sys.stderr)
    return EXIT_INTERRUPTED


def contract(folder: Path, options: list[str], n_workers: int, partial: Path | None = None
             ) -> tuple[int, list[Result] | None]:
    """(pytest's exit status or 130, the verdicts or None when the session produced none).

    Every verdict is also appended to ``partial`` (default: in ``folder``) the moment it
    is reached; after Ctrl-C the verdicts are those reached so far."""
    import pytest

    out = folder / "results.json"
    partial = partial or folder / "partial.jsonl"
    partial.unlink(missing_ok=True)
    ini = folder / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    test = Path(__file__).with_name("test_contract.py")
    argv = [str(test), "-c", str(ini), "--rootdir", str(folder),
            "--confcutdir", str(test.parent), "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "--ioconform-progress", "--ioconform-json", str(out),
            "--ioconform-partial", str(partial), *options]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        argv += ["-p", "ioconform", "-p", "xdist"]
    if n_workers > 1:
        argv += ["-n", str(n_workers), "--dist", "worksteal"]
    try:
        code = int(pytest.main(argv))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED, reached(partial)
    if code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED, reached(partial)
    if not out.exists():
        return code, reached(partial)
    return code, [Result.from_dict(d) for d in json.loads(out.read_text(encoding="utf-8"))]


def reached(partial: Path) -> list[Result] | None:
    """The verdicts a run appended to ``partial`` before it stopped (None: not one).  A
    line cut short by the stop is left out."""
    try:
        lines = partial.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    out = []
    for line in lines:
        try:
            out.append(Result.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out or None
