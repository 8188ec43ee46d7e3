"""Start an implementation as a black-box process and always take it down again.

Output: on POSIX the server's stdout is a pseudo-terminal in raw mode.  C's stdio (and
most runtimes) buffer stdout fully when it is a pipe, so a textbook ``printf`` without
``fflush`` would show nothing until 4 KiB accumulate; on a terminal stdout is
line-buffered, which is what the student saw when they tried their server by hand.  Raw
mode keeps the bytes exact (no CR inserted before LF).  Windows has no pty: there a
server must flush, and the PRINT diagnosis says so.  Stderr is a pipe.

Teardown: the server runs in a session (process group) of its own, carries a unique
token in its environment, and on Linux the harness is a child subreaper, so even a
server that double-forks and calls setsid() is found again as our descendant.  Teardown
sends SIGKILL to everything so found; STOP clauses send SIGTERM/SIGINT themselves first.

Containment (``sandbox``): the command runs under the policy's resource limits and, where
it is on, inside bubblewrap.  Then the Popen child is bwrap's monitor, not the server:
``pid``, ``signal()``, ``tree()``, ``returncode()`` and ``wait_exit()`` all speak of the
server itself (pid 2 of the sandbox's pid namespace, under its host pid), as if it were
our direct child; ``tree()`` is every process of the namespace but bwrap's init, so
nothing the server starts can leave it; teardown kills the init, which ends the whole
namespace, and empties the server's cgroup, which is what takes down a fork bomb.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

import psutil

from conformance.harness import leftovers, observe, sandbox, sanitize, transient, wine
from conformance.harness.output import Capture
from conformance.harness.wintcp import TableUnreadable
from conformance.implementation import Implementation

RUN_ENV = "IOCONFORM_RUN"  # shared by every server of one suite run: the last-resort sweep
TOKEN_ENV = "IOCONFORM_TOKEN"  # unique per server process tree
PORT_ENV = "IOCONFORM_PORT"

_live: set[ServerProcess] = set()


def run_id() -> str:
    """This suite run's id, inherited by xdist workers and by every server."""
    if RUN_ENV not in os.environ:
        return new_run()
    return os.environ[RUN_ENV]


def new_run() -> str:
    """Start a new run id.  A suite started from inside another one (a test of the CLI)
    must not inherit the outer id, or its final sweep would kill the outer run's servers.
    First, what earlier runs killed before their teardown left is swept (``leftovers``)."""
    sweep_dead_runs()
    os.environ[RUN_ENV] = uuid.uuid4().hex
    leftovers.hold(os.environ[RUN_ENV])
    return os.environ[RUN_ENV]


