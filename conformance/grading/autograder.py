"""``ioconform gradescope OUT``: a ready Gradescope autograder for a course.

Gradescope runs an autograder as a Docker container built from its Ubuntu base image:
``setup.sh`` runs once, as root, when the image is built; ``run_autograder`` runs for
each submission, which it finds in ``/autograder/submission``, and must write
``/autograder/results/results.json`` (gradescope-autograders.readthedocs.io, "Specs").
What that container means for ioconform, and what the files written here do about it:

- *No network once built*: ``setup.sh`` installs what the suite needs (Python, strace,
  a C compiler, pytest, pytest-xdist, psutil); the suite itself is copied in (``vendor/``),
  so nothing is fetched at grading time.
- *Docker's default seccomp profile* forbids io_uring: a course on io_uring gets those
  clauses skipped with the reason, never failed.  *User namespaces* are usually missing,
  and with them bubblewrap: the sandbox is ``auto`` (where bubblewrap cannot run,
  resource limits only, and every report says so); ``--sandbox require`` is for a
  container that allows it.
- *Half a vCPU and 768 MB by default*: one server at a time (``-n 1``), deadlines doubled
  (``--timeout-scale 2``), and ``run_autograder`` ends within Gradescope's limit, which
  the instructor sets (10 minutes by default).

Paths can be moved for a test with ``AUTOGRADER_ROOT`` (default ``/autograder``), and
the Python with ``IOCONFORM_PYTHON``.
"""

from __future__ import annotations

import argparse
import shutil
import stat
from pathlib import Path
from typing import Any

import conformance
import implementations
from conformance import settings
from conformance.exits import EXIT_OK, UsageError
from conformance.grading.course import load as load_course

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv strace gcc make bubblewrap >/dev/null
python3 -m venv /opt/ioconform
/opt/ioconform/bin/pip install -q "pytest>=8" "pytest-xdist>=3.5" "psutil>=5.9" \\
    "hypothesis>=6.100" 'tomli>=2; python_version < "3.11"'
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade it, write results/results.json.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{IOCONFORM_PYTHON:-/opt/ioconform/bin/python}}"
here="$root/source"
mkdir -p "$root/results"
# The upload is one submission, whatever it holds: its manifest at the top, or in the one
# folder a zip of a folder unpacks to.  A class folder holding only it makes `grade`
# take it as one submission even when the course imposes the command (no manifest).
sub="$root/submission"
if [ ! -f "$sub/ioconform.toml" ]; then
    found=$(find "$sub" -mindepth 2 -maxdepth 2 -name ioconform.toml)
    if [ -n "$found" ] && [ "$(printf '%s\\n' "$found" | wc -l)" -eq 1 ]; then
        sub=$(dirname "$found")
    fi
fi
class=$(mktemp -d)
ln -s "$sub" "$class/submission"
cd "$here"
PYTHONPATH="$here/vendor" "$python" -m conformance.cli grade "$class" \\
    --course "$here/course.toml" --sandbox {sandbox} -n {workers} \\
    --timeout-scale {scale} --gradescope "$root/results/results.json" \\
    --json "$root/results/ioconform.json" -q
status=$?
# A grading run that could not write its results still owes Gradescope a file.
if [ ! -s "$root/results/results.json" ]; then
    printf '{{"score": 0, "output": "ioconform could not grade this submission (exit %s); '\\
'please tell your instructor.", "tests": []}}\\n' "$status" > "$root/results/results.json"
fi
exit 0
"""

README = """# Gradescope autograder made by `ioconform gradescope`

Zip this folder's contents (not the folder) and upload the zip as a Gradescope
"Autograder" (Ubuntu base image). `setup.sh` installs Python, strace, a C compiler and the
suite's dependencies; the suite itself is in `vendor/`, so grading needs no network.

- `course.toml`: the course (points, hidden clauses, the model and service imposed).
  Edit it and zip again; `ioconform grade --course course.toml DIR` checks it locally.
- `run_autograder`: grades `/autograder/submission` and writes
  `/autograder/results/results.json`; the full JSON report goes beside it
  (`ioconform.json`).
- Workers {workers}, deadlines times {scale}, sandbox `{sandbox}`: chosen for Gradescope's
  default half vCPU and 768 MB. Docker's seccomp profile forbids io_uring (those clauses
  are skipped with the reason), and bubblewrap usually cannot run there (the sandbox
  then degrades to resource limits, and the results say so).
- Give the autograder at least 10 minutes: a correct server takes about a minute, a
  broken one up to a few.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gradescope", help="write a ready Gradescope autograder for a course",
        description="Write setup.sh, run_autograder, the course file, the suite and a README "
        "into OUT: zip OUT's contents and upload them to Gradescope as the autograder.")
    p.add_argument("out", metavar="OUT", help="the folder to write (created; must be empty)")
    p.add_argument("--course", metavar="FILE",
                   help="course.toml (default: the whole contract, 1 point each; then the "
                        "submission's own manifest names its model)")
    p.add_argument("-n", "--workers", type=int, default=1, metavar="N",
                   help="servers checked at once (default: 1, for half a vCPU)")
    settings.add_arguments(p, ("timeout_scale", "sandbox"),
                           defaults={"timeout_scale": 2.0, "sandbox": "auto"},
                           notes={"timeout_scale": "2 for Gradescope's half a vCPU",
                                  "sandbox": "auto, since bubblewrap rarely runs in Docker"})
    p.set_defaults(handler=write)


def write(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out}: exists and is not an empty folder")
    settings.from_arguments(args, ("timeout_scale", "sandbox"))
    if not 1 <= args.workers <= 64:
        raise UsageError("--workers must be 1 to 64")
    if args.course:
        load_course(args.course)  # a bad course is refused here, not on Gradescope
    out.mkdir(parents=True, exist_ok=True)
    fields = {"workers": args.workers, "scale": f"{args.timeout_scale:g}",
              "sandbox": args.sandbox}
    _script(out / "setup.sh", SETUP)
    _script(out / "run_autograder", RUN.format(**fields))
    (out / "README.md").write_text(README.format(**fields), encoding="utf-8")
    course = Path(args.course).read_text(encoding="utf-8") if args.course else (
        '[course]\nname = "ioconform"\n')
    (out / "course.toml").write_text(course, encoding="utf-8")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.o", "*.exe")
    for package in (conformance, implementations):
        src = Path(package.__file__ or "").parent
        shutil.copytree(src, out / "vendor" / src.name, ignore=ignore)
    print(f"ioconform: wrote the autograder to {out}: zip its contents "
          f"(cd {out} && zip -r ../autograder.zip .) and upload them to Gradescope")
    return EXIT_OK


def _script(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
