"""The ``ioconform`` command: ``list`` and the usage errors in-process (they never start a
test session), ``run`` and ``check`` in a subprocess, as graders run them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import __version__, report
from conformance.clause import REGISTRY
from conformance.clauses import select_clauses
from conformance.cli import main
from conformance.harness.process import sweep_dead_runs
from conformance.manifest import bundled
from conformance.models import MODELS

ET_NO_DRAIN = next(m for m in bundled(mutants=True) if m.name == "mut-et-no-drain")


# -- list ----------------------------------------------------------------------------------
def test_list_prints_models_clauses_and_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Models\n")
    assert f"Clauses ({len(REGISTRY)})" in out
    for name in MODELS:
        assert f"  {name} " in out
    for c in REGISTRY.values():
        assert f"\n{c.id} " in out
    for impl in bundled():
        assert f"  {impl.name} " in out
    assert "mut-" not in out


def test_list_one_section_and_the_mutants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "impls", "--mutants"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Implementations\n")
    assert "Models" not in out
    assert all(f"  {m.name} " in out for m in bundled(mutants=True))


def test_list_markdown_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--markdown"]) == 0
    assert capsys.readouterr().out == report.contract_markdown()


def test_list_into_a_closed_pipe_is_quiet() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # long before the command has imported anything, let alone printed
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err.decode()


# -- usage errors --------------------------------------------------------------------------
@pytest.fixture
def bad_manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "ioconform.toml").write_text(
        'name = "alice"\nmodel = "poll"\nservice = "echo"\ncommand = "./s {port}"\n'
        'colour = "red"\n', encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--model", "poll", "--service", "echo", "--", sys.executable, "-V"],
         "command line: key 'command': has no '{port}'"),
        (["check", "--model", "poll", "--service", "echo", "--", "./no-such-server", "{port}"],
         "command line: cannot find the program './no-such-server'"),
        (["check", "BAD"], "key 'colour': unknown key"),
        (["check", "--model", "poll"], "nothing to check"),
        (["check", "--model", "poll", "--service", "echo", "BAD"],
         "--model and --service go with a command after '--'"),
        (["check", "--model", "poll", "--", sys.executable, "{port}"],
         "a command line needs --model and --service"),
        (["check", "--model", "poll", "--service", "echo", "BAD", "--", sys.executable,
          "{port}"], "give either a manifest or a command after '--', not both"),
        (["check"], "nothing to check"),
        (["run", "--impl", "nosuch"], "unknown implementation(s) nosuch"),
        (["run", "--clause", "NOPE"], "--clause: unknown clause(s) or famil(ies) NOPE"),
        (["run", "--workers", "many"], "--workers: expected a number or 'auto', got 'many'"),
        (["run", "--", "./server", "{port}"], "'run' takes no command after '--'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str, bad_manifest: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(bad_manifest) if a == "BAD" else a for a in args]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ioconform: error: ")
    assert captured.err.count("\n") == 1
    assert message in captured.err
    if "colour" in message:
        assert str(bad_manifest / "ioconform.toml") in captured.err


def test_a_usage_error_in_a_subprocess_has_no_traceback(ioconform_cli, bad_manifest: Path) -> None:
    proc = ioconform_cli("check", str(bad_manifest), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"ioconform: error: {bad_manifest / 'ioconform.toml'}: key 'colour': "
                           "unknown key (known keys: build, build_timeout, command, cwd, "
                           "description, may_fail, model, must_fail, name, platforms, port, "
                           "service, xfail)\n")
    assert proc.stdout == ""


def test_a_manifest_with_a_model_array_is_a_usage_error(ioconform_cli, tmp_path: Path) -> None:
    (tmp_path / "ioconform.toml").write_text(
        'name = "x"\nmodel = ["poll"]\nservice = "echo"\ncommand = "./s {port}"\n',
        encoding="utf-8")
    proc = ioconform_cli("check", str(tmp_path), timeout=60)
    assert (proc.returncode, "Traceback" in proc.stderr) == (2, False)


# -- run and check ---------------------------------------------------------------------------
def test_run_writes_the_documented_json_and_junit(ioconform_cli, tmp_path: Path) -> None:
    js, junit = tmp_path / "r.json", tmp_path / "r.xml"
    proc = ioconform_cli("run", "--impl", "py-poll", "--clause", "ECHO", "--json", str(js),
                         "--junit", str(junit), "-n", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    echo = [c.id for c in select_clauses(["ECHO"])]

    doc = json.loads(js.read_text(encoding="utf-8"))
    meta = doc["ioconform"]
    assert meta["version"] == __version__
    assert {"command", "platform", "python", "started", "duration_s", "strict", "seed",
            "workers", "timeout_scale"} <= meta.keys()
    assert meta["complete"] is True and not Path(f"{js}.partial").exists()
    assert doc["summary"]["pass"] == len(echo)
    assert (doc["summary"]["implementations"], doc["summary"]["exit_status"]) == (1, 0)
    (impl,) = doc["implementations"]
    assert (impl["name"], impl["model"], impl["service"], impl["status"]) == (
        "py-poll", "poll", "echo", "pass")
    assert {"source", "description", "duration_s"} <= impl.keys()
    assert [c["clause"] for c in impl["clauses"]] == echo
    for c in impl["clauses"]:
        assert (c["verdict"], c["detail"], c["family"], c["level"]) == ("pass", "", "ECHO", "MUST")
        assert isinstance(c["duration_s"], float)

    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites"
    (suite,) = suites.findall("testsuite")
    assert suite.get("name") == "py-poll"
    assert [t.get("name") for t in suite.findall("testcase")] == echo
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        str(len(echo)), "0", "0")
    assert "py-poll" in proc.stdout


def test_junit_holds_a_servers_control_characters_as_visible_escapes() -> None:
    impl = bundled()[0]
    detail = "ECHO-1 (MUST): ...\n  last stdout lines:\n    \x00\x1b[31mred\x07"
    result = report.Result(impl.name, impl.model, impl.service, "ECHO-1", "ECHO", "MUST",
                           report.Verdict.FAIL, detail)
    xml = report.to_junit(report.Run("run", [impl], [result]))
    failure = ET.fromstring(xml.encode()).find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "\\x00\\x1b[31mred\\x07" in failure.text


def test_check_of_a_broken_server_explains_the_failure(ioconform_cli, tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    proc = ioconform_cli("check", "--model", ET_NO_DRAIN.model, "--service", "echo",
                         "--clause", "ET-1", "--timeout-scale", "0.5", "--json", str(js), "--",
                         sys.executable, "-m", "implementations.mutants.et_no_drain", "{port}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    for needle in ("ET-1 (MUST): ", "  expected: ", "  actual:   ", "  hint:     ",
                   "the echo is incomplete", "stalled"):
        assert needle in out
    (impl,) = json.loads(js.read_text(encoding="utf-8"))["implementations"]
    assert impl["status"] == "fail"
    assert [(c["clause"], c["verdict"]) for c in impl["clauses"]] == [("ET-1", "fail")]


def test_check_stops_at_a_server_that_never_starts(ioconform_cli, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """START-1's diagnosis once; every later clause is blocked, not run, so no clause
    waits out the start-up deadline again (the order is the contract's: -n 0)."""
    from conformance.harness.ports import free_port

    monkeypatch.setenv("WRONG_PORT", str(free_port()))
    js = tmp_path / "r.json"
    proc = ioconform_cli("check", "--model", "select", "--service", "echo", "-n", "0",
                         "--clause", "START-1", "--clause", "ACCEPT-1", "--clause", "ECHO",
                         "--confirm", "0", "--timeout-scale", "0.3", "--json", str(js), "--",
                         sys.executable, str(Path(__file__).parent / "servers" / "wrong_port.py"),
                         "{port}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (impl,) = json.loads(js.read_text(encoding="utf-8"))["implementations"]
    verdicts = {c["clause"]: (c["verdict"], c["detail"]) for c in impl["clauses"]}
    assert "did not start listening" in verdicts["START-1"][1]
    later = [v for k, v in verdicts.items() if k != "START-1"]
    assert len(later) == 5 and all(v == "fail" and "blocked: START-1 failed" in d
                                   for v, d in later)


def test_check_quick_runs_the_quick_profile_and_says_it_is_not_the_contract(
        ioconform_cli, tmp_path: Path) -> None:
    from conformance.clauses import QUICK

    js = tmp_path / "r.json"
    ref = next(i for i in bundled() if i.name == "py-epoll-et")
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    proc = ioconform_cli("check", str(ref.source), "--quick", "-q", "--json", str(js),
                         "--markdown", str(md), "--html", str(html))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "A pass here is not conformance" in proc.stdout
    # check's own header: the server, its model and service; never the grade's "None"
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# ioconform check: py-epoll-et\n") and "None" not in text
    assert "model `epoll-et` · service `echo`" in text
    assert "<h1>ioconform check: py-epoll-et</h1>" in html.read_text(encoding="utf-8")
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["ioconform"]["quick"] is True
    assert [c["clause"] for c in doc["implementations"][0]["clauses"]] == [
        c.id for c in select_clauses(list(QUICK))]
    refused = ioconform_cli("check", str(ref.source), "--quick", "--clause", "ECHO-1")
    assert refused.returncode == 2 and "not both" in refused.stderr


# A real-time process on CPU 0 that leaves it free 10 ms in every 100: whatever shares CPU
# 0 with it gets at most a tenth of a core, however the kernel groups tasks for fairness.
_HOG = """
import os, sys, time
os.sched_setaffinity(0, {0})
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
except PermissionError:
    sys.exit("no permission")
print("ready", flush=True)
end = time.monotonic() + 120
while time.monotonic() < end:
    busy = time.monotonic() + 0.09
    while time.monotonic() < busy:
        pass
    time.sleep(0.01)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity and /proc")
def test_a_spinning_server_fails_idle_cpu_on_a_loaded_machine(ioconform_cli) -> None:
    # The server is pinned to CPU 0 beside the hog, so it gets a tenth of a core: under
    # IDLE-1's 25 % for the nonblocking model if only the CPU it got were counted (the
    # kill matrix lost mut-busy-idle that way once, in CI, on a loaded machine).
    hog = subprocess.Popen([sys.executable, "-c", _HOG], stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout is not None
        if hog.stdout.readline() != "ready\n":
            pytest.skip("needs permission to run a real-time process (CAP_SYS_NICE)")
        proc = ioconform_cli("check", "--model", "nonblocking", "--service", "echo",
                             "--clause", "IDLE-1", "--", sys.executable,
                             str(Path(__file__).parent / "servers" / "pinned.py"),
                             sys.executable, "-m", "implementations.mutants.busy_idle",
                             "{port}")
    finally:
        hog.kill()
        hog.wait(10)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "IDLE-1 (MUST)" in proc.stdout
    assert "more wanted while the machine was busy" in proc.stdout


def test_capacity_stops_opening_clients_once_a_batch_meets_silence(ioconform_cli) -> None:
    server = Path(__file__).parent / "servers" / "never_accepts.py"
    proc = ioconform_cli("check", "--model", "select", "--service", "echo", "--clause",
                         "CAPACITY-1", "--timeout-scale", "0.5", "--", sys.executable,
                         str(server), "{port}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "50 of 50 clients were neither served nor refused" in proc.stdout
    assert "stopped after 50 of 1124 clients: the last batch got no answer at all" in proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process group is POSIX's")
def test_an_interrupted_run_leaves_the_verdicts_it_reached(tmp_path: Path) -> None:
    """Ctrl-C (a CI step's SIGINT): the JSON report holds every verdict reached, marked
    incomplete.  Killed outright, the run leaves them in the .partial file beside it."""
    js = tmp_path / "r.json"
    argv = [sys.executable, "-m", "conformance.cli", "run", "--impl", "py-poll", "-n", "0",
            "--json", str(js), "-q"]
    for how in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        partial = Path(f"{js}.partial")
        deadline = time.monotonic() + 120
        try:
            while len(_lines(partial)) < 3 and time.monotonic() < deadline \
                    and proc.poll() is None:
                time.sleep(0.05)  # polling the file the run appends to: there is no event
            assert proc.poll() is None and len(_lines(partial)) >= 3, "no verdict in 120 s"
            os.killpg(proc.pid, how)
            _, err = proc.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if how is signal.SIGINT:
            assert proc.returncode == 130, err
            doc = json.loads(js.read_text(encoding="utf-8"))
            assert doc["ioconform"]["complete"] is False
            reached = doc["implementations"][0]["clauses"]
            assert 3 <= len(reached) < len(select_clauses([])), len(reached)
            assert reached[0]["clause"] == "START-1" and not partial.exists()
            assert b"interrupted after" in err
            js.unlink()
        else:
            assert not js.exists() and len(_lines(partial)) >= 3
            assert json.loads(_lines(partial)[0])["clause"] == "START-1"
            sweep_dead_runs()  # the servers of the run killed outright


def _lines(path: Path) -> list[str]:
    try:
        return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.endswith("}")]
    except OSError:
        return []


@pytest.mark.parametrize("command", [["run", "--impl", "py-poll"], ["grade", "."],
                                     ["check", "--model", "poll", "--service", "echo", "--",
                                      "./server", "{port}"]])
def test_an_output_that_cannot_be_written_is_refused_before_any_server_runs(
        ioconform_cli, tmp_path: Path, command: list[str]) -> None:
    for flag, where, why in (("--json", "/nonexistent/x.json", "does not exist"),
                             ("--junit", str(tmp_path), "is a folder")):
        argv = [*command[:1], flag, where, *command[1:]]
        proc = ioconform_cli(*argv, timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert why in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_explain_gives_the_why_the_how_and_the_mistakes_a_clause_catches(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "ET-1", "MODEL-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ET-1 (MUST)\n") and "\nMODEL-1 (MUST)\n" in out
    assert "why: epoll(7)" in out and "checked: black-box" in out
    assert "checked: white-box" in out  # MODEL-1 reads the syscall trace
    assert "mut-et-no-drain:" in out and "budget: 180 s" in out
    assert "checked in: conformance/clauses/lt_et.py" in out
    assert "not observable: under Wine: the system calls traced" in out  # MODEL-1
    assert main(["explain", "NOPE-1"]) == 2
    assert "unknown clause" in capsys.readouterr().err


def test_list_clauses_for_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "clauses", "--model", "select"]) == 0
    out = capsys.readouterr().out
    shown = {ln.split()[0] for ln in out.splitlines() if "budget" in ln}
    expected = {c.id for c in REGISTRY.values()
                if any(c.applies(MODELS["select"], s) for s in ("echo", "print", "echo-only"))}
    assert shown == expected and "ET-1" not in shown and "LT-1" in shown


FIXED_PORT_SERVER = """
import socket, sys
s = socket.socket()  # no SO_REUSEADDR, like the seed's createSocketConfig(3000)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    while (d := c.recv(65536)):
        c.sendall(d)
        sys.stdout.buffer.write(d)
        sys.stdout.flush()
    c.close()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX TIME_WAIT and SO_LINGER")
def test_check_port_runs_a_program_that_hard_codes_its_port(ioconform_cli,
                                                             tmp_path: Path) -> None:
    """Without {port}: every clause on that port, one at a time.  The server's stop
    leaves no TIME_WAIT on it (the clients end by RST), so a program without
    SO_REUSEADDR starts again at once; STOP-3, which restarts it within the clause,
    still finds the missing SO_REUSEADDR."""
    from conformance.harness.ports import free_port, release

    port = free_port()
    release(port)
    (tmp_path / "server.py").write_text(FIXED_PORT_SERVER, encoding="utf-8")
    js = tmp_path / "r.json"
    proc = ioconform_cli("check", "--port", str(port), "--model", "blocking", "--service",
                         "echo", "--clause", "START", "--clause", "STOP", "--clause", "ECHO-1",
                         "--json", str(js), "--", sys.executable, str(tmp_path / "server.py"),
                         str(port), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["ioconform"]["fixed_port"] == port
    verdicts = {c["clause"]: c for c in doc["implementations"][0]["clauses"]}
    assert {k: c["verdict"] for k, c in verdicts.items()} == {
        "START-1": "pass", "STOP-1": "pass", "STOP-2": "pass", "STOP-3": "non-strict",
        "ECHO-1": "pass"}
    assert all("waited" not in c["detail"] for c in verdicts.values())  # no TIME_WAIT
    assert f"fixed port {port}: the program hard-codes it" in proc.stdout


def test_a_port_out_of_range_is_a_usage_error(ioconform_cli) -> None:
    proc = ioconform_cli("check", "--port", "70000", "--model", "poll", "--service", "echo",
                         "--", "prog", timeout=60)
    assert proc.returncode == 2 and "not a TCP port number" in proc.stderr
