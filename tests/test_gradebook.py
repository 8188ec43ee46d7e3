"""The grading outputs of ``conformance.grading.gradebook``: Gradescope, GitHub Classroom,
Markdown, JUnit, HTML (also rendered by a real headless Chromium), shard merging.

The grade document is built here, as ``ioconform grade`` writes it: four submissions
(full marks; failures including a hidden clause; a build failure; a server whose output
holds a script tag, control bytes and a workflow command)."""

from __future__ import annotations

import base64
import copy
import html.parser
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.grading import gradebook, prairielearn
from conformance.grading.html import anchor, render
from conformance.text import defuse_workflow_commands

CLAUSES = [  # (id, level, points, hidden, requirement)
    ("START-1", "MUST", 2.0, False, "The server listens on the TCP port given in its command "
     "line ({port}) within the startup deadline. It keeps listening."),
    ("ECHO-1", "MUST", 4.0, False, "Every byte received is sent back on the same connection, "
     "unchanged."),
    ("ECHO-2", "MUST", 4.0, False, "The echo is binary-safe: all 256 byte values, NUL "
     "included, come back unchanged."),
    ("ECHO-9", "MUST", 5.0, True, "Secret: a 3 MiB echo split at prime offsets comes back "
     "whole."),
    ("LT-1", "MUST", 0.0, False, "A burst larger than one read is consumed completely."),
    ("ET-1", "MUST", 6.0, False, "A burst larger than one read, arriving while the server is "
     "busy, is consumed completely with no further client activity."),
    ("ET-7", "SHOULD", 3.0, True, "Secret: edge-triggered wakeups stay under 3 per burst."),
    ("CAPACITY-2", "SHOULD", 1.0, False, "The server holds 5,000 concurrent connections, "
     "each confirmed by a round trip."),
]
HIDDEN_IDS = ("ECHO-9", "ET-7")
HIDDEN_REQ = "Secret: a 3 MiB echo"
HIDDEN_DETAIL = "SECRET-DIAGNOSIS prime offsets 1009 and 2017"
XSS = "<script>alert(1)</script>"
MAX = sum(c[2] for c in CLAUSES)


def _clause(cid: str, verdict: str, detail: str = "", *,
            score: float | None = None) -> dict[str, Any]:
    _, level, pts, hidden, req = next(c for c in CLAUSES if c[0] == cid)
    counted = verdict not in ("n/a", "skip")
    top = pts if counted else 0.0
    if score is None:
        score = top if verdict in ("pass", "xfail", "xpass") else 0.0
    return {"clause": cid, "family": cid.split("-")[0], "level": level, "verdict": verdict,
            "score": score, "max_score": top, "hidden": hidden,
            "detail": detail or f"{cid} ({level}): {req}\n  {verdict}", "duration_s": 0.25}


def _sub(name: str, status: str, clauses: list[dict[str, Any]],
         message: str = "") -> dict[str, Any]:
    return {"name": name, "folder": f"/srv/a3/{name}", "model": "epoll-et", "service": "echo",
            "status": status, "message": message,
            "score": sum(c["score"] for c in clauses), "max_score": sum(
                c["max_score"] for c in clauses) if clauses else MAX,
            "duration_s": 12.5, "clauses": clauses}


