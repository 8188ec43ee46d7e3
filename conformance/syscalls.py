"""The syscall trace of a server, as typed records the MODEL, LT, ET and SIGIO clauses query.

Sans-I/O: ``parse`` turns the text of ``strace -f -yy`` into records; ``Trace`` answers
questions about them.  Nothing here runs strace (``harness.tracer`` does).

What the text looks like, and why this parser copes with each form:

* ``1234  recvfrom(5<TCP:[127.0.0.1:8000->127.0.0.1:40000]>, ""..., 255, 0, NULL, NULL) = 255``
  -- with ``-yy`` every descriptor carries what it is, so a connected client socket, the
  listening socket and stdout are told apart without tracking descriptor lifetimes.
* ``1234  epoll_wait(4<anon_inode:[eventpoll]>,  <unfinished ...>`` and later
  ``1234  <... epoll_wait resumed>[{events=EPOLLIN, data={u32=5, u64=5}}], 64, -1) = 1``
  -- another thread (``-f``) ran in between; the halves are joined per pid.
* ``1234  --- SIGIO {si_signo=SIGIO, si_code=SI_KERNEL} ---`` and ``+++ exited with 0 +++``.
* The last line may be a call still blocked, with no result yet: it is left out.

System calls differ by architecture (``select`` exists on x86-64, only ``pselect6`` on
arm64; ``recv`` is ``recvfrom``), so queries go by *mechanism*, through the tables below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

WAIT_MECHANISM = {
    "select": "select", "_newselect": "select", "pselect6": "select",
    "poll": "poll", "ppoll": "poll",
    "epoll_wait": "epoll", "epoll_pwait": "epoll", "epoll_pwait2": "epoll",
    "rt_sigtimedwait": "signal", "rt_sigsuspend": "signal", "sigsuspend": "signal",
    "pause": "signal",
    "io_uring_enter": "io_uring",
}
READS = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg"})
WRITES = frozenset({"write", "writev", "send", "sendto", "sendmsg", "sendmmsg"})
ACCEPTS = frozenset({"accept", "accept4"})
# splice(2) from a socket into a pipe reads it: Go's io.Copy between two TCP connections.
SPLICES = frozenset({"splice"})
SETUP = frozenset({"socket", "bind", "listen", "setsockopt", "fcntl", "fcntl64", "ioctl",
                   "epoll_create", "epoll_create1", "epoll_ctl", "io_uring_setup",
                   "io_uring_register", "rt_sigprocmask", "clone", "clone3", "fork", "vfork",
                   "close"})
TRACED = sorted(set(WAIT_MECHANISM) | READS | WRITES | ACCEPTS | SETUP | SPLICES)

# "1234  call(...)" with -o and -f; "[pid 1234] call(...)" on stderr; no pid without -f.
_LINE = re.compile(r"^(?:\[pid\s+(\d+)\]|(\d+))?\s*(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(.*)$", re.S)
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
_SIGNAL = re.compile(r"^--- (SIG\w+) (.*) ---$")
# The address may hold brackets of its own: an IPv6 pair is [[::1]:80->[::1]:5000].
_FD = re.compile(r"(\d+)<(TCP|TCPv6):\[((?:[^\[\]]|\[[^\]]*\])*)\]>")
_RESULT = re.compile(r"^(-?\d+|0x[0-9a-f]+|\?)(?:<[^ ]*>)?(?:\s+(E[A-Z0-9]+))?(?:\s+(.*))?$", re.S)


@dataclass(frozen=True)
class Fd:
    """A TCP socket descriptor as ``-yy`` shows it."""

    num: int
    local_port: int | None
    remote_port: int | None

    @property
    def connected(self) -> bool:
        return self.remote_port is not None


def _port(endpoint: str) -> int | None:
    head, _, tail = endpoint.rpartition(":")
    return int(tail) if head and tail.isdigit() else None


def _fd(m: re.Match[str]) -> Fd:
    inner = m.group(3)
    local, arrow, remote = inner.partition("->")
    return Fd(int(m.group(1)), _port(local), _port(remote) if arrow else None)


@dataclass(frozen=True)
class Call:
    index: int
    pid: int
    name: str
    args: str
    result: str
    line: str

    @property
    def ret(self) -> int | None:
        m = _RESULT.match(self.result)
        if not m or m.group(1) == "?":
            return None
        return int(m.group(1), 0)

    @property
    def errno(self) -> str | None:
        m = _RESULT.match(self.result)
        return m.group(2) if m else None

    @property
    def fds(self) -> list[Fd]:
        """The TCP descriptors among the arguments, in order."""
        return [_fd(m) for m in _FD.finditer(self.args)]

    @property
    def returned_fd(self) -> Fd | None:
        m = _FD.match(self.result)
        return _fd(m) if m else None

    @property
    def mechanism(self) -> str | None:
        return WAIT_MECHANISM.get(self.name)

    @property
    def arglist(self) -> list[str]:
        """The top-level arguments (commas inside [], {} and () do not split)."""
        out: list[str] = []
        cur: list[str] = []
        depth = 0
        for ch in self.args:
            if ch in "[{(":
                depth += 1
            elif ch in "]})":
                depth -= 1
            if ch == "," and depth == 0:
                out.append("".join(cur).strip())
                cur = []
            else:
                cur.append(ch)
        out.append("".join(cur).strip())
        return out

    @property
    def blocks(self) -> bool:
        """A wait that may sleep (not a zero-timeout check for more work)."""
        args = self.arglist
        if self.name == "poll":
            return len(args) > 2 and _nonzero(args[2])
        if self.name in ("epoll_wait", "epoll_pwait"):
            return len(args) > 3 and _nonzero(args[3])
        if self.name in ("epoll_pwait2", "ppoll", "rt_sigtimedwait"):
            return _waits(args[3 if self.name == "epoll_pwait2" else 2])
        if self.name in ("select", "_newselect", "pselect6"):
            return len(args) > 4 and _waits(args[4])
        if self.name == "io_uring_enter":
            return len(args) > 2 and _nonzero(args[2])
        return self.name in WAIT_MECHANISM


def _nonzero(arg: str) -> bool:
    return arg.strip() not in ("0", "")


def _waits(timeout: str) -> bool:
    """A NULL or non-zero timespec/timeval lets the call sleep."""
    t = timeout.replace(" ", "")
    return t == "NULL" or not re.fullmatch(r"\{tv_sec=0,tv_(n|u)sec=0\}", t)


_READY_SELECT = re.compile(r"\bin \[([\d ]+)\]")
_READY_POLL = re.compile(r"fd=(\d+)[^}]*?revents=([A-Z|]+)")
_READY_EPOLL = re.compile(r"events=([A-Z|]+), data=\{u32=(\d+), u64=(\d+)\}")
_INPUT = ("IN", "HUP", "ERR", "RDHUP")


@dataclass(frozen=True)
class Signal:
    index: int
    pid: int
    name: str
    line: str


Record = Call | Signal


def parse(text: str) -> list[Record]:
    """Records in trace order; unfinished calls are placed where they completed."""
    out: list[Record] = []
    pending: dict[int, str] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m or not m.group(3):
            continue
        pid, body = int(m.group(1) or m.group(2) or 0), m.group(3).rstrip()
        if body.startswith("+++"):
            continue
        if sm := _SIGNAL.match(body):
            out.append(Signal(len(out), pid, sm.group(1), raw))
            continue
        if body.endswith("<unfinished ...>"):
            pending[pid] = body[: -len("<unfinished ...>")].rstrip()
            continue
        if rm := _RESUMED.match(body):
            head = pending.pop(pid, rm.group(1) + "(")
            body = head + rm.group(2)
            raw = f"{pid}  {body}"
        if cm := _CALL.match(body):
            out.append(Call(len(out), pid, cm.group(1), cm.group(2), cm.group(3).strip(), raw))
    return out


def asleep_in_wait(text: str) -> frozenset[int]:
    """The threads whose last line is a wait still in progress: ``<unfinished ...>``
    with no resumption after it, or the trace's last line, not yet ended."""
    last: dict[int, str] = {}
    lines = text.split("\n")
    for i, raw in enumerate(lines):
        m = _LINE.match(raw)
        if not m or not m.group(3) or not (m.group(1) or m.group(2)):
            continue
        pid, body = int(m.group(1) or m.group(2)), m.group(3).rstrip()
        if i == len(lines) - 1 and not _CALL.match(body):
            body += " <unfinished ...>"  # strace has not ended the line: still in the call
        last[pid] = body
    return frozenset(pid for pid, body in last.items()
                     if body.endswith("<unfinished ...>")
                     and body.partition("(")[0] in WAIT_MECHANISM)


