"""Build steps: the shell commands a manifest's ``build`` key names, run before checking.

They run once per implementation and run, in the implementation's folder, with a time
limit for all of them together, their output captured (bounded) and the whole process
group killed on timeout.  A failed build is the student's result, reported with the
compiler's output -- never a harness crash, never a hang.

Builds run under the same containment policy as the servers (``sandbox``): the resource
limits, and with the sandbox on inside bubblewrap -- but with the folder bound writable,
since the build must leave the program behind.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.failure import Failed
from conformance.harness import sandbox, sanitize
from conformance.harness.output import Capture
from conformance.harness.process import cgroup_name, run_id
from conformance.implementation import Implementation

_LOG_LIMIT = 16 << 10


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    command: str = ""
    status: str = ""
    output: str = ""
    seconds: float = 0.0

    def failure(self) -> Failed:
        """The failure, as every clause of the implementation shows it."""
        return Failed("the build failed, so the server was not checked", details=(
            f"command:  {self.command}", f"actual:   {self.status} after {self.seconds:.1f} s",
            "output (last lines):", *("    " + ln for ln in self.output.splitlines()[-40:])))


def build(impl: Implementation, policy: sandbox.Policy | None = None, *,
          sanitized: bool = False) -> BuildResult:
    """Run the build steps; ``sanitized`` compiles C and C++ with ASan and UBSan."""
    started = time.monotonic()
    env = sanitize.build_env() if sanitized else None
    for command in impl.build:
        left = impl.build_timeout - (time.monotonic() - started)
        shown = [str(sanitize.shim_folder())] if sanitized else []
        status, output = _run(command, str(impl.cwd), max(left, 0.1), policy, env, shown)
        if status:
            return BuildResult(False, command, status, output,
                               time.monotonic() - started)
    return BuildResult(True, seconds=time.monotonic() - started)


def _run(command: str, cwd: str, timeout: float, policy: sandbox.Policy | None = None,
         env: dict[str, str] | None = None, shown: Sequence[str] = ()) -> tuple[str, str]:
    """('' on success, else what went wrong; the output's tail).  ``shown``: folders the
    sandbox shows the build read-only (the sanitizer's compiler shims)."""
    kwargs: dict[str, object] = {}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    confined = sandbox.confine(["/bin/sh", "-c", command], cwd, policy or sandbox.active(),
                               build=True, name=cgroup_name("build-" + uuid.uuid4().hex),
                               readable=shown)
    # Windows has neither /bin/sh nor the limits: the command goes to its shell unchanged.
    argv = confined.argv if os.name == "posix" else command
    out_r, out_w = os.pipe()
    try:
        proc = subprocess.Popen(argv, shell=os.name != "posix", cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out_w,
                                stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]
    except OSError as e:
        os.close(out_r)
        confined.close()
        return f"could not run it ({e.strerror or e})", ""
    finally:
        os.close(out_w)
    # Read as it comes, keeping only the tail: a build that prints gigabytes costs
    # _LOG_LIMIT bytes, not gigabytes (communicate() would hold all of it).
    out = Capture(out_r, head=0, tail=_LOG_LIMIT)
    try:
        proc.wait(timeout=timeout)
        status = "" if proc.returncode == 0 else _status(confined.exit_code(proc.returncode))
    except subprocess.TimeoutExpired:
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        confined.kill()
        proc.wait()
        status = f"timed out (limit {timeout:.0f} s)"
    finally:
        confined.close()
    out.wait(lambda _: None, stall=2.0)  # the pipe's last bytes (a straggler may hold it)
    out.stop()
    if status and (notes := confined.notes(proc.returncode)):
        status += "; " + "; ".join(notes)
    return status, _log(out)


def _log(out: Capture) -> str:
    text = out.tail().decode("utf-8", "replace")
    if out.total > _LOG_LIMIT:
        text = f"[... the first {out.total - _LOG_LIMIT} bytes of output left out ...]\n" + text
    return text


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


_built: dict[tuple[str, ...], BuildResult] = {}


def ensure_built(impl: Implementation, policy: sandbox.Policy | None = None, *,
                 sanitized: bool = False) -> BuildResult:
    """Build ``impl`` once per run, whichever process asks first.

    xdist workers are separate processes that all want the program.  They take turns
    through a file lock per folder, and the first one leaves the result next to the
    lock, under the run's id: the others read it instead of building again -- a build
    that always relinks (``cc -o server server.c``) would otherwise replace the program
    under a check that is running it."""
    if not impl.build:
        return BuildResult(True)
    key = (str(impl.cwd), str(sanitized), *impl.build)
    if key not in _built:
        digest = hashlib.sha1("\0".join(key).encode()).hexdigest()[:16]
        base = os.path.join(tempfile.gettempdir(), f"ioconform-build-{digest}")
        done = f"{base}-{run_id()}.json"
        fd = os.open(base + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            _lock(fd)
            try:
                with open(done, encoding="utf-8") as f:
                    _built[key] = BuildResult(**json.load(f))
            except (OSError, ValueError, TypeError):
                _built[key] = build(impl, policy, sanitized=sanitized)
                with open(done, "w", encoding="utf-8") as f:
                    json.dump(dataclasses.asdict(_built[key]), f)
                atexit.register(_forget, done)
        finally:
            os.close(fd)
    return _built[key]


def sanitized_copy(impl: Implementation) -> Implementation:
    """``impl`` in a copy of its folder, for the sanitized build: once per run and folder,
    shared by the xdist workers like the build itself."""
    digest = hashlib.sha1(str(impl.cwd).encode()).hexdigest()[:16]
    base = os.path.join(tempfile.gettempdir(), f"ioconform-sanitized-{digest}")
    copy = f"{base}-{run_id()}"
    fd = os.open(base + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        _lock(fd)
        if not os.path.isdir(copy):
            shutil.copytree(impl.cwd, copy, symlinks=True, ignore=_build_output)
            atexit.register(shutil.rmtree, copy, True)
    finally:
        os.close(fd)
    return dataclasses.replace(impl, cwd=Path(copy))


def _build_output(folder: str, names: list[str]) -> set[str]:
    """What the sanitized copy leaves out, so that ``make`` cannot find the uninstrumented
    program up to date: object files, archives and executables (ELF), and VCS data."""
    out = {n for n in names if n in (".git", "__pycache__") or n.endswith((".o", ".a"))}
    for n in names:
        path = os.path.join(folder, n)
        try:  # lstat, then no blocking open: a named pipe would hang the copy for ever
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
                continue
            if not stat.S_ISREG(mode):
                out.add(n)  # a pipe, socket or device: nothing a build needs
                continue
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_NOFOLLOW", 0))
            try:
                if os.read(fd, 4) == b"\x7fELF":
                    out.add(n)
            finally:
                os.close(fd)
        except OSError:
            out.add(n)  # unreadable: copying it would fail the whole copy
    return out


def _forget(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _lock(fd: int) -> None:
    if sys.platform != "win32":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
