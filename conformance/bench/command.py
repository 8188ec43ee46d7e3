"""``ioconform bench``: what each I/O model costs, measured side by side.

Exit status: 0 when every selected implementation was measured; 1 when some failed (a
build, a start, a crash under load: each is a row with its reason); 2 usage errors; 130
interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

from conformance import launch
from conformance.bench import measure, plots, report, session
from conformance.bench.generator import Generator, GeneratorError, find
from conformance.exits import EXIT_FAIL, EXIT_OK, UsageError
from conformance.harness import process

QUICK = measure.Profile(conns=(1, 100, 1000), warmup=0.1, duration=0.25, hold=1200,
                        hold_time=1.5, confirm_timeout=0.5, start_timeout=10.0)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="measure what each I/O model costs: request rate, latency, bulk "
        "throughput, idle connections and memory, side by side",
        description="Measure implementations with the same load generator in one run, "
        "alternating them, next to an asyncio streams baseline (uvloop too, when installed) "
        "and the C epoll-et reference: ping-pong rate and latency at several connection "
        "counts, bulk echo throughput, idle connections held and memory per connection, "
        "server CPU per request.  Echo servers only.")
    p.add_argument("impls", nargs="*", metavar="IMPL|MANIFEST",
                   help="bundled implementation names or manifests (default: every bundled "
                        "echo reference of this platform)")
    p.add_argument("--quick", action="store_true",
                   help="short windows, one repetition, capacity up to 1,200 connections")
    p.add_argument("--repeat", type=int, metavar="N", help="repetitions (default 3; quick 1)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="measured seconds per figure (default 2; quick 0.3)")
    p.add_argument("--conns", metavar="N,N,...",
                   help="connection counts of the ping-pong (default 1,100,1000)")
    p.add_argument("--hold", type=int, metavar="N",
                   help="idle connections the capacity test tries to hold (default: the "
                        "open-file hard limit minus 1,000; quick 1,200)")
    p.add_argument("--hold-time", type=float, metavar="S",
                   help="seconds the capacity test may take to open them (default 60; "
                        "quick 1.5)")
    p.add_argument("--no-capacity", action="store_true", help="skip the capacity test")
    p.add_argument("--no-baselines", action="store_true",
                   help="leave out asyncio, uvloop and the C epoll-et ceiling")
    p.add_argument("--bufsize", type=int, default=65536, metavar="BYTES",
                   help="--bufsize given to the bundled servers (default %(default)s; 0: "
                        "none); a submitted manifest's command is run as it is")
    p.add_argument("--generator", choices=("auto", "c", "python"), default="auto",
                   help="load generator: the C one (built with cc), the Python fallback, "
                        "or auto (C when it builds)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE")
    p.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    p.add_argument("--plots", metavar="DIR",
                   help="draw the figures (PNG and SVG) into DIR; needs matplotlib")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=bench_main)


def _profile(args: argparse.Namespace) -> tuple[measure.Profile, int]:
    profile = QUICK if args.quick else measure.Profile(hold=_default_hold())
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        raise UsageError("--repeat must be at least 1")
    changes: dict[str, Any] = {}
    if args.duration is not None:
        if not 0 < args.duration <= 600:
            raise UsageError("--duration must be between 0 and 600 seconds")
        changes["duration"] = args.duration
    if args.conns:
        try:
            conns = tuple(sorted({int(x) for x in args.conns.split(",") if x.strip()}))
        except ValueError:
            raise UsageError(f"--conns: {args.conns!r} is not a list of numbers") from None
        if not conns or not all(0 < n <= 100_000 for n in conns):
            raise UsageError("--conns: counts between 1 and 100,000")
        changes["conns"] = conns
    if args.hold is not None:
        if args.hold < 1:
            raise UsageError("--hold must be at least 1")
        changes["hold"] = args.hold
    if args.hold_time is not None:
        if not 0 < args.hold_time <= 3600:
            raise UsageError("--hold-time must be between 0 and 3,600 seconds")
        changes["hold_time"] = args.hold_time
    return measure.Profile(**{**profile.__dict__, **changes}), repeat


def _default_hold() -> int:
    if sys.platform == "win32":
        return 10000
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 19000
    return max(100, int(hard) - 1000)


def bench_main(args: argparse.Namespace) -> int:
    profile, repeat = _profile(args)
    if args.plots:
        try:
            plots._pyplot()
        except plots.PlotError as e:
            raise UsageError(f"--plots: {e}") from None
    rows = session.select(args.impls, with_baselines=not args.no_baselines,
                          bufsize=args.bufsize)
    if not any(r.status == "ok" for r in rows):
        for r in rows:
            print(f"ioconform bench: {r.name}: {r.reason}", file=sys.stderr)
        raise UsageError("nothing to measure")
    try:
        gen = find(args.generator)
    except GeneratorError as e:
        raise UsageError(str(e)) from None
    t0 = time.monotonic()
    say = (lambda _text: None) if args.quiet else _progress(t0)
    say(f"load generator: {gen.describe()}")
    for r in rows:
        if r.status == "skipped":
            say(f"skipped {r.name}: {r.reason}")
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    process.new_run()
    try:
        self_loop = session.run(rows, gen, profile, repeat=repeat,
                                capacity=not args.no_capacity, say=say)
    except KeyboardInterrupt:
        return launch.interrupted()
    finally:
        process.sweep()
    doc = report.document(rows, generator=_gen_info(gen), settings=_settings(
        args, profile, repeat), self_loop=self_loop, started=started,
        seconds=time.monotonic() - t0)
    print(report.console(doc))
    _write(args, doc)
    return EXIT_FAIL if any(r.status == "failed" for r in rows) else EXIT_OK


def _progress(t0: float) -> session.Say:
    def say(text: str) -> None:
        print(f"bench {time.monotonic() - t0:6.1f}s  {text}", file=sys.stderr, flush=True)

    return say


def _gen_info(gen: Generator) -> dict[str, Any]:
    return {"kind": gen.kind, "command": list(gen.argv), "note": gen.note,
            "description": gen.describe()}


def _settings(args: argparse.Namespace, profile: measure.Profile, repeat: int,
              ) -> dict[str, Any]:
    return {"quick": args.quick, "repeat": repeat, "conns": list(profile.conns),
            "warmup": profile.warmup, "duration": profile.duration,
            "message_bytes": profile.message, "bulk_write_bytes": profile.bulk_size,
            "capacity": not args.no_capacity, "hold_target": profile.hold,
            "hold_time": profile.hold_time, "confirm_timeout": profile.confirm_timeout,
            "server_bufsize": args.bufsize, "server_env_unset": measure.unset_env()}


def _write(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(report.console(doc, markdown=True), encoding="utf-8")
    if args.plots:
        for path in plots.write(doc, args.plots):
            print(f"wrote {path}", file=sys.stderr)
