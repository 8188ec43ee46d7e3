"""The harness against deliberately awkward servers (tests/servers/): teardown leaves no
process behind, output capture stays bounded, startup failures are diagnosed, ports are
safe to hand out."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.clause import DEFAULT_BUDGET, REGISTRY, Applies, Clause, Failed, Level, Verdict
from conformance.harness import observe, ports, wine
from conformance.harness.output import Capture
from conformance.harness.ports import free_port
from conformance.harness.process import ServerProcess
from conformance.harness.session import Timing
from conformance.implementation import Implementation
from conformance.manifest import bundled, from_command
from conformance.runner import WINE_STARTUP, Options, run

Start = Callable[[Implementation], ServerProcess]
Weird = Callable[..., Implementation]
Tokens = Callable[[str], list[psutil.Process]]
WaitFor = Callable[..., Any]
STARTUP = 20.0  # generous: a loaded CI machine starts Python slowly
HEAD, TAIL = 32 << 20, 16 << 10  # what the README promises to keep of a server's stdout


@pytest.fixture
def started() -> Iterator[Start]:
    """Start servers; whatever happens in the test, they are killed afterwards."""
    servers: list[ServerProcess] = []

    def start(impl: Implementation) -> ServerProcess:
        server = ServerProcess(impl, free_port())
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()
        ports.release(server.port)


@pytest.fixture
def wrong_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A reserved port for wrong_port.py to listen on instead of the one it is given."""
    port = free_port()
    monkeypatch.setenv("WRONG_PORT", str(port))
    yield port
    ports.release(port)


@pytest.fixture
def recorded_servers(monkeypatch: pytest.MonkeyPatch) -> list[ServerProcess]:
    """The servers ``runner.run`` starts, for checking what they leave behind."""
    seen: list[ServerProcess] = []

    class Recorded(ServerProcess):
        def start(self) -> None:
            seen.append(self)
            super().start()

    monkeypatch.setattr("conformance.runner.ServerProcess", Recorded)
    return seen


# -- teardown ----------------------------------------------------------------------------
def test_kill_stops_a_server_that_ignores_sigterm_and_sigint(
    started: Start, weird_server: Weird, carrying_token: Tokens
) -> None:
    server = started(weird_server("ignores_signals.py"))
    assert server.wait_listening(STARTUP)
    server.signal(signal.SIGTERM)
    server.signal(signal.SIGINT)
    assert server.wait_exit(0.5) is None  # both ignored
    assert carrying_token(server.token)
    server.kill()
    assert not server.alive()
    assert carrying_token(server.token) == []
    server.kill()  # idempotent


def test_kill_finds_a_daemonised_grandchild(
    started: Start, weird_server: Weird, carrying_token: Tokens, wait_for: WaitFor
) -> None:
    server = started(weird_server("daemonizes.py"))
    assert server.wait_listening(STARTUP)
    procs = wait_for(lambda: [p for p in carrying_token(server.token) if p.pid != server.pid],
                     STARTUP, "the daemon to appear")
    daemon = procs[0]
    assert os.getsid(daemon.pid) != os.getsid(server.pid)  # escaped the server's session
    assert daemon.ppid() != server.pid  # and its parent
    assert daemon.pid in {p.pid for p in server.tree()}
    server.kill()
    assert carrying_token(server.token) == []


def test_a_server_that_exits_is_not_waited_for(started: Start) -> None:
    exits = from_command("blocking", "echo",
                         [sys.executable, "-c", "import sys; sys.exit(3)", "{port}"])
    server = started(exits)
    t0 = time.monotonic()
    assert not server.wait_listening(STARTUP)
    assert time.monotonic() - t0 < STARTUP / 2
    assert server.returncode() == 3


def test_a_server_on_the_wrong_port_is_found_out(
    started: Start, weird_server: Weird, wrong_port: int, wait_for: WaitFor
) -> None:
    wrong = wrong_port
    server = started(weird_server("wrong_port.py"))
    wait_for(lambda: server.other_listening_ports() == [wrong], STARTUP,
             f"the server to listen on port {wrong}")
    assert not server.listening()
    assert not server.wait_listening(0.2)
    assert server.alive()


# -- CPU on a busy machine -----------------------------------------------------------------
def _task(waited: float, vol: int, invol: int, ran: float = 0.0, arrivals: int = 0,
          runnable: bool = False) -> observe.Task:
    return observe.Task(ran, waited, arrivals, vol, invol, runnable)


