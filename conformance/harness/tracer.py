"""Run a server under ``strace -f`` and say when that cannot be done here.

Cost: with ``--seccomp-bpf`` only the traced system calls stop the server; everything
else runs at full speed.  Tracing the hot path (waits, reads, writes) roughly triples a
round trip, so only the clauses that need the evidence run traced, each with a short
stimulus of its own; every other clause runs untraced.

Where it cannot work: strace missing (``apt-get install strace``), or ptrace forbidden --
by Yama (``/proc/sys/kernel/yama/ptrace_scope`` of 2 or 3 forbids tracing a child for an
unprivileged user on Ubuntu-like kernels; ``sudo sysctl kernel.yama.ptrace_scope=1``
restores it), or by a container's seccomp profile (Docker: ``--cap-add=SYS_PTRACE``).
The traced clauses then report ``skip`` with the reason; nothing else changes.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys

from conformance.syscalls import TRACED


@functools.cache
def _probe() -> tuple[str | None, bool]:
    """(reason strace cannot be used, or None; whether --seccomp-bpf works)."""
    if not sys.platform.startswith("linux"):
        return "syscall tracing needs Linux (strace)", False
    exe = shutil.which("strace")
    if exe is None:
        return "strace is not installed (Debian/Ubuntu: apt-get install strace)", False
    for seccomp in (["--seccomp-bpf"], []):
        try:
            done = subprocess.run([exe, "-f", "-qq", *seccomp, "-e", "trace=none", "true"],
                                  capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"strace does not run: {e}", False
        if done.returncode == 0:
            return None, bool(seccomp)
        error = done.stderr.decode(errors="replace").strip().splitlines()
    why = error[-1] if error else "unknown error"
    return (f"strace cannot trace here ({why}); ptrace may be forbidden: see "
            "/proc/sys/kernel/yama/ptrace_scope, or the container's seccomp profile"), False


def unavailable() -> str | None:
    return _probe()[0]


def wrap(argv: list[str], output: str) -> list[str]:
    """The command that runs ``argv`` under strace, writing the trace to ``output``."""
    exe = shutil.which("strace") or "strace"
    seccomp = ["--seccomp-bpf"] if _probe()[1] else []
    # "?" skips names this architecture lacks (select on arm64 ...); -s 64 prints
    # arrays (pollfd, epoll events) up to 64 entries instead of "[...]".
    names = ",".join("?" + n for n in TRACED)
    return [exe, "-f", "-qq", "-yy", "-s", "64", *seccomp, "-o", output, "-e",
            f"trace={names}", "--", *argv]