def make_doc() -> dict[str, Any]:
    alice = _sub("alice", "graded", [_clause(c[0], "n/a" if c[0] == "LT-1" else "pass")
                                     for c in CLAUSES])
    bob = _sub("bob", "graded", [
        _clause("START-1", "pass"),
        _clause("ECHO-1", "fail", "ECHO-1 (MUST): Every byte received is sent back.\n"
                "  problem:  the echo is incomplete\n  expected: 4096 B echoed\n"
                "  actual:   17 B echoed\n  last stdout lines: ```not a fence``` ````x````"),
        _clause("ECHO-2", "pass"),
        _clause("ECHO-9", "fail", f"ECHO-9 (MUST): {HIDDEN_DETAIL}\n  actual: 1 B"),
        _clause("LT-1", "n/a"), _clause("ET-1", "pass"),
        _clause("ET-7", "non-strict", "ET-7 (SHOULD): 9 wakeups"),
        _clause("CAPACITY-2", "skip", "CAPACITY-2: RLIMIT_NOFILE is 1024"),
    ])
    carol = _sub("carol", "build-failed", [], "make: *** [Makefile:3: server] Error 1\n"
                 "server.c:12:5: error: 'epoll_create2' undeclared")
    evil_detail = (f"ECHO-1 (MUST): Every byte received is sent back.\n  last stdout lines: "
                   f"{XSS}<img src=x onerror=alert(2)>\x1b[31mred\x1b[0m\x00\x07 bell\r\n"
                   f"::add-mask::hunter2\n\u202eevil\udc80 end")
    dave = _sub("d<a>ve & co", "graded", [
        _clause("START-1", "pass"), _clause("ECHO-1", "fail", evil_detail),
        _clause("ECHO-2", "error", "Traceback (most recent call last): harness broke"),
        _clause("ECHO-9", "pass"), _clause("LT-1", "n/a"),
        _clause("ET-1", "fail", "ET-1 (MUST): stalled\n" + "x" * 300_000),
        _clause("ET-7", "pass"), _clause("CAPACITY-2", "xfail", "declared: fixed table"),
    ])
    subs = [alice, bob, carol, dave]
    return {
        "ioconform": {"version": "0.1.0", "command": "grade", "platform": "linux",
                      "python": "3.11.7", "started": "2026-11-26T10:00:00+00:00",
                      "duration_s": 81.2, "workers": 3, "seed": "netprog-a3", "strict": False,
                      "shard": "1/1", "sandbox": "bwrap: read-only root, private /tmp, no "
                      "network but loopback", "outward_attempts": 0},
        "course": {"name": "Network Programming A3", "source": "/srv/a3/course.toml",
                   "model": "epoll-et", "service": "echo"},
        "clauses": [{"clause": c[0], "family": c[0].split("-")[0], "level": c[1],
                     "requirement": c[4], "points": c[2], "hidden": c[3]} for c in CLAUSES],
        "summary": gradebook.summarize(subs),
        "submissions": subs,
    }


@pytest.fixture
def doc() -> dict[str, Any]:
    return make_doc()


def _outside_fences(md: str) -> str:
    """The Markdown text outside fenced code blocks (CommonMark: a fence closes on a line
    of at least as many backticks as opened it)."""
    out, fence = [], ""
    for line in md.splitlines():
        ticks = len(line) - len(line.lstrip("`"))
        if not fence and ticks >= 3:
            fence = "`" * ticks
        elif fence and ticks >= len(fence) and not line.strip("`"):
            fence = ""
        elif not fence:
            out.append(line)
    assert not fence, "unclosed fence"
    return "\n".join(out)


def _no_hidden(text: str) -> None:
    for secret in (*HIDDEN_IDS, HIDDEN_REQ, HIDDEN_DETAIL, "wakeups"):
        assert secret not in text, secret


# -- Gradescope -----------------------------------------------------------------------------
def test_gradescope_shape_and_totals(doc: dict[str, Any]) -> None:
    gs = gradebook.gradescope(doc, "bob")
    json.dumps(gs)  # serialisable
    assert gs["score"] == 2 + 4 + 6
    assert gs["execution_time"] == 12 and gs["output_format"] == "text"
    assert "max_score" not in gs  # not in Gradescope's spec: it sums the tests'
    tests = {t["extra_data"]["clause"]: t for t in gs["tests"]}
    # every clause with points, plus the 0-point failures; skip/n-a without points left out
    assert set(tests) == {"START-1", "ECHO-1", "ECHO-2", "ECHO-9", "ET-1", "ET-7"}
    assert sum(t["max_score"] for t in gs["tests"]) == 2 + 4 + 4 + 5 + 6 + 3
    assert sum(t["score"] for t in gs["tests"]) == gs["score"]
    e1 = tests["ECHO-1"]
    assert e1["name"] == "ECHO-1 (MUST): Every byte received is sent back on the same " \
        "connection, unchanged."
    assert (e1["status"], e1["score"], e1["max_score"], e1["tags"]) == ("failed", 0, 4, ["ECHO"])
    assert "the echo is incomplete" in e1["output"] and e1["visibility"] == "visible"
    assert tests["START-1"]["status"] == "passed"
    assert tests["START-1"]["name"].endswith("within the startup deadline.")  # first sentence
    assert tests["ECHO-9"]["visibility"] == tests["ET-7"]["visibility"] == "hidden"
    assert tests["ET-7"]["status"] == "failed"
    visible = json.dumps([t for t in gs["tests"] if t["visibility"] == "visible"])
    _no_hidden(visible + gs["output"])
    assert "1 hidden check(s) not met" not in gs["output"]  # ECHO-9 failed, ET-7 non-strict
    assert "2 hidden check(s) not met" in gs["output"]