def _sample(at: float, tasks: observe.Tasks, **kw: Any) -> observe.CpuSample:
    return observe.CpuSample(at, 0.0, tasks, **kw)


def test_only_the_wait_after_a_preemption_counts_as_cpu_wanted() -> None:
    before = _sample(0, {(1, 1): _task(0.0, 0, 0), (1, 2): _task(0.0, 10, 0),
                         (1, 3): _task(0.0, 0, 0), (1, 4): _task(0.0, 0, 0)})
    after = _sample(1, {(1, 1): _task(0.8, 0, 40),   # spins: waits only when preempted
                        (1, 2): _task(0.1, 110, 0),  # sleeps between passes: after waking
                        (1, 3): _task(0.4, 30, 10),  # both: a quarter were preemptions
                        (1, 5): _task(9.0, 0, 9)})   # born in the window: no baseline
    assert observe.preempted_wait(before, after) == pytest.approx(0.8 + 0.0 + 0.1)
    assert observe.preempted_wait(after, after) == 0.0
    # still waiting when the window closed, not yet credited: the time known is added
    waiting = after._replace(at=3.0, waiting=frozenset({(1, 1), (1, 2)}), waiting_since=1.5)
    assert observe.preempted_wait(before, waiting) == pytest.approx(0.8 + 1.5 + 0.0 + 0.1)


def test_a_wait_is_uncredited_until_the_thread_runs() -> None:
    first = {(1, 1): _task(0.5, 0, 3, ran=1.0, arrivals=4, runnable=True),
             (1, 2): _task(0.5, 0, 3, ran=1.0, arrivals=4, runnable=True),
             (1, 3): _task(0.5, 0, 3, ran=1.0, arrivals=4, runnable=True),
             (1, 4): _task(0.5, 3, 0, ran=1.0, arrivals=4, runnable=False),
             (1, 5): _task(0.5, 0, 3, ran=1.0, arrivals=4, runnable=True)}
    later = {(1, 1): first[1, 1],                                    # has not run: waiting
             (1, 2): _task(0.5, 0, 3, ran=1.1, arrivals=4, runnable=True),  # was running
             (1, 3): _task(1.4, 0, 4, ran=1.0, arrivals=5, runnable=True),  # got a CPU
             (1, 4): first[1, 4]}                                    # asleep: up to date
    assert observe.uncredited(first, later) == {(1, 1)}              # (1, 5) has exited


def test_a_settled_sample_waits_for_a_waiting_thread_to_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting = {(1, 1): _task(0.5, 0, 3, ran=1.0, arrivals=4, runnable=True)}
    ran = {(1, 1): _task(1.4, 0, 4, ran=1.01, arrivals=5, runnable=True)}
    looks = iter([waiting, waiting, waiting, ran, ran])
    monkeypatch.setattr(observe, "scheduler_tasks", lambda procs: next(looks))
    monkeypatch.setattr(observe, "cpu_seconds", lambda procs: 0.0)
    got = observe.settled_cpu_sample(list, within=60)
    assert got.tasks == ran and not got.waiting
    assert next(looks) == ran  # the fourth look settled it: one left over

    monkeypatch.setattr(observe, "scheduler_tasks", lambda procs: waiting)
    t0 = time.monotonic()
    got = observe.settled_cpu_sample(list, within=0.2)
    assert 0.2 <= time.monotonic() - t0 < 5  # bounded: a thread that never runs
    assert got.waiting == {(1, 1)} and got.waiting_since >= t0
    assert got.at - got.waiting_since >= 0.2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_scheduler_counters_are_read_for_every_thread_of_the_tree() -> None:
    spinning = threading.Event()

    def spin() -> None:
        deadline = time.monotonic() + 10
        while not spinning.is_set() and time.monotonic() < deadline:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        tasks = observe.scheduler_tasks([psutil.Process()])
    finally:
        spinning.set()
        worker.join(10)
    assert (os.getpid(), os.getpid()) in tasks
    assert (os.getpid(), worker.native_id) in tasks
    assert all(min(t) >= 0 for t in tasks.values())
    assert tasks[os.getpid(), os.getpid()].runnable  # it is reading them


