"""Every ioconform setting, declared once, resolved in one place, with errors that name
their source.

One declaration per setting gives the pytest option (``--ioconform-confirm``), the ini
key (``ioconform_confirm``), the environment variable (``IOCONFORM_CONFIRM``) and the
option of the ``ioconform`` commands (``--confirm``), with one help text and one parser.
For pytest the precedence is command line, then environment variable, then the ini file
(``[pytest]`` section or ``[tool.pytest.ini_options]``), then the default; a command
parses its own options here and hands them on to its pytest session as pytest options.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.exits import UsageError
from conformance.harness.sandbox import MODES, Limits, parse_mode
from conformance.runner import DEFAULT_SEED


@dataclass(frozen=True)
class Setting:
    name: str  # the ini key, and the pytest option's dest
    option: str  # the pytest option
    env: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    flag: str  # the option of the ioconform commands
    metavar: str = ""  # "" for an on/off flag
    show: Callable[[Any], str] = str  # a parsed value as the option's text again
    choices: tuple[str, ...] | None = None  # the commands' option takes only these

    @property
    def dest(self) -> str:
        """The attribute of the commands' parsed arguments: the flag without dashes."""
        return self.flag.lstrip("-").replace("-", "_")


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


MAX_SCALE = 100.0  # every wait has a bound: inf would make none


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a positive number, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"must be a positive number, got {text!r}")
    if not value <= MAX_SCALE:  # NaN compares false: refused too
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


def _setting(flag: str, help: str, parse: Callable[[str], Any], default: Any,
             metavar: str = "", show: Callable[[Any], str] = str,
             choices: tuple[str, ...] | None = None) -> Setting:
    name = flag.lstrip("-").replace("-", "_")
    return Setting(f"ioconform_{name}", f"--ioconform-{flag.lstrip('-')}",
                   f"IOCONFORM_{name.upper()}", " ".join(help.split()), parse, default, flag,
                   metavar, show, choices)


SETTINGS = {
    s.name: s for s in (
        _setting("--strict", """count failed SHOULD clauses (and unexpected passes) as
                 failures: verdict 'fail' instead of 'non-strict'""", _flag, False),
        _setting("--timeout-scale", """multiply every deadline (startup, stall, stop ...)
                 and every clause's budget by X, for slow machines""", _positive, 1.0,
                 "X"),
        _setting("--seed", """seed of every generated payload; the same seed gives every run
                 and every implementation the same cases""", str,
                 DEFAULT_SEED, "SEED"),
        _setting("--confirm", """run a failed clause up to N more times, each on a fresh
                 server, and count the failure only when it holds a majority of the 1+N
                 runs (a failure that does not repeat passes, and says so); 0: one run
                 decides""", _count, DEFAULT_CONFIRM, "N"),
        _setting("--no-trace", """skip the clauses that need the syscall tracer (strace):
                 MODEL-1/2, LT-2, ET-3, ET-4""", _flag, False),
        _setting("--sanitize", """build C and C++ servers with AddressSanitizer and UBSan
                 (compiler shims on PATH, in a private copy of the folder) and check
                 ROBUST-4: memory errors become failures with the sanitizer's report""",
                 _flag, False),
        _setting("--sandbox", f"""run servers and builds in the bubblewrap sandbox:
                 {' | '.join(MODES)} (off: resource limits only; auto: sandbox where
                 possible; require: refuse to run without it)""",
                 parse_mode, "off", "MODE", choices=MODES),
        _setting("--limits", f"""resource limits of every server and build step, as
                 {Limits().to_arg()} (cpu s, memory MiB, open files, processes, file size
                 MiB; 0: unlimited; keys left out keep these defaults)""", Limits.from_arg,
                 Limits(), "SPEC", Limits.to_arg),
    )
}


def _help(s: Setting, default: Any) -> str:
    if s.parse is _flag or default is None:
        return s.help
    return f"{s.help} (default: {s.show(default)})"


def add_options(group: Any, parser: pytest.Parser) -> None:
    for s in SETTINGS.values():
        if s.parse is _flag:
            group.addoption(s.option, action="store_true", default=None,
                            help=_help(s, s.default), dest=s.name)
        else:
            group.addoption(s.option, default=None, help=f"{_help(s, s.default)} (env {s.env})",
                            dest=s.name)
        parser.addini(s.name, help=_help(s, s.default), default=None)


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


# -- the options of the ioconform commands --------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str], *,
                  defaults: Mapping[str, Any] | None = None,
                  notes: Mapping[str, str] | None = None) -> None:
    """The options ``--confirm``, ``--timeout-scale`` ... of a command, for the settings
    ``names`` (``"confirm"``, ``"timeout_scale"`` ...).  ``defaults`` replaces a setting's
    default for this command (None: the command decides, as ``grade`` lets the course);
    ``notes`` adds a sentence to a help text."""
    for name in names:
        s = SETTINGS[f"ioconform_{name}"]
        default = (defaults or {}).get(name, s.default)
        text = _help(s, default)
        if note := (notes or {}).get(name):
            text = f"{text}; {note}"
        if s.parse is _flag:
            parser.add_argument(s.flag, action="store_true", dest=s.dest, help=text)
        else:
            parser.add_argument(s.flag, dest=s.dest, metavar=s.metavar, help=text,
                                choices=s.choices,
                                default=None if default is None else s.show(default))


def from_arguments(args: argparse.Namespace, names: Iterable[str]) -> None:
    """Parse the options ``names`` of ``args`` in place, each by its setting's parser;
    a bad value is a UsageError that names the option."""
    for name in names:
        s = SETTINGS[f"ioconform_{name}"]
        raw = getattr(args, s.dest)
        if raw is None or isinstance(raw, bool):
            continue
        try:
            setattr(args, s.dest, s.parse(str(raw)))
        except ValueError as e:
            raise UsageError(f"{s.flag} {e}") from None


def pytest_options(values: Mapping[str, Any]) -> list[str]:
    """The pytest options that hand ``values`` (name -> parsed value; None: not set) to
    a pytest session of the contract."""
    out: list[str] = []
    for name, value in values.items():
        s = SETTINGS[f"ioconform_{name}"]
        if value is None or value is False:
            continue
        out += [s.option] if value is True else [s.option, s.show(value)]
    return out
