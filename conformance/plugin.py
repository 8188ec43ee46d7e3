"""The pytest plugin (entry point ``pytest11: ioconform``).

It turns the contract into pytest items -- one per (implementation, clause) -- for the
single test body in ``conformance/test_contract.py``, runs each through
``conformance.runner`` and maps verdicts onto pytest outcomes:

==========  =========================================================
verdict     pytest outcome
==========  =========================================================
pass        passed
fail        failed (the self-explaining diagnosis, no traceback)
error       failed (with the harness traceback)
skip, n/a   skipped, with the reason
xfail       xfailed (the implementation declared the limitation)
xpass       xpassed
non-strict  xfailed with "SHOULD clause failed" (failed with --strict-should)
==========  =========================================================

The verdict itself travels in the report's ``user_properties`` so that it survives
pytest-xdist, and the controller collects the results for ``--ioconform-json``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conformance import runner, settings
from conformance.clause import Clause, Verdict, ordered
from conformance.clauses import select_clauses
from conformance.harness import sandbox, wine
from conformance.harness.process import new_run, reset_inherited_signals, sweep
from conformance.harness.session import Timing
from conformance.implementation import Implementation
from conformance.manifest import ManifestError, bundled, load
from conformance.models import MODELS

_KEY = "ioconform"
_SELECTION = pytest.StashKey[list[tuple[Implementation, Clause]]]()
_OPTIONS = pytest.StashKey[runner.Options]()
# Where a worker leaves word that a server failed START-1, so that no worker waits out a
# deadline on its other clauses.  A folder only the harness knows: the controller makes
# it and hands it to the workers through xdist, never through the servers' environment.
_BLOCKED = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ioconform", "ioconform conformance suite")
    group.addoption("--ioconform-impl", action="append", default=[], metavar="NAME",
                    dest="ioconform_impl",
                    help="run only this implementation (repeatable)")
    group.addoption("--ioconform-model", action="append", default=[], metavar="MODEL",
                    dest="ioconform_model",
                    help=f"run only implementations of this model ({', '.join(MODELS)})")
    group.addoption("--ioconform-manifest", action="append", default=[], metavar="PATH",
                    dest="ioconform_manifest",
                    help="implementation manifest (ioconform.toml or its folder) instead of "
                         "the bundled references (repeatable)")
    group.addoption("--ioconform-clause", action="append", default=[], metavar="ID",
                    dest="ioconform_clause",
                    help="run only this clause or family, e.g. ECHO-2 or ECHO (repeatable)")
    group.addoption("--ioconform-mutants", action="store_true", default=False,
                    dest="ioconform_mutants",
                    help="run the bundled mutants (deliberately broken servers) instead of "
                         "the references")
    group.addoption("--ioconform-json", metavar="PATH", default=None,
                    help="write every verdict as JSON to PATH")
    group.addoption("--ioconform-progress", action="store_true", default=False,
                    help=argparse.SUPPRESS)
    group.addoption("--ioconform-partial", metavar="PATH", default=None,
                    help="append every verdict to PATH as a JSON line the moment it is "
                         "reached: a run that is killed still leaves them")
    settings.add_options(group, parser)


def _implementations(config: pytest.Config) -> list[Implementation]:
    try:
        if paths := config.getoption("ioconform_manifest"):
            impls = [load(p) for p in paths]
        else:
            impls = bundled(mutants=config.getoption("ioconform_mutants"))
    except ManifestError as e:
        raise pytest.UsageError(f"ioconform: {e}") from None
    if names := config.getoption("ioconform_impl"):
        known = {i.name for i in impls}
        if unknown := [n for n in names if n not in known]:
            raise pytest.UsageError(f"ioconform: --ioconform-impl: unknown implementation(s) "
                                    f"{', '.join(unknown)} (known: {', '.join(sorted(known))})")
        impls = [i for i in impls if i.name in names]
    if models := config.getoption("ioconform_model"):
        if unknown := [m for m in models if m not in MODELS]:
            raise pytest.UsageError(f"ioconform: --ioconform-model: unknown model(s) "
                                    f"{', '.join(unknown)} (known: {', '.join(MODELS)})")
        impls = [i for i in impls if i.model in models]
    return impls


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(id, family, level): the contract clause checked")
    config.addinivalue_line("markers", "platform(*names): platforms the implementation runs on")
    config.addinivalue_line("markers", "implementation(name, model, service): the server")
    reset_inherited_signals()  # in the main thread, before any server starts
    if not hasattr(config, "workerinput"):
        new_run()  # before xdist starts its workers, so they and the servers inherit it
    _raise_fd_limit()
    strict, _ = settings.resolve(config, "ioconform_strict")
    scale, _ = settings.resolve(config, "ioconform_timeout_scale")
    seed, _ = settings.resolve(config, "ioconform_seed")
    sanitized, _ = settings.resolve(config, "ioconform_sanitize")
    confirm, _ = settings.resolve(config, "ioconform_confirm")
    limits = settings.resolve(config, "ioconform_limits")[0]
    policy = sandbox.Policy(settings.resolve(config, "ioconform_sandbox")[0],
                            sandbox.for_sanitizer(limits) if sanitized else limits)
    if why := sandbox.check_policy(policy):
        raise pytest.UsageError(f"ioconform: {why}")
    sandbox.activate(policy)  # the default of every server and build of this process
    trace = not settings.resolve(config, "ioconform_no_trace")[0]
    config.stash[_OPTIONS] = runner.Options(strict=strict, timing=Timing().scaled(scale),
                                            seed=seed, trace=trace, sandbox=policy,
                                            sanitize=sanitized, confirm=confirm)
    config.pluginmanager.register(_Recorder(config), "ioconform-recorder")
    if hasattr(config, "workerinput"):
        config.stash[_BLOCKED] = Path(config.workerinput["ioconform_blocked"])
    else:
        config.stash[_BLOCKED] = Path(tempfile.mkdtemp(prefix="ioconform-blocked-"))
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_Nodes(config.stash[_BLOCKED]), "ioconform-nodes")
    _selection(config)  # a bad --impl/--clause/--manifest is a usage error, reported now


def _raise_fd_limit() -> None:
    """CAPACITY clauses hold thousands of sockets on both ends; servers inherit this."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _selection(config: pytest.Config) -> list[tuple[Implementation, Clause]]:
    if _SELECTION not in config.stash:
        try:
            clauses = select_clauses(config.getoption("ioconform_clause"))
        except ValueError as e:
            raise pytest.UsageError(f"ioconform: --ioconform-clause: {e}") from None
        config.stash[_SELECTION] = [(i, c) for i in _implementations(config) for c in clauses]
    return config.stash[_SELECTION]


