"""The likely causes above a server's failures (conformance/causes.py), on hand-made
verdicts: no server runs."""

from __future__ import annotations

from conformance import causes
from conformance.clause import REGISTRY, Verdict
from conformance.runner import Result


def _r(clause: str, verdict: Verdict = Verdict.FAIL, problem: str = "it broke",
       server: str = "still running (pid 1, port 2)") -> Result:
    c = REGISTRY[clause]
    detail = f"{clause} (MUST): ...\n  problem:  {problem}\n  server:   {server}\n  hint: h"
    return Result("s", "epoll-et", "echo", clause, c.family, c.level.value, verdict, detail)


def test_a_missing_drain_loop_is_one_cause_led_by_the_trace() -> None:
    found = causes.likely([_r("ECHO-2"), _r("PARTIAL-1"), _r("ET-1"), _r("ET-3"),
                           _r("ECHO-1", Verdict.PASS)])
    assert len(found) == 1
    (c,) = found
    assert c.lead == "ET-3" and "does not read until EAGAIN" in c.text
    assert set(c.explains) == {"ET-3", "ET-1", "ECHO-2", "PARTIAL-1"}
    assert causes.console("s", found)[0].startswith("s: 1. after an edge-triggered")


def test_a_server_that_never_started_explains_everything() -> None:
    (c,) = causes.likely([_r("START-1"), _r("ECHO-1"), _r("IDLE-1")])
    assert c.lead == "START-1" and set(c.explains) == {"START-1", "ECHO-1", "IDLE-1"}


def test_a_server_that_exits_is_told_so_once_not_the_clauses() -> None:
    gone = "exited with status 1 (pid 1, port 2)"
    found = causes.likely([_r("DISCONNECT-1", server=gone), _r("ECHO-2", server=gone),
                           _r("IDLE-1", problem="CPU 100% while idle")])
    assert "exited with status 1 in the middle of 2 check(s)" in found[0].text
    assert found[0].lead == "ECHO-2" and set(found[0].explains) == {"ECHO-2", "DISCONNECT-1"}
    assert found[1].text == "IDLE-1: CPU 100% while idle" and found[1].explains == ("IDLE-1",)
    # STOP clauses judge the exit itself: no cause is guessed from it.
    (stop,) = causes.likely([_r("STOP-1", server=gone)])
    assert stop.lead == "STOP-1" and "exited" not in stop.text


def test_only_failures_count_and_at_most_three_causes_are_named() -> None:
    assert causes.likely([_r("FAIRNESS-2", Verdict.NON_STRICT), _r("ECHO-1", Verdict.SKIP)]) == []
    many = [_r(c, problem=f"{c} broke") for c in ("IDLE-1", "STOP-1", "ROBUST-1",
                                                   "CAPACITY-1", "LEAK-1")]
    found = causes.likely(many)
    assert len(found) == causes.MOST
    assert [c.lead for c in found] == ["LEAK-1", "STOP-1", "IDLE-1"]  # rules, then by family
    assert found[1].to_dict() == {"cause": found[1].text, "lead": "STOP-1",
                                  "explains": ["STOP-1"]}


def test_one_stall_everywhere_is_one_cause_not_one_per_family() -> None:
    """A server that serves its first client and then spins fails a dozen families with
    the same stalled echo: one cause, led by the first of them in contract order."""
    stalled = [_r(c, problem="the echo is incomplete")
               for c in ("ACCEPT-2", "ECHO-4", "FAIRNESS-1", "DISCONNECT-2", "ROBUST-1")]
    found = causes.likely([*stalled, _r("IDLE-1", problem="CPU use while idle is too high")])
    assert found[0].lead == "ACCEPT-2" and "stops answering in 5 checks across 5" in \
        found[0].text
    assert found[1].lead == "IDLE-1"
    # Three families sharing a problem are three causes' worth of evidence, not one.
    few = causes.likely(stalled[:3])
    assert [c.lead for c in few] == ["ACCEPT-2", "ECHO-4", "FAIRNESS-1"]
