"""Windows' "try again" answers on every Windows and Wine path of the harness, simulated
on any platform: handle and thread counts, the process-tree walk, teardown, Ctrl-Break,
port probing and the wait for LISTEN.  Each answer is retried within a bound (see
conformance/harness/transient.py), never turned into a harness error or a wrong count."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from conformance.harness import observe, ports, transient, wine, wintcp
from conformance.harness.process import ServerProcess
from conformance.manifest import from_command

ERROR_OUTOFMEMORY, ERROR_BAD_LENGTH, ERROR_INVALID_ACCESS, WSAENOBUFS = 14, 24, 12, 10055


def _win_error(code: int) -> OSError:
    """An OSError as Windows raises it (``winerror`` set), on any platform."""
    e = OSError(f"[WinError {code}]")
    e.winerror = code  # type: ignore[attr-defined,unused-ignore]
    return e


def _flaky(times: int, code: int, then: Callable[..., Any]) -> Callable[..., Any]:
    """A call that answers ``code`` ``times`` times, then does what ``then`` does."""
    left = [times]

    def call(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise _win_error(code)
        return then(*args, **kwargs)

    return call


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between tries, taken at no cost."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


# -- the retry itself --------------------------------------------------------------------
def test_a_passing_answer_is_retried_with_growing_pauses(pauses: list[float]) -> None:
    assert transient.retried(_flaky(3, ERROR_OUTOFMEMORY, lambda: "read")) == "read"
    assert len(pauses) == 3 and pauses == sorted(pauses) and pauses[0] < pauses[-1]


def test_an_answer_that_lasts_is_raised_after_a_bounded_number_of_tries(
        pauses: list[float]) -> None:
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise _win_error(ERROR_OUTOFMEMORY)

    with pytest.raises(OSError) as raised:
        transient.retried(always)
    assert getattr(raised.value, "winerror", None) == ERROR_OUTOFMEMORY
    assert len(calls) == transient.TRIES and sum(pauses) < 1


@pytest.mark.parametrize("error", [_win_error(5), _win_error(87), OSError(errno.EBADF, "x"),
                                   psutil.AccessDenied(1)])
def test_a_real_error_is_raised_at_once(error: Exception, pauses: list[float]) -> None:
    def fail() -> None:
        raise error

    with pytest.raises(type(error)):
        transient.retried(fail)
    assert pauses == []


@pytest.mark.parametrize(("error", "passing"), [
    (_win_error(ERROR_OUTOFMEMORY), True), (_win_error(ERROR_BAD_LENGTH), True),
    (_win_error(WSAENOBUFS), True), (OSError(errno.ENOBUFS, "x"), True),
    (_win_error(1359), True),  # ERROR_INTERNAL_ERROR: Wine's CreateProcess, now and then
    (_win_error(ERROR_INVALID_ACCESS), False), (_win_error(5), False),
    (OSError(errno.EADDRINUSE, "x"), False)])
def test_which_answers_say_try_again(error: OSError, passing: bool) -> None:
    assert transient.is_transient(error) is passing


# -- handle, thread, CPU and memory counts -----------------------------------------------
class FlakyProcess:
    """A Windows process as psutil shows it, whose reads first answer ``code``."""

    def __init__(self, times: int, code: int = ERROR_OUTOFMEMORY) -> None:
        def times_then(value: Any) -> Callable[..., Any]:
            return _flaky(times, code, lambda: value)

        self.is_running = times_then(True)
        self.num_handles = times_then(40)
        self.num_threads = times_then(3)
        self.cpu_times = times_then(types.SimpleNamespace(user=1.0, system=0.5))
        self.memory_info = times_then(types.SimpleNamespace(rss=1 << 20))


def test_counts_are_read_again_when_windows_says_try_again(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float]) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    tree: Any = [FlakyProcess(2), FlakyProcess(0)]
    assert observe.open_fds(tree) == 80
    tree = [FlakyProcess(2), FlakyProcess(0)]
    assert observe.threads(tree) == 6
    tree = [FlakyProcess(2), FlakyProcess(0)]
    assert observe.cpu_seconds(tree) == 3.0
    tree = [FlakyProcess(2), FlakyProcess(0)]
    assert observe.rss_bytes(tree) == 2 << 20


def test_a_count_windows_never_gives_is_an_error_not_a_smaller_count(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float]) -> None:
    """A process left out would read as handles closed, and then as a leak."""
    monkeypatch.setattr(sys, "platform", "win32")
    tree: Any = [FlakyProcess(0), FlakyProcess(1000)]
    with pytest.raises(OSError):
        observe.open_fds(tree)


# -- the server's process tree: walk, teardown, Ctrl-Break --------------------------------
@pytest.fixture
def sleeper() -> Iterator[ServerProcess]:
    """A ServerProcess around a real child that sleeps, with no harness around it."""
    impl = from_command("blocking", "echo", [sys.executable, "-c", "pass", "{port}"])
    server = ServerProcess(impl, 1)
    server._popen = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.DEVNULL)
    yield server
    server._popen.kill()
    subprocess.Popen.wait(server._popen, 10)  # the class's: a test may stub the instance's


def test_the_tree_is_walked_again_when_a_process_snapshot_says_try_again(
        monkeypatch: pytest.MonkeyPatch, sleeper: ServerProcess, pauses: list[float]) -> None:
    """CreateToolhelp32Snapshot: 'If the function fails with ERROR_BAD_LENGTH, retry the
    function until it succeeds.'  psutil passes it on as an OSError."""
    monkeypatch.setattr(psutil.Process, "children",
                        _flaky(2, ERROR_BAD_LENGTH, psutil.Process.children))
    assert [p.pid for p in sleeper.tree()] == [sleeper.pid]


