"""The false-alarm corpus: correct servers written unlike the references, in the shapes
people write them, each of which must pass every MUST clause.  The kill matrix proves
that clauses can fail; this proves that they fail only servers that are wrong.

The whole-contract run is one test (marked ``contract``, like the kill matrix); the
matrix logic and the corpus's own bookkeeping are checked here without any server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance import falsealarms
from conformance.clause import REGISTRY, Level, Verdict
from conformance.implementation import Implementation
from conformance.manifest import corpus, from_command
from conformance.models import current_platform
from conformance.runner import Result

# The corpus must stay broad: a shrinking corpus proves less.
MIN_SERVERS = 15
CORPUS = corpus()
HERE = [i for i in CORPUS if current_platform() in i.platforms]


def _impl(name: str) -> Implementation:
    return from_command("epoll-et", "echo", ["./server", "{port}"], name=name)


def _result(impl: str, clause: str, level: str, verdict: Verdict, detail: str = "") -> Result:
    return Result(impl, "epoll-et", "echo", clause, clause.split("-")[0], level, verdict,
                  detail)


def test_matrix_flags_must_failures_and_keeps_should_apart() -> None:
    good, bad = _impl("ok-good"), _impl("ok-bad")
    results = [
        _result("ok-good", "ECHO-1", "MUST", Verdict.PASS),
        _result("ok-good", "BACKPRESSURE-2", "SHOULD", Verdict.NON_STRICT, "grew"),
        _result("ok-good", "ROBUST-4", "MUST", Verdict.SKIP),
        _result("ok-good", "LT-1", "MUST", Verdict.NA),
        _result("ok-bad", "ECHO-1", "MUST", Verdict.FAIL,
                "ECHO-1 (MUST): lost bytes\n  expected: all\n"),
        _result("ok-bad", "ET-4", "MUST", Verdict.XFAIL, "declared"),
        _result("ok-bad", "STOP-3", "SHOULD", Verdict.FAIL, "strict"),
        _result("ok-bad", "ACCEPT-1", "MUST", Verdict.ERROR, "harness broke"),
    ]
    fm = falsealarms.build([good, bad], results)
    g, b = fm.servers
    assert [r.clause for r in g.false_alarms] == []
    assert [r.clause for r in g.should_unmet] == ["BACKPRESSURE-2"]
    assert [g.cell(f) for f in ("ECHO", "BACKPRESSURE", "ROBUST", "LT")] == [".", "s", "?", "-"]
    # A correct server declares no limitation: an xfail of a MUST clause is an alarm too.
    assert [r.clause for r in b.false_alarms] == ["ECHO-1", "ET-4"]
    assert [r.clause for r in b.unjudged] == ["ACCEPT-1"]
    assert [b.cell(f) for f in ("ECHO", "ET", "STOP", "ACCEPT")] == ["!", "!", "s", "?"]
    assert fm.false_alarms == 2 and not fm.ok
    assert falsealarms.build([good], results).ok

    doc = fm.to_dict()
    assert doc["false_alarms"] == 2 and doc["total"] == 2
    entry = doc["servers"][1]  # type: ignore[index]
    assert entry["false_alarms"] == ["ECHO-1", "ET-4"]
    assert entry["should_unmet"] == ["STOP-3"] and entry["families"]["ECHO"] == "!"

    text = falsealarms.console(fm)
    assert "ok-bad" in text and "FALSE ALARM (2)" in text and "clean" in text
    assert "false alarm ok-bad: ECHO-1 fail: expected: all" in text
    assert "SHOULD not met by ok-good: BACKPRESSURE-2" in text
    assert "harness error on ok-bad: ACCEPT-1: harness broke" in text
    assert "skipped, so not judged: ROBUST-4 on ok-good" in text


def test_a_server_without_results_is_not_a_false_alarm() -> None:
    fm = falsealarms.build([_impl("ok-silent")], [])
    assert fm.ok and fm.servers[0].cell("ECHO") == "-"


def test_corpus_is_broad_and_written_like_submissions() -> None:
    assert len(CORPUS) >= MIN_SERVERS, [i.name for i in CORPUS]
    for impl in CORPUS:
        folder = Path(impl.source).parent
        assert impl.name == f"ok-{folder.name}", impl.source
        # Correct servers have no limitation to declare, and no clause that must reject them.
        assert not (impl.xfail or impl.must_fail or impl.may_fail), impl.source
        assert impl.description, impl.source
    models = {i.model for i in CORPUS}
    assert {"blocking", "threaded", "nonblocking", "select", "poll", "epoll-lt", "epoll-et",
            "sigio"} <= models


@pytest.mark.contract
@pytest.mark.xdist_group("whole-runs")
@pytest.mark.skipif(sys.platform != "linux", reason="the corpus's C servers and most "
                    "models are Linux-only")
def test_no_false_alarm_over_the_corpus(ioconform_cli, tmp_path: Path) -> None:
    """Every correct server of the corpus passes every MUST clause that applies to it.
    Only the MUST clauses run: a SHOULD clause cannot raise a false alarm, and the
    slowest clauses (5,000 connections, 16 and 48 MiB streams) are SHOULD."""
    out = tmp_path / "corpus.json"
    must = [f"--clause={c.id}" for c in REGISTRY.values() if c.level is Level.MUST]
    proc = ioconform_cli("corpus", "--json", str(out), "-q", *must, timeout=3600)
    assert out.exists(), proc.stdout + proc.stderr
    fm = json.loads(out.read_text(encoding="utf-8"))["false_alarm_matrix"]
    alarms = {s["name"]: s["false_alarms"] for s in fm["servers"] if s["false_alarms"]}
    # CI shows the head and tail of a failure: the diagnoses go last, after the matrix.
    assert alarms == {}, proc.stdout + "\n".join(_diagnoses(out, alarms))
    assert fm["total"] == len(HERE) >= MIN_SERVERS, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _diagnoses(report: Path, alarms: dict[str, list[str]]) -> list[str]:
    """The full diagnosis of every false alarm, from the JSON report."""
    doc = json.loads(report.read_text(encoding="utf-8"))
    return [f"--- false alarm {i['name']} {c['clause']}:\n{c['detail']}"
            for i in doc["implementations"] for c in i["clauses"]
            if c["clause"] in alarms.get(i["name"], [])]
