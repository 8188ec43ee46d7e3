"""Contain untrusted servers: resource limits always, a bubblewrap sandbox where possible.

What is contained, and how:

* **CPU time, open files, file size** -- rlimits, set by util-linux ``prlimit`` just
  before the command runs (never ``preexec_fn``: the harness is multi-threaded) and
  inherited across bwrap.  A file growing past the limit gets SIGXFSZ (EFBIG where the
  signal is ignored, as Python does); a process past its CPU time gets SIGXCPU.
* **Processes** (threads count too) -- RLIMIT_NPROC does not bind root: the kernel
  exempts real uid 0 even inside a user namespace.  So as root every server gets a
  ``pids`` cgroup of its own (v1, or a v2 hierarchy with the controller), joined by a
  tiny ``sh`` shim that writes its pid to ``cgroup.procs`` and execs the rest, so every
  descendant is born inside.  ``pids.events`` counts the refused fork()s for the report,
  and teardown kills whatever the cgroup still holds, over and over until it is empty,
  which is how a fork bomb is taken down.  Not root: RLIMIT_NPROC with bwrap's
  ``--unshare-user``, where it counts only the processes of the new user namespace.
  Without either, processes are not limited (a per-uid limit would count the user's
  other programs) and ``describe()`` says so.
* **Memory** -- the ``memory`` cgroup when root (the kernel's OOM killer takes the
  server down; the report says so), else RLIMIT_AS.  0 means unlimited (AddressSanitizer
  reserves terabytes of address space; many threads reserve 8 MiB stacks each).
* **Filesystem** (sandbox) -- bwrap: of the root only the system folders, read-only
  (``/usr``, ``/etc`` without its secrets, ``/opt``; see ``_SYSTEM``), the Python
  environment and the grader's absolute paths in the command; a private ``/dev`` and ``/proc``,
  a private ``/tmp`` on a size-bounded tmpfs, and the server's folder as a private
  bounded tmpfs with the folder's entries bind-mounted read-only on it: the server can
  read its files and create new ones, and whatever it writes vanishes with it (bwrap
  0.8 has no ``--tmp-overlay``).  Builds get their folder writable: they must leave the
  program behind.  As root the sandbox drops every capability (root could remount).
* **Network** -- the harness and the server must share one network namespace (the
  harness connects to the server and reads its sockets through /proc), so the network
  is isolated once for the whole run: ``loopback_only_argv()`` re-executes the harness
  command in a fresh namespace that has nothing but ``lo``.  There a connect() to any
  other address fails at once with ENETUNREACH, counted in ``outward_attempts()``.

* **Signals** (sandbox) -- a pid namespace of its own (``--unshare-pid``): bwrap's init
  is its pid 1 and the command its pid 2, so the server has default signal semantics
  (a default action never kills pid 1), and it can name, signal or trace no process
  outside its sandbox: not the harness, not another submission's server.  From the
  host's side the harness sees every process inside under its host pid, and signals the
  server (SIGTERM, SIGINT, SIGSTOP, SIGCONT, as the STOP, LT and ET clauses need) and
  reads its fds, threads, CPU, memory and sockets as before (``process.py`` finds the
  server as pid 2 of the namespace, and the whole namespace as its tree).  The namespace
  is also what nothing inside can leave: when the server (pid 2) exits, bwrap's monitor
  exits with its status and its init dies with it (``--die-with-parent``), and the
  kernel kills whatever else the namespace holds (a daemon that cleared its environment
  or its PR_SET_PDEATHSIG included); the monitor itself dies with the harness thread
  that started it, so a SIGKILLed harness takes its sandboxes down too.

bwrap keeps a monitor process as the server's parent's parent; ``ServerProcess``
signals the server itself and maps bwrap's exit status (128+N when its child was killed
by signal N) back, so the verdicts read as if the server were the harness's direct
child.  (A server that itself exits with 128+N is then reported as killed by signal N,
as a shell would.)  No ``--new-session``: the server's stdin is /dev/null and it has no
controlling terminal (the harness starts it in a session of its own), and a second
session would hide it from the harness's process-group kill.  ``--die-with-parent``
ties the sandbox to the thread that started it, so start servers from a thread that
outlives them (the runner uses the main thread).

Modes: ``off`` runs no sandbox but keeps the resource limits; ``auto`` sandboxes where
bubblewrap works and otherwise says so in ``describe()``; ``require`` refuses to run
(``check_policy()``) where it does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.harness import fsview

MODES = ("off", "auto", "require")
NETNS_ENV = "IOCONFORM_NETNS"
CGROUP_PREFIX = "ioconform-"
_MIB = 1 << 20
# Past these the kernel refuses the value (pids.max, RLIMIT_*), and every server would
# fail to start: a year of CPU, 1 PiB, PID_MAX_LIMIT ...
_MAXIMA = {"cpu": 365 * 86400, "memory": 1 << 30, "files": 1 << 30, "processes": 1 << 22,
           "fsize": 1 << 30}
_KEYS = {"cpu": "cpu_s", "memory": "memory_mb", "files": "open_files",
         "processes": "processes", "fsize": "file_size_mb"}


@dataclass(frozen=True)
class Limits:
    """Per server (and per build step).  0 means unlimited."""

    cpu_s: int = 60
    memory_mb: int = 1024
    open_files: int = 16384
    processes: int = 256
    file_size_mb: int = 64

    def to_arg(self) -> str:
        return ",".join(f"{key}={getattr(self, attr)}" for key, attr in _KEYS.items())

    def __str__(self) -> str:
        return self.to_arg()

    @classmethod
    def from_arg(cls, text: str) -> Limits:
        """Parse ``cpu=60,memory=1024,...``; keys left out keep their defaults."""
        values: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = (s.strip() for s in item.partition("="))
            if key not in _KEYS:
                raise ValueError(f"unknown limit {key!r} (known: {', '.join(_KEYS)})")
            if not sep or not value.isdigit():
                raise ValueError(f"limit {key!r} needs a whole number >= 0, as in "
                                 f"{key}=N; got {item!r}")
            if len(value) > 12 or int(value) > _MAXIMA[key]:
                raise ValueError(f"limit {key!r} is at most {_MAXIMA[key]} (0 means "
                                 f"unlimited); got {value[:20]}")
            values[_KEYS[key]] = int(value)
        return cls(**values)

    def nofile(self) -> int:
        """The open-file limit, capped at the hard limit available (0: the hard limit)."""
        if sys.platform == "win32":
            return self.open_files
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard == resource.RLIM_INFINITY:
            return self.open_files
        return min(self.open_files, hard) if self.open_files else hard


@dataclass(frozen=True)
class Policy:
    mode: str = "off"  # "off" | "auto" | "require"
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, "
                             f"not {self.mode!r}")

    @property
    def sandboxed(self) -> bool:
        return self.mode != "off" and unavailable() is None


def parse_mode(text: str) -> str:
    return Policy(text.strip().lower()).mode


_active = Policy()


def activate(policy: Policy) -> None:
    """Make ``policy`` this process's default (servers and builds started without one)."""
    global _active
    _active = policy


