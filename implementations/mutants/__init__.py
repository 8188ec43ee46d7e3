"""Mutants: servers with exactly one realistic defect each, which the suite must reject.

Each module's docstring names its defect, the classic mistake it mirrors and the clause
that must catch it; its manifest lists those clauses under ``must_fail``.
"""
