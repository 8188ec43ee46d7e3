"""Mutant ``mut-blocking-with-threads`` (model blocking): a thread per client.

Defect: the code is the threaded reference; the manifest declares ``blocking``, the
sequential model.  Every accepted connection gets a thread, so clients are served at the
same time instead of one after another.

The classic mistake it mirrors: "make it handle several clients" done in the exercise
whose point is to see the sequential server's limit (the next exercise's solution handed
in for this one).  Clients are better served, and the model is not the one asked for.

Must be caught by MODEL-3 (a single-threaded model adds no thread while serving ten
clients).
"""

from __future__ import annotations

from implementations._common import run
from implementations.threaded import main

if __name__ == "__main__":
    run(main, "MUTANT: threaded server whose manifest claims blocking.")
