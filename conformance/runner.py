"""Run one clause against one implementation and settle its verdict.

Every clause gets a server of its own, started fresh and killed afterwards: a verdict
never depends on which clauses ran before, and a crash is attributed to the clause that
caused it.  Starting a server costs tens of milliseconds, which parallel workers absorb.

A failure counts only when most runs agree (``Options.confirm``): a clause that failed
on a server that was listening (for a mutant: outside the clauses its defect explains)
is run again, each time on a fresh server, until one outcome holds a majority of the
1 + confirm runs allowed.  A failure that does not repeat is a pass whose detail tells
that it failed once; a failure that repeats is a failure whose detail tells how many
runs it took.  Same inputs, same verdict, on an idle or a loaded machine: a chance
failure that would have flipped a score must now happen in most runs.  A server that
never listened is not run again (its failure is no chance, and each run would wait out
the start-up deadline), nor is a build that failed or a program that could not be
started.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace

from conformance import failure
from conformance.clause import REGISTRY, Clause, Failed, Level, Skipped, Verdict
from conformance.clauses import verify
from conformance.events import Connected
from conformance.harness import build, ports, probes, process, tracer, wine
from conformance.harness.ports import free_port, release, taken_by_another
from conformance.harness.process import ServerProcess, describe_exit
from conformance.harness.sandbox import Policy
from conformance.harness.session import Session, Timing
from conformance.implementation import Implementation
from conformance.models import MODELS, current_platform

DEFAULT_SEED = "ioconform-1"
WINE_STARTUP = 3.0  # the startup deadline of a program run under Wine, times the usual one
# The whole-transfer deadline of a program run under Wine, times the usual one: every
# Winsock call of an emulated program is a round trip to wineserver.  A Python IOCP server
# under Wine on a loaded 2-core machine echoed 16 MiB at 261 KiB/s, and FAIRNESS-2 gave up
# at 60 s (a skip: too slow to judge) where every idle run passed.
WINE_TOTAL = 2.0


@dataclass(frozen=True)
class Options:
    strict: bool = False
    timing: Timing = field(default_factory=Timing)
    seed: str = DEFAULT_SEED
    trace: bool = True  # run the traced clauses (under strace) where possible
    sandbox: Policy = field(default_factory=Policy)  # containment of servers and builds
    sanitize: bool = False  # build C and C++ with AddressSanitizer and UBSan
    confirm: int = 0  # re-runs a failure may get; the majority of the runs decides


@dataclass
class Result:
    impl: str
    model: str
    service: str
    clause: str
    family: str
    level: str
    verdict: Verdict
    detail: str = ""
    duration_s: float = 0.0
    runs: list[str] = field(default_factory=list)  # every run's verdict, when re-run
    confirm_s: float = 0.0  # the seconds the re-runs took (part of duration_s)

    @property
    def confirmations(self) -> int:
        """How many times a failure was run again (0: the clause ran once)."""
        return max(0, len(self.runs) - 1)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Result:
        return cls(**{**d, "verdict": Verdict(d["verdict"])})  # type: ignore[arg-type]


def not_applicable(clause: Clause, impl: Implementation) -> str | None:
    if not clause.applies(MODELS[impl.model], impl.service):
        return (f"{clause.id} applies to {clause.applies.describe()}; {impl.name} is "
                f"{impl.model}/{impl.service}")
    return None


def foreign(impl: Implementation) -> str | None:
    """Why ``impl`` was not made for this platform and cannot run here, or None.  A
    Windows program on Linux runs under Wine, where Wine is installed."""
    if wine.emulates(impl.platforms):
        if impl.uses_python() and not wine.python():
            return (f"{impl.name} is a Windows Python program: set {wine.PYTHON_ENV} to a "
                    "Windows python.exe to run it under Wine (`tox -e wine` runs it in "
                    "Windows CPython instead)")
        return f"{impl.name} is a Windows program: {why}" if (why := wine.missing()) else None
    here = current_platform()
    if here not in impl.platforms:
        return f"{impl.name} runs on {', '.join(sorted(impl.platforms))}, not on {here}"
    return None


def unavailable(impl: Implementation) -> str | None:
    """Why ``impl`` cannot run here at all (platform, model probe), or None."""
    emulated = wine.emulates(impl.platforms)
    if why := foreign(impl):
        return why
    if impl.executable() is None and not impl.build:  # a build may produce the program
        return f"{impl.name}: cannot find the program {impl.argv(0)[0]!r} (cwd {impl.cwd})"
    # The probes ask whether this Python can use a mechanism; Wine brings its own.
    return None if emulated else probes.model_unavailable(impl.model)


def run(clause: Clause, impl: Implementation, options: Options) -> Result:
    started = time.monotonic()
    result = Result(impl.name, impl.model, impl.service, clause.id, clause.family,
                    clause.level.value, Verdict.PASS)
    if why := not_applicable(clause, impl):
        result.verdict, result.detail = Verdict.NA, why
    elif why := unavailable(impl):
        result.verdict, result.detail = Verdict.SKIP, why
    elif not (built := build.ensure_built(
            impl := _variant(clause, impl, options), options.sandbox,
            sanitized=clause.sanitized and options.sanitize)).ok:
        result.verdict = Verdict.FAIL
        result.detail = failure.text(clause.heading, built.failure(), hint=f"""run the build
            by hand in {impl.cwd} and fix the first error it reports""")
    elif impl.executable() is None:
        result.verdict = Verdict.FAIL
        result.detail = failure.text(clause.heading, Failed(
            f"the build succeeded but did not produce {impl.argv(0)[0]!r} (in {impl.cwd})",
            hint="make the build write the program the command runs"))
    elif clause.traced and not options.trace:
        result.verdict, result.detail = Verdict.SKIP, "syscall tracing is off (--no-trace)"
    elif why := ((clause.traced and tracer.unavailable())
                 or clause.gap(process.places(impl.platforms))):
        result.verdict, result.detail = Verdict.SKIP, why
    else:
        result.verdict, result.detail, result.runs, result.confirm_s = _confirmed(
            clause, impl, options)
    result.verdict, result.detail = _declared(clause, impl, options, result)
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def _variant(clause: Clause, impl: Implementation, options: Options) -> Implementation:
    """The build a clause runs: the sanitized clause (ROBUST-4) gets the ASan/UBSan build,
    made in a copy of the folder, so that every other clause judges the program as the
    student built it -- one memory error costs one clause, not every clause it aborts."""
    if clause.sanitized and options.sanitize and impl.build:
        return build.sanitized_copy(impl)
    return impl


# _check_server's answers that are no verdict: start the server again, on another port.
_PORT_TAKEN = "port taken"  # another process bound the port first
_WINE_HUNG = "wine hung"  # under Wine: running, silent and not listening at the deadline


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict
    detail: str
    listened: bool = True  # the server was listening: its failure may be chance

    @property
    def chance(self) -> bool:
        """A failure that a fresh run may not repeat (see the module's docstring)."""
        return self.verdict is Verdict.FAIL and self.listened


def _confirmed(clause: Clause, impl: Implementation,
               options: Options) -> tuple[Verdict, str, list[str], float]:
    """The verdict that most runs agree on, the detail, every run's verdict (empty when
    the clause ran once) and the seconds the re-runs took."""
    first = _check(clause, impl, options)
    # A mutant's foreseen failure is one run: a kill must be deterministic, and a chance
    # pass must not outvote it.  Its unforeseen one is re-run like a student's, since a
    # false alarm is a verdict a grade would give, and a grade confirms its failures.
    if options.confirm <= 0 or not first.chance or impl.foresees(clause.id):
        return first.verdict, first.detail, [], 0.0
    started = time.monotonic()
    runs, allowed = [first], 1 + options.confirm
    majority = allowed // 2 + 1
    while len(runs) < allowed:
        fails = sum(r.verdict is Verdict.FAIL for r in runs)
        if fails >= majority or len(runs) - fails >= majority:
            break
        again = _check(clause, impl, options)
        runs.append(again)
        if again.verdict not in (Verdict.PASS, Verdict.FAIL):
            break  # a harness error or a skip is reported as it is, never outvoted
    return (*_decided(runs, allowed, majority), round(time.monotonic() - started, 3))


def _decided(runs: list[_Outcome], allowed: int,
             majority: int) -> tuple[Verdict, str, list[str]]:
    verdicts = [r.verdict.value for r in runs]
    if (last := runs[-1]).verdict not in (Verdict.PASS, Verdict.FAIL):
        return last.verdict, last.detail, verdicts
    fails = verdicts.count(Verdict.FAIL.value)
    seen = f"{len(runs)} runs ({', '.join(verdicts)}), each on a fresh server"
    if fails >= majority:
        note = "" if fails == len(runs) else "; intermittent: it does not fail every time"
        return (Verdict.FAIL, f"{runs[0].detail}\n  runs:     failed {fails} of {seen}{note}",
                verdicts)
    failure = next(r.detail for r in runs if r.verdict is Verdict.FAIL)
    return Verdict.PASS, (f"passed {len(runs) - fails} of {seen}: a failure counts only when "
                          f"it holds a majority of the {allowed} runs allowed, and this one "
                          f"did not repeat.  The failed run said:\n{failure}"), verdicts


# How long a program's fixed port may stay taken: Linux keeps TIME_WAIT for 60 s.
FIXED_PORT_WAIT = 70.0


def _check(clause: Clause, impl: Implementation, options: Options) -> _Outcome:
    if impl.port is not None:
        return _check_fixed(clause, impl, options, impl.port)
    restarted_hung = False
    for _ in range(3):
        port = free_port()
        try:
            outcome = _check_on(clause, impl, options, port, restart_hung=not restarted_hung)
        finally:
            release(port)
        if isinstance(outcome, _Outcome):
            return outcome
        restarted_hung |= outcome == _WINE_HUNG
    return _Outcome(Verdict.ERROR, "three ports in a row were taken by other processes while "
                    "the server started; is something binding ports 20000-32000?")


def _check_fixed(clause: Clause, impl: Implementation, options: Options,
                 port: int) -> _Outcome:
    """A program that hard-codes its port: every clause on that port, one at a time (the
    runs that share it take turns), each once the previous server's connections have
    left TIME_WAIT -- which only a program without SO_REUSEADDR has to wait for."""
    free, waited = ports.claim(port, FIXED_PORT_WAIT * options.timing.scale)
    try:
        if not free:
            return _Outcome(Verdict.SKIP, f"port {port}, which the program hard-codes, was "
                            f"still taken after {waited:.0f} s: another program listens "
                            "there, or its connections outlast TIME_WAIT")
        outcome = _check_on(clause, impl, options, port, restart_hung=True)
    finally:
        release(port)
    if isinstance(outcome, str):
        return _Outcome(Verdict.SKIP, f"port {port}, which the program hard-codes, was "
                        "taken by another program while the server started")
    if waited >= 1.0:
        note = (f"(waited {waited:.0f} s for port {port} to be free: the previous "
                "server's closed connections keep it in TIME_WAIT for up to a minute, and "
                "without SO_REUSEADDR the program cannot bind it before)")
        return replace(outcome, detail=f"{outcome.detail}\n{note}".lstrip("\n"))
    return outcome


def _check_on(clause: Clause, impl: Implementation, options: Options, port: int, *,
              restart_hung: bool) -> _Outcome | str:
    """The verdict, or why the server must be started again (_PORT_TAKEN, _WINE_HUNG)."""
    with tempfile.TemporaryDirectory(prefix="ioconform-trace-") as folder:
        trace_to = os.path.join(folder, "strace.txt") if clause.traced else None
        return _check_server(clause, ServerProcess(impl, port, trace_to, policy=options.sandbox),
                              options, restart_hung=restart_hung)


def _silent(server: ServerProcess) -> bool:
    return all(cap is None or cap.total == 0 for cap in (server.stdout, server.stderr))


def _check_server(clause: Clause, server: ServerProcess, options: Options, *,
                  restart_hung: bool = False) -> _Outcome | str:
    port = server.port
    try:
        server.start()
    except OSError as e:  # not executable, wrong architecture, bad interpreter line ...
        return _Outcome(Verdict.FAIL, listened=False, detail=failure.text(clause.heading, Failed(
            "the server could not be started",
            actual=f"{' '.join(server.argv)}: {e.strerror or e}",
            hint="""check that the command runs by hand from the manifest's folder
            (executable bit, #! line, built for this platform)""")))
    timing = options.timing
    under_wine = wine.runs_under_wine(server.impl.platforms)
    if under_wine:
        # Wine boots its services (wineboot, services.exe, winedevice.exe) beside the first
        # program of a prefix, and a Windows CPython then imports from a slow emulated
        # disk: on a busy 2-core CI machine that took more than 10 s, and a start after
        # one that did not listen in time (restart_hung False) took more than 30 s.
        factor = WINE_STARTUP if restart_hung else 2 * WINE_STARTUP
        timing = replace(timing, startup=timing.startup * factor,
                         total=timing.total * WINE_TOTAL)
    session = Session(server.impl, server, timing, options.seed)
    session.sanitize = options.sanitize
    listened = False
    try:
        if not server.wait_listening(timing.startup):
            if not server.alive() and taken_by_another(port):
                return _PORT_TAKEN  # not the server's fault
            if under_wine and server.alive() and _silent(server):
                # Wine's own start-up can hang or crawl on a busy machine: a Winsock
                # program that listens in a second elsewhere, run and silent for the whole
                # deadline (seen twice in one CI run, and twice in a row in another).
                # Once more, on a new port, with twice the time; then it's a verdict.
                if restart_hung:
                    return _WINE_HUNG
                raise _not_listening(server, timing.startup, started_twice=True)
            raise _not_listening(server, timing.startup)
        listened = True
        with _Watchdog(server, session, clause.budget * timing.scale, timing.stall) as dog:
            try:
                return _Outcome(Verdict.PASS, clause.check(session) or "")
            except Exception:
                if dog.fired is None:
                    raise
        # What killing the server did to the check says nothing: the budget speaks.
        return dog.outcome(clause, server)
    except Failed as f:
        return _Outcome(Verdict.FAIL, render(clause, f, server), listened)
    except Skipped as e:
        return _Outcome(Verdict.SKIP, str(e))
    except Exception:  # a bug in the suite: report it, never mistake it for a verdict
        return _Outcome(Verdict.ERROR, f"{clause.id}: the harness failed (this is a bug in "
                        f"ioconform, not in the server)\n{traceback.format_exc()}")
    finally:
        # A fixed port is the next clause's too: leave it no TIME_WAIT (Driver.close_all).
        session.driver.close_all(abort=server.impl.port is not None)
        server.kill()


class _Watchdog:
    """A clause's whole budget.  Every wait inside a check is bounded, but a check that
    waits for 250 clients one after another, each with its own stall deadline, can wait
    20 minutes on a hung print server.  When the budget runs out the watchdog kills the
    server: every wait of the check then ends at once (EOF, reset, refused), and the
    verdict is the budget's -- a FAIL if the server had stopped answering in the last
    ``window`` seconds, a SKIP (too slow to judge here) if it was still answering."""

    def __init__(self, server: ServerProcess, session: Session, budget: float,
                 window: float) -> None:
        self.server, self.session, self.budget = server, session, budget
        self.window = min(window, budget / 2)
        self.fired: float | None = None  # when it ran out (None: the check ended first)
        self.progress = False  # the server answered in the window before that
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="ioconform-budget",
                                        daemon=True)

    def __enter__(self) -> _Watchdog:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._ended.set()
        self._thread.join()

    def _answered(self) -> tuple[int, int]:
        out = self.server.stdout
        return self.session.transcript.answered, out.total if out is not None else 0

    def _watch(self) -> None:
        if self._ended.wait(self.budget - self.window):
            return
        before = self._answered()
        if self._ended.wait(self.window):
            return
        with self._lock:
            if self._ended.is_set():
                return
            self.progress = self._answered() != before
            self.fired = time.monotonic() - self._started
        self.server.halt()

    def outcome(self, clause: Clause, server: ServerProcess) -> _Outcome:
        stood = _where_it_stood(self.session)
        if self.progress:
            return _Outcome(Verdict.SKIP, (
                f"the clause ran out of its budget of {self.budget:g} s while the server "
                f"was still answering: too slow to judge here ({stood}); a slower machine "
                "needs --timeout-scale"))
        f = Failed(f"the clause ran out of its budget of {self.budget:g} s: the server had "
                   f"not answered for the last {self.window:g} s, and was stopped",
                   expected=f"the whole check within {self.budget:g} s",
                   actual=f"when the budget ran out: {stood}",
                   hint="""the server stopped serving in the middle of the check: look at
                   where it stood, and at what the server printed last""")
        return _Outcome(Verdict.FAIL, render(clause, f, server))


