"""The confirmation rule (conformance/runner.py): a failure counts only when it holds a
majority of the 1 + confirm runs, each on a fresh server.  Scripted outcomes first,
then one real server that fails on its first start only, then the flag's plumbing."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conformance import report, runner
from conformance.clause import REGISTRY, Verdict
from conformance.cli import main
from conformance.manifest import from_command
from conformance.runner import Options, _Outcome

PASS = _Outcome(Verdict.PASS, "")
FAIL = _Outcome(Verdict.FAIL, "ECHO-1 (MUST): ...\n  problem:  lost bytes")
NEVER_LISTENED = _Outcome(Verdict.FAIL, "START-1 (MUST): ...", listened=False)
ERROR = _Outcome(Verdict.ERROR, "ECHO-1: the harness failed")
IMPL = from_command("poll", "echo", [sys.executable, "-c", "pass", "{port}"], name="s",
                    cwd=".")


def _scripted(monkeypatch: pytest.MonkeyPatch, outcomes: list[_Outcome]) -> list[int]:
    """Make runner._check answer ``outcomes`` in turn; returns the list of calls made."""
    calls: list[int] = []
    queue: Iterator[_Outcome] = iter(outcomes)

    def check(*_: object) -> _Outcome:
        calls.append(1)
        return next(queue)

    monkeypatch.setattr(runner, "_check", check)
    monkeypatch.setattr(runner, "unavailable", lambda impl: None)
    return calls


@pytest.mark.parametrize(("confirm", "outcomes", "verdict", "runs", "says"), [
    (2, [FAIL, FAIL], Verdict.FAIL, ["fail", "fail"], "failed 2 of 2 runs"),
    (2, [FAIL, PASS, FAIL], Verdict.FAIL, ["fail", "pass", "fail"], "intermittent"),
    (2, [FAIL, PASS, PASS], Verdict.PASS, ["fail", "pass", "pass"], "passed 2 of 3 runs"),
    (1, [FAIL, PASS], Verdict.PASS, ["fail", "pass"], "passed 1 of 2 runs"),
    (1, [FAIL, FAIL], Verdict.FAIL, ["fail", "fail"], "failed 2 of 2 runs"),
    (4, [FAIL, PASS, FAIL, FAIL], Verdict.FAIL, ["fail", "pass", "fail", "fail"],
     "failed 3 of 4 runs"),
    (0, [FAIL], Verdict.FAIL, [], "lost bytes"),
    (2, [PASS], Verdict.PASS, [], ""),
    (2, [NEVER_LISTENED], Verdict.FAIL, [], "START-1"),  # no chance: never run again
    (2, [FAIL, ERROR], Verdict.ERROR, ["fail", "error"], "harness failed"),
])
def test_the_majority_of_the_runs_decides(monkeypatch: pytest.MonkeyPatch, confirm: int,
                                          outcomes: list[_Outcome], verdict: Verdict,
                                          runs: list[str], says: str) -> None:
    calls = _scripted(monkeypatch, outcomes)
    result = runner.run(REGISTRY["ECHO-1"], IMPL, Options(confirm=confirm))
    assert (result.verdict, result.runs, len(calls)) == (verdict, runs, len(outcomes))
    assert says in result.detail
    assert result.confirmations == max(0, len(runs) - 1)
    if verdict is Verdict.FAIL:  # the diagnosis still opens with the clause
        assert result.detail.startswith(outcomes[0].detail.split("\n")[0])


def test_a_should_failure_confirmed_stays_non_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [FAIL, FAIL])
    should = next(c for c in REGISTRY.values() if c.level.value == "SHOULD"
                  and c.applies(runner.MODELS["poll"], "echo") and not c.traced)
    result = runner.run(should, IMPL, Options(confirm=2))
    assert (result.verdict, result.runs) == (Verdict.NON_STRICT, ["fail", "fail"])


def test_the_runs_travel_in_the_result_json(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [FAIL, PASS, PASS])
    result = runner.run(REGISTRY["ECHO-1"], IMPL, Options(confirm=2))
    again = runner.Result.from_dict(result.to_dict())
    assert (again.runs, again.confirm_s) == (["fail", "pass", "pass"], result.confirm_s)
    assert runner.Result.from_dict({k: v for k, v in result.to_dict().items()
                                    if k not in ("runs", "confirm_s")}).runs == []


@pytest.mark.parametrize(("must_fail", "may_fail", "runs"), [
    (("ECHO-1",), (), 1),  # a kill is one run: a chance pass must not outvote it
    ((), ("ECHO-1",), 1),  # foreseen collateral too
    (("START-1",), (), 1),  # a mutant that never serves: every failure is its defect's
    (("LEAK-2",), ("DISCONNECT-4",), 3),  # unforeseen: confirmed as a grade would
])
def test_a_mutant_re_runs_only_the_failures_its_defect_does_not_explain(
        monkeypatch: pytest.MonkeyPatch, must_fail: tuple[str, ...],
        may_fail: tuple[str, ...], runs: int) -> None:
    made = _scripted(monkeypatch, [FAIL, PASS, PASS])
    mutant = replace(IMPL, must_fail=must_fail, may_fail=may_fail)
    result = runner.run(REGISTRY["ECHO-1"], mutant, Options(confirm=2))
    assert len(made) == runs
    assert result.verdict is (Verdict.FAIL if runs == 1 else Verdict.PASS)


def test_the_summary_line_counts_each_kind() -> None:
    assert report.confirmations([("pass", [], 0.0), ("fail", [], 0.0)]) == ""
    line = report.confirmations([("fail", ["fail", "fail"], 1.0),
                                 ("non-strict", ["fail", "fail"], 1.0),
                                 ("fail", ["fail", "pass", "fail"], 2.0),
                                 ("pass", ["fail", "pass", "pass"], 2.5)])
    assert line == ("re-runs: 2 failure(s) confirmed by a re-run, 1 intermittent (failed in "
                    "most runs, not all), 1 not confirmed (passed in most runs: not counted); "
                    "6 re-run(s) took 6.5s")


# -- a real server: broken on its first start only -----------------------------------------
FIRST_START_BROKEN = textwrap.dedent("""
    import os, socket, sys
    port, marker = int(sys.argv[1]), sys.argv[2]
    broken = not os.path.exists(marker)
    open(marker, "a").close()
    srv = socket.create_server(("127.0.0.1", port))
    while True:
        c, _ = srv.accept()
        while data := c.recv(65536):
            if not broken:
                c.sendall(data)
        c.close()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX server script")
