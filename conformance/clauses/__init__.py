"""The contract: every clause, declared as data in one module per group of families.

Importing this package registers all clauses in ``conformance.clause.REGISTRY``.
"""

from conformance.clauses import (  # noqa: F401  (imported for their registrations)
    connections,
    lifecycle,
    model,
    resources,
    service,
    sigio,
    streams,
    triggering,
)
