"""The contract: every clause, declared as data in one module per group of families,
each module named after the families it holds (where is ET-3? in ``lt_et.py``):

=============================================  ===================================
``start_stop.py``                              START, STOP
``accept_echo_print.py``                       ACCEPT, ECHO, PRINT
``partial_backpressure_fairness.py``           PARTIAL, BACKPRESSURE, FAIRNESS
``disconnect_leak.py``                         DISCONNECT, LEAK
``lt_et.py``                                   LT, ET
``capacity_idle_robust.py``                    IDLE, CAPACITY, ROBUST
``model.py``, ``sigio.py``                     MODEL, SIGIO
=============================================  ===================================

``verify.py`` holds the checks clauses share.  Importing this package registers every
clause in ``conformance.clause.REGISTRY``; the selections below name clauses from it.
"""

from __future__ import annotations

from conformance.clause import REGISTRY, Clause, ordered
from conformance.clauses import (  # noqa: F401  (imported for their registrations)
    accept_echo_print,
    capacity_idle_robust,
    disconnect_leak,
    lt_et,
    model,
    partial_backpressure_fairness,
    sigio,
    start_stop,
)

# `check --quick`: the MUST clauses that catch most of what students hand in, each quick
# on a correct server.  Chosen from the kill matrix by a greedy cover, cheapest per kill
# first: they fail 34 of the 35 mutants that some MUST clause fails (the 35th, an
# off-by-one, only AddressSanitizer sees: ROBUST-4 with --sanitize).
QUICK = ("START-1", "STOP-1", "ACCEPT-3", "ECHO-2", "BACKPRESSURE-1", "FAIRNESS-1",
         "DISCONNECT-2", "DISCONNECT-3", "LEAK-2", "IDLE-1", "CAPACITY-1", "CAPACITY-3",
         "MODEL-1")


def select_clauses(wanted: list[str]) -> list[Clause]:
    """Clauses named by ID or family, in contract order; raises ValueError on unknowns."""
    if not wanted:
        return ordered()
    families = {c.family for c in REGISTRY.values()}
    if unknown := [w for w in wanted if w not in REGISTRY and w not in families]:
        raise ValueError(f"unknown clause(s) or famil(ies) {', '.join(unknown)}")
    return [c for c in ordered() if c.id in wanted or c.family in wanted]
