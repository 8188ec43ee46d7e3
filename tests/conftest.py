"""Fixtures shared by ioconform's own tests.

Most tests are sans-I/O (matching, verifiers, manifests, clause data).  The rest start
real processes: the weird servers in ``tests/servers/``, the bundled servers, and whole
ioconform runs in subprocesses.  Every wait here polls a condition with a deadline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

import conformance.clauses  # noqa: F401  (registers the clauses)
from conformance.harness.process import TOKEN_ENV
from conformance.implementation import Implementation
from conformance.manifest import from_command

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
SERVERS = TESTS / "servers"
T = TypeVar("T")


# The one long test first, then the quick sans-I/O modules: under xdist the worker that
# takes the long test is queued only quick ones behind it, and the other worker takes
# everything else meanwhile.
_FIRST = ("test_references.py", "test_matching.py", "test_verify.py", "test_clauses_data.py",
          "test_manifest.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _FIRST.index(name) if name in _FIRST else len(_FIRST)

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _settings_from_the_command_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs started by a test see no ioconform settings from the caller's environment."""
    for name in ("IOCONFORM_STRICT", "IOCONFORM_TIMEOUT_SCALE", "IOCONFORM_SEED",
                 "IOCONFORM_SANDBOX", "IOCONFORM_LIMITS", "IOCONFORM_SANITIZE"):
        monkeypatch.delenv(name, raising=False)


def _wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)  # polling process and socket tables: there is no event to wait on
    return value


@pytest.fixture
def wait_for() -> Callable[..., object]:
    """``wait_for(condition, timeout, what)``: poll ``condition`` until it returns something
    truthy, and return that; fail the test after ``timeout`` seconds."""
    return _wait_for


def _carrying_token(token: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get(TOKEN_ENV) == token:
                found.append(p)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def carrying_token() -> Callable[[str], list[psutil.Process]]:
    """``carrying_token(token)``: every live process, anywhere on the machine, whose
    environment holds the server token ``token``."""
    return _carrying_token


@pytest.fixture
def weird_server() -> Callable[..., Implementation]:
    """An implementation running one of the scripts in tests/servers/."""

    def make(script: str, model: str = "blocking", service: str = "echo") -> Implementation:
        return from_command(model, service, [sys.executable, str(SERVERS / script), "{port}"],
                            name=Path(script).stem)

    return make


@pytest.fixture
def ioconform_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``ioconform`` command in a subprocess, from an empty folder."""

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run