def active() -> Policy:
    return _active


def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# -- the sandbox ---------------------------------------------------------------------
def _fs_args(tmp_bytes: int) -> list[str]:
    size = ["--size", str(tmp_bytes)] if tmp_bytes else []
    user = ["--cap-drop", "ALL"] if _root() else ["--unshare-user"]
    return [*fsview.system_args(), "--dev", "/dev", "--proc", "/proc", *size,
            "--tmpfs", "/tmp", "--unshare-ipc", "--unshare-pid", "--die-with-parent", *user]



@functools.cache
def unavailable() -> str | None:
    """Why the bubblewrap sandbox cannot be set up here, or None (probed once, for real)."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux (bubblewrap)"
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        done = subprocess.run([exe, *_fs_args(_MIB), "--", "true"], capture_output=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not run: {e}"
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    why = lines[-1] if lines else f"exit status {done.returncode}"
    return (f"bubblewrap cannot create its namespaces here ({why}); unprivileged user "
            "namespaces may be forbidden: see the sysctls kernel.unprivileged_userns_clone "
            "(Debian) and kernel.apparmor_restrict_unprivileged_userns (Ubuntu), "
            "user.max_user_namespaces, or the container's seccomp profile")


def check_policy(policy: Policy) -> str | None:
    """The error to stop with before anything runs, or None."""
    if policy.mode == "require" and (why := unavailable()):
        return f"--sandbox require: the sandbox cannot be set up: {why}"
    return None


# -- resource limits -------------------------------------------------------------------
def for_sanitizer(limits: Limits) -> Limits:
    """``limits`` for an AddressSanitizer build, which reserves terabytes of address
    space: a memory cgroup counts what is used and stays; an address-space limit goes."""
    if "memory" in _cgroup_roots():
        return limits
    return dataclasses.replace(limits, memory_mb=0)


def _enforcement(limits: Limits, sandboxed: bool) -> dict[str, str]:
    """limit key -> how it is enforced: 'cgroup', 'rlimit' or '' (not at all)."""
    cg = _cgroup_roots()
    rl = "rlimit" if shutil.which("prlimit") else ""
    return {
        "cpu": rl if limits.cpu_s else "",
        "files": rl,
        "fsize": rl if limits.file_size_mb else "",
        "memory": "" if not limits.memory_mb else "cgroup" if "memory" in cg else rl,
        "processes": ("" if not limits.processes else "cgroup" if "pids" in cg
                      else rl if sandboxed and not _root() else ""),
    }


def _prlimit_args(limits: Limits, how: dict[str, str]) -> list[str]:
    args = []
    if how["cpu"]:
        args.append(f"--cpu={limits.cpu_s}:{limits.cpu_s + 5}")  # SIGXCPU, then SIGKILL
    if how["files"]:
        n = limits.nofile()
        args.append(f"--nofile={n}:{n}")
    if how["fsize"]:
        args.append(f"--fsize={limits.file_size_mb * _MIB}")
    if how["memory"] == "rlimit":
        args.append(f"--as={limits.memory_mb * _MIB}")
    if how["processes"] == "rlimit":
        args.append(f"--nproc={limits.processes}")
    return args


def describe(policy: Policy) -> str:
    """One line for report headers."""
    if policy.mode == "off":
        head = "off: resource limits only"
    elif why := unavailable():
        head = f"{policy.mode}: WARNING no sandbox ({why}); resource limits only"
    else:
        net = ("loopback only" if in_loopback_only()
               else "network not isolated (the run is not inside loopback_only_argv)")
        head = f"bwrap: read-only root, private /tmp and folder (bounded tmpfs), {net}"
    lim, how = policy.limits, _enforcement(policy.limits, policy.sandboxed)

    def part(key: str, value: int, unit: str) -> str:
        if not value:
            return f"{key}=unlimited"
        if not how[key]:
            return f"{key}={value}{unit} (NOT enforced here)"
        via = {"cgroup": f" ({'pids' if key == 'processes' else 'memory'} cgroup)",
               "rlimit": " (RLIMIT_NPROC)" if key == "processes" else ""}[how[key]]
        return f"{key}={value}{unit}{via}"

    return (f"{head}; limits {part('cpu', lim.cpu_s, 's')} "
            f"{part('memory', lim.memory_mb, 'MiB')} {part('files', lim.nofile(), '')} "
            f"{part('processes', lim.processes, '')} {part('fsize', lim.file_size_mb, 'MiB')}")


# -- cgroups ---------------------------------------------------------------------------
@functools.cache
def _cgroup_roots() -> dict[str, tuple[Path, bool]]:
    """controller ('pids', 'memory') -> (folder to create server cgroups in, is v2)."""
    if not sys.platform.startswith("linux") or not _root():
        return {}
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return {}
    paths = {}
    for line in own:
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else ["<v2>"]:
            paths[name] = path
    found: dict[str, tuple[Path, bool]] = {}
    for line in mounts:
        fields = line.split()
        sep = fields.index("-")
        root, point, fstype, opts = fields[3], fields[4], fields[sep + 1], fields[sep + 3]
        for c in ("pids", "memory"):
            if c in found or fstype != "cgroup" or c not in opts.split(","):
                continue
            rel = os.path.relpath(paths.get(c, "/"), root)
            folder = Path(point) / ("" if rel.startswith("..") else rel)
            if os.access(folder / "cgroup.procs", os.W_OK):
                found[c] = (folder, False)
    for line in mounts:
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2" and not {"pids", "memory"} <= set(found):
            found.update({c: r for c, r in _v2_root(Path(fields[4])).items() if c not in found})
    return found


def _v2_root(mount: Path) -> dict[str, tuple[Path, bool]]:
    """v2: servers go under <root>/ioconform (the root is exempt from the rule that a
    cgroup with processes cannot delegate controllers; the harness's own cgroup is not)."""
    try:
        controllers = set((mount / "cgroup.controllers").read_text().split()) & {"pids",
                                                                                "memory"}
        if not controllers:
            return {}
        base = mount / "ioconform"
        base.mkdir(exist_ok=True)
        for folder in (mount, base):
            enabled = set((folder / "cgroup.subtree_control").read_text().split())
            for c in sorted(controllers - enabled):
                with contextlib.suppress(OSError):
                    (folder / "cgroup.subtree_control").write_text(f"+{c}")
        enabled = set((base / "cgroup.subtree_control").read_text().split())
    except OSError:
        return {}
    return {c: (base, True) for c in controllers & enabled}


class _Cgroup:
    def __init__(self, dirs: dict[str, tuple[Path, bool]]) -> None:
        self.dirs = dirs
        self.folders = sorted({d for d, _ in dirs.values()})

    @classmethod
    def create(cls, name: str, pids_max: int, memory: int) -> _Cgroup | None:
        wanted = {c: n for c, n in (("pids", pids_max), ("memory", memory)) if n}
        if not wanted:
            return None
        roots = _cgroup_roots()
        cg = cls({c: (roots[c][0] / name, roots[c][1]) for c in wanted})
        try:
            for c, (folder, v2) in cg.dirs.items():
                folder.mkdir(exist_ok=True)
                if c == "pids":
                    (folder / "pids.max").write_text(str(pids_max))
                elif v2:
                    (folder / "memory.max").write_text(str(memory))
                    with contextlib.suppress(OSError):
                        (folder / "memory.swap.max").write_text("0")
                else:
                    (folder / "memory.limit_in_bytes").write_text(str(memory))
                    with contextlib.suppress(OSError):
                        (folder / "memory.memsw.limit_in_bytes").write_text(str(memory))
        except OSError:
            cg.remove()
            return None
        return cg

    def shim(self, argv: list[str]) -> list[str]:
        joins = " && ".join(f"echo $$ > {shlex.quote(str(f / 'cgroup.procs'))}"
                            for f in self.folders)
        return ["/bin/sh", "-c", f'{joins} || exit 125; exec "$@"', "ioconform-cgroup", *argv]

    def members(self) -> set[int]:
        pids: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return pids

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL everything inside, again and again until nothing is left (a fork bomb
        forks between our reading the list and killing it; pids.max bounds each round)."""
        if sys.platform == "win32":
            raise OSError("cgroups exist on Linux only")
        for folder, v2 in self.dirs.values():
            if v2 and (folder / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (folder / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout
        while (pids := self.members()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            reap(pids)
            time.sleep(0.002)  # the kernel is tearing them down: poll the member list

    def events(self) -> tuple[int, int]:
        """(fork()s refused at pids.max, processes killed by the memory cgroup's OOM)."""
        refused = oom = 0
        for c, (folder, v2) in self.dirs.items():
            name = "pids.events" if c == "pids" else "memory.events" if v2 \
                else "memory.oom_control"
            key = "max" if c == "pids" else "oom_kill"
            with contextlib.suppress(OSError, ValueError):
                for line in (folder / name).read_text().splitlines():
                    k, _, v = line.partition(" ")
                    if k == key:
                        refused, oom = (int(v), oom) if c == "pids" else (refused, int(v))
        return refused, oom

    def remove(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for folder in self.folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    self.kill(timeout=1.0)
                    time.sleep(0.005)  # exiting tasks leave the cgroup asynchronously


def reap(pids: Iterable[int]) -> None:
    """Collect the zombies among ``pids`` that are our children (the harness is a
    subreaper, so a killed fork bomb's orphans are)."""
    if sys.platform == "win32":
        return
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def reap_inits() -> None:
    """Collect the sandboxes' inits that died as our children.  bwrap's init (pid 1 of a
    sandbox's pid namespace) outlives its monitor by a moment, and the harness, a
    subreaper, inherits it: uncollected, every server would leave a zombie.  Only
    processes that are pid 1 of a namespace of their own are collected here: a monitor
    is a Popen's to wait for (collected here, its exit status would be lost)."""
    if not sys.platform.startswith("linux"):
        return
    me = str(os.getpid())
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, ChildProcessError):
                with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                nspid, state = fields.get("NSpid", "").split(), fields.get("State", "")
                if fields.get("PPid", "").strip() == me and len(nspid) > 1 \
                        and nspid[-1] == "1" and state.strip().startswith("Z"):
                    os.waitpid(int(name), os.WNOHANG)


def remove_cgroups(prefix: str) -> int:
    """Kill and remove leftover cgroups whose name starts with ``prefix``; how many."""
    folders = {root / d.name for root, _ in _cgroup_roots().values() if root.is_dir()
               for d in root.iterdir() if d.is_dir() and d.name.startswith(prefix)}
    for folder in folders:
        _Cgroup({"pids": (folder, False)}).remove(timeout=2.0)
    return len(folders)


# -- wrapping a command ----------------------------------------------------------------
class Confined:
    """A command as it must be run under a policy, and what it ran into."""

    def __init__(self, argv: list[str], sandboxed: bool, limits: Limits,
                 cgroup: _Cgroup | None) -> None:
        self.argv = argv
        self.sandboxed = sandboxed
        self.limits = limits
        self._cgroup = cgroup
        self._events = (0, 0)

    def members(self) -> set[int]:
        return self._cgroup.members() if self._cgroup else set()

    def kill(self) -> None:
        if self._cgroup:
            self._cgroup.kill()

    def close(self) -> None:
        """Kill what is left in the cgroup, note its events and remove it.  Idempotent."""
        if self._cgroup:
            self._cgroup.kill()
            self._events = self._cgroup.events()
            self._cgroup.remove()
            self._cgroup = None
        if self.sandboxed:
            reap_inits()

    def exit_code(self, code: int | None) -> int | None:
        """The command's exit code as if it had been our direct child: bwrap exits with
        128+N when its child was killed by signal N."""
        if code is not None and self.sandboxed and code > 128:
            with contextlib.suppress(ValueError):
                return -signal.Signals(code - 128).value
        return code

    def notes(self, code: int | None) -> list[str]:
        """What the limits contained, for a failure's diagnosis."""
        refused, oom = self._cgroup.events() if self._cgroup else self._events
        lim, notes = self.limits, []
        if refused:
            notes.append(f"process limit {lim.processes} reached: fork()/clone() refused "
                         f"{refused} times (pids cgroup)")
        if oom:
            notes.append(f"memory limit {lim.memory_mb} MiB reached: the kernel killed "
                         f"{oom} process(es) (memory cgroup)")
        code = self.exit_code(code)
        if code is None or sys.platform == "win32":
            return notes
        if code == -signal.SIGXFSZ:
            notes.append(f"killed by SIGXFSZ: a file grew past the {lim.file_size_mb} MiB "
                         "limit")
        if code == -signal.SIGXCPU:
            notes.append(f"killed by SIGXCPU: CPU time limit {lim.cpu_s} s")
        return notes


def confine(argv: Sequence[str], cwd: str, policy: Policy, *, name: str,
            writable: Sequence[str] = (), readable: Sequence[str] = (), build: bool = False,
            inner_env: Mapping[str, str] | None = None) -> Confined:
    """Wrap ``argv`` (run in ``cwd``) in the policy's sandbox and limits.  ``name`` names
    the cgroup (unique, starting with CGROUP_PREFIX); ``writable`` folders are bound
    writable (a trace folder), ``readable`` ones read-only (the sanitizer's shims);
    ``build`` binds ``cwd`` writable instead of private; ``inner_env`` is set inside
    the sandbox only (bwrap's monitor does not carry it).
    The caller runs ``.argv`` and must ``close()`` the result once the tree is dead."""
    lim, sandboxed = policy.limits, policy.sandboxed
    how = _enforcement(lim, sandboxed)
    cmd = list(argv)
    if sandboxed:
        tmp = 2 * lim.file_size_mb * _MIB  # room for two files at the size limit
        size = ["--size", str(tmp)] if tmp else []
        binds = [a for r in readable for a in ("--ro-bind", r, r)]
        binds += [a for w in writable for a in ("--bind", w, w)]
        env = [a for k, v in (inner_env or {}).items() for a in ("--setenv", k, v)]
        cmd = [shutil.which("bwrap") or "bwrap", *_fs_args(tmp), *fsview.keep_visible(cmd),
               *fsview.folder_args(cwd, size, build), *binds, *env, "--chdir", cwd, "--", *cmd]
    if prlimit := _prlimit_args(lim, how):
        cmd = [shutil.which("prlimit") or "prlimit", *prlimit, "--", *cmd]
    cgroup = _Cgroup.create(name, lim.processes if how["processes"] == "cgroup" else 0,
                            lim.memory_mb * _MIB if how["memory"] == "cgroup" else 0)
    if cgroup:
        cmd = cgroup.shim(cmd)
    return Confined(cmd, sandboxed, lim, cgroup)


# -- the network -----------------------------------------------------------------------
def loopback_only_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` re-executed in a new network namespace with nothing but ``lo`` (bwrap
    brings it up), so the harness and every server share it and nothing gets out."""
    if sys.platform == "win32":
        raise OSError("bubblewrap exists on Linux only")
    user = [] if _root() else ["--unshare-user", "--uid", str(os.getuid()),
                               "--gid", str(os.getgid())]
    return [shutil.which("bwrap") or "bwrap", "--dev-bind", "/", "/", "--unshare-net",
            *user, "--die-with-parent", "--setenv", NETNS_ENV, "1", "--", *argv]


def in_loopback_only() -> bool:
    if os.environ.get(NETNS_ENV) != "1":
        return False
    try:
        return all(name == "lo" for _, name in socket.if_nameindex())
    except OSError:
        return False


def outward_attempts() -> int:
    """Packets this network namespace could not route (``Ip: OutNoRoutes``): inside
    ``loopback_only_argv`` every connect()/sendto() to an address beyond loopback."""
    try:
        lines = Path("/proc/self/net/snmp").read_text().splitlines()
    except OSError:
        return 0
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("Ip:"):
            table = dict(zip(head.split()[1:], values.split()[1:], strict=False))
            return int(table.get("OutNoRoutes", 0))
    return 0


system_path = fsview.system_path  # intake asks it of a student's command
