"""Manifest build steps: run once in the implementation's folder, bounded in time; a
failure is a verdict that shows the compiler's output, never a harness crash."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from conformance.clause import REGISTRY, Verdict
from conformance.manifest import ManifestError, load
from conformance.runner import Options, run

ROOT = Path(__file__).resolve().parents[1]
SERVER = f"""\
import runpy, sys
sys.path.insert(0, {str(ROOT)!r})
runpy.run_module("implementations.blocking", run_name="__main__")
"""


def _manifest(folder: Path, build: str, extra: str = "") -> Path:
    (folder / "server_src.py").write_text(SERVER, encoding="utf-8")
    path = folder / "ioconform.toml"
    path.write_text(f'name = "built"\nmodel = "blocking"\nservice = "echo"\n'
                    f'command = ["{{python}}", "server.py", "{{port}}"]\n'
                    f"build = {build}\n{extra}", encoding="utf-8")
    return path


def test_a_successful_build_is_checked(tmp_path: Path) -> None:
    impl = load(_manifest(tmp_path, '["cp server_src.py server.py"]'))
    result = run(REGISTRY["START-1"], impl, Options())
    assert result.verdict is Verdict.PASS, result.detail
    assert (tmp_path / "server.py").exists()


def test_a_failed_build_is_a_fail_with_the_compiler_output(tmp_path: Path) -> None:
    failing = """'echo "server.c:3:9: error: expected ; before }" >&2; exit 1'"""
    impl = load(_manifest(tmp_path, failing))
    result = run(REGISTRY["ECHO-1"], impl, Options())
    assert result.verdict is Verdict.FAIL
    assert "the build failed" in result.detail
    assert "exit status 1" in result.detail
    assert "server.c:3:9: error: expected ;" in result.detail
    assert result.detail.startswith("ECHO-1 (MUST): ")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell command")
def test_a_hanging_build_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    impl = load(_manifest(tmp_path, '"sleep 60"', "build_timeout = 1\n"))
    started = time.monotonic()
    result = run(REGISTRY["START-1"], impl, Options())
    assert time.monotonic() - started < 15
    assert result.verdict is Verdict.FAIL
    assert "timed out (limit 1 s)" in result.detail


@pytest.mark.parametrize(("line", "key"), [
    ("build = 3\n", "build"),
    ('build = ["make", 7]\n', "build"),
    ('build = "make"\nbuild_timeout = -1\n', "build_timeout"),
    ('build = "make"\nbuild_timeout = true\n', "build_timeout"),
])
def test_bad_build_keys_are_manifest_errors(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "ioconform.toml"
    path.write_text('name = "x"\nmodel = "poll"\nservice = "echo"\ncommand = "s {port}"\n'
                    + line, encoding="utf-8")
    with pytest.raises(ManifestError, match=f"key '{key}'"):
        load(path)


_CHATTY = """
import resource, sys
from conformance.harness import build
status, output = build._run("head -c 400000000 /dev/zero | tr '\\\\0' x; exit 2", sys.argv[1], 120)
print(status, len(output), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)
print(output[:80])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell pipeline")
def test_a_build_that_prints_400_mb_costs_its_tail_only(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-c", _CHATTY, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    status, kept, peak_mib = done.stdout.split("\n")[0].rsplit(" ", 2)
    assert status == "exit status 2" and int(kept) < 17 << 10, done.stdout
    assert int(peak_mib) < 120, f"the harness peaked at {peak_mib} MiB"
    assert "the first 399983616 bytes of output left out" in done.stdout, done.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes and Unix sockets")
def test_the_sanitized_copy_skips_pipes_and_sockets(tmp_path: Path) -> None:
    """--sanitize copies the folder: a named pipe (or a symlink to one) opened for the
    copy would block it for ever, a socket would fail it."""
    import os
    import socket
    import threading

    from conformance.harness import build
    from conformance.manifest import from_command

    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "server.c").write_text("int main(void) { return 0; }\n")
    os.mkfifo(folder / "pipe")
    (folder / "to-pipe").symlink_to("pipe")
    copies: list[Path] = []
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "sock"))
        impl = from_command("blocking", "echo", ["./server", "{port}"], cwd=str(folder))
        worker = threading.Thread(target=lambda: copies.append(build.sanitized_copy(impl).cwd),
                                  daemon=True)
        worker.start()
        worker.join(60)
    assert copies, "the sanitized copy hung"
    assert sorted(os.listdir(copies[0])) == ["server.c", "to-pipe"]
