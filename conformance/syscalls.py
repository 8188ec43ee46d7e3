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
SETUP = frozenset({"socket", "bind", "listen", "setsockopt", "fcntl", "fcntl64", "ioctl",
                   "epoll_create", "epoll_create1", "epoll_ctl", "io_uring_setup",
                   "io_uring_register", "rt_sigprocmask", "clone", "clone3", "fork", "vfork",
                   "close"})
TRACED = sorted(set(WAIT_MECHANISM) | READS | WRITES | ACCEPTS | SETUP)

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(.*)$", re.S)
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
_SIGNAL = re.compile(r"^--- (SIG\w+) (.*) ---$")
_FD = re.compile(r"(\d+)<(TCP|TCPv6):\[([^\]]*(?:\][^\]>]*)?)\]>")
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
        if not m:
            continue
        pid, body = int(m.group(1)), m.group(2).rstrip()
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


@dataclass
class Trace:
    """Queries over one server's records; ``port`` tells its clients from other sockets."""

    records: list[Record]
    port: int
    calls: list[Call] = field(init=False)

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
        return [c for c in found if c.name == "socket" or any(
            self.is_client(f) or self.is_listener(f) for f in c.fds + _ret(c))]


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