def _asked(config: pytest.Config) -> bool:
    """Does this session run the contract (``--pyargs conformance``, the CLI's
    test_contract.py, or an ``--ioconform-*`` option)?  The plugin is loaded into every
    pytest session where ioconform is installed, and keeps quiet in the others."""
    args = [str(a) for a in config.invocation_params.args]
    return any(a == "conformance" or a.startswith("conformance/") or "test_contract" in a
               or a.startswith("--ioconform-") for a in args)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not _asked(config):
        return []
    lines = []
    for name in settings.SETTINGS:
        value, source = settings.resolve(config, name)
        lines.append(f"ioconform: {name.removeprefix('ioconform_')}={value} ({source})")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ioconform_case" not in metafunc.fixturenames:
        return
    params = []
    for impl, clause in _selection(metafunc.config):
        marks = [pytest.mark.clause(clause.id, clause.family, clause.level.value),
                 pytest.mark.platform(*sorted(impl.platforms)),
                 pytest.mark.implementation(impl.name, impl.model, impl.service)]
        if clause.id in impl.xfail:
            marks.append(pytest.mark.xfail(reason=impl.xfail[clause.id], strict=False))
        params.append(pytest.param((impl, clause), marks=marks, id=f"{impl.name}:{clause.id}"))
    metafunc.parametrize("ioconform_case", params)