def sweep_dead_runs() -> tuple[int, int]:
    """Kill the servers and remove the cgroups of runs that died before their teardown,
    and say so on stderr; (processes, cgroups) removed."""
    procs = groups = 0
    with leftovers.dead_runs() as runs:
        for run in runs:
            procs += sweep(run, cgroups=False)
            groups += sandbox.remove_cgroups(cgroup_name("", run))
    if procs or groups:
        print(f"ioconform: removed what {len(runs)} earlier run(s) killed before their "
              f"teardown left: {procs} server process(es), {groups} cgroup(s)",
              file=sys.stderr, flush=True)
    return procs, groups


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def reset_inherited_signals() -> None:
    """Make SIGINT and SIGTERM reach the servers with their default action.

    A program started in the background by a non-interactive shell (``cmd &``, nohup,
    some CI runners) inherits SIGINT as *ignored*, and an ignored signal stays ignored
    across exec(): every server would then ignore Ctrl-C and fail STOP-2 through no
    fault of its own.  A *handled* signal is reset to its default by exec(), so the
    harness handles them itself (as an interruption).  Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, _interrupted)


def _become_subreaper() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _open_stdout(pty: bool = True) -> tuple[int, int]:
    """(read end for the harness, write end for the server)."""
    if sys.platform != "win32" and pty:
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)
        return master, slave
    r, w = os.pipe()
    return r, w


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class ServerProcess:
    """One running implementation.  Use as a context manager."""

    def __init__(self, impl: Implementation, port: int, trace_to: str | None = None,
                 policy: sandbox.Policy | None = None, *, discard_stdout: bool = False,
                 unset_env: Sequence[str] = ()) -> None:
        """``discard_stdout``: the server's stdout goes to the null device, uncaptured (a
        benchmark must not measure how fast the harness reads a pty).  ``unset_env``:
        variables of our environment the server does not inherit."""
        self.impl = impl
        self.discard_stdout = discard_stdout
        self.unset_env = tuple(unset_env)
        self.policy = policy or sandbox.active()
        self.port = port
        self.token = uuid.uuid4().hex
        self.emulated = wine.emulates(impl.platforms)  # a Windows program, on Linux
        self.argv = impl.argv(port, python=wine.python() if self.emulated else None)
        if self.emulated:
            self.argv = wine.wrap(self.argv)
        self.trace_to = trace_to
        if trace_to is not None:
            from conformance.harness import tracer

            self.argv = tracer.wrap(self.argv, trace_to)
        self._popen: subprocess.Popen[bytes] | None = None
        self._confined: sandbox.Confined | None = None
        self._server_pid: int | None = None
        self._init_proc: psutil.Process | None = None
        self.stdout: Capture | None = None
        self.stderr: Capture | None = None
        self.started_at = 0.0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        _become_subreaper()
        reset_inherited_signals()
        env = {k: v for k, v in os.environ.items() if k not in self.unset_env}
        env.update({PORT_ENV: str(self.port), TOKEN_ENV: self.token, RUN_ENV: run_id()})
        env.update(sanitize.RUNTIME_ENV)  # only a sanitized build reads them
        if self.emulated:
            wine.ensure_server({k: v for k, v in env.items() if k != TOKEN_ENV})
            env = wine.environ(env)
        if self.discard_stdout:
            out_r, out_w = -1, os.open(os.devnull, os.O_WRONLY)
        else:
            out_r, out_w = _open_stdout(pty=not self.emulated)  # Wine: see wine.py
        err_r, err_w = os.pipe()
        kwargs: dict[str, object] = {}
        if sys.platform != "win32":
            kwargs["start_new_session"] = True
        else:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined,unused-ignore]
        writable = [os.path.dirname(self.trace_to)] if self.trace_to else []
        self._confined = sandbox.confine(self.argv, str(self.impl.cwd), self.policy,
                                         name=cgroup_name(self.token), writable=writable,
                                         inner_env={TOKEN_ENV: self.token})
        if self._confined.sandboxed:
            del env[TOKEN_ENV]  # only the server carries it, not bwrap's monitor
        try:
            # Wine's CreateProcess now and then answers "Internal error" on an idle
            # machine (a Wine-leg run lost ECHO-1 of a reference to it): try again.
            argv = self._confined.argv
            self._popen = transient.retried(lambda: subprocess.Popen(  # type: ignore[call-overload]
                argv, cwd=self.impl.cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=out_w, stderr=err_w, close_fds=True, **kwargs,
            ))
        except OSError:
            for fd in (out_r, out_w, err_r, err_w):
                if fd >= 0:
                    os.close(fd)
            self._confined.close()
            raise
        finally:
            if self._popen is not None:
                os.close(out_w)
                os.close(err_w)
        self.started_at = time.monotonic()
        _live.add(self)
        self.stdout = Capture(out_r) if out_r >= 0 else None
        self.stderr = Capture(err_r, head=1 << 20)
        self._await_exec()

    def _await_exec(self) -> None:
        """Raise OSError, as Popen does, when a wrapper (prlimit, bwrap) could not execute
        the server: "could not be started" is a better diagnosis than "exited with 127"."""
        assert self._popen is not None and self._confined is not None
        wrapped, argv = self._confined.argv, list(self.argv)
        if wrapped == argv:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                return self._exec_failed()
            with contextlib.suppress(psutil.Error):
                cmd = psutil.Process(self.pid).cmdline()
                if cmd and not (len(cmd) > len(argv) and wrapped[-len(cmd):] == cmd):
                    return None  # no wrapper's command line (nor a zombie's): the server
            time.sleep(0.001)  # a few exec()s away: poll the process's command line
        return None

    def _exec_failed(self) -> None:
        assert self.stderr is not None
        deadline = time.monotonic() + 2
        pattern = re.compile(rb"^(?:prlimit: failed to execute|bwrap: execvp) .*: (.+)$", re.M)
        while not (found := pattern.search(self.stderr.data())):
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)  # the reader thread is catching up with the pipe
        why = found.group(1).decode(errors="replace").strip()
        code = next((e for e in errno.errorcode if os.strerror(e) == why), errno.ENOEXEC)
        self.kill()
        raise OSError(code, why)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        """The server's pid (inside the sandbox: pid 2 of its pid namespace, not bwrap)."""
        assert self._popen is not None
        if self._server_pid is not None:
            return self._server_pid
        if self._confined is None or not self._confined.sandboxed:
            self._server_pid = self._popen.pid
            return self._server_pid
        deadline = time.monotonic() + 5
        while self._popen.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                if (init := self._init()) is not None:
                    for child in init.children():
                        if _ns_pid(child.pid) == 2:
                            self._server_pid = child.pid
                            return self._server_pid
            time.sleep(0.002)  # bwrap is setting up the namespaces: poll for its child
        return self._popen.pid

    def _wrapper(self) -> int | None:
        """bwrap's monitor process, when there is one."""
        if self._popen is None or self._confined is None or not self._confined.sandboxed:
            return None
        return self._popen.pid

    def _init(self) -> psutil.Process | None:
        """bwrap's init, pid 1 of the sandbox's pid namespace (the monitor's child): every
        process of the sandbox descends from it, whatever the server did to leave."""
        if self._init_proc is None and (wrapper := self._wrapper()) is not None:
            with contextlib.suppress(psutil.Error):
                self._init_proc = next(iter(psutil.Process(wrapper).children()), None)
        return self._init_proc

    def returncode(self) -> int | None:
        if self._popen is None:
            return None
        code = self._popen.poll()
        return self._confined.exit_code(code) if self._confined else code

    def containment(self) -> list[str]:
        """What the resource limits contained (fork()s refused, OOM kills, SIGXFSZ ...)."""
        if self._confined is None:
            return []
        return self._confined.notes(self._popen.poll() if self._popen else None)

    def alive(self) -> bool:
        return self.returncode() is None

    # -- observation -------------------------------------------------------------------
    def tree(self) -> list[psutil.Process]:
        """The server and every descendant, including re-parented (daemonised) ones.

        Walked again whole when Windows answers "try again" (a process snapshot taken
        while processes come and go): a tree with processes missing would lose count of
        them, and leave them running at teardown."""
        return transient.retried(self._walk)

    def _walk(self) -> list[psutil.Process]:
        procs: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.pid)
            procs[root.pid] = root
            for p in root.children(recursive=True):
                procs[p.pid] = p
        wrapper = self._wrapper()
        if (init := self._init()) is not None:  # the whole pid namespace but its init
            with contextlib.suppress(psutil.Error):
                for p in init.children(recursive=True):
                    procs.setdefault(p.pid, p)
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process().children(recursive=True):
                if p.pid not in procs and p.pid != wrapper \
                        and _has_token(p, TOKEN_ENV, self.token):
                    procs[p.pid] = p
        if self.emulated:  # Wine's services inherit the token of the server that woke them
            return [p for p in procs.values() if not wine.is_system_process(p)]
        return list(procs.values())

    def sockets(self) -> list[tuple[int, int, str]]:
        """(local port, remote port or 0, status) of the server's TCP sockets.

        Where the owner of a socket cannot be seen (Windows programs under Wine keep their
        sockets in wineserver, and Windows' table names no owner there), the server's
        sockets are those on its port, which the harness chose for it."""
        if self.emulated or sys.platform == "win32":
            return observe.tcp_sockets_on(self.port)
        return observe.tcp_sockets(self.tree())

    def listening(self) -> bool:
        return any(lp == self.port and st == psutil.CONN_LISTEN for lp, _, st in self.sockets())

    def wait_listening(self, timeout: float, elsewhere: float = 2.0) -> bool:
        """Poll until the port is in LISTEN state, the server exits, or time is up --
        or the server has been listening on other ports only, for ``elsewhere`` seconds
        (a port written into the program: it is not going to listen on ours).

        Watching the socket table has no side effect on the server, unlike a probe
        connection, which a sequential server would take for its first client."""
        deadline = time.monotonic() + timeout
        seen_elsewhere: float | None = None
        while self.alive():
            asked = time.monotonic()
            try:
                if self.listening():
                    return True
            except TableUnreadable:
                # Windows' table could not be read this time, even after its retries:
                # ask again until the deadline, and never answer "not listening" from it.
                if time.monotonic() >= deadline:
                    raise
            if time.monotonic() >= deadline:
                return False
            # Not on Windows: there a process's own socket table costs a system-wide
            # scan (seconds under Wine, where it may fail outright), so such a server
            # is given the whole deadline, as before.
            if (seen_elsewhere is None and sys.platform != "win32"
                    and self.other_listening_ports()):
                seen_elsewhere = asked
            if seen_elsewhere is not None and asked - seen_elsewhere >= elsewhere:
                return False
            # Polling the kernel's socket table: there is no event.  Where reading the
            # table is costly (under Wine it goes through the wineserver that the
            # starting server needs too; a fork bomb's tree is walked process by process),
            # poll less often: at most a third of the time, never past the deadline.
            now = time.monotonic()
            time.sleep(min(max(0.01, 2 * (now - asked)), 0.5, max(0.0, deadline - now)))
        return False

    def other_listening_ports(self) -> list[int]:
        """Ports the server's own processes listen on besides ours (a diagnosis only:
        [] where the table cannot be read, or not in time: under Wine, psutil's read of
        the table with owners fails, or took 199 s beside other runs' churn; see wintcp)."""
        if wine.under_wine():
            return []
        try:
            found = observe.tcp_sockets(self.tree())
        except (psutil.Error, RuntimeError, OSError):
            return []
        return sorted({lp for lp, _, st in found if st == psutil.CONN_LISTEN and lp != self.port})

    def output_tail(self, n: int = 8) -> str:
        parts = []
        for label, cap in (("stdout", self.stdout), ("stderr", self.stderr)):
            lines = cap.tail_lines(n) if cap else []
            body = "\n".join("    " + ln for ln in lines) if lines else "    (nothing)"
            parts.append(f"  last {label} lines:\n{body}")
        return "\n".join(parts)

    # -- control -----------------------------------------------------------------------
    def signal(self, sig: int) -> None:
        """Send ``sig``.  On Windows a console program is stopped politely with
        CTRL_BREAK_EVENT to its process group, which stands for both SIGTERM and SIGINT
        (CTRL_C_EVENT cannot be sent to one group: STOP-2 declares that gap)."""
        if self._popen is not None and self.alive() and sys.platform == "win32":
            popen = self._popen
            try:  # a console busy or short of memory answers "try again" (transient)
                transient.retried(lambda: popen.send_signal(signal.CTRL_BREAK_EVENT))
            except OSError:  # no console to send it through (Wine: STOP-1/2 declare that gap)
                transient.retried(popen.terminate)
            return
        if self._popen is not None and self.alive():
            if self._wrapper() is None:
                with contextlib.suppress(ProcessLookupError):
                    self._popen.send_signal(sig)
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int | None:
        assert self._popen is not None
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode()

    def halt(self) -> list[psutil.Process]:
        """SIGKILL the tree the walk finds, and nothing else: safe from another thread (a
        clause's watchdog) while the check still talks to the server.  ``kill`` then
        empties the cgroup and reaps.  The processes signalled."""
        if self._popen is None:
            return []
        procs = self.tree()
        if (wrapper := self._wrapper()) is not None:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(wrapper))
        if (init := self._init()) is not None:
            procs.append(init)  # its death ends every process of the namespace
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.killpg(self._popen.pid, signal.SIGKILL)
        for p in procs:
            # A process Windows would not end even after its "try again"s is left to
            # the sweep at exit: teardown must go on to the rest of the tree.
            with contextlib.suppress(psutil.Error, OSError):
                transient.retried(p.kill)
        return procs

    def suspend(self) -> None:
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                transient.retried(p.suspend)

    def resume(self) -> None:
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                transient.retried(p.resume)

    def kill(self) -> None:
        """SIGKILL the whole tree, reap it and stop the output readers.  Idempotent."""
        if self._popen is None:
            return
        procs = self.halt()
        if self._confined is not None:
            self._confined.kill()  # what the tree walk missed: a fork bomb's newest
        with contextlib.suppress(OSError):
            transient.retried(lambda: psutil.wait_procs(procs, timeout=5), tries=3)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(5)
        if self._confined is not None:
            self._confined.close()
        for cap in (self.stdout, self.stderr):
            if cap is not None:
                cap.stop()
        _live.discard(self)


