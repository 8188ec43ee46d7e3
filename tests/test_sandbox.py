"""Containment of untrusted servers (conformance/harness/sandbox.py): the limits and the
bubblewrap sandbox hold against a fork bomb, a disk filler and a server that connects
outward; a well-behaved server works, and is signalled, exactly as without them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.harness import build, ports, sandbox
from conformance.harness.process import ServerProcess, describe_exit
from conformance.harness.sandbox import Limits, Policy
from conformance.implementation import Implementation
from conformance.manifest import bundled, from_command

SERVERS = Path(__file__).resolve().parent / "servers"
STARTUP = 20.0
WaitFor = Callable[..., Any]
Start = Callable[..., ServerProcess]

needs_sandbox = pytest.mark.skipif(sandbox.unavailable() is not None,
                                   reason=f"no sandbox here: {sandbox.unavailable()}")
needs_pids_cgroup = pytest.mark.skipif("pids" not in sandbox._cgroup_roots(),
                                       reason="needs root and a writable pids cgroup")


@pytest.fixture
def started() -> Iterator[Start]:
    servers: list[ServerProcess] = []

    def start(impl: Implementation, policy: Policy, listen: bool = True) -> ServerProcess:
        server = ServerProcess(impl, ports.free_port(), policy=policy)
        servers.append(server)
        server.start()
        assert not listen or server.wait_listening(STARTUP), server.output_tail()
        return server

    yield start
    for server in servers:
        server.kill()
        ports.release(server.port)


def _script(name: str, *args: str, cwd: str = ".") -> Implementation:
    return from_command("blocking", "echo", [sys.executable, str(SERVERS / name), "{port}",
                                             *args], name=Path(name).stem, cwd=cwd)


def _echo(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(payload)
        got = b""
        while len(got) < len(payload) and (chunk := c.recv(4096)):
            got += chunk
    return got


# -- parsing ------------------------------------------------------------------------
def test_limits_round_trip_and_defaults() -> None:
    assert Limits().to_arg() == "cpu=60,memory=1024,files=16384,processes=256,fsize=64"
    assert Limits.from_arg(Limits().to_arg()) == Limits()
    assert Limits.from_arg("memory=0, processes=32") == Limits(memory_mb=0, processes=32)
    assert Limits(open_files=1 << 40).nofile() <= 1 << 40
    assert Policy().mode == "off" and Policy().limits == Limits()


@pytest.mark.parametrize(("text", "named"), [
    ("cpu=60,disk=3", "'disk'"), ("cpu=sixty", "'cpu'"), ("memory", "'memory'"),
    ("files=-1", "'files'"),
])
def test_bad_limits_name_the_key(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Limits.from_arg(text)


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="off, auto, require"):
        Policy("sometimes")


def test_plugin_usage_errors_name_their_source() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance",
                           "-p", "no:cacheprovider", "--collect-only", "-q",
                           "--ioconform-limits", "cpu=1,disk=2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "command line --ioconform-limits: unknown limit 'disk'" in done.stderr


def test_unavailable_sandbox_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)
    why = sandbox.unavailable.__wrapped__()
    assert why is not None and "apt-get install bubblewrap" in why
    monkeypatch.undo()
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bwrap: setting up uid map: denied")
    assert "denied" in (sandbox.check_policy(Policy("require")) or "")
    assert sandbox.check_policy(Policy("auto")) is None
    assert "WARNING no sandbox" in sandbox.describe(Policy("auto"))
    assert not Policy("auto").sandboxed


# -- a well-behaved server ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["off", pytest.param("require", marks=needs_sandbox)])
def test_echo_server_and_its_signals(mode: str, started: Start, wait_for: WaitFor) -> None:
    impl = next(i for i in bundled() if i.name == "py-blocking")
    server = started(impl, Policy(mode))
    assert _echo(server.port, b"hello") == b"hello"
    me = psutil.Process(server.pid)
    assert "implementations.blocking" in " ".join(me.cmdline())  # the server, not bwrap
    assert [p.pid for p in server.tree()] == [server.pid]
    server.signal(signal.SIGSTOP)
    wait_for(lambda: me.status() == psutil.STATUS_STOPPED, 10, "the server to stop")
    server.signal(signal.SIGCONT)
    assert _echo(server.port, b"again") == b"again"
    server.signal(signal.SIGTERM)
    code = server.wait_exit(10)
    assert code is not None and code <= 0, describe_exit(code)
    assert server.containment() == []


def _cgroups_named(part: str) -> list[str]:
    """Cgroup folders whose name holds ``part``.  os.walk, not Path.rglob: other runs
    remove their cgroups meanwhile, and a folder gone mid-walk is skipped, not an error."""
    return [os.path.join(top, d) for top, dirs, _ in os.walk("/sys/fs/cgroup")
            for d in dirs if part in d]


@needs_sandbox
def test_exit_status_is_the_servers(started: Start) -> None:
    off = started(_script("ignores_signals.py"), Policy("off"))
    on = started(_script("ignores_signals.py"), Policy("require"))
    for server in (off, on):
        server.signal(signal.SIGKILL)
        assert describe_exit(server.wait_exit(10)) == "killed by SIGKILL"
    assert on._popen is not None and on.pid != on._popen.pid  # bwrap's monitor is not it


# -- hostile servers -----------------------------------------------------------------------
@needs_pids_cgroup
@pytest.mark.parametrize("mode", ["off", pytest.param("require", marks=needs_sandbox)])
def test_fork_bomb_is_contained(mode: str, started: Start, wait_for: WaitFor,
                                carrying_token: Callable[[str], list[psutil.Process]]) -> None:
    server = started(_script("fork_bomb.py"), Policy(mode, Limits(processes=64)))
    note = wait_for(lambda: [n for n in server.containment() if "process limit 64" in n],
                    30, "the process limit to be reached")
    assert "fork()/clone() refused" in note[0] and "pids cgroup" in note[0]
    assert len(server.tree()) <= 64
    assert subprocess.run(["true"], timeout=10, check=False).returncode == 0  # we still fork
    server.kill()
    assert carrying_token(server.token) == []
    assert "process limit 64 reached" in " ".join(server.containment())
    assert not _cgroups_named(server.token[:16])


@needs_sandbox
def test_disk_filler_is_contained(tmp_path: Path, started: Start, wait_for: WaitFor) -> None:
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "server.c").write_text("int main(void) { return 0; }\n")
    before = sorted(os.listdir(folder))
    impl = _script("disk_filler.py", cwd=str(folder))
    server = started(impl, Policy("require", Limits(file_size_mb=4)))
    assert server.stdout is not None
    out = server.stdout
    wait_for(lambda: b"done" in out.data(), 30, "the filler to give up")
    said = server.stdout.data().decode()
    assert "cwd EFBIG" in said and "cwd ENOSPC" in said and "/tmp ENOSPC" in said, said
    server.kill()
    assert sorted(os.listdir(folder)) == before
    assert not list(Path("/tmp").glob("filler-*.bin"))


@pytest.mark.parametrize("mode", ["off", pytest.param("require", marks=needs_sandbox)])
def test_file_size_limit_kills_with_sigxfsz(mode: str, tmp_path: Path, started: Start) -> None:
    if not sandbox._enforcement(Limits(), False)["fsize"]:
        pytest.skip("no prlimit here")
    server = started(_script("disk_filler.py", "--signal", cwd=str(tmp_path)),
                     Policy(mode, Limits(file_size_mb=2)), listen=False)
    assert describe_exit(server.wait_exit(30)) == "killed by SIGXFSZ"
    assert server.containment() == ["killed by SIGXFSZ: a file grew past the 2 MiB limit"]


_OUTWARD = """
import json, socket, sys
from conformance.harness import ports, sandbox
from conformance.harness.process import ServerProcess
from conformance.manifest import from_command
impl = from_command("blocking", "echo", [sys.executable, sys.argv[1], "{port}"])
server = ServerProcess(impl, ports.free_port(), policy=sandbox.Policy("require"))
server.start()
try:
    listening = server.wait_listening(20)
    before = sandbox.outward_attempts()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        c.settimeout(10)
        got = b""
        while got.count(b"\\n") < 3 and (chunk := c.recv(4096)):
            got += chunk
    print(json.dumps({"listening": listening, "inside": sandbox.in_loopback_only(),
                      "results": got.decode().split(), "refused":
                      sandbox.outward_attempts() - before}))
