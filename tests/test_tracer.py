"""When the syscall tracer cannot run, the traced clauses are skipped with the reason and
nothing else changes; the io_uring probe says why a kernel refuses."""

from __future__ import annotations

import subprocess

import pytest

from conformance.clause import REGISTRY, Verdict
from conformance.harness import probes, tracer
from conformance.manifest import bundled
from conformance.runner import Options, run


def _probe_with(monkeypatch: pytest.MonkeyPatch, **fakes: object) -> tuple[str | None, bool]:
    for name, fake in fakes.items():
        monkeypatch.setattr(f"conformance.harness.tracer.{name}", fake)
    return tracer._probe.__wrapped__()  # type: ignore[attr-defined,no-any-return]


def test_missing_strace_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    why, _ = _probe_with(monkeypatch, shutil=type("S", (), {"which": staticmethod(
        lambda _: None)}))
    assert why is not None and "apt-get install strace" in why


def test_forbidden_ptrace_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(args, 1, b"", b"strace: attach: ptrace(PTRACE_"
                                           b"SEIZE, 1): Operation not permitted\n")

    why, _ = _probe_with(monkeypatch, subprocess=type("P", (), {
        "run": staticmethod(refuse), "TimeoutExpired": subprocess.TimeoutExpired}))
    assert why is not None
    assert "Operation not permitted" in why and "ptrace_scope" in why


def test_traced_clauses_skip_when_tracing_is_off() -> None:
    impl = next(i for i in bundled() if i.name == "py-poll")
    result = run(REGISTRY["MODEL-1"], impl, Options(trace=False))
    assert result.verdict is Verdict.SKIP
    assert "--no-trace" in result.detail
    untraced = run(REGISTRY["MODEL-3"], impl, Options(trace=False))
    assert untraced.verdict is Verdict.PASS


def test_traced_clauses_skip_with_the_tracers_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracer, "unavailable", lambda: "strace is not installed (test)")
    impl = next(i for i in bundled() if i.name == "py-poll")
    result = run(REGISTRY["MODEL-2"], impl, Options())
    assert (result.verdict, result.detail) == (Verdict.SKIP, "strace is not installed (test)")


def test_io_uring_probe_answers_here() -> None:
    # Either io_uring works here (None) or the reason names what refused it.
    why = probes.model_unavailable("io_uring")
    assert why is None or "io_uring" in why
    assert probes.model_unavailable("select") is None