def test_a_failure_on_the_first_start_only_is_not_counted(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(FIRST_START_BROKEN, encoding="utf-8")
    impl = from_command("blocking", "echo", [sys.executable, str(script), "{port}",
                                             str(tmp_path / "started")], name="once", cwd=".")
    hurried = Options(timing=replace(Options().timing, stall=1.0))
    result = runner.run(REGISTRY["ECHO-1"], impl, replace(hurried, confirm=2))
    assert (result.verdict, result.runs) == (Verdict.PASS, ["fail", "pass", "pass"]), \
        result.detail
    assert "passed 2 of 3 runs" in result.detail and "ECHO-1 (MUST)" in result.detail
    (tmp_path / "started").unlink()
    result = runner.run(REGISTRY["ECHO-1"], impl, replace(hurried, confirm=0))
    assert (result.verdict, result.runs) == (Verdict.FAIL, [])


# -- the flag ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["check", "--model", "poll", "--service", "echo"],
                                     ["grade", "."], ["run"]])
def test_a_negative_confirm_is_a_usage_error(command: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    tail = ["--", sys.executable, "{port}"] if command[0] == "check" else []
    assert main([*command, "--confirm", "-1", *tail]) == 2
    assert "--confirm must be a whole number, 0 or more" in capsys.readouterr().err
