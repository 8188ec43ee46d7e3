"""The contract test: one body for every (implementation, clause) pair.

Implementations are attached by data (their manifests), clauses by the registry; see
``conformance.plugin`` for the parametrisation and ``conformance.clauses`` for the checks.
Run it with ``pytest --pyargs conformance`` or ``ioconform run``.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.clause import Clause
from conformance.implementation import Implementation


def test_contract(
    ioconform_case: tuple[Implementation, Clause],
    ioconform_check: Callable[[tuple[Implementation, Clause]], None],
) -> None:
    ioconform_check(ioconform_case)
