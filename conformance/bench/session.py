"""What one ``ioconform bench`` run measures, and in which order.

The selection: the implementations asked for (bundled names, baseline names, manifest
paths) or, by default, every bundled echo reference of this platform; plus, always, the
baselines (asyncio streams, and uvloop when installed) and the C epoll-et reference, the
practical ceiling of the machine.  Print servers send nothing back, so they cannot be
benched: they are named and skipped.

The order: repetitions alternate implementations (A B C A B C ...), so that a slow
minute of a shared machine falls on every implementation alike rather than on all the
repetitions of one.  Capacity is measured once per implementation, after the rest.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from conformance.bench import measure
from conformance.bench.generator import Generator, GeneratorError
from conformance.exits import UsageError
from conformance.implementation import Implementation
from conformance.manifest import ManifestError, bundled, load
from conformance.models import ECHOING, current_platform
from conformance.runner import unavailable

BASELINE = "asyncio-streams"  # every figure is also given as a ratio to this one
CEILING = "c-epoll-et"  # the fastest reference: what this machine allows

Say = Callable[[str], None]


@dataclass
class Row:
    impl: Implementation
    role: str  # "baseline" | "ceiling" | "reference" | "submitted"
    status: str = "ok"  # "ok" | "failed" | "skipped"
    reason: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.impl.name

    def add(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.runs.setdefault(key, []).append(float(value))

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason


def baselines() -> list[Implementation]:
    spec = find_spec("implementations.baselines")
    if spec is None or not spec.submodule_search_locations:
        raise ManifestError("the bundled 'implementations.baselines' package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "manifests"
    return [load(p) for p in sorted(folder.glob("*.toml"))]


def select(names: Sequence[str], *, with_baselines: bool = True,
           bufsize: int = 65536) -> list[Row]:
    """The rows of the run, in measuring order: baselines, the ceiling, then the rest."""
    refs = {i.name: i for i in bundled()}
    base = {i.name: i for i in baselines()}
    chosen: list[Row] = []
    if with_baselines:
        chosen += [Row(i, "baseline") for i in base.values()]
        if CEILING in refs:
            chosen.append(Row(refs[CEILING], "ceiling"))
    here = current_platform()
    if names:
        for name in names:
            if os.path.exists(name):
                chosen.append(Row(load(name), "submitted"))
            elif name in refs or name in base:
                chosen.append(Row(refs.get(name) or base[name],
                                  "reference" if name in refs else "baseline"))
            else:
                raise UsageError(f"{name!r} is neither a manifest nor a bundled "
                                 "implementation (`ioconform list impls` shows them)")
    else:
        chosen += [Row(i, "reference") for i in refs.values() if here in i.platforms]
    rows = _unique(chosen)
    for row in rows:
        if row.role != "submitted" and bufsize:
            row.impl = dataclasses.replace(
                row.impl, command=(*row.impl.command, "--bufsize", str(bufsize)))
        _skip_if_unbenchable(row)
    return rows


def _unique(rows: list[Row]) -> list[Row]:
    seen: dict[str, Row] = {}
    for row in rows:
        if row.name in seen and seen[row.name].impl.source != row.impl.source:
            raise UsageError(f"two implementations are named {row.name!r}: "
                             f"{seen[row.name].impl.source} and {row.impl.source}")
        seen.setdefault(row.name, row)
    return list(seen.values())


def _skip_if_unbenchable(row: Row) -> None:
    why = None
    if row.impl.service not in ECHOING:
        why = "a print server sends nothing back: there is nothing to ping-pong with"
    elif any(a == "--uvloop" for a in row.impl.command) and not importlib.util.find_spec(
            "uvloop"):
        why = "uvloop is not installed (pip install uvloop)"
    else:
        why = unavailable(row.impl)
    if why:
        row.status, row.reason = "skipped", why


def run(rows: list[Row], gen: Generator, profile: measure.Profile, *, repeat: int,
        capacity: bool, say: Say) -> dict[str, list[float]]:
    """Measure every row in place; return the generator's self-loop figures."""
    self_loop: dict[str, list[float]] = {}
    for rep in range(1, repeat + 1):
        for row in rows:
            if row.status != "ok":
                continue
            say(f"[{rep}/{repeat}] {row.name}: ping-pong at "
                f"{', '.join(map(str, profile.conns))} connection(s), bulk echo")
            try:
                row.add(measure.throughput(row.impl, gen, profile))
            except measure.Failure as e:
                row.fail(str(e))
                say(f"  failed: {e}")
        if gen.kind == "c":
            _self_loop(gen, profile, self_loop, say)
    if capacity:
        for row in rows:
            if row.status == "ok":
                say(f"capacity: {row.name}: up to {profile.hold:,} idle connections")
                _capacity(row, gen, profile, say)
    return self_loop


def _self_loop(gen: Generator, profile: measure.Profile, into: dict[str, list[float]],
               say: Say) -> None:
    """The generator against itself: the cost of a loopback round trip, no server."""
    for conns in (1, 100):
        try:
            with gen.start("pingpong", 0, conns=conns, size=profile.message, loop=True,
                           warmup=profile.warmup, duration=profile.duration) as r:
                doc = r.result(profile.run_timeout())
        except GeneratorError as e:
            say(f"  generator self-loop failed: {e}")
            return
        into.setdefault(f"rate@{conns}", []).append(float(doc["rate"]))


def _capacity(row: Row, gen: Generator, profile: measure.Profile, say: Say) -> None:
    try:
        found = measure.capacity(row.impl, gen, profile)
    except measure.Failure as e:
        row.capacity = {"error": str(e)}
        say(f"  capacity failed: {e}")
        return
    row.capacity = found
    row.add({k: found[k] for k in ("held", "bytes_per_conn") if k in found})
