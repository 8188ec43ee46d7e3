"""The pytest plugin end to end, through pytester in a subprocess (the plugin is loaded by
its ``pytest11`` entry point, exactly as users get it).  Each run selects one or two
clauses of one implementation to stay fast."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.clauses import select_clauses
from conformance.manifest import bundled

ET_NO_DRAIN = next(m for m in bundled(mutants=True) if m.name == "mut-et-no-drain")


def contract(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--pyargs", "conformance", "-p", "no:cacheprovider",
                                         *args, timeout=120)


def verdicts(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["impl"], r["clause"]): r for r in json.loads(path.read_text(encoding="utf-8"))}


def test_selected_clauses_run_and_inapplicable_ones_are_skipped(pytester: pytest.Pytester) -> None:
    out = pytester.path / "results.json"
    result = contract(pytester, "--ioconform-impl", "py-epoll-et", "--ioconform-clause",
                      "ECHO-1", "--ioconform-clause", "LT-1", "-rs", "--ioconform-json",
                      str(out))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: n/a: LT-1 applies to level-triggered "
                                 "models; py-epoll-et is epoll-et/echo"])
    found = verdicts(out)
    assert set(found) == {("py-epoll-et", "ECHO-1"), ("py-epoll-et", "LT-1")}
    echo = found["py-epoll-et", "ECHO-1"]
    assert (echo["verdict"], echo["model"], echo["family"], echo["level"]) == (
        "pass", "epoll-et", "ECHO", "MUST")
    assert found["py-epoll-et", "LT-1"]["verdict"] == "n/a"


def test_a_family_selects_all_its_clauses(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--pyargs", "conformance", "--collect-only", "-q",
                                           "--ioconform-impl", "py-poll",
                                           "--ioconform-clause", "ECHO")
    result.stdout.fnmatch_lines([f"*test_contract[[]py-poll:ECHO-{n}[]]" for n in (1, 2, 3, 4)])
    assert result.ret == 0


def test_unknown_implementation_is_refused_naming_the_known_ones(
    pytester: pytest.Pytester,
) -> None:
    result = contract(pytester, "--ioconform-impl", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ioconform: --ioconform-impl: unknown implementation(s) nosuch "
                                 "(known: *py-epoll-et*py-select*)"])
    assert " passed" not in result.stdout.str()


def test_unknown_clause_is_refused(pytester: pytest.Pytester) -> None:
    result = contract(pytester, "--ioconform-impl", "py-poll", "--ioconform-clause", "NOPE")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*ioconform: --ioconform-clause: unknown clause(s) or "
                                 "famil(ies) NOPE*"])
    assert " passed" not in result.stdout.str()


@pytest.mark.parametrize("option", [["--ioconform-impl", "nosuch"], ["--ioconform-clause", "NOPE"],
                                    ["--ioconform-manifest", "missing.toml"]])
def test_bad_selection_is_a_usage_error(pytester: pytest.Pytester, option: list[str]) -> None:
    result = contract(pytester, *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_bad_timeout_scale_is_a_usage_error_naming_its_source(
    pytester: pytest.Pytester,
) -> None:
    result = contract(pytester, "--ioconform-timeout-scale=-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ioconform: command line --ioconform-timeout-scale: "
                                 "must be a positive number, got '-1'"])


def test_bad_setting_in_the_environment_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOCONFORM_STRICT", "maybe")
    result = contract(pytester, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ioconform: environment variable IOCONFORM_STRICT: "
                                 "expected true or false, got 'maybe'"])


def test_header_shows_each_setting_and_its_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nioconform_seed = from-the-ini\nioconform_timeout_scale = 3\n")
    monkeypatch.setenv("IOCONFORM_TIMEOUT_SCALE", "2")
    result = contract(pytester, "--collect-only", "--ioconform-impl", "py-poll",
                      "--ioconform-clause", "START-1")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "ioconform: strict=False (default)",
        "ioconform: timeout_scale=2.0 (environment variable IOCONFORM_TIMEOUT_SCALE)",
        "ioconform: seed=from-the-ini (ini setting ioconform_seed)",
    ])


def test_every_result_reaches_the_json_under_xdist(pytester: pytest.Pytester) -> None:
    out = pytester.path / "results.json"
    result = contract(pytester, "-n", "2", "--ioconform-impl", "py-poll", "--ioconform-impl",
                      "py-blocking", "--ioconform-clause", "START-1", "--ioconform-clause",
                      "ECHO-1", "--ioconform-clause", "ACCEPT-2", "--ioconform-json", str(out))
    result.assert_outcomes(passed=5, skipped=1)
    found = verdicts(out)
    assert {k: r["verdict"] for k, r in found.items()} == {
        ("py-blocking", "START-1"): "pass", ("py-blocking", "ECHO-1"): "pass",
        ("py-blocking", "ACCEPT-2"): "n/a", ("py-poll", "START-1"): "pass",
        ("py-poll", "ECHO-1"): "pass", ("py-poll", "ACCEPT-2"): "pass",
    }
    assert list(found) == sorted(found, key=lambda k: (k[0], ["START-1", "ACCEPT-2",
                                                              "ECHO-1"].index(k[1])))


def _manifest(folder: Path, name: str, model: str, module: str, xfail: str) -> Path:
    folder.mkdir()
    path = folder / "ioconform.toml"
    path.write_text(
        f'name = "{name}"\nmodel = "{model}"\nservice = "echo"\n'
        f'command = ["{{python}}", "-m", "{module}", "{{port}}"]\n'
        f'[xfail]\n"ECHO-1" = "{xfail}"\n', encoding="utf-8")
    return path


def test_declared_limitations_become_xfail_or_xpass(pytester: pytest.Pytester) -> None:
    broken = _manifest(pytester.path / "broken", "declared-broken", ET_NO_DRAIN.model,
                       ET_NO_DRAIN.command[2], "reads once per edge")
    fine = _manifest(pytester.path / "fine", "declared-fine", "poll",
                     "implementations.poll_loop", "we thought it was broken")
    out = pytester.path / "results.json"
    result = contract(pytester, "--ioconform-manifest", str(broken), "--ioconform-manifest",
                      str(fine), "--ioconform-clause", "ECHO-1", "--ioconform-timeout-scale",
                      "0.5", "--ioconform-json", str(out))
    result.assert_outcomes(xfailed=1, xpassed=1)
    found = verdicts(out)
    assert found["declared-broken", "ECHO-1"]["verdict"] == "xfail"
    assert found["declared-broken", "ECHO-1"]["detail"].startswith(
        "declared limitation: reads once per edge\nECHO-1 (MUST)")
    assert found["declared-fine", "ECHO-1"]["verdict"] == "xpass"
    assert "we thought it was broken" in found["declared-fine", "ECHO-1"]["detail"]


def test_the_mutant_module_is_what_the_xfail_test_runs() -> None:
    assert ET_NO_DRAIN.command[:3] == ("{python}", "-m", "implementations.mutants.et_no_drain")
    assert sys.executable in ET_NO_DRAIN.argv(1)


def test_a_failure_is_confirmed_by_a_re_run_and_the_runs_reach_the_json(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """--ioconform-confirm 1: ECHO-3 of a read-once server fails on a fresh server
    again, so it counts, and the JSON gives both runs; the header says where N came from.
    The server is the mutant's program handed in as a submission: as a mutant, its
    foreseen failures run once (a kill must be deterministic)."""
    out = tmp_path / "v.json"
    folder = pytester.path / "submission"
    folder.mkdir()
    (folder / "ioconform.toml").write_text(
        f'name = "{ET_NO_DRAIN.name}"\nmodel = "{ET_NO_DRAIN.model}"\nservice = "echo"\n'
        f'command = ["{{python}}", "-m", "{ET_NO_DRAIN.command[2]}", "{{port}}"]\n',
        encoding="utf-8")
    result = contract(pytester, "--ioconform-manifest", str(folder / "ioconform.toml"),
                      "--ioconform-clause", "ECHO-3", "--ioconform-timeout-scale", "0.5",
                      "--ioconform-confirm", "1",
                      "--ioconform-json", str(out))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["ioconform: confirm=1 (command line --ioconform-confirm)"])
    got = verdicts(out)[(ET_NO_DRAIN.name, "ECHO-3")]
    assert (got["verdict"], got["runs"]) == ("fail", ["fail", "fail"])
    assert got["confirm_s"] > 0 and "failed 2 of 2 runs" in got["detail"]


def test_a_bad_confirm_count_names_its_source(pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOCONFORM_CONFIRM", "-1")
    result = contract(pytester, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ioconform: environment variable IOCONFORM_CONFIRM: "
                                 "must be a whole number, 0 or more, got '-1'"])


def test_every_verdict_is_appended_once_as_it_is_reached_even_with_workers(
        pytester: pytest.Pytester) -> None:
    """Under xdist the workers see their own reports and the controller sees them all:
    only the controller writes the partial file and counts progress (a worker's count
    made the progress line jump backwards, and each verdict was written twice)."""
    partial = pytester.path / "partial.jsonl"
    result = contract(pytester, "--ioconform-impl", "py-poll", "--ioconform-impl", "py-select",
                      "--ioconform-clause", "ECHO", "-n", "2", "--ioconform-partial",
                      str(partial), "--ioconform-progress")
    echo = len(select_clauses(["ECHO"]))
    result.assert_outcomes(passed=2 * echo)
    lines = [json.loads(ln) for ln in partial.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["impl"], r["clause"]) for r in lines) == sorted(
        (i, c.id) for i in ("py-poll", "py-select") for c in select_clauses(["ECHO"]))
    counts = [int(m) for m in re.findall(r"\[(\d+)/2 servers", result.stderr.str())]
    assert counts == [1, 2], result.stderr.str()  # one line per server done, rising


def test_a_project_with_its_own_model_option_runs_beside_the_plugin_quietly(
        pytester: pytest.Pytester) -> None:
    """The plugin is loaded into every pytest session where ioconform is installed: its
    options are prefixed (a conftest of another project may define --model), and a
    session that does not run the contract gets no ioconform header lines."""
    pytester.makeconftest("""
        def pytest_addoption(parser):
            parser.addoption("--model", default="theirs")
            parser.addoption("--clause", default="theirs")
    """)
    pytester.makepyfile("def test_theirs(pytestconfig):\n"
                        "    assert pytestconfig.getoption('model') == 'mine'\n")
    result = pytester.runpytest_subprocess("--model", "mine", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "ioconform:" not in result.stdout.str()
