"""The likely causes of a server's failures: one bug fails several clauses.

A missing drain loop fails ECHO-2, PARTIAL-1, BACKPRESSURE-1, ET-1 and ET-3; a server
that exits after its first client fails most of the contract.  Twenty failures for
three bugs bury the lead, so the report names the likely causes first, each with the
clause whose diagnosis is the best evidence for it (ET-3's trace of a read that stopped
short of EAGAIN says more than ECHO-2's stalled echo) and the failures it accounts for.

The rules are ordered by the strength of their evidence.  Each claims the failures it
explains; what no rule explains gets a cause of its own: the first failing clause of
its family and that clause's problem line.  Only failures count (``fail``): a SHOULD
clause not met is reported apart, and no cause is guessed for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from conformance import failure
from conformance.clause import FAMILIES, Verdict
from conformance.runner import Result

MOST = 3  # causes named at most: beyond that the failures speak for themselves


@dataclass(frozen=True)
class Cause:
    text: str  # the likely cause, in a line a student can act on
    lead: str  # the clause whose diagnosis is the best evidence
    explains: tuple[str, ...]  # the failing clauses it accounts for, lead first

    def to_dict(self) -> dict[str, object]:
        return {"cause": self.text, "lead": self.lead, "explains": list(self.explains)}


def _problem(r: Result) -> str:
    return failure.problem(r.detail)


def _server_state(r: Result) -> str:
    return next((ln.split(":", 1)[1].strip() for ln in r.detail.splitlines()
                 if ln.strip().startswith("server:")), "")


_ENDED = re.compile(r"^(exited with status \d+|killed by SIG\w+)")


def _ended(r: Result) -> str | None:
    """How the server ended during this clause, unless it was the harness that stopped
    it (STOP clauses, a budget that ran out)."""
    if r.family == "STOP" or "ran out of its budget" in r.detail:
        return None
    m = _ENDED.match(_server_state(r))
    return m.group(1) if m else None


# A step finds one cause among the failures not yet explained: (the cause, its lead,
# which other failures it explains), or None.
_Found = tuple[str, Result, Callable[[Result], bool]]
_Step = Callable[[list[Result]], _Found | None]


@dataclass(frozen=True)
class _Rule:
    """A cause that shows in certain failures, led by the best evidence among them."""

    shows: Callable[[Result], bool]  # does this failure show the cause?
    text: str
    leads: tuple[str, ...] = ()  # the clauses whose diagnosis leads, best first
    symptoms: frozenset[str] = frozenset()  # the families it also explains when it holds

    def __call__(self, left: list[Result]) -> _Found | None:
        if not (hits := [r for r in left if self.shows(r)]):
            return None
        lead = next((r for c in self.leads for r in hits if r.clause == c), hits[0])
        return self.text, lead, lambda r: self.shows(r) or r.family in self.symptoms


def _not_started(left: list[Result]) -> _Found | None:
    """START-1 failed: nothing else could pass, so it explains every failure."""
    if (start := next((r for r in left if r.clause == "START-1"), None)) is None:
        return None
    return ("the server never listened on its port, or never served its first client: "
            "START-1's diagnosis says which, and nothing else can pass until it does",
            start, lambda r: True)


def _ended_midway(left: list[Result]) -> _Found | None:
    if not (ended := [r for r in left if _ended(r)]):
        return None
    return (f"the server {_ended(ended[0])} in the middle of {len(ended)} check(s): its "
            f"last stderr lines (in {ended[0].clause}'s diagnosis) say why; a server keeps "
            "serving until it is told to stop", ended[0], lambda r: _ended(r) is not None)


def _stops_answering(left: list[Result]) -> _Found | None:
    """One problem line failing clauses of four families or more: one defect showing
    everywhere, not four."""
    by_problem: dict[str, list[Result]] = {}
    for r in left:
        if problem := _problem(r):
            by_problem.setdefault(problem, []).append(r)
    best = max(by_problem.items(), key=lambda kv: len({r.family for r in kv[1]}),
               default=None)
    if best is None or (families := len({r.family for r in best[1]})) < 4:
        return None
    problem, mine = best
    return (f"the server stops answering in {len(mine)} checks across {families} families "
            f"({problem!r}): it likely serves its first client and then blocks (in "
            "accept(), recv() or a busy loop), or serves one client at a time; the "
            f"diagnosis of {mine[0].clause} shows where the stream stalled",
            mine[0], lambda r: _problem(r) == problem)


_ET_DRAIN = {"ET-1", "ET-3", "SIGIO-1", "SIGIO-2"}
# Ordered by the strength of their evidence: what ends everything, the rules with
# evidence of their own (a budget, a trace), one problem that shows everywhere, and only
# then the rules that go by family.
_STEPS: tuple[_Step, ...] = (
    _not_started,
    _ended_midway,
    _Rule(lambda r: "ran out of its budget" in r.detail,
          "the server stops serving in the middle of a check: it stopped answering, and "
          "the clause's budget ran out (its diagnosis says where it stood)"),
    _Rule(lambda r: r.clause in _ET_DRAIN,
          "after an edge-triggered notification the server does not read until EAGAIN: "
          "whatever it leaves unread brings no new event, and those clients stall",
          ("ET-3", "SIGIO-2", "SIGIO-1", "ET-1"),
          frozenset({"ECHO", "PARTIAL", "BACKPRESSURE", "FAIRNESS", "SIGIO", "ET"})),
    _Rule(lambda r: r.clause in ("ET-2", "ET-4"),
          "after a notification of the listening socket the server does not accept() "
          "until EAGAIN: connections left in the queue wait for an event that never comes",
          ("ET-4", "ET-2"), frozenset({"ACCEPT", "CAPACITY", "ET"})),
    _Rule(lambda r: r.family == "MODEL",
          "the server does not serve its clients with the declared model's mechanism: "
          "MODEL-1's syscall trace shows what it uses instead", ("MODEL-1", "MODEL-2")),
    _stops_answering,
    _Rule(lambda r: r.family == "PARTIAL",
          "send() may write less than it was given, and the rest is not sent later: check "
          "its return value and keep what is left for the next writable event",
          ("PARTIAL-1", "PARTIAL-2", "PARTIAL-3"),
          frozenset({"ECHO", "BACKPRESSURE", "PARTIAL"})),
    _Rule(lambda r: r.family in ("DISCONNECT", "LEAK"),
          "a client's socket or table slot is not released when the client leaves: "
          "close() it and free the slot on every path (EOF, error, reset)"),
)


def likely(results: Sequence[Result]) -> list[Cause]:
    """The likely causes of one server's failures, the strongest evidence first."""
    order = {c: n for n, c in enumerate(FAMILIES)}
    left = sorted((r for r in results if r.verdict is Verdict.FAIL),
                  key=lambda r: (order.get(r.family, 99), r.clause))
    causes: list[Cause] = []

    def claim(text: str, lead: Result, also: Callable[[Result], bool]) -> None:
        nonlocal left
        mine = [lead] + [r for r in left if r is not lead and also(r)]
        causes.append(Cause(text, lead.clause, tuple(r.clause for r in mine)))
        left = [r for r in left if r not in mine]

    for step in _STEPS:
        if found := step(left):
            claim(*found)
    while left:  # no rule: the first failure of each family speaks for its family
        first = left[0]
        claim(f"{first.clause}: {_problem(first) or 'see its diagnosis'}", first,
              _of_family(first.family))
    return causes[:MOST]


def _of_family(family: str) -> Callable[[Result], bool]:
    return lambda r: r.family == family


def console(impl: str, causes: Sequence[Cause]) -> list[str]:
    """The lines the console report shows for one server."""
    out = []
    for n, c in enumerate(causes, 1):
        also = [x for x in c.explains if x != c.lead]
        tail = f"; also explains {', '.join(also)}" if also else ""
        out.append(f"{impl}: {n}. {c.text} (lead: {c.lead}{tail})")
    return out