def test_gradescope_not_graded_and_unknown(doc: dict[str, Any]) -> None:
    gs = gradebook.gradescope(doc, "carol")
    assert gs["score"] == 0
    [only] = gs["tests"]
    assert (only["score"], only["max_score"], only["status"]) == (0, MAX, "failed")
    assert "epoll_create2" in only["output"]
    with pytest.raises(ValueError, match="no submission named 'zed'"):
        gradebook.gradescope(doc, "zed")


def test_gradescope_escapes_nothing_but_makes_controls_visible(doc: dict[str, Any]) -> None:
    out = {t["extra_data"]["clause"]: t
           for t in gradebook.gradescope(doc, "d<a>ve & co")["tests"]}
    e1 = out["ECHO-1"]["output"]
    assert XSS in e1 and out["ECHO-1"].get("output_format", "text") == "text"
    assert "\x1b" not in e1 and "\x00" not in e1 and "\\x1b[31m" in e1 and "\u202e" not in e1
    assert len(out["ET-1"]["output"]) < 60_000 and "characters omitted" in out["ET-1"]["output"]


# -- GitHub Classroom -----------------------------------------------------------------------
def _decode(b64: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.b64decode(b64, validate=True))
    return value


def test_classroom_documented_shape(doc: dict[str, Any]) -> None:
    res = _decode(gradebook.classroom(doc, "bob"))
    assert set(res) == {"version", "status", "max_score", "tests"}
    # CAPACITY-2 was skipped: not counted
    assert (res["version"], res["status"], res["max_score"]) == (1, "fail", MAX - 1)
    for test in res["tests"]:
        assert {"name", "status", "score", "message", "test_code", "filename", "line_no",
                "duration", "execution_time"} <= set(test)
        assert test["status"] in ("pass", "fail", "error") and isinstance(test["score"], float)
    # the reporter's total: the sum of the tests' scores
    assert sum(t["score"] for t in res["tests"]) == 12.0
    hidden = [t for t in res["tests"] if t["name"].startswith("hidden checks")]
    assert len(hidden) == 1 and hidden[0]["status"] == "fail"
    assert "2 of 2 hidden checks not met (0 / 8 points)" in hidden[0]["message"]
    _no_hidden(json.dumps(res))
    assert _decode(gradebook.classroom(doc, "alice"))["status"] == "pass"
    assert _decode(gradebook.classroom(doc, "carol"))["tests"][0]["status"] == "fail"


def test_classroom_defuses_workflow_commands_and_errors(doc: dict[str, Any]) -> None:
    res = _decode(gradebook.classroom(doc, "d<a>ve & co"))
    assert res["status"] == "error"  # ECHO-2 was a harness error
    text = "\n".join(t["test_code"] + "\n" + t["message"] for t in res["tests"])
    assert "\n::add-mask::" not in text and " ::add-mask::" in text
    assert "\x1b" not in text


@pytest.mark.parametrize("line", ["::add-mask::x", "  ::stop-commands::t", "\t::error::e",
                                  "\u2003\u00a0::warning::w", "##[error]e", " \u3000##[group]g",
                                  "\x85::debug::d"])
def test_no_workflow_command_survives_any_leading_whitespace(line: str) -> None:
    """GitHub's runner trims every Unicode whitespace before matching ``::`` or ``##[``."""
    for text in (line, f"before\n{line}\nafter", f"before\r{line}"):
        for shown in defuse_workflow_commands(text).splitlines():
            assert not shown.lstrip().startswith(("::", "##[")), repr(shown)
    assert defuse_workflow_commands("a :: b\nc") == "a :: b\nc"


