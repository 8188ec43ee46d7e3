"""What the suite checks: one server, as its manifest or command line describes it.

The data every layer passes around, from the harness that starts the server to the
reports; :mod:`conformance.manifest` reads and validates it from ``ioconform.toml``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# A mutant that must fail this clause never serves its first client, and so fails every
# clause after it.
STARTLESS = "START-1"


@dataclass(frozen=True)
class Implementation:
    name: str
    model: str
    service: str
    platforms: frozenset[str]
    command: tuple[str, ...]
    cwd: Path
    description: str = ""
    xfail: Mapping[str, str] = field(default_factory=dict)
    must_fail: tuple[str, ...] = ()
    may_fail: tuple[str, ...] = ()
    source: str = "command line"
    build: tuple[str, ...] = ()
    build_timeout: float = 300.0
    port: int | None = None  # the port a program that hard-codes it listens on

    def foresees(self, clause_id: str) -> bool:
        """A mutant's failure of this clause is its defect's doing: a clause it must or may
        fail, or any clause at all for one that never serves its first client (START-1
        in ``must_fail``).  Always false for a submission, which names neither."""
        return (clause_id in self.must_fail or clause_id in self.may_fail
                or STARTLESS in self.must_fail)

    def argv(self, port: int, python: str | None = None) -> list[str]:
        """The command, with the port and ``python`` (default: this Python) put in."""
        python = python or sys.executable
        return [a.replace("{port}", str(port)).replace("{python}", python)
                for a in self.command]

    def uses_python(self) -> bool:
        return any("{python}" in a for a in self.command)

    def executable(self) -> str | None:
        """The resolved program path, or None when it cannot be found."""
        prog = self.argv(0)[0]
        if os.sep in prog or (os.altsep and os.altsep in prog):
            path = prog if os.path.isabs(prog) else str(self.cwd / prog)
            # A Windows program run by Wine needs no executable bit.
            runnable = os.access(path, os.X_OK) or path.lower().endswith(".exe")
            return path if os.path.isfile(path) and runnable else None
        return shutil.which(prog)
