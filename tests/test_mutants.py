"""Each mutant (a deliberately broken server) is rejected by the clauses it declares in
``must_fail``, and still passes START-1: the suite catches the defect, not a server that
does not run at all.

Every detection is deterministic, so each case runs once: a mutant that slips through
even once is a regression of the clause.  The deadlines for stalls and settling are cut
short: a shorter wait only makes a failure more likely, and these checks are expected to
fail.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.clause import REGISTRY, Verdict
from conformance.harness.session import Timing
from conformance.manifest import Implementation, bundled
from conformance.models import current_platform
from conformance.runner import Options, run

# Strict: a failed SHOULD clause counts as a fail too.
HURRIED = Options(strict=True, timing=Timing(stall=1.5, stop=2.0, settle=1.5))
MUTANTS = [m for m in bundled(mutants=True) if current_platform() in m.platforms]
CASES = [pytest.param(m, c, id=f"{m.name}:{c}") for m in MUTANTS for c in m.must_fail]


@pytest.mark.parametrize(("mutant", "clause_id"), CASES)
def test_mutant_fails_the_clause_it_declares(mutant: Implementation, clause_id: str) -> None:
    clause = REGISTRY[clause_id]
    result = run(clause, mutant, replace(HURRIED, sanitize=clause.sanitized))
    assert result.verdict is Verdict.FAIL, f"{mutant.name} got {result.verdict.value} " \
        f"for {clause_id}, which must reject it:\n{result.detail}"
    assert result.detail.startswith(f"{clause_id} ({clause.level.value}): ")


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_still_starts_and_serves(mutant: Implementation) -> None:
    result = run(REGISTRY["START-1"], mutant, Options())
    assert result.verdict is Verdict.PASS, result.detail
