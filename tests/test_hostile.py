"""The hostile fixture class (tests/fixtures/hostile/) graded beside correct submissions:
the run completes, every output is written, a correct submission scores what it scores
alone, and nothing from outside a submission reaches its feedback.

The folders git holds have only the manifests: the test copies each one's server from
tests/servers/, and adds the cases git cannot, two copies of the correct Python
submission of tests/fixtures/course/, one of them ("special-files") with a named pipe,
a Unix socket, a symlink out and 600 more files.  ``grade`` runs in a
subprocess whose command line holds ``--victim``: without a pid namespace the
ancestor killer would end it (and stops there), not the test session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import sandbox

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SERVERS = Path(__file__).parent / "servers"
# Each hostile submission's server.py, from the hostile servers of the harness's own
# tests.  The two whose manifest is refused never run: any server will do.
_SERVERS = {"kills-ancestors": "kills_ancestors.py", "kills-servers": "kills_servers.py",
            "reads-classmate": "reads_outside.py", "escapes": "prints_escapes.py",
            "bad-utf8": "kills_servers.py", "nan-timeout": "kills_servers.py"}
_GRADE = "import sys; from conformance.cli import main; sys.exit(main(sys.argv[2:]))"

pytestmark = [pytest.mark.skipif(sandbox.unavailable() is not None,
                                 reason=f"no sandbox here: {sandbox.unavailable()}"),
              pytest.mark.xdist_group("whole-runs")]


def _grade(course: Path, folder: Path, out: Path) -> tuple[int, dict[str, Any]]:
    out.mkdir()
    argv = [sys.executable, "-c", _GRADE, "--victim", "grade", "--course", str(course),
            str(folder), "-q", "-n", "2", "--confirm", "0", "--json", str(out / "grades.json"),
            "--html", str(out / "grades.html"), "--markdown", str(out / "summary.md"),
            "--gradescope", str(out / "gradescope")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert (out / "grades.json").exists(), f"exit {done.returncode}: {done.stderr[-3000:]}"
    return done.returncode, json.loads((out / "grades.json").read_text(encoding="utf-8"))


def _scores(doc: dict[str, Any]) -> dict[str, tuple[str, float]]:
    return {s["name"]: (s["status"], s["score"]) for s in doc["submissions"]}


def test_a_hostile_class_changes_no_other_grade(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    shutil.copytree(FIXTURES / "hostile", klass, ignore=shutil.ignore_patterns("course.toml"))
    for name, server in _SERVERS.items():
        shutil.copy(SERVERS / server, klass / name / "server.py")
    course = tmp_path / "course.toml"
    shutil.copy(FIXTURES / "hostile" / "course.toml", course)
    for name in ("correct", "special-files"):
        shutil.copytree(FIXTURES / "course" / "correct-py", klass / name)
    special = klass / "special-files"
    os.mkfifo(special / "pipe")
    (special / "secret").symlink_to(klass / "correct" / "server.py")
    for i in range(600):
        (special / f"data{i:03d}.txt").write_text(str(i))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(special / "sock"))
        code_alone, alone = _grade(course, klass / "correct", tmp_path / "alone")
        code, doc = _grade(course, klass, tmp_path / "all")
    assert code_alone == 0 and code == 0, (code_alone, code)
    for name in ("grades.html", "summary.md"):
        assert (tmp_path / "all" / name).stat().st_size > 0
    scores = _scores(doc)
    expected = _scores(alone)["correct"]
    assert expected[0] == "graded" and expected[1] > 0, expected
    assert scores["correct"] == expected and scores["special-files"] == expected, scores
    assert scores["kills-ancestors"][0] == scores["kills-servers"][0] == "graded", scores
    by_name = {s["name"]: s for s in doc["submissions"]}
    assert "not UTF-8" in by_name["bad-utf8"]["message"], by_name["bad-utf8"]
    assert "build_timeout" in by_name["nan-timeout"]["message"], by_name["nan-timeout"]
    notes = by_name["special-files"]["message"]
    assert "pipe: left out" in notes and "sock: left out" in notes and "secret: left out" in notes
    # the classmate's source (its BUFF_SIZE line) reached no student-visible output
    for path in (tmp_path / "all" / "gradescope").iterdir():
        assert "BUFF_SIZE" not in path.read_text(encoding="utf-8"), path.name
    assert "BUFF_SIZE" not in (tmp_path / "all" / "summary.md").read_text(encoding="utf-8")
    for line in (tmp_path / "all" / "summary.md").read_text(encoding="utf-8").splitlines():
        assert not line.lstrip().startswith(("::", "##[")), line