finally:
    server.kill()
"""


@needs_sandbox
def test_outward_connections_fail_and_are_counted() -> None:
    argv = sandbox.loopback_only_argv([sys.executable, "-c", _OUTWARD,
                                       str(SERVERS / "connects_out.py")])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["listening"] and seen["inside"]
    assert seen["results"] == ["ENETUNREACH"] * 3
    assert seen["refused"] >= 3
    assert not sandbox.in_loopback_only()  # this test itself runs outside


# -- builds ----------------------------------------------------------------------------
@needs_sandbox
def test_build_runs_sandboxed_and_leaves_its_output(tmp_path: Path) -> None:
    folder = tmp_path / "submission"
    folder.mkdir()
    command = "echo built > program && touch ../outside && test ! -w /usr"
    status, output = build._run(command, str(folder), 30, Policy("require"))
    assert status == "", output
    assert (folder / "program").read_text() == "built\n"
    assert not (tmp_path / "outside").exists()  # /tmp was private to the build
    status, _ = build._run("exit 3", str(folder), 30, Policy("require"))
    assert status == "exit status 3"


# -- signals stay inside ----------------------------------------------------------------
_HARNESS = """
import json, sys
from conformance.harness import ports, sandbox
from conformance.harness.process import ServerProcess
from conformance.manifest import from_command
impl = from_command("blocking", "echo", [sys.executable, sys.argv[1], "{port}"])
server = ServerProcess(impl, ports.free_port(), policy=sandbox.Policy("require"))
server.start()
try:
    said = server.stdout.wait(lambda b: bytes(b) if b"done\\n" in b else None, 30)
    print(json.dumps({"said": (said or b"").decode(), "alive": server.alive()}))
