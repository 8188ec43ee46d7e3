"""The course config and the grading pipeline's pure stages (no server runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import manifest
from conformance.clause import REGISTRY, Verdict
from conformance.grading import submissions
from conformance.grading.course import Course, CourseError, load, parse
from conformance.models import MODELS
from conformance.runner import Result


def _course(text: str, tmp_path: Path) -> Course:
    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_points_lookup_order_is_clause_family_level_default() -> None:
    course = parse({"points": {"default": 1, "SHOULD": 0.5, "ECHO": 2, "ECHO-1": 5}},
                   source="c")
    assert course.points_for(REGISTRY["ECHO-1"]) == 5
    assert course.points_for(REGISTRY["ECHO-2"]) == 2
    assert course.points_for(REGISTRY["CAPACITY-2"]) == 0.5  # a SHOULD clause
    assert course.points_for(REGISTRY["START-1"]) == 1
    assert Course().points_for(REGISTRY["START-1"]) == 1


def test_hidden_by_clause_or_family() -> None:
    course = parse({"course": {"hidden": ["ROBUST", "ET-4"]}}, source="c")
    assert course.is_hidden(REGISTRY["ROBUST-1"]) and course.is_hidden(REGISTRY["ET-4"])
    assert not course.is_hidden(REGISTRY["ET-1"])


@pytest.mark.parametrize(("text", "key"), [
    ("[course]\nnmae = 'x'\n", "course.nmae"),
    ("[cours]\nname = 'x'\n", "cours"),
    ("[course]\nclauses = ['ECHO-99']\n", "course.clauses"),
    ("[course]\nhidden = 'ECHO'\n", "course.hidden"),
    ("[course]\nstrict = 'yes'\n", "course.strict"),
    ("[points]\nECHOO = 1\n", "points.ECHOO"),
    ("[points]\nECHO = -1\n", "points.ECHO"),
    ("[points]\ndefault = nan\n", "points.default"),
    ("[points]\ndefault = inf\n", "points.default"),
    ("[points]\nECHO = -inf\n", "points.ECHO"),
    ("[course]\nclauses = ['ECHO-2']\nhidden = ['ROBUST-2']\n", "course.hidden"),
    ("[course]\nclauses = ['ECHO-2', 'ROBUST-2']\nhidden = ['ROBUST-2', 'ET']\n",
     "course.hidden"),
    ("[limits]\ncpu = 1.5\n", "limits.cpu"),
    ("[limits]\ncpus = 1\n", "limits.cpus"),
    ("[sandbox]\nmode = 'maybe'\n", "sandbox.mode"),
    ("[submission]\nmodel = 'epoll'\n", "submission.model"),
    ("[submission]\ncommand = './server'\n", "submission.command"),
    ("[submission]\ncwd = '..'\n", "submission.cwd"),
    ("[submission]\nmodels = ['epoll-lt']\n", "submission.models"),
    ("[submission]\nmodels = ['epoll-lt', 'epol']\n", "submission.models"),
    ("[submission]\nmodel = 'poll'\nmodels = ['poll', 'select']\n", "submission.models"),
])
def test_course_errors_name_the_key(text: str, key: str, tmp_path: Path) -> None:
    with pytest.raises(CourseError, match=re.escape(f"key '{key}'")):
        _course(text, tmp_path)


def test_hidden_may_name_a_graded_clause_or_a_family_with_one_graded() -> None:
    course = parse({"course": {"clauses": ["ROBUST-2", "ECHO"], "hidden": ["ROBUST",
                                                                         "ECHO-3"]}},
                   source="c")
    assert course.is_hidden(REGISTRY["ROBUST-2"]) and course.is_hidden(REGISTRY["ECHO-3"])
    assert not course.is_hidden(REGISTRY["ECHO-1"])


@pytest.mark.parametrize("text", ["[points]\ndefault = nan\n",
                                  "[course]\nclauses = ['ECHO']\nhidden = ['ET-1']\n"])
def test_a_refused_course_is_a_usage_error_naming_file_and_key(text: str,
                                                               tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    from conformance.cli import main

    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["grade", "--course", str(path), str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "key '" in err


def test_course_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match="cannot read"):
        load(tmp_path / "missing.toml")
    with pytest.raises(CourseError, match="not valid TOML"):
        _course("[course\n", tmp_path)


def _submission(folder: Path, text: str | None) -> Path:
    folder.mkdir(parents=True)
    if text is not None:
        (folder / "ioconform.toml").write_text(text, encoding="utf-8")
    return folder


STUDENT = 'name = "x"\nmodel = "select"\nservice = "echo"\ncommand = "./srv {port}"\n'


def test_the_course_overrides_the_student(tmp_path: Path) -> None:
    folder = _submission(tmp_path / "alice", STUDENT)
    impl = manifest.load_submission(folder, name="alice",
                                    imposed={"model": "epoll-et", "service": "echo"})
    assert (impl.name, impl.model, impl.command) == ("alice", "epoll-et", ("./srv", "{port}"))


def test_no_manifest_needs_an_imposed_command(tmp_path: Path) -> None:
    folder = _submission(tmp_path / "bob", None)
    with pytest.raises(manifest.ManifestError, match=r"no ioconform\.toml"):
        manifest.load_submission(folder, name="bob", imposed={"model": "poll"})
    impl = manifest.load_submission(folder, name="bob", imposed={
        "model": "poll", "service": "echo", "command": "./server {port}"})
    assert impl.cwd == folder.resolve()


def test_discover_names_and_shards(tmp_path: Path) -> None:
    for name in ("carol", "alice", "bob bob", ".git", "__pycache__"):
        (tmp_path / "class" / name).mkdir(parents=True)
    single = _submission(tmp_path / "elsewhere" / "alice", STUDENT)
    found = submissions.discover([tmp_path / "class", single])
    assert [n for n, _ in found] == ["alice", "alice-2", "bob_bob", "carol"]
    shards = [submissions.shard(found, f"{i}/3") for i in (1, 2, 3)]
    assert sorted(x for s in shards for x in s) == found and all(shards)
    with pytest.raises(submissions.GradingError, match="I/N"):
        submissions.shard(found, "4/3")
    with pytest.raises(submissions.GradingError, match="not a folder"):
        submissions.discover([tmp_path / "nope"])


def test_prepare_copies_and_rejects_escapes(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    good = _submission(tmp_path / "in" / "good", STUDENT)
    sub = submissions.prepare("good", good, Course(), work)
    assert sub.status == "graded" and sub.impl is not None
    assert sub.impl.cwd == (work / "good").resolve() and (work / "good/ioconform.toml").exists()
    bad = _submission(tmp_path / "in" / "bad", STUDENT + 'cwd = ".."\n')
    sub = submissions.prepare("bad", bad, Course(), work)
    assert sub.status == "invalid" and "cwd" in sub.message
    typo = _submission(tmp_path / "in" / "typo", STUDENT.replace("command", "comand"))
    sub = submissions.prepare("typo", typo, Course(), work)
    assert sub.status == "invalid" and "comand" in sub.message
    assert str(typo) in sub.message  # the student's path, not the private copy's


def test_scores_follow_the_points_and_skip_nothing_unearned(tmp_path: Path) -> None:
    course = parse({"points": {"ECHO": 2}, "course": {"hidden": ["ECHO-2"]}}, source="c")
    clauses = [REGISTRY[c] for c in ("ECHO-1", "ECHO-2", "ACCEPT-1", "LT-1")]
    folder = _submission(tmp_path / "s", STUDENT.replace("select", "epoll-et"))
    (tmp_path / "work").mkdir()
    sub = submissions.prepare("s", folder, course, tmp_path / "work")
    results = [Result("s", "epoll-et", "echo", "ECHO-1", "ECHO", "MUST", Verdict.PASS),
               Result("s", "epoll-et", "echo", "ECHO-2", "ECHO", "MUST", Verdict.FAIL, "x"),
               Result("s", "epoll-et", "echo", "ACCEPT-1", "ACCEPT", "MUST", Verdict.SKIP),
               Result("s", "epoll-et", "echo", "LT-1", "LT", "MUST", Verdict.NA)]
    entry = submissions.submission_entry(course, clauses, sub, results)
    assert (entry["score"], entry["max_score"], entry["status"]) == (2.0, 4.0, "graded")
    assert [c["hidden"] for c in entry["clauses"]] == [False, True, False, False]
    sub.stop("build-failed", "  problem: the build failed\nmore")
    entry = submissions.submission_entry(course, clauses, sub, [])
    verdicts = [c["verdict"] for c in entry["clauses"]]
    assert verdicts == ["fail", "fail", "fail", "n/a"] and entry["score"] == 0
    assert "not checked: the submission is build-failed" in entry["clauses"][0]["detail"]


def test_a_course_of_several_models_grades_each_out_of_one_total(tmp_path: Path) -> None:
    """models = [epoll-lt, epoll-et]: each submission's own clauses, scaled so that both
    are out of the richest model's total; a model outside the list is invalid."""
    course = parse({"submission": {"models": ["epoll-lt", "epoll-et"], "service": "echo"},
                    "points": {"ET": 3}}, source="c")
    assert course.to_dict()["models"] == ["epoll-lt", "epoll-et"]
    clauses = [REGISTRY[c] for c in ("ECHO-1", "LT-1", "ET-1", "ET-3")]
    (tmp_path / "work").mkdir()
    entries = {}
    for model in ("epoll-lt", "epoll-et", "poll"):
        folder = _submission(tmp_path / model, STUDENT.replace("select", model))
        sub = submissions.prepare(model, folder, course, tmp_path / "work")
        results = [Result(model, model, "echo", c.id, c.family, "MUST", Verdict.PASS)
                   for c in clauses if c.applies(MODELS[model], "echo")]
        entries[model] = submissions.submission_entry(course, clauses, sub, results)
    lt, et, poll = entries["epoll-lt"], entries["epoll-et"], entries["poll"]
    assert poll["status"] == "invalid" and "not among the models" in poll["message"]
    assert lt["max_score"] == et["max_score"] == poll["max_score"] == 7.0  # 1 + 3 + 3
    assert (lt["score"], et["score"], poll["score"]) == (7.0, 7.0, 0.0)
    assert [c["max_score"] for c in lt["clauses"]] == [3.5, 3.5, 0.0, 0.0]