# -- output capture ------------------------------------------------------------------------
def test_a_spewing_server_costs_bounded_memory(
    started: Start, weird_server: Weird, wait_for: WaitFor
) -> None:
    server = started(weird_server("spew.py"))
    out = server.stdout
    assert out is not None
    wait_for(lambda: out.total > HEAD + (8 << 20), 60, "40 MiB of output")
    assert out.truncated()
    head = out.data()
    assert len(head) == HEAD
    assert head.startswith(b"spew xxx")
    before = out.total
    wait_for(lambda: out.total > before + (1 << 20), 60, "the output to keep flowing")
    assert len(out.data()) == HEAD
    tail = out.tail_lines(n=10**6, width=10**6)
    assert tail and len("\n".join(tail)) <= TAIL
    assert all(set(line) <= set("spew x") for line in tail)
    # The server is caught mid-write, so its last line may be cut anywhere: it is quoted
    # as far as it got, never padded or dropped.
    whole, last = out.tail_lines(2, width=20)
    assert whole == "spew " + "x" * 15 + "…"
    assert last and ("spew " + "x" * 1018).startswith(last.removesuffix("…"))


def test_capture_keeps_head_and_tail_and_counts_the_rest(wait_for: WaitFor) -> None:
    r, w = os.pipe()
    cap = Capture(r, head=1000, tail=100)
    lines = [b"line %05d\n" % i for i in range(1000)]  # 11 bytes each
    try:
        writer = threading.Thread(target=lambda: [os.write(w, ln) for ln in lines])
        writer.start()
        writer.join(30)
        assert cap.wait(lambda head: True if len(head) == 1000 else None, 30)
        wait_for(lambda: cap.total == 11000, 30, "all output to be counted")
        assert cap.data() == b"".join(lines)[:1000]
        assert cap.tail_lines(3) == ["line 00997", "line 00998", "line 00999"]
        assert len(cap.tail_lines(100)) <= 100 // 11 + 1
        os.write(w, b"prompt> ")  # a line not yet ended is still the server's last word
        wait_for(lambda: cap.total == 11008, 30, "the prompt to be counted")
        assert cap.tail_lines(2) == ["line 00999", "prompt> "]
    finally:
        os.close(w)
    wait_for(lambda: cap.closed, 30, "the end of the stream")
    assert cap.wait(lambda head: None, 30) is None  # closed: returns at once
    cap.stop()
    with pytest.raises(OSError):  # the capture owns the reading end, and closed it
        os.fstat(r)


# -- ports --------------------------------------------------------------------------------
def test_free_port_hands_out_distinct_bindable_ports() -> None:
    lo, _ = ports._ephemeral_range()
    handed = [free_port() for _ in range(100)]
    try:
        assert len(set(handed)) == len(handed)
        for port in handed:
            assert 1024 <= port < lo
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))  # no SO_REUSEADDR, like a textbook server
    finally:
        for port in handed:
            ports.release(port)


def test_a_reserved_port_is_not_handed_out_by_another_allocator() -> None:
    # Two allocators stand for two processes: flock() locks belong to open files.
    first, second = ports.PortAllocator(), ports.PortAllocator()
    mine = [first.allocate() for _ in range(50)]
    theirs = [second.allocate() for _ in range(50)]
    try:
        assert set(mine).isdisjoint(theirs)
        first.release(mine[0])
        second._next = second._candidates.index(mine[0])  # probe the released port next
        assert second.allocate() == mine[0]
    finally:
        for port in mine:
            first.release(port)
        for port in theirs + mine[:1]:
            second.release(port)


