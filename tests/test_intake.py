"""Intake of hostile submission folders (conformance/grading/intake.py,
submissions.prepare): any file type, any name, any number gets a per-submission status,
never a crash or a hang of the run; the private copy follows no symlink out and opens
no pipe.  No server runs here."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from conformance.grading import submissions
from conformance.grading.course import Course
from conformance.harness.sandbox import Limits

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")

STUDENT = 'model = "select"\nservice = "echo"\ncommand = ["{python}", "server.py", "{port}"]\n'


def _folder(root: Path, manifest: str | bytes = STUDENT) -> Path:
    folder = root / "in" / "sub"
    folder.mkdir(parents=True)
    data = manifest.encode() if isinstance(manifest, str) else manifest
    (folder / "ioconform.toml").write_bytes(data)
    (folder / "server.py").write_text("print('hi')\n")
    return folder


def _prepare(folder: Path, work: Path, course: Course | None = None) -> submissions.Submission:
    """submissions.prepare, bounded: a FIFO opened for the copy would block it forever."""
    work.mkdir(exist_ok=True)
    out: list[submissions.Submission | BaseException] = []

    def run() -> None:
        try:
            out.append(submissions.prepare("sub", folder, course or Course(), work))
        except BaseException as e:  # reported below, whatever it is
            out.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert out, "prepare() hung (a named pipe opened?)"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def test_special_files_and_escaping_symlinks_are_left_out_with_a_note(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    os.mkfifo(folder / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock"))
    (folder / "src").mkdir()
    (folder / "src" / "a.c").write_text("int a;\n")
    (folder / "shadow").symlink_to("/etc/shadow")
    (folder / "root").symlink_to("/")
    (folder / "up").symlink_to("../..")
    (folder / "to-pipe").symlink_to("pipe")
    (folder / "a.c").symlink_to("src/a.c")
    (folder / "dangling").symlink_to("src/missing.c")
    (folder / os.fsdecode(b"caf\xe9-\xff.txt")).write_text("latin-1 name\n")
    try:
        sub = _prepare(folder, tmp_path / "work")
    finally:
        sock.close()
    copy = tmp_path / "work" / "sub"
    assert sub.status == "graded", sub.message
    kept = sorted(os.listdir(copy))
    assert kept == sorted(["ioconform.toml", "server.py", "src", "to-pipe", "a.c", "dangling",
                           os.fsdecode(b"caf\xe9-\xff.txt")]), kept
    assert (copy / "a.c").read_text() == "int a;\n" and (copy / "a.c").is_symlink()
    notes = sub.message.splitlines()
    assert "pipe: left out, not a regular file (a named pipe)" in notes, notes
    assert "sock: left out, not a regular file (a Unix socket)" in notes, notes
    for name in ("shadow", "root", "up"):
        assert f"{name}: left out, a symlink pointing out of the submission" in notes, notes


@pytest.mark.parametrize(("text", "said"), [
    (STUDENT.encode() + b"description = \"caf\xe9\"\n", "not UTF-8 text"),
    (STUDENT + "build = \"true\"\nbuild_timeout = nan\n", "build_timeout"),
    (STUDENT + "build = \"true\"\nbuild_timeout = 1e30\n", "build_timeout"),
    (STUDENT + "build = \"true\"\nbuild_timeout = inf\n", "build_timeout"),
    (STUDENT + "build = \"true\"\nbuild_timeout = -1\n", "build_timeout"),
    (STUDENT.replace('"server.py"', '"/root/.ssh/id_rsa"'), "outside the submission"),
])
def test_a_bad_manifest_is_invalid_with_its_reason(text: str | bytes, said: str,
                                                    tmp_path: Path) -> None:
    sub = _prepare(_folder(tmp_path, text), tmp_path / "work")
    assert sub.status == "invalid" and said in sub.message, sub.message


def test_system_programs_may_be_named(tmp_path: Path) -> None:
    text = STUDENT.replace('"{python}"', '"/usr/bin/python3"')
    assert _prepare(_folder(tmp_path, text), tmp_path / "work").status == "graded"


def test_many_entries_are_copied(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for i in range(600):
        (folder / f"f{i:03d}.txt").write_text(str(i))
    sub = _prepare(folder, tmp_path / "work")
    assert sub.status == "graded" and len(os.listdir(tmp_path / "work" / "sub")) == 602


@pytest.mark.parametrize("text", ["memory=99999999999999999999999", "processes=4194305",
                                  "cpu=100000000000"])
def test_huge_limits_are_refused_with_the_maximum(text: str) -> None:
    with pytest.raises(ValueError, match="at most"):
        Limits.from_arg(text)


@pytest.mark.parametrize("scale", ["inf", "nan", "1e30"])
@pytest.mark.parametrize("command", [["check", "--model", "poll", "--service", "echo"],
                                     ["grade", "."]])
def test_a_timeout_scale_without_bound_is_a_usage_error(
        scale: str, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """inf would leave every wait without a bound (and put Infinity in the JSON)."""
    from conformance.cli import main

    tail = ["--", sys.executable, "{port}"] if command[0] == "check" else []
    assert main([*command, "--timeout-scale", scale, *tail]) == 2
    assert "--timeout-scale must be a positive number, at most 100" in capsys.readouterr().err