def test_write_github_output_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert not gradebook.write_github_output("result", "abc")
    assert not gradebook.write_step_summary("# hi")
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert gradebook.write_github_output("result", "YWJj")
    assert gradebook.write_github_output("text", "two\nlines")
    lines = out.read_text().splitlines()
    assert lines[0] == "result=YWJj"
    assert lines[1].startswith("text<<ioconform_") and lines[2:4] == ["two", "lines"]
    assert lines[4] == lines[1].split("<<")[1]
    with pytest.raises(ValueError):
        gradebook.write_github_output("bad key", "x")
    assert gradebook.write_step_summary("# one") and gradebook.write_step_summary("# two\n")
    assert summary.read_text() == "# one\n# two\n"
    assert gradebook.write_step_summary("x" * (2 << 20))
    assert len(summary.read_bytes()) < gradebook.STEP_SUMMARY_LIMIT


# -- Markdown -------------------------------------------------------------------------------
def test_markdown_for_students(doc: dict[str, Any]) -> None:
    md = gradebook.markdown(doc)
    _no_hidden(md)
    assert "## bob: 12 / 24 points" in md
    assert "| ECHO | 4 / 8 | 1 / 2 |" in md  # hidden ECHO-9 not in the family's row
    assert "2 hidden checks: 0 / 8 points" in md
    assert "**ECHO-1** (MUST, fail, 0 / 4)" in md
    assert "## carol: 0 / 25 points" in md and "build-failed" in md
    assert "d&lt;a&gt;ve & co" not in md and "## d&lt;a&gt;ve &amp; co" in md
    # the server's markup is only inside fenced blocks, where Markdown shows it literally
    outside = _outside_fences(md)
    assert "<" not in outside and "\x1b" not in outside
    assert XSS in md
    assert "mean" not in md.lower()  # no class statistics for students


def test_markdown_fences_cannot_be_closed_by_the_detail(doc: dict[str, Any]) -> None:
    md = gradebook.markdown(doc)
    block = md.split("**ECHO-1**", 1)[1]
    fence_line = block.splitlines()[2]
    assert fence_line == "`````text"  # longer than the ```` run inside the detail
    body = block.split(fence_line + "\n", 1)[1]
    assert "````x````" in body.split("\n`````\n", 1)[0]
    evil = md.split("d&lt;a&gt;ve", 1)[1]
    assert "\x1b" not in evil and "\x00" not in evil and "\\x1b[31m" in evil


def test_markdown_for_graders(doc: dict[str, Any]) -> None:
    md = gradebook.markdown(doc, student=False)
    assert "ECHO-9" in md and HIDDEN_DETAIL in md and "(hidden)" in md
    assert "4 submissions: 3 graded, 1 build failed" in md


# -- JUnit ----------------------------------------------------------------------------------
def test_junit_parses_and_counts(doc: dict[str, Any]) -> None:
    root = ET.fromstring(gradebook.junit(doc).encode())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["alice", "bob", "carol", "d<a>ve & co"]
    bob = suites["bob"]
    assert (bob.get("tests"), bob.get("failures"), bob.get("skipped")) == ("8", "2", "2")
    props = {p.get("name"): p.get("value") for p in bob.find("properties") or []}
    assert props["score"] == "12.0" and props["status"] == "graded"
    cases = {c.get("name"): c for c in bob.iter("testcase")}
    e9 = cases["ECHO-9"]  # hidden clauses are there for graders
    failure = e9.find("failure")
    assert failure is not None and HIDDEN_DETAIL in (failure.text or "")
    cprops = {p.get("name"): p.get("value") for p in e9.iter("property")}
    assert cprops == {"score": "0.0", "max_score": "5.0", "verdict": "fail", "hidden": "True"}
    assert suites["carol"].get("failures") == "1"
    dave = suites["d<a>ve & co"]
    assert dave.get("errors") == "1" and dave.get("failures") == "2"


# -- summary and merge ----------------------------------------------------------------------
def test_summarize(doc: dict[str, Any]) -> None:
    s = gradebook.summarize(doc["submissions"])
    assert s == {"submissions": 4, "graded": 3, "build_failed": 1, "invalid": 0,
                 "not_started": 0, "errors": 0, "max_score": 25.0,
                 "mean_score": 12.0, "median_score": 11.5}  # 25, 12, 0, 11
    assert gradebook.summarize([])["mean_score"] is None
    broken = [{"name": "x", "status": "error", "score": 0, "max_score": 25}]
    assert gradebook.summarize(broken)["errors"] == 1
    assert gradebook.summarize(broken)["median_score"] is None


