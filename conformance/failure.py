"""A failure as data, and its one text layout.

A check that finds the server wanting raises ``Failed`` with the evidence: what went
wrong, what was expected against what happened, the details (bytes, where the stream
stalled, a trace), and a hint a student can act on.  The harness and the build step
return such values too, never text; ``lines`` and ``text`` lay every one of them out the
same way for the console, the JSON, JUnit and the grading outputs.
"""

from __future__ import annotations

from collections.abc import Sequence


class Failed(Exception):
    """The server did not meet a requirement: the evidence, and what to do about it."""

    def __init__(
        self,
        summary: str,
        *,
        expected: str = "",
        actual: str = "",
        details: tuple[str, ...] = (),
        hint: str = "",
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.expected = expected
        self.actual = actual
        self.details = details
        self.hint = hint


class Skipped(Exception):
    """A precondition of the check is missing here; the reason is shown."""


def _norm(text: str) -> str:
    return " ".join(text.split())


def lines(f: Failed) -> list[str]:
    """The evidence: problem, expected, actual and the details, indented under a heading."""
    out = [f"  problem:  {f.summary}"]
    if f.expected:
        out.append(f"  expected: {f.expected}")
    if f.actual:
        out.append(f"  actual:   {f.actual}")
    return out + [f"  {d}" if not d.startswith("  ") else d for d in f.details]


def problem(detail: str) -> str:
    """The problem line of a diagnosis that ``text`` laid out ('' when it has none)."""
    return next((ln.split(":", 1)[1].strip() for ln in detail.splitlines()
                 if ln.strip().startswith("problem:")), "")


def text(heading: str, f: Failed, *, state: Sequence[str] = (), hint: str = "") -> str:
    """The whole diagnosis: the clause's heading (ID, level, requirement), the evidence,
    the server's state and output (``state``), and one hint (``hint`` or the failure's)."""
    out = [heading, *lines(f), *state]
    if hint := hint or f.hint:
        out.append(f"  hint:     {_norm(hint)}")
    return "\n".join(out)
