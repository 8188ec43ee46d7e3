"""The ``ioconform`` command: run, check, list (and grade, merge, bench: their own modules).

Exit status: 0 every MUST clause passed; 1 conformance failures; 2 usage or manifest
errors; 3 harness errors; 130 interrupted (Ctrl-C).  The commands, their flags and the
JSON report's fields are a stable interface: graders script against them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import conformance.clauses  # noqa: F401  (registers the clauses)
from conformance import __version__, falsealarms, killmatrix, launch, report, settings
from conformance.bench import command as bench_command
from conformance.clause import Clause, Verdict
from conformance.clauses import QUICK, select_clauses
from conformance.exits import (
    EXIT_FAIL,
    EXIT_HARNESS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)
from conformance.grading import autograder
from conformance.grading import command as grade_command
from conformance.grading.course import CourseError
from conformance.grading.submissions import GradingError
from conformance.harness.sandbox import Policy, check_policy
from conformance.implementation import Implementation
from conformance.manifest import (
    ManifestError,
    bundled,
    corpus,
    from_command,
    load,
    to_toml,
)
from conformance.models import MODELS, PLATFORMS, SERVICE_SUMMARY, SERVICES, current_platform
from conformance.runner import foreign, unavailable

# The settings every contract-running command takes (conformance/settings.py declares
# them); limits and the timeout scale go to pytest only when given, so that the
# environment and the ini file may set them.
SETTINGS = ("clause", "strict", "timeout_scale", "seed", "confirm", "no_trace", "sandbox",
            "limits", "sanitize")
_PASSED_WHEN_GIVEN = {"limits": None, "timeout_scale": None}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clause", action="append", default=[], metavar="ID",
                   help="check only this clause or family, e.g. ECHO-2 or ECHO (repeatable)")
    settings.add_arguments(p, SETTINGS[1:], defaults=_PASSED_WHEN_GIVEN)
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report to FILE")
    p.add_argument("-n", "--workers", default="auto", metavar="N",
                   help="parallel workers (pytest-xdist); 'auto' = CPUs + 1, 0 = none")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print the matrix and the summary only, not the failure details")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ioconform", description="Conformance suite for TCP servers written in the "
        "classic I/O models.", epilog="exit status: 0 conforming, 1 conformance failures, "
        "2 usage or manifest error, 3 harness error, 130 interrupted")
    parser.add_argument("--version", action="version", version=f"ioconform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="check the bundled reference servers (or the mutants)")
    run.add_argument("--mutants", action="store_true",
                     help="the deliberately broken servers instead of the references")
    _selection(run, "implementation", wine=True)
    _add_check_parser(sub)
    _add_matrix_parsers(sub)
    grade_command.add_parsers(sub)
    autograder.add_parser(sub)
    bench_command.add_parsers(sub)
    _add_info_parsers(sub)
    return parser


def _selection(p: argparse.ArgumentParser, what: str, *, wine: bool) -> None:
    """--impl and --model (and --wine) of the commands that run bundled servers."""
    p.add_argument("--impl", action="append", default=[], metavar="NAME",
                   help=f"only this {what} (repeatable)")
    p.add_argument("--model", action="append", default=[], choices=list(MODELS),
                   help=f"only {what}s of this model (repeatable)")
    if wine:
        p.add_argument("--wine", action="store_true",
                       help=f"on Linux, also the Windows {what}s, run under Wine")
    _common(p)


def _add_matrix_parsers(sub: Any) -> None:
    _selection(sub.add_parser(
        "mutants", help="run the contract over the mutants and print the kill matrix",
        description="Run the whole contract over the mutants (deliberately broken servers, "
        "each naming the clauses that must reject it) and print the kill matrix: mutants x "
        "clause families, killed or survived, false alarms, and the kill rate.  Exit "
        "status 0 when every mutant is killed and nothing else fails, 1 otherwise."),
        "mutant", wine=True)
    _selection(sub.add_parser(
        "corpus", help="run the contract over the correct-server corpus and print the "
        "false-alarm matrix",
        description="Run the whole contract over the corpus (correct servers written unlike "
        "the references, in the shapes people write) and print the false-alarm matrix: "
        "servers x clause families, MUST failures flagged as false alarms, SHOULD clauses "
        "not met shown apart.  Exit status 0 when no MUST clause failed, 1 otherwise."),
        "corpus server", wine=False)


def _add_check_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check", help="check one server: from its manifest, or from a command line",
        usage="ioconform check [options] MANIFEST\n"
              "       ioconform check [options] --model M --service S -- CMD ARG... {port}")
    check.add_argument("manifest", nargs="?", help="ioconform.toml, or the folder holding it")
    check.add_argument("--model", choices=list(MODELS), help="the server's I/O model")
    check.add_argument("--service", choices=list(SERVICES),
                       help="echo (echo and print), print, or echo-only")
    check.add_argument("--name", default="server", help="a name for the report")
    check.add_argument("--platform", choices=PLATFORMS,
                       help="the platform the program is built for, when it is not this "
                            "one: windows runs a Windows program (.exe, or a Windows "
                            "Python's script) under Wine on Linux")
    check.add_argument("--port", type=_tcp_port, metavar="N",
                       help="the port a program that hard-codes it listens on (the command "
                            "then needs no {port}): the clauses run one at a time on it")
    check.add_argument("--markdown", metavar="FILE",
                       help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY "
                            "when that is set)")
    check.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    check.add_argument("--prairielearn", metavar="PATH",
                       help="write PrairieLearn's external-grader results.json (a file, or "
                            "a folder to write results.json in)")
    check.add_argument("--quick", action="store_true",
                       help=f"the quick profile: the {len(QUICK)} MUST clauses that catch "
                            "the defects most often handed in, in seconds; not the whole "
                            "contract")
    _common(check)


def _tcp_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port number (1 to 65535)")
    return port


def _add_info_parsers(sub: Any) -> None:
    lst = sub.add_parser("list", help="print the models, the contract and the implementations")
    lst.add_argument("what", nargs="?", default="all",
                     choices=("all", "models", "clauses", "impls"))
    lst.add_argument("--markdown", action="store_true",
                     help="print the contract as Markdown (docs/CONTRACT.md)")
    lst.add_argument("--mutants", action="store_true", help="list the mutants too")
    lst.add_argument("--corpus", action="store_true",
                     help="list the false-alarm corpus (correct servers) too")
    lst.add_argument("--model", choices=list(MODELS), dest="for_model",
                     help="only the clauses that apply to this model")
    lst.add_argument("--service", choices=list(SERVICES), dest="for_service",
                     help="only the clauses that apply to this service (default with "
                          "--model: any)")
    exp = sub.add_parser(
        "explain", help="explain a clause: what it requires, why, how it is checked, and "
        "the mistakes it catches")
    exp.add_argument("clauses", nargs="+", metavar="CLAUSE",
                     help="a clause ID (ET-1) or a family (ET)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv + (["--", *command] if command else [])
    try:
        if args.command == "list":
            return _list(args)
        if args.command == "explain":
            return _explain(args)
        if args.command in ("grade", "merge", "bench", "gradescope"):
            if command:
                raise UsageError(f"'{args.command}' takes no command after '--'")
            return int(args.handler(args))
        if args.command in ("run", "mutants", "corpus"):
            if command:
                raise UsageError(f"'{args.command}' takes no command after '--' (did you "
                                 "mean 'check'?)")
            return _run(args)
        return _check(args, command)
    except (UsageError, ManifestError, CourseError, GradingError) as e:
        print(f"ioconform: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`ioconform list | head`): not an error of ours.  Point
        # stdout at devnull so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# -- list ---------------------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(report.contract_markdown())
        return EXIT_OK
    if args.what in ("all", "models"):
        print("Models")
        for m in MODELS.values():
            print(f"  {m.name:<12} {m.triggering.value:<10} {m.concurrency.value:<11} "
                  f"{', '.join(sorted(m.platforms)):<22} {m.summary}")
        print("\nServices")
        for name, summary in SERVICE_SUMMARY.items():
            print(f"  {name:<12} {summary}")
    if args.what in ("all", "clauses"):
        chosen = _for(select_clauses([]), args.for_model, args.for_service)
        print(f"\nClauses ({len(chosen)})" if args.what == "all" else "Clauses")
        print(report.contract_text(chosen))
    if args.what in ("all", "impls"):
        print("\nImplementations" if args.what == "all" else "Implementations")
        impls = (bundled() + (bundled(mutants=True) if args.mutants else [])
                 + (corpus() if args.corpus else []))
        for i in impls:
            why = unavailable(i)
            print(f"  {i.name:<26} {i.model:<12} {i.service:<9} "
                  f"{'available' if why is None else 'unavailable: ' + why}")
    return EXIT_OK


def _for(clauses: list[Clause], model: str | None, service: str | None) -> list[Clause]:
    """The clauses that apply to ``model`` (any service unless one is given)."""
    if model is None and service is None:
        return clauses
    models = [MODELS[model]] if model else list(MODELS.values())
    services = [service] if service else list(SERVICES)
    return [c for c in clauses if any(c.applies(m, s) for m in models for s in services)]


def _explain(args: argparse.Namespace) -> int:
    try:
        chosen = select_clauses(args.clauses)
    except ValueError as e:
        raise UsageError(f"explain: {e}; `ioconform list clauses` shows them") from None
    mutants = bundled(mutants=True)
    for n, c in enumerate(chosen):
        catches = [m for m in mutants if c.id in m.must_fail]
        how = ("white-box: the server runs under strace (Linux), and the syscall trace is "
               "judged" if c.traced else "black-box: the bytes on the wire, the server's "
               "stdout, and its processes, descriptors and CPU")
        lines = [f"{c.id} ({c.level.value})",
                 *_wrapped("requirement", c.requirement), *_wrapped("applies to",
                 c.applies.describe()), *_wrapped("why", c.source), *_wrapped("checked", how),
                 *_wrapped("budget", f"{c.budget:g} s for the whole check (times "
                           "--timeout-scale)"), *_wrapped("hint", c.hint),
                 *(line for place in c.gaps
                   for line in _wrapped("not observable", c.gap([place]) or "")),
                 *_wrapped("checked in", c.module_path)]
        if catches:
            lines.append("  mistakes it catches (mutants that must fail it):")
            for m in catches:
                lines += _wrapped(m.name, m.description.removeprefix("MUTANT: "), indent=4)
        print(("\n" if n else "") + "\n".join(lines))
    return EXIT_OK


def _wrapped(label: str, text: str, indent: int = 2) -> list[str]:
    head = " " * indent + f"{label}: "
    return textwrap.wrap(text, 88, initial_indent=head,
                         subsequent_indent=" " * len(head)) or [head.rstrip()]


# -- run / check --------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    if args.command == "corpus":
        return _corpus(args)
    mutants = args.command == "mutants" or args.mutants
    impls = _chosen(bundled(mutants=mutants), args)
    extra = ["--ioconform-mutants"] if mutants else []
    for i in impls:
        extra += ["--ioconform-impl", i.name]
    if args.command == "mutants":
        args.sanitize = True  # the seed's off-by-one is caught by ROBUST-4 alone
        return _execute("mutants", impls, args, extra, after=_kill_matrix)
    return _execute("run", impls, args, extra)


def _chosen(impls: list[Implementation], args: argparse.Namespace) -> list[Implementation]:
    """The implementations that --impl, --model and --wine select and that run here."""
    if args.impl:
        known = {i.name for i in impls}
        if unknown := [n for n in args.impl if n not in known]:
            raise UsageError(f"unknown implementation(s) {', '.join(unknown)}; "
                             f"`ioconform list impls` shows them")
        impls = [i for i in impls if i.name in args.impl]
    if args.model:
        impls = [i for i in impls if i.model in args.model]
    # Windows programs run under Wine on Linux, but only when asked for: by name, or
    # with --wine.
    here = current_platform()
    impls = [i for i in impls if here in i.platforms
             or (foreign(i) is None and (getattr(args, "wine", False)
                                         or i.name in (args.impl or ())))]
    if not impls:
        raise UsageError(f"no implementation selected runs on {here}")
    return impls


def _kill_matrix(run: report.Run, doc: dict[str, object]) -> int:
    km = killmatrix.build(run.impls, run.results)
    print(killmatrix.console(km))
    doc["kill_matrix"] = km.to_dict()
    return EXIT_OK if km.ok else EXIT_FAIL


def _corpus(args: argparse.Namespace) -> int:
    # The corpus servers are found through their manifests, as a student's are.
    impls = _chosen(corpus(), args)
    extra = [a for i in impls for a in ("--ioconform-manifest", i.source)]
    args.sanitize = True  # ROBUST-4 must not cry wolf either
    return _execute("corpus", impls, args, extra, after=_false_alarms)


def _false_alarms(run: report.Run, doc: dict[str, object]) -> int:
    fm = falsealarms.build(run.impls, run.results)
    print(falsealarms.console(fm))
    doc["false_alarm_matrix"] = fm.to_dict()
    return EXIT_OK if fm.ok else EXIT_FAIL


def _check(args: argparse.Namespace, command: list[str]) -> int:
    launch.check_outputs(args)
    if command:
        if args.manifest:
            raise UsageError("give either a manifest or a command after '--', not both")
        if not args.model or not args.service:
            raise UsageError("a command line needs --model and --service")
        impl = from_command(args.model, args.service, command, name=args.name,
                            cwd=os.getcwd(), port=args.port, platform=args.platform)
    elif args.manifest:
        if args.model or args.service:
            raise UsageError("--model and --service go with a command after '--'; a "
                             "manifest names its own")
        impl = load(args.manifest)
        if args.port is not None:
            impl = dataclasses.replace(impl, port=args.port)
        if args.platform is not None:
            impl = dataclasses.replace(impl, platforms=frozenset({args.platform}))
    else:
        raise UsageError("nothing to check: give a manifest, or --model, --service and "
                         "a command after '--'")
    if why := foreign(impl):
        raise UsageError(why)
    if args.quick:
        if args.clause:
            raise UsageError("--quick chooses the clauses: give --quick or --clause, not both")
        args.clause = list(QUICK)
        if args.workers == "auto":
            args.workers = "0"  # starting xdist's workers costs more than they save here
    if impl.port is not None:
        args.workers = "0"  # one server at a time: they all listen on that one port
    if impl.executable() is None and not impl.build:
        raise UsageError(f"{impl.source}: cannot find the program {impl.argv(0)[0]!r} "
                         f"(looked in PATH and relative to {impl.cwd})")
    return _execute("check", [impl], args, [])


def _execute(name: str, impls: list[Implementation], args: argparse.Namespace,
             extra: list[str],
             after: Callable[[report.Run, dict[str, object]], int] | None = None) -> int:
    launch.check_outputs(args)
    options = _setting_args(args)  # refused before anything runs
    try:
        clauses: list[Clause] = select_clauses(args.clause)
    except ValueError as e:
        raise UsageError(f"--clause: {e}") from None
    workers = launch.workers(args.workers, len(impls) * len(clauses))
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ioconform-") as tmp:
        folder = Path(tmp)
        if name == "check":
            impl = impls[0]
            extra = ["--ioconform-manifest", str(impl.source if impl.source != "command line"
                                       else _write_manifest(impl, folder))]
        # Beside the JSON report, every verdict as it is reached: what a run killed
        # outright (a CI step timeout) leaves; a finished or interrupted run removes it.
        partial = Path(f"{args.json}.partial") if args.json else None
        clause_args = [f"--ioconform-clause={c}" for c in args.clause]
        code, found = launch.contract(folder, extra + clause_args + options, workers, partial)
        if partial is not None:
            partial.unlink(missing_ok=True)
    interrupted = code == EXIT_INTERRUPTED
    if interrupted and not found:
        return launch.interrupted()
    if found is None:
        print(f"ioconform: the test session ended without results (pytest exit {code})",
              file=sys.stderr)
        return EXIT_HARNESS
    run = report.Run(name, impls, found, duration_s=time.monotonic() - t0, started=started,
                     settings={"strict": args.strict, "seed": args.seed, "workers": workers,
                               "timeout_scale": args.timeout_scale or 1.0,
                               "trace": not args.no_trace, "confirm": args.confirm,
                               "quick": bool(getattr(args, "quick", False)),
                               "fixed_port": impls[0].port if name == "check" else None},
                     complete=not interrupted)
    return _publish(run, args, len(clauses), code, after)


def _publish(run: report.Run, args: argparse.Namespace, clauses: int, code: int,
             after: Callable[[report.Run, dict[str, object]], int] | None) -> int:
    """Print and write the reports of a finished (or interrupted) run; its exit status."""
    print(report.console(run, details=not args.quiet and after is None))
    if getattr(args, "quick", False):
        print(f"quick profile: {clauses} of {len(select_clauses([]))} clauses, the ones "
              "that catch the defects most often handed in. A pass here is not conformance: "
              "run `ioconform check` without --quick before handing in.")
    doc = report.to_doc(run)
    status = after(run, doc) if after else run.exit_status(args.strict)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(report.to_junit(run), encoding="utf-8")
    expected = len(run.impls) * clauses
    if not run.complete:
        print(f"ioconform: interrupted after {len(run.results)} of {expected} "
              "verdicts: the report holds those reached (\"complete\": false)",
              file=sys.stderr)
        return launch.interrupted()
    if run.command == "check":
        grade_command.publish_check(run.impls[0], run.results, args, run.started,
                                    run.duration_s)
    if missing := expected - len(run.results):
        print(f"ioconform: {missing} check(s) produced no verdict (pytest exit {code})",
              file=sys.stderr)
        return EXIT_HARNESS
    return status


def _write_manifest(impl: Implementation, folder: Path) -> Path:
    path = folder / f"{impl.name}.toml"
    path.write_text(to_toml(impl), encoding="utf-8")
    return path


def _setting_args(args: argparse.Namespace) -> list[str]:
    settings.from_arguments(args, SETTINGS[1:])
    if why := check_policy(Policy(args.sandbox)):
        raise UsageError(why)
    return settings.pytest_options({name: getattr(args, name) for name in SETTINGS[1:]})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["Verdict", "main"]
