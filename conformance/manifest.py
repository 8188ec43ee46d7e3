"""How an implementation under test is described: the ``ioconform.toml`` manifest.

A manifest names the server, its model and service, the platforms it runs on and the
command that starts it, with ``{port}`` where the port goes.  The suite finds the
bundled reference servers through their manifests exactly as it finds a student's.
Every error names the file and the key at fault.

Schema (``name``, ``model``, ``service`` and ``command`` are required)::

    name = "py-epoll-et"                      # letters, digits, '.', '_', '-'
    model = "epoll-et"                        # see `ioconform list models`
    service = "echo"                          # echo | print | echo-only
    platforms = ["linux"]                     # default: every platform of the model
    command = ["{python}", "-m", "pkg.server", "{port}"]   # or one string, split like a shell
    cwd = "."                                 # relative to the manifest's folder
    build = ["make"]                          # shell commands run in cwd before checking
    build_timeout = 300                       # seconds for all of them
    port = 3000                               # only for a program that hard-codes its port:
                                              # the command then needs no {port}, and the
                                              # clauses run one at a time on that port
    description = "..."
    [xfail]                                   # declared limitations: clause ID = reason
    "CAPACITY-2" = "holds 1,000 connections at most"
    must_fail = ["ET-1"]                      # mutants only: the clauses that must reject it
    may_fail = ["ECHO-4"]                     # mutants only: others its defect may also fail
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from conformance.implementation import Implementation
from conformance.models import MODELS, PLATFORMS, SERVICES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MANIFEST_NAME = "ioconform.toml"
_MAX_BUILD_S = 86400
_KEYS = {"name", "model", "service", "platforms", "command", "cwd", "description", "xfail",
         "must_fail", "may_fail", "build", "build_timeout", "port"}
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_CLAUSE_ID = re.compile(r"^[A-Z]+-[1-9][0-9]*$")


class ManifestError(Exception):
    """A manifest or command line that cannot describe a runnable implementation."""


def _fail(source: str, key: str, problem: str) -> ManifestError:
    return ManifestError(f"{source}: key '{key}': {problem}")


def _command(source: str, raw: Any, *, fixed: bool = False) -> tuple[str, ...]:
    if isinstance(raw, str):
        try:
            parts = shlex.split(raw)
        except ValueError as e:
            raise _fail(source, "command", f"cannot split {raw!r}: {e}") from None
    elif isinstance(raw, list) and all(isinstance(a, str) for a in raw):
        parts = list(raw)
    else:
        raise _fail(source, "command", "must be a string or a list of strings")
    if not parts:
        raise _fail(source, "command", "is empty")
    if not fixed and not any("{port}" in a for a in parts):
        raise _fail(source, "command",
                    "has no '{port}': the suite picks a free port for every run and must "
                    "pass it to the server, e.g. command = \"./server {port}\" (a program "
                    "that hard-codes its port: say which with port = N, or check --port N)")
    return tuple(parts)


def _port(source: str, raw: Any) -> int | None:
    """A manifest's fixed port: the one a program that hard-codes its port listens on."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise _fail(source, "port", f"{raw!r} must be a TCP port number, 1 to 65535")
    return raw


def _build(source: str, data: Mapping[str, Any]) -> tuple[tuple[str, ...], float]:
    build = data.get("build", [])
    if isinstance(build, str):
        build = [build]
    if not isinstance(build, list) or not all(isinstance(b, str) and b.strip() for b in build):
        raise _fail(source, "build", "must be a shell command or a list of them")
    build_timeout = data.get("build_timeout", 300)
    if (not isinstance(build_timeout, (int, float)) or isinstance(build_timeout, bool)
            or not 0 < build_timeout <= _MAX_BUILD_S):  # NaN compares false: refused too
        raise _fail(source, "build_timeout", "must be a positive number of seconds, at most "
                    f"{_MAX_BUILD_S} (a day)")
    return tuple(build), float(build_timeout)


def _unknown_clauses(ids: Sequence[str]) -> list[str]:
    """The IDs among ``ids`` that name no clause of the contract."""
    # Imported here: the clauses import the harness, which imports this module.
    import conformance.clauses  # noqa: F401  (registers the clauses)
    from conformance.clause import REGISTRY

    return [i for i in ids if i not in REGISTRY]