finally:
    server.kill()
"""


@needs_sandbox
def test_a_server_cannot_kill_its_ancestors() -> None:
    """The stand-in harness (marked --victim: without a pid namespace the server kills it
    and stops there) survives, and so does the server: it named no ancestor at all."""
    done = subprocess.run([sys.executable, "-c", _HARNESS, str(SERVERS / "kills_ancestors.py"),
                           "--victim"], capture_output=True, text=True, timeout=120,
                          check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, f"the harness was killed ({done.returncode}): {done.stderr}"
    seen = json.loads(done.stdout)
    assert seen == {"said": "done\n", "alive": True}, seen


@needs_sandbox
def test_a_server_cannot_kill_other_servers(started: Start, wait_for: WaitFor) -> None:
    correct = [started(next(i for i in bundled() if i.name == "py-blocking"), Policy(mode))
               for mode in ("off", "require")]
    hostile = started(_script("kills_servers.py"), Policy("require"))
    assert hostile.stdout is not None
    out = hostile.stdout
    said = wait_for(lambda: out.data() if b"done\n" in out.data() else None, 30,
                    "the hostile server to be done killing").decode()
    assert said.startswith("visible 1\n") and "killed" not in said, said  # only bwrap's init
    for server in correct:
        assert server.alive() and _echo(server.port, b"still") == b"still"
    assert hostile.tree()[0].pid == hostile.pid and _echo(hostile.port, b"x") == b"x"


@needs_sandbox
def test_nothing_leaves_the_sandbox_at_teardown(started: Start, wait_for: WaitFor) -> None:
    """A daemon that cleared its environment (no token), its session and its
    PR_SET_PDEATHSIG is still in the server's tree, and dies with it."""
    marker = f"ioconform-escapee-{os.getpid()}-{id(started)}"

    def escapees() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            cmd = p.info["cmdline"] or []
            if cmd[1:2] == ["-c"] and cmd[-1:] == [marker] and p.info["status"] != "zombie":
                found.append(p)
        return found

    server = started(_script("escapes_teardown.py", marker), Policy("require"))
    daemon = wait_for(escapees, 30, "the daemon to start")
    assert daemon[0].pid in {p.pid for p in server.tree()}
    assert "IOCONFORM_TOKEN" not in daemon[0].environ()
    server.kill()
    assert escapees() == []


