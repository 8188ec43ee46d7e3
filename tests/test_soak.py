"""The soak script's judgement: which verdict changes between runs break the soak, and
that a soak spread over several sittings (--resume) runs only what is missing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak() -> Any:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mutants(path: Path, verdicts: dict[str, str], killed: bool = True) -> None:
    """One `ioconform mutants --json` report with the mutant mut-x (must fail ET-1, may
    fail ACCEPT-2)."""
    path.write_text(json.dumps({
        "implementations": [{"name": "mut-x", "clauses": [
            {"clause": c, "verdict": v} for c, v in verdicts.items()]}],
        "kill_matrix": {"mutants": [{"name": "mut-x", "killed": killed, "false_alarms": [],
                                     "must_fail": ["ET-1"], "may_fail": ["ACCEPT-2"]}]},
    }), encoding="utf-8")


def _refs(path: Path, verdict: str = "pass") -> None:
    path.write_text(json.dumps({"implementations": [
        {"name": "py-epoll-et", "clauses": [{"clause": "ET-1", "verdict": verdict}]}]}),
        encoding="utf-8")


BASE = {"ET-1": "fail", "ACCEPT-2": "pass", "ECHO-1": "pass"}


@pytest.mark.parametrize(("second", "status", "kind"), [
    (BASE, 0, None),
    ({**BASE, "ACCEPT-2": "fail"}, 0, "changed (may_fail): mut-x ACCEPT-2"),
    ({**BASE, "ECHO-1": "fail"}, 1, "changed (other): mut-x ECHO-1"),
    ({**BASE, "ET-1": "pass"}, 1, "changed (must_fail): mut-x ET-1"),
])
def test_only_must_fail_and_undeclared_changes_break_the_soak(
        soak: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        second: dict[str, str], status: int, kind: str | None) -> None:
    _mutants(tmp_path / "mut-1.json", BASE)
    _mutants(tmp_path / "mut-2.json", second)
    assert soak._summary(tmp_path, 2, 0.0, {1, 2}, with_refs=False) == status
    out = capsys.readouterr().out
    assert out.startswith("soak: 2 mutant runs; 0 failing reference verdict(s)")
    if kind:
        assert kind in out
    else:
        assert "changed (" not in out


def test_a_failing_reference_a_survivor_and_a_missing_report_each_break_it(
        soak: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _refs(tmp_path / "ref-1.json")
    _mutants(tmp_path / "mut-1.json", BASE)
    assert soak._summary(tmp_path, 1, 60.0, {1}) == 0
    assert "1 reference runs (1 with the mutants) in 1.0 min" in capsys.readouterr().out

    _refs(tmp_path / "ref-2.json", "fail")
    assert soak._summary(tmp_path, 2, 0.0, {1}) == 1
    assert "reference: run 2: py-epoll-et ET-1 fail" in capsys.readouterr().out

    _mutants(tmp_path / "mut-2.json", BASE, killed=False)
    (tmp_path / "ref-2.json").unlink()
    assert soak._summary(tmp_path, 2, 0.0, {1, 2}) == 1
    out = capsys.readouterr().out
    assert "mutant mut-x: killed in runs [1]; SURVIVED in runs [2]" in out
    assert "missing report: ref-2" in out


def test_resume_runs_only_the_reports_not_yet_written(
        soak: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _mutants(tmp_path / "mut-1.json", BASE)
    ran: list[list[str]] = []

    def fake(argv: list[str], timeout: float) -> None:
        ran.append(argv)
        _mutants(Path(argv[-1]), BASE)

    monkeypatch.setattr(soak, "_ioconform", fake)
    monkeypatch.setattr(sys, "argv", ["soak.py", "--runs", "3", "--no-references",
                                      "--no-stress", "--resume", "--out", str(tmp_path)])
    assert soak.main() == 0
    assert [Path(a[-1]).name for a in ran] == ["mut-2.json", "mut-3.json"]
    assert all(a[0] == "mutants" for a in ran)
    assert "soak: 3 mutant runs" in capsys.readouterr().out


def test_the_load_is_bounded_by_the_invocations_left_to_run(
        soak: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mutants(tmp_path / "mut-1.json", BASE)
    bounds: list[float] = []

    class Load:
        def terminate(self) -> None:
            bounds.append(-1)

        def wait(self, timeout: float) -> None:
            pass

    def stress(bound: float, workers: int) -> Load:
        bounds.append(bound)
        assert workers == 6
        return Load()

    monkeypatch.setattr(soak, "_stress", stress)
    monkeypatch.setattr(soak, "_ioconform", lambda argv, timeout: _mutants(Path(argv[-1]), BASE))
    argv = ["soak.py", "--runs", "3", "--no-references", "--resume", "--run-timeout", "100",
            "--load", "6", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    assert soak.main() == 0
    assert bounds == [200, -1]  # two reports left of three, then stopped
    assert soak.main() == 0
    assert bounds == [200, -1]  # nothing left: no load started at all


def test_nothing_to_run_is_a_usage_error(soak: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["soak.py", "--no-mutants", "--no-references",
                                      "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        soak.main()
    assert exc.value.code == 2


def test_the_summary_gives_each_kind_of_run_as_ranges(soak: Any) -> None:
    docs: list[dict[str, Any]] = [
        {"kill_matrix": {"killed": 39, "total": 39}, "summary": {"pass": 9, "fail": f},
         "ioconform": {"duration_s": s}} for f, s in ((226, 610.4), (223, 640.0))]
    assert soak._ranges(docs) == ("2 report(s); killed 39/39; 9 pass verdicts; "
                                  "223–226 fail verdicts; 610–640 s each")
    docs[1]["kill_matrix"]["killed"] = 38
    assert "killed 38/39, 39/39;" in soak._ranges(docs)
