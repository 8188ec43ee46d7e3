"""``ioconform gradescope``: the autograder it writes grades a submission end to end, in a
simulated ``/autograder`` tree (AUTOGRADER_ROOT), with the suite it vendored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "course"
COURSE = """
[course]
name = "A3 on Gradescope"
clauses = ["START-1", "ECHO-1", "ECHO-2"]
hidden = ["ECHO-2"]

[submission]
model = "epoll-et"
service = "echo"

[points]
default = 1
"""


def _autograder(tmp_path: Path) -> Path:
    course = tmp_path / "course.toml"
    course.write_text(COURSE, encoding="utf-8")
    out = tmp_path / "autograder" / "source"
    assert main(["gradescope", str(out), "--course", str(course)]) == 0
    return out


def test_the_autograder_has_what_gradescope_runs(tmp_path: Path) -> None:
    out = _autograder(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        text = (out / script).read_text(encoding="utf-8")
        assert text.startswith("#!/usr/bin/env bash") and (out / script).stat().st_mode & 0o111
    run = (out / "run_autograder").read_text(encoding="utf-8")
    assert "--sandbox auto -n 1" in run and "--timeout-scale 2" in run
    assert (out / "vendor" / "conformance" / "cli.py").is_file()
    assert (out / "vendor" / "implementations" / "_common.py").is_file()
    assert (out / "course.toml").read_text(encoding="utf-8") == COURSE
    assert "Docker" in (out / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("problem", ["not empty", "bad course"])
def test_a_bad_target_or_course_is_a_usage_error(tmp_path: Path, problem: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    course = tmp_path / "course.toml"
    course.write_text('[course]\nclauses = ["NOPE-1"]\n', encoding="utf-8")
    if problem == "not empty":
        (out / "x").write_text("", encoding="utf-8")
        args = ["gradescope", str(out)]
    else:
        args = ["gradescope", str(out), "--course", str(course)]
    assert main(args) == 2
    assert "ioconform: error:" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="Gradescope's containers are Linux")
@pytest.mark.parametrize("where", ["", "my-server"])  # uploaded as files, or as a folder
def test_run_autograder_grades_a_submission(tmp_path: Path, where: str) -> None:
    out = _autograder(tmp_path)
    root = out.parent
    shutil.copytree(FIXTURES / "correct-py", root / "submission" / where)
    proc = subprocess.run(
        ["bash", str(out / "run_autograder")], capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root),
             "IOCONFORM_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    tests = {t["extra_data"]["clause"]: t for t in results["tests"]}
    assert set(tests) == {"START-1", "ECHO-1", "ECHO-2"}, results
    assert results["score"] == 3.0, results
    assert tests["ECHO-2"]["visibility"] == "hidden"
    assert (root / "results" / "ioconform.json").is_file()


@pytest.mark.skipif(sys.platform != "linux", reason="Gradescope's containers are Linux")
def test_run_autograder_writes_results_even_when_grading_cannot_run(tmp_path: Path) -> None:
    out = _autograder(tmp_path)
    root = out.parent
    (root / "submission").mkdir()
    proc = subprocess.run(
        ["bash", str(out / "run_autograder")], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root),
             "IOCONFORM_PYTHON": "/nonexistent/python"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0 and "could not grade" in results["output"]
