"""AddressSanitizer and UBSan builds of C and C++ submissions (``--sanitize``).

Some memory errors never show in the bytes a server sends.  The textbook's receive loop
fills its buffer to the last byte and then writes the terminating NUL one past the end
(``n = recv(fd, buf, sizeof buf, 0); buf[n] = 0;``): the stray byte lands in padding or
in a neighbouring variable, the echo stays correct, and only an instrumented build
notices.  ROBUST-4 runs such a workload and fails with the sanitizer's own report.

How the flags reach a build we did not write: student builds call ``make``, ``cc``,
``gcc`` or ``clang`` in every imaginable way, and Makefiles overwrite ``CFLAGS``.  So
the build runs with a folder of compiler shims first on ``PATH``: each one execs the real
compiler with the sanitizer flags added, whatever the build passes.  ``CC`` and ``CXX``
point at the shims too, for builds that honour them.

At run time the sanitizers stop the program at the first error (``halt_on_error``), so
the report is the last thing on stderr.  Leak detection is off: LeakSanitizer cannot run
under ptrace (the syscall-trace clauses), and a server killed by the harness at the end
of a check has not leaked anything.  ASan reserves terabytes of virtual memory, so a
sanitized server runs without the address-space limit.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

FLAGS = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g"
_COMPILERS = ("cc", "gcc", "clang", "c++", "g++", "clang++")
RUNTIME_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=0:abort_on_error=0:allocator_may_return_null=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}
_REPORT_START = re.compile(r"^(?:==\d+==\s*ERROR: (?:Address|Undefined)Sanitizer|"
                           r".*?: runtime error: )", re.M)
_INSTRUMENTED = (b"__asan_init", b"__ubsan_handle")


@functools.cache
def _shims() -> Path:
    # Not under /tmp: a sandboxed build gets a private /tmp, and sees the rest of the
    # file system read-only -- so one student's build cannot rewrite the shims either.
    base = "/var/tmp" if os.path.isdir("/var/tmp") else None
    folder = Path(tempfile.mkdtemp(prefix="ioconform-sanitize-", dir=base))
    atexit.register(shutil.rmtree, folder, True)
    for name in _COMPILERS:
        real = shutil.which(name)
        if real is None:
            continue
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {real} {FLAGS} "$@"\n', encoding="utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def shim_folder() -> Path:
    """The compiler shims' folder, which a sandboxed build must be shown (read-only)."""
    return _shims()


def build_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a sanitized build."""
    env = dict(os.environ if base is None else base)
    shims = _shims()
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    if (shims / "cc").exists():
        env["CC"] = str(shims / "cc")
    if (shims / "c++").exists():
        env["CXX"] = str(shims / "c++")
    return env


def instrumented(program: str | None) -> bool:
    """Was ``program`` linked with ASan or UBSan?  (Their runtime entry points are in
    the dynamic symbol table, or in the binary itself when linked statically.)"""
    if program is None:
        return False
    try:
        data = Path(program).read_bytes()
    except OSError:
        return False
    return any(marker in data for marker in _INSTRUMENTED)


def report(stderr: str, limit: int = 40) -> str | None:
    """The first sanitizer report in a server's stderr, up to its SUMMARY line and at
    most ``limit`` lines."""
    m = _REPORT_START.search(stderr)
    if m is None:
        return None
    lines = stderr[m.start():].splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.startswith("SUMMARY:")), None)
    if end is not None:  # the shadow-byte map after the summary helps nobody here
        lines = lines[:end + 1]
    kept = lines[:limit]
    if len(lines) > limit:
        kept.append(f"... ({len(lines) - limit} more lines)")
    return "\n".join(kept)