@pytest.fixture
def ioconform_check(request: pytest.FixtureRequest) -> object:
    """Run the case and turn its verdict into the pytest outcome."""

    def check(case: tuple[Implementation, Clause]) -> None:
        impl, clause = case
        marker = request.config.stash[_BLOCKED] / hashlib.sha256(impl.name.encode()).hexdigest()
        if clause.id != "START-1" and marker.exists():
            result = runner.blocked(clause, impl, marker.read_text(encoding="utf-8"),
                                    request.config.stash[_OPTIONS])
        else:
            result = runner.run(clause, impl, request.config.stash[_OPTIONS])
        if clause.id == "START-1" and result.verdict is Verdict.FAIL:
            marker.write_text(result.detail, encoding="utf-8")
        request.node.user_properties.append((_KEY, json.dumps(result.to_dict())))
        _outcome(result)

    return check


def _outcome(result: runner.Result) -> None:
    v = result.verdict
    if v in (Verdict.PASS, Verdict.XPASS):
        return
    if v in (Verdict.SKIP, Verdict.NA):
        pytest.skip(f"{v.value}: {result.detail}")
    if v is Verdict.NON_STRICT:
        pytest.xfail(f"SHOULD clause failed (a failure only with --strict-should)\n"
                     f"{result.detail}")
    pytest.fail(result.detail, pytrace=False)  # fail, xfail (via the marker) and error


class _Nodes:
    """Hands each xdist worker the folder of START-1's failures (controller only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["ioconform_blocked"] = str(self.folder)


class _Recorder:
    """Collects verdicts in the controlling process (xdist ships user_properties)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[runner.Result] = []
        self._wanted = collections.Counter(i.name for i, _ in _selection(config))
        self._done: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller gets the same report, and counts
        for key, value in report.user_properties:
            if key == _KEY and report.when == "call":
                result = runner.Result.from_dict(json.loads(str(value)))
                self.results.append(result)
                if path := self.config.getoption("ioconform_partial"):
                    # One line, flushed as it is reached: the verdicts so far survive a
                    # kill of the whole run (a CI step timeout, the OOM killer).
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(result.to_dict()) + "\n")
                if self.config.getoption("ioconform_progress"):
                    self._progress(result)

    def _progress(self, result: runner.Result) -> None:
        """One counter, the controller's: it only goes up, whichever worker reported.  On
        a terminal it is rewritten in place; in a log, a plain line as each server is
        done (each check, when there is one server)."""
        done, total = len(self.results), len(_selection(self.config))
        self._done[result.impl] = self._done.get(result.impl, 0) + 1
        finished = self._done[result.impl] >= self._wanted[result.impl]
        if len(self._wanted) > 1:  # graders watch whole submissions complete
            servers = sum(1 for k, n in self._done.items() if n >= self._wanted[k])
            head = f"[{servers}/{len(self._wanted)} servers, {done}/{total} checks]"
        else:
            head = f"[{done:>4}/{total}]"
        if sys.stderr.isatty():
            line = f"{head} {result.impl:<24} {result.clause:<16} {result.verdict.value}"
            sys.stderr.write("\r\x1b[K" + (line if done < total else ""))
        elif len(self._wanted) == 1:
            sys.stderr.write(f"{head} {result.clause} {result.verdict.value}\n")
        elif finished:
            mine = [r for r in self.results if r.impl == result.impl]
            failed = sum(r.verdict in (Verdict.FAIL, Verdict.ERROR) for r in mine)
            unmet = sum(r.verdict is Verdict.NON_STRICT for r in mine)
            sys.stderr.write(f"{head} {result.impl} done: {len(mine)} checks, {failed} "
                             f"failed" + (f", {unmet} SHOULD not met" if unmet else "")
                             + "\n")
        sys.stderr.flush()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller collects and writes
        shutil.rmtree(self.config.stash[_BLOCKED], ignore_errors=True)
        if sweep():
            sys.stderr.write("ioconform: killed stray server processes left by this run\n")
        if any(wine.emulates(i.platforms) for i, _ in _selection(self.config)):
            wine.shutdown(os.environ)  # the persistent wineserver the servers shared
        if path := self.config.getoption("ioconform_json"):
            position = {c.id: n for n, c in enumerate(ordered())}
            results = sorted(self.results, key=lambda r: (r.impl, position.get(r.clause, 0)))
            Path(path).write_text(json.dumps([r.to_dict() for r in results], indent=1),
                                  encoding="utf-8")
