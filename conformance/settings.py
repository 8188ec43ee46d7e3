"""Every ioconform setting, resolved in one place, with errors that name their source.

Precedence: command line, then environment variable, then the ini file (``[pytest]``
section or ``[tool.pytest.ini_options]``), then the default.  Help texts are written
once here and shared by the command-line option and the ini setting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.harness.sandbox import MODES, Limits, parse_mode


@dataclass(frozen=True)
class Setting:
    name: str  # the ini name; the option is --name with '_' as '-' minus the prefix
    option: str
    env: str
    help: str
    parse: Callable[[str], Any]
    default: Any


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


MAX_SCALE = 100.0  # every wait has a bound: inf would make none


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:  # NaN compares false: refused too
        raise ValueError(f"must be a positive number, got {text!r}")
    if value > MAX_SCALE:
        raise ValueError(f"must be a positive number, at most {MAX_SCALE:g}, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number, 0 or more, got {text!r}") from None
    if value < 0:
        raise ValueError(f"must be a whole number, 0 or more, got {text!r}")
    return value


DEFAULT_CONFIRM = 2  # a failure is run up to twice more: the majority of 3 runs decides

SETTINGS = {
    s.name: s for s in (
        Setting("ioconform_strict", "--ioconform-strict", "IOCONFORM_STRICT",
                "count failed SHOULD clauses as failures (verdict 'fail' instead of "
                "'non-strict')", _flag, False),
        Setting("ioconform_timeout_scale", "--ioconform-timeout-scale", "IOCONFORM_TIMEOUT_SCALE",
                "multiply every deadline (startup, stall, stop ...) by this factor, for "
                "slow machines", _positive, 1.0),
        Setting("ioconform_seed", "--ioconform-seed", "IOCONFORM_SEED",
                "seed of every generated payload; the same seed gives every run and every "
                "implementation the same cases", str, "ioconform-1"),
        Setting("ioconform_confirm", "--ioconform-confirm", "IOCONFORM_CONFIRM",
                "run a failed clause up to N more times, each on a fresh server, and count "
                "the failure only when it holds a majority of the 1+N runs (a failure that "
                "does not repeat passes, and says so); 0: one run decides",
                _count, DEFAULT_CONFIRM),
        Setting("ioconform_sanitize", "--ioconform-sanitize", "IOCONFORM_SANITIZE",
                "build C and C++ servers with AddressSanitizer and UBSan (compiler shims on "
                "PATH) and check ROBUST-4: memory errors become failures with the "
                "sanitizer's report", _flag, False),
        Setting("ioconform_sandbox", "--ioconform-sandbox", "IOCONFORM_SANDBOX",
                f"run servers and builds in the bubblewrap sandbox: {' | '.join(MODES)} "
                "(off: resource limits only; auto: sandbox where possible; require: refuse "
                "to run without it)", parse_mode, "off"),
        Setting("ioconform_limits", "--ioconform-limits", "IOCONFORM_LIMITS",
                f"resource limits of every server and build step, as {Limits().to_arg()} "
                "(cpu s, memory MiB, open files, processes, file size MiB; 0: unlimited; "
                "keys left out keep these defaults)", Limits.from_arg, Limits()),
    )
}


def add_options(group: Any, parser: pytest.Parser) -> None:
    for s in SETTINGS.values():
        if s.parse is _flag:
            group.addoption(s.option, action="store_true", default=None, help=s.help,
                            dest=s.name)
        else:
            group.addoption(s.option, default=None, help=f"{s.help} (env {s.env})",
                            dest=s.name)
        parser.addini(s.name, help=s.help, default=None)


def resolve(config: pytest.Config, name: str) -> tuple[Any, str]:
    """(value, where it came from)."""
    s = SETTINGS[name]
    candidates: list[tuple[Any, str]] = [
        (config.getoption(s.name), f"command line {s.option}"),
        (os.environ.get(s.env), f"environment variable {s.env}"),
        (config.getini(s.name), f"ini setting {s.name}"),
    ]
    for raw, source in candidates:
        if raw is None or raw == "" or raw == []:
            continue
        if isinstance(raw, bool):
            return raw, source
        try:
            return s.parse(str(raw)), source
        except ValueError as e:
            raise pytest.UsageError(f"ioconform: {source}: {e}") from None
    return s.default, "default"
