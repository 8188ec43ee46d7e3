"""How a command ends: its exit statuses, and the error that means "you asked wrongly".

A bottom-layer module (it imports nothing of ioconform), so that every command -- run,
check, grade, merge, bench -- and every layer that refuses input can share them.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_HARNESS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """A bad command line, manifest or course: exit status 2 with the message."""