def _shards(doc: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = copy.deepcopy(doc), copy.deepcopy(doc)
    a["submissions"] = [s for s in doc["submissions"] if s["name"] in ("carol", "alice")][::-1]
    b["submissions"] = [s for s in doc["submissions"] if s["name"] not in ("carol", "alice")]
    a["ioconform"].update(shard="1/2", duration_s=50.0, workers=2, outward_attempts=1,
                          started="2026-11-26T10:00:05+00:00")
    b["ioconform"].update(shard="2/2", duration_s=70.0, workers=3,
                          started="2026-11-26T09:59:00+00:00")
    for d in (a, b):
        d["summary"] = gradebook.summarize(d["submissions"])
    return [a, b]


def test_merge(doc: dict[str, Any]) -> None:
    merged = gradebook.merge(_shards(doc))
    assert [s["name"] for s in merged["submissions"]] == ["alice", "bob", "carol", "d<a>ve & co"]
    assert merged["summary"] == gradebook.summarize(doc["submissions"])
    head = merged["ioconform"]
    assert head["shard"] == "merged 2" and head["duration_s"] == 70.0
    assert (head["workers"], head["outward_attempts"]) == (5, 1)
    assert head["started"] == "2026-11-26T09:59:00+00:00"
    assert [s["shard"] for s in head["shards"]] == ["1/2", "2/2"]
    assert merged["clauses"] == doc["clauses"] and merged["course"] == doc["course"]


@pytest.mark.parametrize(("part", "key", "value", "message"), [
    ("ioconform", "seed", "other-seed", "ioconform.seed differs: document 1 has "
     "'netprog-a3', document 2 has 'other-seed'"),
    ("ioconform", "version", "0.2.0", "ioconform.version differs"),
    ("course", "name", "Other course", "course.name differs"),
    ("course", "source", "/elsewhere.toml", "course.source differs"),
])
def test_merge_rejects_mismatches(doc: dict[str, Any], part: str, key: str, value: str,
                                  message: str) -> None:
    a, b = _shards(doc)
    b[part][key] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gradebook.merge([a, b])


def test_merge_rejects_other_clauses_and_duplicates(doc: dict[str, Any]) -> None:
    a, b = _shards(doc)
    b["clauses"] = b["clauses"][:-1]
    with pytest.raises(ValueError, match=r"clause list differs.*CAPACITY-2"):
        gradebook.merge([a, b])
    a, b = _shards(doc)
    b["clauses"][0]["points"] = 99
    with pytest.raises(ValueError, match="same IDs, different levels, points"):
        gradebook.merge([a, b])
    a, b = _shards(doc)
    b["submissions"].append(copy.deepcopy(a["submissions"][0]))
    with pytest.raises(ValueError, match="submission 'carol' is in document 1 and document 2"):
        gradebook.merge([a, b])
    with pytest.raises(ValueError, match="no grade documents"):
        gradebook.merge([])


# -- HTML -----------------------------------------------------------------------------------
class _Scan(html.parser.HTMLParser):
    """Collects ids, hrefs, external references and <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a":
            self.hrefs.append(a.get("href") or "")
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v and not v.startswith("#"):
                self.external.append(v)


def test_html_is_escaped_self_contained_and_linked(doc: dict[str, Any]) -> None:
    page = render(doc)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "\x1b" not in page and "\x00" not in page
    assert "url(" not in page and "@import" not in page and "http" not in page.split(
        "<body>")[0].replace("http-equiv", "")
    scan = _Scan()
    scan.feed(page)
    assert scan.scripts == 1 and scan.external == []
    assert all(h.startswith("#") and h[1:] in scan.ids for h in scan.hrefs)
    # grader-facing: hidden clauses and their diagnoses are there
    assert HIDDEN_DETAIL in page and "ECHO-9" in page
    assert "characters omitted" in page and len(page) < 400_000
    assert anchor("d", "bob", "ECHO-1") == "d-bob-ECHO-1"
    assert anchor("d", "d<a>ve & co", "ECHO-1").startswith("d-d_a_ve___co_")
    assert anchor("s", "a b") != anchor("s", "a_b")


# -- a real browser -------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the browser check "
                        "(.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this")
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--mute-audio",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


class _Dom(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.cells: list[tuple[str, str]] = []  # (class, href) of every verdict cell
        self.scripts = 0
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        cls = a.get("class") or ""
        if tag == "td" and (cls.startswith("v ") or " ng" in f" {cls}"):
            self._cell = cls
        elif tag == "a" and self._cell is not None:
            self.cells.append((self._cell, a.get("href") or ""))
            self._cell = None
        if tag in ("script", "img", "iframe"):
            self.scripts += tag != "script"  # only our own script may exist


def test_html_in_headless_chromium(doc: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "grades.html"
    page.write_text(render(doc), encoding="utf-8")
    url = page.as_uri()
    # Opened at a passing clause's anchor: its <details> starts closed, and our script
    # (allowed by the page's CSP, by hash) opens it.
    target = anchor("d", "alice", "START-1")
    dumped = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", f"{url}#{target}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    graded = [s for s in doc["submissions"] if s["status"] == "graded"]
    expected = sum(len(s["clauses"]) for s in graded) + len(doc["submissions"]) - len(graded)
    assert len(dom.cells) == expected == 3 * len(CLAUSES) + 1
    for cls, href in dom.cells:
        assert href.startswith("#") and href[1:] in dom.ids, (cls, href)
    assert dom.scripts == 0  # no <img onerror>, no injected elements
    assert f'<details id="{target}" open="">' in dumped.stdout  # our script did run
    # the payload is text in the rendered DOM, and no dialog or error was raised
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dumped.stdout
    assert "<script>alert" not in dumped.stdout
    shot = tmp_path / "grades.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900",
                      "--hide-scrollbars", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("IOCONFORM_GRADEBOOK_SCREENSHOT")
    if keep:  # for a human to look at
        shutil.copyfile(shot, keep)


# -- PrairieLearn ---------------------------------------------------------------------------
def _prairielearn_shape(res: dict[str, Any]) -> None:
    """PrairieLearn's external-grader results: the keys and types its grader reads."""
    assert isinstance(res["gradable"], bool) and isinstance(res["message"], str)
    assert isinstance(res["score"], float) and 0.0 <= res["score"] <= 1.0
    assert isinstance(res["output"], str)
    for t in res["tests"]:
        assert set(t) == {"name", "description", "points", "max_points", "message", "output"}
        assert all(isinstance(t[k], str) for k in ("name", "description", "message", "output"))
        assert 0 <= t["points"] <= t["max_points"]
    assert len(json.dumps(res).encode()) < prairielearn.LIMIT


def test_prairielearn_scores_and_hides(doc: dict[str, Any]) -> None:
    bob = prairielearn.results(doc, "bob")
    _prairielearn_shape(bob)
    sub = gradebook.submission(doc, "bob")
    assert bob["gradable"] and bob["score"] == round(sub["score"] / sub["max_score"], 4)
    tests = {t["name"].split(":")[0]: t for t in bob["tests"]}
    echo = next(t for t in bob["tests"] if "ECHO-1" in t["name"])
    assert echo["message"] == "[fail] the echo is incomplete" and "17 B echoed" in echo["output"]
    text = json.dumps(bob)
    assert HIDDEN_DETAIL not in text and HIDDEN_REQ not in text and "ECHO-9" not in text
    assert "hidden checks (2)" in tests and "2 of 2 hidden checks not met" in text
    assert prairielearn.results(doc, "alice")["score"] == 1.0


def test_prairielearn_a_build_failure_is_not_gradable_and_size_is_bounded(
        doc: dict[str, Any]) -> None:
    carol = prairielearn.results(doc, "carol")
    _prairielearn_shape(carol)
    assert (carol["gradable"], carol["score"], carol["tests"]) == (False, 0.0, [])
    assert "epoll_create2" in carol["output"]
    huge = make_doc()
    dave = gradebook.submission(huge, "d<a>ve & co")
    for c in dave["clauses"]:
        c["verdict"], c["detail"] = "fail", "\u00e9\x01" * 400_000  # escapes grow in JSON
    res = prairielearn.results(huge, "d<a>ve & co")
    _prairielearn_shape(res)
    assert "\x01" not in json.dumps(res) and "characters omitted" in res["tests"][0]["output"]