def test_taken_by_another_sees_a_foreign_bind() -> None:
    port = free_port()  # reserved: no other test is handed it meanwhile
    try:
        assert not ports.taken_by_another(port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()
            assert ports.taken_by_another(port)
        assert not ports.taken_by_another(port)
    finally:
        ports.release(port)


# -- the runner on broken servers ------------------------------------------------------------
def test_start_1_names_the_port_the_server_listens_on_instead(
    weird_server: Weird, wrong_port: int, recorded_servers: list[ServerProcess],
    carrying_token: Tokens,
) -> None:
    wrong = wrong_port
    result = run(REGISTRY["START-1"], weird_server("wrong_port.py"),
                 Options(timing=Timing(startup=4.0)))
    assert result.verdict is Verdict.FAIL
    assert f"listens on port(s) {wrong} instead" in result.detail
    assert "the server did not start listening on port" in result.detail
    assert carrying_token(recorded_servers[0].token) == []


def test_start_1_reports_a_server_that_exits_or_cannot_start(tmp_path: Path) -> None:
    exits = from_command("blocking", "echo",
                         [sys.executable, "-c", "import sys; sys.exit(3)", "{port}"])
    result = run(REGISTRY["START-1"], exits, Options())
    assert result.verdict is Verdict.FAIL
    assert "exited with status 3 before listening" in result.detail

    script = tmp_path / "server"
    script.write_text("#!/nonexistent/interpreter\n", encoding="utf-8")
    script.chmod(0o755)
    result = run(REGISTRY["START-1"], from_command("blocking", "echo", ["./server", "{port}"],
                                                   cwd=str(tmp_path)), Options())
    assert result.verdict is Verdict.FAIL
    assert "the server could not be started" in result.detail

    missing = from_command("blocking", "echo", ["./missing", "{port}"], cwd=str(tmp_path))
    result = run(REGISTRY["START-1"], missing, Options())
    assert result.verdict is Verdict.SKIP
    assert "cannot find the program './missing'" in result.detail


_HANGS_FIRST = """\
import socket, sys, time
from pathlib import Path
starts = Path(sys.argv[2])
starts.write_text(starts.read_text() + "x" if starts.exists() else "x")
if len(starts.read_text()) <= int(sys.argv[3]):
    time.sleep(60)  # hung, silent: as Wine's start-up under load
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    c, _ = s.accept()
    with c:
        while data := c.recv(4096):
            c.sendall(data)
"""


@pytest.mark.parametrize("hangs", [1, 2])
def test_a_program_hung_silent_under_wine_is_started_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hangs: int,
) -> None:
    (tmp_path / "server.py").write_text(_HANGS_FIRST)
    starts = tmp_path / "starts"
    impl = from_command("blocking", "echo", [sys.executable, str(tmp_path / "server.py"),
                                             "{port}", str(starts), str(hangs)])
    monkeypatch.setattr(wine, "runs_under_wine", lambda platforms: True)
    result = run(REGISTRY["START-1"], impl, Options(timing=Timing(startup=0.5)))
    assert starts.read_text() == "xx"  # once more, and only once
    if hangs == 1:
        assert result.verdict is Verdict.PASS, result.detail
    else:
        assert result.verdict is Verdict.FAIL
        assert "started twice under Wine: silent and not listening both times" in result.detail
        # the second start had twice the time: 0.5 s x WINE_STARTUP x 2
        assert f"after {0.5 * WINE_STARTUP * 2:g} s" in result.detail, result.detail

    monkeypatch.setattr(wine, "runs_under_wine", lambda platforms: False)
    starts.unlink()
    result = run(REGISTRY["START-1"], impl, Options(timing=Timing(startup=0.5)))
    assert result.verdict is Verdict.FAIL and starts.read_text() == "x"  # natively: no retry


def test_stop_1_fails_a_server_that_ignores_sigterm_and_leaves_nothing(
    weird_server: Weird, recorded_servers: list[ServerProcess], carrying_token: Tokens
) -> None:
    result = run(REGISTRY["STOP-1"], weird_server("ignores_signals.py"),
                 Options(timing=Timing(stop=1.0)))
    assert result.verdict is Verdict.FAIL, result.detail
    assert "still running 1 s after SIGTERM" in result.detail
    assert "hint:" in result.detail
    (server,) = recorded_servers
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == "zombie"
    assert carrying_token(server.token) == []


def test_the_runner_leaves_no_daemon_behind(
    weird_server: Weird, recorded_servers: list[ServerProcess], carrying_token: Tokens
) -> None:
    result = run(REGISTRY["START-1"], weird_server("daemonizes.py"), Options())
    assert result.verdict is Verdict.PASS, result.detail
    assert carrying_token(recorded_servers[0].token) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_a_killed_server_leaves_no_descriptor_in_the_harness(wait_for: WaitFor) -> None:
    """The reading ends of a server's stdout and stderr are closed once it is gone.  Two
    leaked per server once pushed a long run past select()'s FD_SETSIZE, and every
    later server's output went unread ("0 B found")."""
    impl = next(i for i in bundled() if i.name == "py-blocking")

    def ours() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = ours()
    for _ in range(3):
        server = ServerProcess(impl, free_port())
        server.start()
        assert server.wait_listening(10)
        server.kill()
        ports.release(server.port)
    wait_for(lambda: ours() <= before, 10, "the capture threads to close their descriptors")


