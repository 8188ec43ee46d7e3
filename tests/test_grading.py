"""The fixture course graded end to end: `ioconform grade` in two shards, then `merge`.

Thirteen submissions (tests/fixtures/course/): correct ones in C and Python, one defect
each in the others, one that does not compile, one that hangs, one that fork-bombs, one
with a bad manifest.  expected.toml says which clauses each must not pass; the scores
follow from the course's points.  This is the slowest test of the suite (about a minute
on two cores): it is the whole grading workflow, sandbox included.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.cli import main
from conformance.grading.course import load as load_course
from conformance.harness import sandbox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COURSE = Path(__file__).parent / "fixtures" / "course"
EXPECTED = tomllib.loads((COURSE / "expected.toml").read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the fixture course is C and epoll: Linux only")


def _grade(out: Path) -> dict[str, Any]:
    """Grade the course in two shards and merge them (one run of the whole workflow:
    xdist would run a module fixture once per worker, so the checks share one test)."""
    if why := sandbox.unavailable():
        pytest.fail(f"the fixture course requires the sandbox: {why}")
    klass = out / "class"
    shutil.copytree(COURSE, klass, ignore=shutil.ignore_patterns("server", "*.o"))
    course = str(klass / "course.toml")
    for i in (1, 2):
        code = main(["grade", "--course", course, str(klass), "--shard", f"{i}/2", "-q",
                     "-n", "2", "--json", str(out / f"shard{i}.json")])
        assert code == 0, f"shard {i}/2 exited {code}"
    code = main(["merge", str(out / "shard1.json"), str(out / "shard2.json"),
                 "--json", str(out / "merged.json"), "--html", str(out / "report.html"),
                 "--markdown", str(out / "summary.md"),
                 "--gradescope", str(out / "gradescope"), "--junit", str(out / "junit.xml"),
                 "--prairielearn", str(out / "prairielearn")])
    assert code == 0
    doc: dict[str, Any] = json.loads((out / "merged.json").read_text(encoding="utf-8"))
    doc["_out"] = str(out)
    return doc


def _sub(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["submissions"] if s["name"] == name)


@pytest.mark.contract
@pytest.mark.xdist_group("whole-runs")  # the fork bomb's load must not meet the references
def test_fixture_course_end_to_end(tmp_path: Path) -> None:
    graded = _grade(tmp_path)
    strays = [p for p in psutil.Process().children(recursive=True)
              if p.status() != psutil.STATUS_ZOMBIE]
    assert not strays, [p.cmdline() for p in strays]
    for name in sorted(EXPECTED):
        _expected_verdicts(graded, name)
    _scores_follow_the_course_points(graded)
    _the_sandbox_contained_the_fork_bomb(graded)
    _failures_explain_themselves(graded)
    _outputs_hide_hidden_clauses_from_students(graded)
    _failures_were_confirmed_by_re_runs(graded)


def _expected_verdicts(graded: dict[str, Any], name: str) -> None:
    want, sub = EXPECTED[name], _sub(graded, name)
    assert sub["status"] == want["status"], sub["message"]
    counted = [c for c in sub["clauses"] if c["max_score"] > 0]
    missed = {c["clause"] for c in counted if c["score"] < c["max_score"]}
    if want["not_pass"] == "all":
        assert sub["score"] == 0 and missed == {c["clause"] for c in counted}
        return
    must, may = set(want["not_pass"]), set(want.get("may_fail", []))
    details = {c["clause"]: c["detail"][:600] for c in sub["clauses"]
               if c["clause"] in missed ^ must}
    assert must <= missed <= must | may, (name, details)


def _scores_follow_the_course_points(graded: dict[str, Any]) -> None:
    course = load_course(COURSE / "course.toml")
    table = {c["clause"]: c for c in graded["clauses"]}
    for c in table.values():
        assert c["hidden"] == (c["clause"] == "ROBUST-2")
    assert table["ET-1"]["points"] == 4 and table["ECHO-2"]["points"] == 2
    assert table["STOP-3"]["points"] == 0.5  # a SHOULD clause
    full = _sub(graded, "correct-c")
    assert full["score"] == full["max_score"] == sum(c["points"] for c in table.values())
    drained = _sub(graded, "no-drain")
    lost = sum(table[c]["points"] for c in EXPECTED["no-drain"]["not_pass"])
    assert drained["score"] == drained["max_score"] - lost
    assert graded["ioconform"]["seed"] == course.seed
    assert graded["summary"]["submissions"] == len(EXPECTED)


def _the_sandbox_contained_the_fork_bomb(graded: dict[str, Any]) -> None:
    assert graded["ioconform"]["shard"] == "merged 2"
    bomb = _sub(graded, "fork-bomb")
    notes = [ln for c in bomb["clauses"] for ln in c["detail"].splitlines()
             if "contained:" in ln]
    assert any("process limit 64 reached" in ln for ln in notes), notes


def _failures_explain_themselves(graded: dict[str, Any]) -> None:
    broken = _sub(graded, "no-compile")
    assert "the build failed" in broken["message"] and "error" in broken["message"]
    bad = _sub(graded, "bad-manifest")
    assert "key 'comand'" in bad["message"]
    hung = _sub(graded, "hangs")
    assert hung["status"] == "not-started" and "START-1" in hung["message"]
    sanitizer = next(c for c in _sub(graded, "off-by-one")["clauses"]
                     if c["clause"] == "ROBUST-4")
    assert "AddressSanitizer: heap-buffer-overflow" in sanitizer["detail"]


def _outputs_hide_hidden_clauses_from_students(graded: dict[str, Any]) -> None:
    out = Path(graded["_out"])
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "ROBUST-2" not in summary and "hidden checks" in summary
    scope = json.loads((out / "gradescope" / "exits-after-one.json").read_text())
    hidden = [t for t in scope["tests"] if "ROBUST-2" in t["name"]]
    assert hidden and all(t["visibility"] == "hidden" for t in hidden)
    assert scope["score"] == _sub(graded, "exits-after-one")["score"]
    for sub in graded["submissions"]:  # one results.json per submission, none naming it
        pl = json.loads((out / "prairielearn" / f"{sub['name']}.json").read_text())
        assert "ROBUST-2" not in json.dumps(pl) and 0.0 <= pl["score"] <= 1.0
        assert pl["gradable"] == (sub["status"] not in ("build-failed", "invalid", "error"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "fork-bomb" in html and "ROBUST-2" in html  # the instructor sees everything


def _failures_were_confirmed_by_re_runs(graded: dict[str, Any]) -> None:
    """With the default --confirm 2, a failure on a listening server was run again and
    counts only with a majority; a passing clause ran once."""
    assert graded["ioconform"]["confirm"] == 2
    for c in _sub(graded, "correct-c")["clauses"]:
        assert (c["verdict"], c["runs"]) == ("pass", []), c["detail"][:300]
    for c in _sub(graded, "no-drain")["clauses"]:
        if c["clause"] in EXPECTED["no-drain"]["not_pass"]:
            assert c["runs"][:1] == ["fail"] and c["runs"].count("fail") * 2 > len(c["runs"])
            assert c["confirm_s"] > 0 and f"failed {c['runs'].count('fail')} of" in c["detail"]
    stopped = _sub(graded, "hangs")["clauses"]  # never checked clause by clause
    assert all(c["runs"] == [] for c in stopped)