def _where_it_stood(s: Session) -> str:
    """Clients connected, and those still owed part of their echo, when time ran out."""
    t = s.transcript
    conns = [c for c in t.conns() if any(isinstance(e, Connected) for e in t.of(c))]
    owed = [(c, len(t.sent(c)), len(t.received(c))) for c in conns] if s.echo else []
    owed = [o for o in owed if o[2] < o[1]]
    text = f"{len(conns)} client(s) had connected"
    if owed:
        c, sent, got = owed[0]
        text += (f", {len(owed)} still owed part of their echo (client {c + 1}: sent "
                 f"{sent} bytes, {got} echoed)")
    return text


def _declared(clause: Clause, impl: Implementation, options: Options,
              result: Result) -> tuple[Verdict, str]:
    """Apply the implementation's declared limitations and the SHOULD leniency."""
    v, detail = result.verdict, result.detail
    if clause.id in impl.xfail and v in (Verdict.PASS, Verdict.FAIL):
        reason = impl.xfail[clause.id]
        if v is Verdict.FAIL:
            return Verdict.XFAIL, f"declared limitation: {reason}\n{detail}"
        return Verdict.XPASS, f"declared to fail ({reason}) but passed"
    if v is Verdict.FAIL and clause.level is Level.SHOULD and not options.strict:
        return Verdict.NON_STRICT, detail
    return v, detail


