"""The load generator's front end: which generator, built where, and one run of it.

The generator is ``loadgen.c`` (with its plumbing, ``loadgen.h``), compiled on first use
with the system compiler (``cc -O2``) into ``$XDG_CACHE_HOME/ioconform/`` (or
``~/.cache/ioconform``) under a name that carries the hash of the sources, so an edited
source is rebuilt and an unchanged one never is.  Where there is no compiler (or no
epoll: the C generator is Linux-only) the same modes run in Python (``pygen``), an order
of magnitude slower: the report says which one measured, and the generator's ceiling says
how much that matters.

Both print one JSON object on stdout per run (and, for the timed modes, a line
``{"event": "window"}`` when the measured window opens).  ``Run`` reads them with a
deadline from a thread, so a generator that hangs is killed, never waited for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

SOURCE = "loadgen.c"  # compiled; it includes the others
_SOURCES = (SOURCE, "loadgen.h")
_CFLAGS = ["-O2", "-std=c99", "-D_GNU_SOURCE", "-Wall"]


class GeneratorError(Exception):
    """The generator could not be run or gave no result."""


@dataclass(frozen=True)
class Generator:
    kind: str  # "c" | "python"
    argv: tuple[str, ...]  # the program, before the mode
    note: str = ""  # why the fallback is in use

    def describe(self) -> str:
        what = "C (epoll, one thread)" if self.kind == "c" else "Python fallback (selectors)"
        return f"{what}: {' '.join(self.argv)}" + (f" [{self.note}]" if self.note else "")

    def start(self, mode: str, port: int, **params: object) -> Run:
        args = [*self.argv, mode, "--port", str(port)]
        for key, value in params.items():
            if value is True:
                args.append(f"--{key}")
            elif value is not None and value is not False:
                args += [f"--{key}", str(value)]
        return Run(args)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ioconform"


def _sources() -> dict[str, bytes]:
    return {name: files("conformance.bench").joinpath(name).read_bytes() for name in _SOURCES}


def _source() -> bytes:
    """Every source, one after the other: what the build's name is the hash of."""
    return b"".join(_sources().values())


def find(prefer: str = "auto") -> Generator:
    """The C generator (built if need be) unless ``prefer`` is "python" or it cannot be
    built here; else the Python one."""
    python = Generator("python", (sys.executable, "-m", "conformance.bench.pygen"))
    if prefer == "python":
        return python
    why = _build()
    if isinstance(why, Path):
        return Generator("c", (str(why),))
    if prefer == "c":
        raise GeneratorError(f"cannot build the C load generator: {why}")
    return Generator(python.kind, python.argv, note=why)


def _build() -> Path | str:
    """The compiled generator's path, or why there is none."""
    if not sys.platform.startswith("linux"):
        return "the C generator uses epoll (Linux only)"
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return "no C compiler (cc) on PATH"
    source = _source()
    digest = hashlib.sha256(source + " ".join(_CFLAGS).encode()).hexdigest()[:16]
    target = cache_dir() / f"loadgen-{digest}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        for name, text in _sources().items():
            (Path(tmp) / name).write_bytes(text)
        src, out = Path(tmp) / SOURCE, Path(tmp) / "loadgen"
        try:
            done = subprocess.run([compiler, *_CFLAGS, "-o", str(out), str(src)],
                                  capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{compiler} failed: {e}"
        if done.returncode != 0:
            return f"{compiler} failed: {done.stderr.strip().splitlines()[-1:]}"
        os.replace(out, target)  # atomic: a concurrent run sees the old file or the new
    return target


class Run:
    """One generator process: its events and its result, each awaited with a deadline."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self._lines: queue.Queue[str | None] = queue.Queue()
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise GeneratorError(f"cannot run the load generator: {e}") from None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):  # closed under us by close()
            for line in self._proc.stdout:
                self._lines.put(line)
        self._lines.put(None)

    def next(self, timeout: float) -> dict[str, Any]:
        """The next JSON line, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise GeneratorError(f"the load generator exited ({self._exit()})")
            with contextlib.suppress(ValueError):
                doc: dict[str, Any] = json.loads(line)
                if "error" in doc:
                    raise GeneratorError(f"load generator: {doc['error']}")
                return doc
        self.close()
        raise GeneratorError(f"no answer from the load generator within {timeout:g} s")

    def result(self, timeout: float, at_window: Callable[[], None] | None = None,
               ) -> dict[str, Any]:
        """The final result; ``at_window`` is called when the measured window opens."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.next(max(0.1, deadline - time.monotonic()))
            if doc.get("event") == "window":
                if at_window:
                    at_window()
                continue
            return doc

    def _exit(self) -> str:
        try:
            code = self._proc.wait(2)
        except subprocess.TimeoutExpired:
            return "still running"
        err = (self._proc.stderr.read() if self._proc.stderr else "").strip()
        return f"status {code}" + (f": {err.splitlines()[-1]}" if err else "")

    def close(self) -> None:
        """Close its stdin (a holding generator lets go), then make sure it is gone."""
        with contextlib.suppress(OSError):
            if self._proc.stdin:
                self._proc.stdin.close()
        try:
            self._proc.wait(3)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._reader.join(2)
        for stream in (self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                if stream:
                    stream.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