def test_teardown_kills_a_process_windows_first_refuses_to_end(
        monkeypatch: pytest.MonkeyPatch, sleeper: ServerProcess, pauses: list[float]) -> None:
    monkeypatch.setattr(sys, "platform", "win32")  # no process-group kill to fall back on
    monkeypatch.setattr(psutil.Process, "kill",
                        _flaky(2, ERROR_OUTOFMEMORY, psutil.Process.kill))
    popen = sleeper._popen
    assert popen is not None
    sleeper.kill()
    assert popen.poll() is not None


def test_teardown_goes_on_when_windows_never_ends_a_process(
        monkeypatch: pytest.MonkeyPatch, sleeper: ServerProcess, pauses: list[float]) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(psutil.Process, "kill", _flaky(1000, ERROR_OUTOFMEMORY, print))
    monkeypatch.setattr(psutil, "wait_procs", _flaky(1000, ERROR_OUTOFMEMORY, print))

    def wait(timeout: float | None = None) -> int:
        raise subprocess.TimeoutExpired("sleeper", timeout or 0)

    monkeypatch.setattr(sleeper._popen, "wait", wait)
    sleeper.kill()  # raises nothing; the process is the exit sweep's


class FakePopen:
    """Popen on Windows: send_signal(CTRL_BREAK_EVENT) is GenerateConsoleCtrlEvent."""

    def __init__(self, answers: list[int]) -> None:
        self.answers, self.sent, self.terminated = iter(answers), 0, 0
        self.pid = 4242

    def poll(self) -> None:
        return None

    def send_signal(self, sig: int) -> None:
        if (code := next(self.answers, 0)) != 0:
            raise _win_error(code)
        self.sent += 1

    def terminate(self) -> None:
        self.terminated += 1


@pytest.mark.parametrize(("answers", "sent", "terminated"), [
    ([ERROR_OUTOFMEMORY, ERROR_OUTOFMEMORY], 1, 0),  # a console short of memory: again
    ([ERROR_INVALID_ACCESS], 0, 1),  # Wine: no console to send it through (STOP-1's gaps)
])
def test_ctrl_break_is_sent_again_when_the_console_says_try_again(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], answers: list[int], sent: int,
        terminated: int) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", 1, raising=False)
    server = ServerProcess(from_command("blocking", "echo", ["server", "{port}"]), 1)
    popen = FakePopen(answers)
    server._popen = popen  # type: ignore[assignment]
    server.signal(signal.SIGINT)
    assert (popen.sent, popen.terminated) == (sent, terminated)


# -- waiting for LISTEN ------------------------------------------------------------------
def _listening_after(server: ServerProcess, monkeypatch: pytest.MonkeyPatch,
                     unreadable: int) -> None:
    """The server listens; Windows' TCP table cannot be read ``unreadable`` times first."""
    answers = iter([None] * unreadable)

    def sockets() -> list[tuple[int, int, str]]:
        if next(answers, 1) is None:
            raise wintcp.TableUnreadable("the TCP table could not be read")
        return [(server.port, 0, psutil.CONN_LISTEN)]

    monkeypatch.setattr(server, "sockets", sockets)
    monkeypatch.setattr(server, "other_listening_ports", list)


def test_an_unreadable_table_is_asked_again_until_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = ServerProcess(from_command("blocking", "echo", ["server", "{port}"]), 1)
    _listening_after(server, monkeypatch, unreadable=3)
    assert server.wait_listening(10)


def test_a_table_unreadable_until_the_deadline_is_an_error_never_not_listening(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """'Nothing is listening' would fail a server that does: an error says what happened."""
    server = ServerProcess(from_command("blocking", "echo", ["server", "{port}"]), 1)
    _listening_after(server, monkeypatch, unreadable=10**6)
    with pytest.raises(wintcp.TableUnreadable):
        server.wait_listening(0.2)


def test_under_wine_the_diagnosis_of_other_ports_skips_psutils_slow_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def minutes(procs: Any) -> list[tuple[int, int, str]]:
        raise AssertionError("psutil's table with owners: 199 s for one read under Wine")

    monkeypatch.setattr(wine, "under_wine", lambda: True)
    monkeypatch.setattr(observe, "tcp_sockets", minutes)
    server = ServerProcess(from_command("blocking", "echo", ["server", "{port}"]), 1)
    assert server.other_listening_ports() == []


# -- port probing ------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [_win_error(WSAENOBUFS), OSError(errno.ENOBUFS, "x")])
def test_a_bind_refused_for_want_of_buffers_is_tried_again_not_taken_for_a_port_in_use(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], answer: OSError) -> None:
    port = ports.free_port()
    try:
        left = [2]
        bind = socket.socket.bind

        def flaky_bind(self: socket.socket, address: Any) -> None:
            if left[0] > 0:
                left[0] -= 1
                raise answer
            bind(self, address)

        monkeypatch.setattr(socket.socket, "bind", flaky_bind)
        assert not ports.taken_by_another(port)
        assert left == [0]
    finally:
        ports.release(port)


def test_a_server_start_that_wine_answers_internal_error_is_made_again(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float]) -> None:
    """An idle Wine-leg run lost ECHO-1 of a reference to CreateProcess's "Internal
    error" (ERROR_INTERNAL_ERROR): the start is made again, never given as a verdict."""
    from conformance.harness.ports import free_port
    from conformance.manifest import from_command

    real, calls = subprocess.Popen, []

    def popen(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) < 3:
            raise _win_error(1359)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    impl = from_command("blocking", "echo", [sys.executable, "-c", "import time; "
                                             "time.sleep(60)", "{port}"])
    server = ServerProcess(impl, free_port())
    try:
        server.start()
        assert len(calls) == 3 and server.alive() and pauses[:2] == [0.005, 0.01]
    finally:
        server.kill()