def _not_listening(server: ServerProcess, timeout: float, started_twice: bool = False) -> Failed:
    code = server.returncode()
    if code is not None:
        actual = f"the server {describe_exit(code)} before listening"
    else:
        if others := server.other_listening_ports():
            actual = (f"nothing is listening on port {server.port}; the server listens on "
                      f"port(s) {', '.join(map(str, others))} instead")
        else:
            actual = f"nothing is listening on port {server.port} after {timeout:g} s"
    return Failed(f"the server did not start listening on port {server.port}",
                  expected=f"a socket listening on 127.0.0.1:{server.port} within {timeout:g} s",
                  actual=actual, details=(f"command: {' '.join(server.argv)}",
                                          *(["started twice under Wine: silent and not "
                                             "listening both times"] if started_twice
                                            else [])),
                  hint="""pass the port on the command line ({port} in the manifest's command)
                  and check that socket(), bind() and listen() succeed""")


def render(clause: Clause, f: Failed, server: ServerProcess) -> str:
    """The self-explaining failure text: clause, requirement, expected vs actual, the
    evidence, the server's state and last output, and one hint."""
    code = server.returncode()
    listening = code is None and server.listening()
    if code is None and not listening:
        code = server.wait_exit(0.5)  # closed its listener: likely exiting right now
    state = describe_exit(code)
    if code is None and not listening:
        state += ", but no longer listening on its port"
    hint = f.hint or clause.hint
    if not f.hint and code is not None and clause.family != "STOP":
        hint = verify.exit_hint(code)  # a server that is gone: its end, not the stimulus
    return failure.text(clause.heading, f, hint=hint, state=(
        f"  server:   {state} (pid {server.pid}, port {server.port})",
        *(f"  contained: {note}" for note in server.containment()), server.output_tail()))


