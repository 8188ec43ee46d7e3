"""Build steps: the shell commands a manifest's ``build`` key names, run before checking.

They run once per implementation and run, in the implementation's folder, with a time
limit for all of them together, their output captured (bounded) and the whole process
group killed on timeout.  A failed build is the student's result, reported with the
compiler's output -- never a harness crash, never a hang.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from conformance.manifest import Implementation

_LOG_LIMIT = 16 << 10


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    command: str = ""
    status: str = ""
    output: str = ""
    seconds: float = 0.0

    def describe(self) -> str:
        """The failure, as the text every clause of the implementation shows."""
        return "\n".join((
            "  problem:  the build failed, so the server was not checked",
            f"  command:  {self.command}",
            f"  actual:   {self.status} after {self.seconds:.1f} s",
            "  output (last lines):",
            *("    " + ln for ln in self.output.splitlines()[-40:]),
        ))


def build(impl: Implementation) -> BuildResult:
    started = time.monotonic()
    for command in impl.build:
        left = impl.build_timeout - (time.monotonic() - started)
        status, output = _run(command, str(impl.cwd), max(left, 0.1))
        if status:
            return BuildResult(False, command, status, output,
                               time.monotonic() - started)
    return BuildResult(True, seconds=time.monotonic() - started)


def _run(command: str, cwd: str, timeout: float) -> tuple[str, str]:
    """('' on success, else what went wrong; the output's tail)."""
    kwargs: dict[str, object] = {}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    try:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                **kwargs)  # type: ignore[call-overload]
    except OSError as e:
        return f"could not run it ({e.strerror or e})", ""
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = "" if proc.returncode == 0 else f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        out, _ = proc.communicate()
        status = f"timed out (limit {timeout:.0f} s)"
    text = out.decode("utf-8", "replace") if out else ""
    return status, text[-_LOG_LIMIT:]


_built: dict[tuple[str, ...], BuildResult] = {}


def ensure_built(impl: Implementation) -> BuildResult:
    """Build ``impl`` once per process.  Builds in the same folder take turns through a
    file lock -- several manifests may share one Makefile, and xdist workers run at once
    -- so a later one finds the work done (make) or repeats a deterministic failure."""
    key = (str(impl.cwd), *impl.build)
    if not impl.build:
        return BuildResult(True)
    if key not in _built:
        import hashlib
        import tempfile

        digest = hashlib.sha1(key[0].encode()).hexdigest()[:16]
        lock = os.path.join(tempfile.gettempdir(), f"ioconform-build-{digest}.lock")
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            _lock(fd)
            _built[key] = build(impl)
        finally:
            os.close(fd)
    return _built[key]


def _lock(fd: int) -> None:
    if os.name == "posix":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