def parse(data: Mapping[str, Any], *, source: str, base: Path) -> Implementation:
    """Validate one manifest table; ``base`` is the folder relative paths start from."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _fail(source, unknown[0], f"unknown key (known keys: {', '.join(sorted(_KEYS))})")
    for key in ("name", "model", "service", "command"):
        if key not in data:
            raise _fail(source, key, "is required")
    name, model, service = data["name"], data["model"], data["service"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(source, "name", f"{name!r} must be letters, digits, '.', '_' or '-'")
    if not isinstance(model, str) or model not in MODELS:
        raise _fail(source, "model", f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if not isinstance(service, str) or service not in SERVICES:
        raise _fail(source, "service",
                    f"unknown service {service!r} (known: {', '.join(SERVICES)})")
    platforms = data.get("platforms", sorted(MODELS[model].platforms))
    if (not isinstance(platforms, list) or not platforms
            or not all(isinstance(p, str) and p in PLATFORMS for p in platforms)):
        raise _fail(source, "platforms", f"{platforms!r} must be a non-empty list drawn from "
                    f"{', '.join(PLATFORMS)}")
    cwd = data.get("cwd", ".")
    if not isinstance(cwd, str):
        raise _fail(source, "cwd", "must be a string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, "description", "must be a string")
    xfail = data.get("xfail", {})
    if not isinstance(xfail, dict) or not all(
        isinstance(k, str) and _CLAUSE_ID.match(k) and isinstance(v, str) and v
        for k, v in xfail.items()
    ):
        raise _fail(source, "xfail", "must be a table of CLAUSE-ID = \"reason\" entries")
    if unknown := _unknown_clauses(list(xfail)):
        raise _fail(source, f"xfail.{unknown[0]}", "no such clause: a limitation declared "
                    "for it would excuse nothing (`ioconform list clauses` shows the IDs)")
    must_fail, may_fail = data.get("must_fail", []), data.get("may_fail", [])
    for key, ids in (("must_fail", must_fail), ("may_fail", may_fail)):
        if not isinstance(ids, list) or not all(
                isinstance(c, str) and _CLAUSE_ID.match(c) for c in ids):
            raise _fail(source, key, "must be a list of clause IDs such as \"ET-1\"")
    build, build_timeout = _build(source, data)
    port = _port(source, data.get("port"))
    return Implementation(
        name=name, model=model, service=service, platforms=frozenset(platforms),
        command=_command(source, data["command"], fixed=port is not None),
        cwd=(base / cwd).resolve(), description=description, xfail=dict(xfail),
        must_fail=tuple(must_fail), may_fail=tuple(may_fail), source=source,
        build=build, build_timeout=build_timeout, port=port,
    )


def load(path: str | os.PathLike[str]) -> Implementation:
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    return parse(_read(p), source=str(p), base=p.parent)


def _read(p: Path) -> dict[str, Any]:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"{p}: cannot read manifest: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"{p}: not UTF-8 text (byte {e.start}); TOML files are "
                            "UTF-8") from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{p}: not valid TOML: {e}") from None
    return data


def load_submission(folder: Path, *, name: str,
                    imposed: Mapping[str, Any] | None = None) -> Implementation:
    """A student's submission: its manifest (optional when the course imposes every
    required key) with the course's ``imposed`` keys overriding the student's, under the
    folder's ``name`` (students' own names collide)."""
    path = folder / MANIFEST_NAME
    data: dict[str, Any] = {}
    if path.is_file():
        data = dict(_read(path))
    elif not imposed or "command" not in imposed:
        raise ManifestError(f"{folder}: no {MANIFEST_NAME}, and the course does not impose a "
                            "command: add an ioconform.toml (see `ioconform check --help`)")
    data.update(imposed or {})
    data["name"] = name
    return parse(data, source=str(path), base=folder)


def to_toml(impl: Implementation, *, build: bool = True) -> str:
    """``impl`` as a manifest again (JSON strings are valid TOML basic strings)."""
    q = json.dumps
    lines = [f"name = {q(impl.name)}", f"model = {q(impl.model)}",
             f"service = {q(impl.service)}", f"cwd = {q(str(impl.cwd))}",
             f"platforms = [{', '.join(q(p) for p in sorted(impl.platforms))}]",
             f"command = [{', '.join(q(a) for a in impl.command)}]",
             f"description = {q(impl.description)}"]
    if build and impl.build:
        lines += [f"build = [{', '.join(q(b) for b in impl.build)}]",
                  f"build_timeout = {impl.build_timeout}"]
    if impl.port is not None:
        lines.append(f"port = {impl.port}")
    if impl.xfail:
        lines += ["[xfail]"] + [f"{q(k)} = {q(v)}" for k, v in sorted(impl.xfail.items())]
    return "\n".join(lines) + "\n"


def from_command(model: str, service: str, argv: Sequence[str], *, name: str = "cli",
                 cwd: str = ".", port: int | None = None,
                 platform: str | None = None) -> Implementation:
    """An implementation given on the command line (``ioconform check -- CMD {port}``);
    ``port`` for a program that hard-codes its port (``check --port N``), ``platform``
    for one built for a platform other than its model's every one (``--platform
    windows``: a Windows program, run under Wine on Linux)."""
    return parse({"name": name, "model": model, "service": service, "command": list(argv),
                  **({"port": port} if port is not None else {}),
                  **({"platforms": [platform]} if platform is not None else {})},
                 source="command line", base=Path(cwd))


def _bundle_dir() -> Path:
    spec = find_spec("implementations")
    if spec is None or not spec.submodule_search_locations:
        raise ManifestError("the bundled 'implementations' package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled(*, mutants: bool = False) -> list[Implementation]:
    """The reference servers (or the mutants) shipped with ioconform, sorted by name."""
    folder = _bundle_dir() / ("mutants/manifests" if mutants else "manifests")
    return _unique(folder, [load(p) for p in folder.glob("*.toml")])


def corpus() -> list[Implementation]:
    """The false-alarm corpus, sorted by name: correct servers written unlike the
    references, each in a folder of its own under ``implementations/corpus/`` with an
    ``ioconform.toml``, exactly as a student hands one in."""
    folder = _bundle_dir() / "corpus"
    return _unique(folder, [load(p) for p in folder.glob(f"*/{MANIFEST_NAME}")])


def _unique(folder: Path, impls: list[Implementation]) -> list[Implementation]:
    names = [i.name for i in impls]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ManifestError(f"{folder}: duplicate implementation names {sorted(dupes)}")
    return sorted(impls, key=lambda i: i.name)