def blocked(clause: Clause, impl: Implementation, start_failure: str,
            options: Options) -> Result:
    """A clause not run because the server failed START-1 in this run: it never listened
    or never served its first client, so nothing else can be judged, and every clause
    would wait out a deadline to say so.  One diagnosis (START-1's), not one per clause."""
    result = Result(impl.name, impl.model, impl.service, clause.id, clause.family,
                    clause.level.value, Verdict.FAIL)
    if why := not_applicable(clause, impl):
        result.verdict, result.detail = Verdict.NA, why
        return result
    problem = failure.problem(start_failure) or "the server did not start"
    result.detail = failure.text(clause.heading, Failed(
        f"blocked: START-1 failed ({problem}), so this clause was not run",
        hint="""make START-1 pass first (its diagnosis says why it failed): nothing else
        can be judged until the server listens and serves its first client"""))
    result.verdict, result.detail = _declared(clause, impl, options, result)
    return result


def start_problem(impl: Implementation, options: Options) -> str | None:
    """Why ``impl`` does not serve at all -- START-1's diagnosis -- or None.

    Graders ask this once per submission before the contract run: a server that never
    listens, or never answers its first client, would otherwise wait out a deadline on
    every clause, and could not pass any of them."""
    result = run(REGISTRY["START-1"], impl, replace(options, strict=True))
    return result.detail if result.verdict in (Verdict.FAIL, Verdict.XFAIL) else None