# -- what a server can see ----------------------------------------------------------------
@needs_sandbox
@pytest.mark.parametrize("entries", [3, 600])
def test_a_server_sees_its_folder_and_the_system_only(entries: int, tmp_path: Path,
                                                      started: Start, wait_for: WaitFor) -> None:
    """A classmate's folder, the class folder, the grader's home and /etc/shadow are
    hidden (as root too); the server's own folder is there, however many entries it has
    (past 512 it is bound read-only whole: bwrap once could not chdir into it)."""
    klass = tmp_path / "class"
    (klass / "bob").mkdir(parents=True)
    (klass / "bob" / "server.c").write_text("/* bob's work */\n")
    alice = klass / "alice"
    alice.mkdir()
    for i in range(entries - 1):
        (alice / f"f{i:03d}.txt").write_text("mine\n")
    (alice / "shadow").symlink_to("/etc/shadow")
    paths = [str(klass / "bob" / "server.c"), str(klass), str(Path.home()), "/etc/shadow",
             "shadow", "f000.txt", "/usr/bin"]
    (alice / "paths.txt").write_text("\n".join(paths))
    server = started(_script("reads_outside.py", "@paths.txt", cwd=str(alice)),
                     Policy("require"))
    assert server.stdout is not None
    out = server.stdout
    said = wait_for(lambda: out.data() if b"done\n" in out.data() else None, 30,
                    "the server to be done reading").decode()
    seen = dict(line.split(": ", 1) for line in said.splitlines() if ": " in line)
    assert seen[paths[0]].startswith("hidden"), said  # bob's file
    assert seen[paths[1]] == "listed 1 entries" or seen[paths[1]].startswith("hidden"), said
    assert not seen[paths[2]].startswith("read"), said  # at most the Python it runs
    for shadow in ("/etc/shadow", "shadow"):
        assert seen[shadow] == "read 0 bytes" or seen[shadow].startswith("hidden"), said
    assert seen["f000.txt"] == "read 5 bytes" and seen["/usr/bin"].startswith("listed"), said


# -- what a killed run leaves ---------------------------------------------------------------
_KILLED_RUN = """
import sys
from conformance.harness import ports, sandbox
from conformance.harness.process import ServerProcess, new_run
from conformance.manifest import from_command
new_run()
impl = from_command("blocking", "echo", [sys.executable, sys.argv[1], "{port}"])
server = ServerProcess(impl, ports.free_port(), policy=sandbox.Policy("off"))
server.start()
print(server.wait_listening(20), server.token, flush=True)
sys.stdin.read()  # until it is killed
"""


def test_the_next_run_sweeps_what_a_killed_run_left(
        wait_for: WaitFor, carrying_token: Callable[[str], list[psutil.Process]]) -> None:
    """A run SIGKILLed mid-way (no sandbox: nothing dies with it) leaves its server and
    the server's daemon running, and its cgroup (as root); the next run removes them."""
    from conformance.harness import process

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(SERVERS / "daemonizes.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        listening, token = proc.stdout.readline().split()  # bounded: the server's deadline
    finally:
        proc.kill()
        proc.wait(30)
    assert listening == "True"
    left = wait_for(lambda: len(carrying_token(token)) >= 2 and carrying_token(token), 10,
                    "the server and its daemon to be left running")
    groups = _cgroups_named(token[:16])
    assert bool(groups) == ("pids" in sandbox._cgroup_roots())
    procs, removed = process.sweep_dead_runs()
    assert procs >= len(left) and removed >= len(groups)
    assert carrying_token(token) == [] and _cgroups_named(token[:16]) == []


@needs_sandbox
def test_no_sandbox_leaves_a_zombie(tmp_path: Path, started: Start, wait_for: WaitFor) -> None:
    """bwrap's init outlives its monitor by a moment and comes to the harness (a
    subreaper) to be collected: uncollected, every server would leave a zombie."""
    impl = next(i for i in bundled() if i.name == "py-blocking")
    for _ in range(3):
        started(impl, Policy("require")).kill()
        assert build._run("true", str(tmp_path), 30, Policy("require")) == ("", "")

    def zombies() -> list[int]:
        return [c.pid for c in psutil.Process().children()
                if c.status() == psutil.STATUS_ZOMBIE and c.name() == "bwrap"]

    wait_for(lambda: not zombies(), 10, "the sandboxes' inits to be collected")