@dataclass
class Trace:
    """Queries over one server's records; ``port`` tells its clients from other sockets."""

    records: list[Record]
    port: int
    # Threads whose trace ends inside a wait: asleep, so their last turn is over.
    asleep: frozenset[int] = frozenset()
    calls: list[Call] = field(init=False)

    @classmethod
    def read(cls, text: str, port: int) -> Trace:
        """The trace of strace's output so far, knowing which threads sleep in a wait."""
        return cls(parse(text), port, asleep_in_wait(text))

    def __post_init__(self) -> None:
        self.calls = [r for r in self.records if isinstance(r, Call)]

    def is_client(self, fd: Fd) -> bool:
        return fd.connected and fd.local_port == self.port

    def is_listener(self, fd: Fd) -> bool:
        return not fd.connected and fd.local_port == self.port

    def client_fds(self, call: Call) -> list[Fd]:
        return [f for f in call.fds if self.is_client(f)]

    def named(self, names: Iterable[str]) -> list[Call]:
        wanted = set(names)
        return [c for c in self.calls if c.name in wanted]

    def on_clients(self, names: Iterable[str]) -> list[Call]:
        """Calls of these names with a client socket among their arguments."""
        return [c for c in self.named(names) if self.client_fds(c)]

    def accepted(self) -> list[Call]:
        return [c for c in self.named(ACCEPTS)
                if (f := c.returned_fd) is not None and self.is_client(f)]

    def waits(self, mechanism: str) -> list[Call]:
        return [c for c in self.calls if c.mechanism == mechanism]

    def signals(self, name: str) -> list[Signal]:
        return [r for r in self.records if isinstance(r, Signal) and r.name == name]

    def nonblocking_calls(self) -> list[Call]:
        """Calls that put a socket of this server into non-blocking mode."""
        found = [c for c in self.calls if _sets_nonblocking(c)]
        # socket() has no address yet: count the TCP ones (glibc's own AF_UNIX probes,
        # nscd's for one, are SOCK_NONBLOCK too and never reach a client).
        return [c for c in found if (c.name == "socket" and "AF_INET" in c.args) or any(
            self.is_client(f) or self.is_listener(f) for f in c.fds + _ret(c))]


    def epoll_data(self) -> dict[str, int]:
        """epoll user data -> descriptor, from the registrations seen so far, by 'u64=N'
        and by 'u32=N' (a C server that sets data.fd leaves the upper half undefined)."""
        out = {}
        for c in self.named(["epoll_ctl"]):
            args = c.arglist
            fd = re.match(r"(\d+)", args[2]) if len(args) >= 4 else None
            if fd and "EPOLL_CTL_DEL" not in args[1]:
                for key in re.findall(r"u(?:32|64)=\d+", args[3]):
                    out[key] = int(fd.group(1))
        return out

    def registration(self, fd: int, before: int | None = None) -> Call | None:
        """The epoll_ctl ADD/MOD that last set ``fd``'s events before call ``before``
        (the whole trace when None); None when it was never registered or was deleted."""
        last: Call | None = None
        for c in self.named(["epoll_ctl"]):
            if before is not None and c.index >= before:
                break
            args = c.arglist
            if len(args) >= 3 and re.match(rf"{fd}\b", args[2]):
                last = None if "EPOLL_CTL_DEL" in args[1] else c
        return last

    def edge_registered(self, fd: int, before: int | None = None) -> bool | None:
        """Was ``fd`` registered with EPOLLET?  None: no epoll registration seen."""
        reg = self.registration(fd, before)
        return None if reg is None else "EPOLLET" in reg.args

    def readable(self, wait: Call, data: dict[str, int] | None = None) -> set[int]:
        """The descriptors a completed wait reported readable (or hung up)."""
        if wait.mechanism == "select":
            m = _READY_SELECT.search(wait.result)
            return {int(x) for x in m.group(1).split()} if m else set()
        if wait.mechanism == "poll":
            return {int(fd) for fd, ev in _READY_POLL.findall(wait.result + wait.args)
                    if any(flag in ev for flag in _INPUT) and wait.ret}
        if wait.mechanism == "epoll":
            table = self.epoll_data() if data is None else data
            return {table.get(f"u64={u64}", table.get(f"u32={u32}", int(u32)))
                    for ev, u32, u64 in _READY_EPOLL.findall(wait.args)
                    if any(f"EPOLL{x}" in ev for x in _INPUT)}
        return set()

    def segments(self) -> list[tuple[Call, list[Call]]]:
        """(a sleeping wait, the calls the same thread made after it up to its next
        sleeping wait).  A turn is a thread's: in a multi-threaded runtime (Go's
        netpoller, a thread pool) one thread sleeping in epoll_wait does not end another's
        accept() loop.  The calls after a thread's last wait are left out unless the
        thread sleeps in a wait again (``asleep``): otherwise the trace ended before it
        went back to sleep, and what it would still have done is unknown."""
        by_thread: dict[int, list[tuple[Call, list[Call]]]] = {}
        for c in self.calls:
            mine = by_thread.setdefault(c.pid, [])
            if c.mechanism is not None and c.blocks:
                mine.append((c, []))
            elif mine:
                mine[-1][1].append(c)
        return sorted((s for pid, turns in by_thread.items()
                       for s in (turns if pid in self.asleep else turns[:-1])),
                      key=lambda s: s[0].index)


def _sets_nonblocking(c: Call) -> bool:
    if c.name in ("fcntl", "fcntl64"):
        return "F_SETFL" in c.args and "O_NONBLOCK" in c.args
    if c.name == "ioctl":
        return "FIONBIO" in c.args and "[0]" not in c.args
    return c.name in ACCEPTS | {"socket"} and "SOCK_NONBLOCK" in c.args


def _ret(c: Call) -> list[Fd]:
    return [f] if (f := c.returned_fd) is not None else []


def quote(records: Iterable[Record], n: int = 4, width: int = 180) -> tuple[str, ...]:
    """A few trace lines for a diagnosis, shortened."""
    lines = []
    for r in list(records)[:n]:
        text = r.line if len(r.line) <= width else r.line[: width - 1] + "…"
        lines.append("    " + text)
    return tuple(lines)