class _FakeProcess:
    def __init__(self, name: str, argv: list[str]) -> None:
        self._name, self._argv = name, argv

    def name(self) -> str:
        return self._name

    def cmdline(self) -> list[str]:
        return self._argv


@pytest.mark.parametrize(("name", "argv", "system"), [
    ("wineserver64", ["/usr/lib/wine/wineserver64", "-p0"], True),
    ("services.exe", ["C:\\windows\\system32\\services.exe", ""], True),
    ("winedevice.exe", ["C:\\Windows\\System32\\winedevice.exe"], True),
    ("blocking.exe", ["build/win/blocking.exe", "20049"], False),
    ("python.exe", ["Z:\\work\\cp312\\python.exe", "server.py"], False),
    ("python.exe", ["C:\\users\\student\\python.exe", "server.py"], False),
])
def test_wine_services_are_not_the_servers(name: str, argv: list[str], system: bool) -> None:
    # The first Windows program in a prefix starts Wine's services, which inherit its
    # token: counted as the server's, their threads failed LEAK-2 on a blocking server.
    from conformance.harness import wine

    assert wine.is_system_process(_FakeProcess(name, argv)) is system  # type: ignore[arg-type]


def test_a_clause_that_outlives_its_budget_fails_with_where_it_stood(
        weird_server: Weird) -> None:
    """A check of 1,000 waits, each bounded by the stall deadline, on a server that
    stopped answering: 1,000 s without the budget, which ends it at 180 s x 0.02 = 3.6 s
    by killing the server."""
    def patient(s: Any) -> None:
        c = s.connect_one()
        s.send([(c, b"hello")])
        for _ in range(1000):
            s.wait_printed(c.conn, b"never printed")
        raise Failed("the check ran to its end")

    clause = Clause("ECHO-99", Level.MUST, "waits", Applies(), "hint", patient,
                    budget=DEFAULT_BUDGET)
    impl = weird_server("hangs_after_first.py", service="print")
    result = run(clause, impl, Options(timing=Timing(stall=1.0, scale=0.02)))
    assert result.verdict is Verdict.FAIL, result.detail
    assert f"ran out of its budget of {DEFAULT_BUDGET * 0.02:g} s" in result.detail
    assert "had not answered for the last 1 s" in result.detail, result.detail
    assert "actual:   when the budget ran out: 1 client(s) had connected" in result.detail
    assert "the server stopped serving in the middle of the check" in result.detail
    assert "the check ran to its end" not in result.detail


def test_a_clause_that_outlives_its_budget_while_answering_is_too_slow_to_judge(
        weird_server: Weird) -> None:
    """A server still echoing when the budget runs out is slow, not wrong: skipped."""
    result = run(REGISTRY["ECHO-2"], weird_server("trickle.py"),
                 Options(timing=Timing(scale=0.02)))
    assert result.verdict is Verdict.SKIP, result.detail
    assert "while the server was still answering: too slow to judge here" in result.detail
    assert "still owed part of their echo" in result.detail and "--timeout-scale" in \
        result.detail


def test_a_program_under_wine_has_longer_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Winsock call of an emulated program is a round trip to wineserver: its
    transfers get WINE_TOTAL times the whole-transfer deadline (not the stall window,
    which still catches a server that stopped)."""
    from conformance import runner

    seen: list[Timing] = []

    class Recording(runner.Session):
        def __init__(self, impl: Implementation, server: ServerProcess, timing: Timing,
                     seed: str) -> None:
            seen.append(timing)
            super().__init__(impl, server, timing, seed)

    monkeypatch.setattr(runner, "Session", Recording)
    impl = from_command("blocking", "echo", [sys.executable, "-m", "implementations.blocking",
                                             "{port}"])
    for emulated in (True, False):
        monkeypatch.setattr(wine, "runs_under_wine", lambda platforms, e=emulated: e)
        assert run(REGISTRY["START-1"], impl, Options()).verdict is Verdict.PASS
    default = Timing()
    assert [(t.total, t.stall) for t in seen] == [
        (default.total * runner.WINE_TOTAL, default.stall), (default.total, default.stall)]