def places(platforms: frozenset[str]) -> tuple[str, ...]:
    """Where a program for ``platforms`` runs here, most particular first, as a clause's
    ``gaps`` name the places: "wine" (under Wine, either way), "windows" (on Windows,
    real or under Wine)."""
    under_wine = wine.runs_under_wine(platforms)
    windows = sys.platform == "win32" or wine.emulates(platforms)
    return (*(("wine",) if under_wine else ()), *(("windows",) if windows else ()))


def _ns_pid(pid: int) -> int | None:
    """``pid``'s number in its own (innermost) pid namespace, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            line = next((ln for ln in f if ln.startswith("NSpid:")), "")
        return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _has_token(p: psutil.Process, key: str, value: str) -> bool:
    try:
        return transient.retried(p.environ).get(key) == value
    except psutil.Error:
        return False


def sweep(run: str | None = None, *, cgroups: bool = True) -> int:
    """Kill every process of this suite run still alive (last resort); return how many."""
    run = run or os.environ.get(RUN_ENV)
    if not run:
        return 0
    me = os.getpid()
    strays = [p for p in psutil.process_iter()
              if p.pid != me and _has_token(p, RUN_ENV, run) and _is_server(p)]
    for p in strays:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(strays, timeout=5)
    if cgroups:
        sandbox.remove_cgroups(cgroup_name("", run))
    return len(strays)


def cgroup_name(token: str, run: str | None = None) -> str:
    """The cgroup of one server (or, with token '', the prefix of a run's cgroups)."""
    return f"{sandbox.CGROUP_PREFIX}{(run or run_id())[:12]}-{token[:16]}"


def _is_server(p: psutil.Process) -> bool:
    """Servers carry a token; the suite's own processes (xdist workers) do not."""
    try:
        return TOKEN_ENV in transient.retried(p.environ)
    except psutil.Error:
        return False


@atexit.register
def _kill_live() -> None:
    for server in list(_live):
        server.kill()
