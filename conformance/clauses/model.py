"""MODEL: the declared I/O model is the one really used -- proved from the kernel's view.

A server that claims ``epoll-et`` but uses threads and blocking sockets can echo
perfectly and still fail the assignment.  The syscall trace (``strace -f -yy``) shows
which descriptors are client connections and what the server does with them, so each
model's evidence is a short table entry below, judged by two clauses: the declared
mechanism is used for client I/O (MODEL-1), and no other model's mechanism is (MODEL-2).
Thread counts come from psutil and need no tracer (MODEL-3, MODEL-4).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from conformance.clause import Applies, Failed, Level, clause
from conformance.clauses import verify
from conformance.harness.session import Session
from conformance.models import MODELS, Concurrency
from conformance.syscalls import READS, WAIT_MECHANISM, Call, Trace, quote

_MULTIPLEXERS = frozenset({"select", "poll", "epoll", "io_uring"})


def _registers(t: Trace, edge: bool) -> list[Call]:
    """epoll_ctl ADD/MOD of client sockets, with (edge) or without EPOLLET."""
    return [c for c in t.on_clients(["epoll_ctl"])
            if "EPOLL_CTL_DEL" not in c.args and ("EPOLLET" in c.args) == edge]


def _async_owned(t: Trace) -> list[Call]:
    return [c for c in t.named(["fcntl", "fcntl64"]) if "F_SETOWN" in c.args]


def _async_flag(t: Trace) -> list[Call]:
    return [c for c in t.named(["fcntl", "fcntl64"])
            if "F_SETFL" in c.args and ("O_ASYNC" in c.args or "FASYNC" in c.args)]


@dataclass(frozen=True)
class Evidence:
    """What the trace must show for one model: ``uses`` returns the calls proving the
    mechanism (empty: not used); ``describe`` says what was looked for."""

    describe: str
    uses: Callable[[Trace], list[Call]]
    mechanisms: frozenset[str]  # wait mechanisms the model may use with client sockets
    nonblocking: bool | None  # client sockets must (True) or must not (False) be
    hint: str


def _blocking_reads(t: Trace) -> list[Call]:
    return [c for c in t.on_clients(READS) if c.errno != "EAGAIN"]


def _polling_reads(t: Trace) -> list[Call]:
    """Reads on client sockets; that they are non-blocking is checked separately, and
    that no multiplexer is involved is MODEL-2's business."""
    return t.on_clients(READS)


def _sigio(t: Trace) -> list[Call]:
    owned, flagged = _async_owned(t), _async_flag(t)
    fds = {f.num for c in t.accepted() if (f := c.returned_fd)}
    setown = {f.num for c in owned for f in c.fds if t.is_client(f) or t.is_listener(f)}
    # F_SETSIG may name a real-time signal to send instead of SIGIO (fcntl(2)); a sigset
    # prints its members without the SIG prefix ([IO RT_2]).
    names = {"SIGIO"} | {a.strip() for c in t.named(["fcntl", "fcntl64"])
                          if "F_SETSIG" in c.args and len(c.arglist) > 2
                          for a in c.arglist[2:3] if a.strip().startswith("SIG")}
    waits = [c for c in t.waits("signal")
             if any(n in c.result or re.search(rf"[\[ ]{n[3:]}[\] ]", c.args) for n in names)]
    if not waits and not any(t.signals(n) for n in names):
        return []
    missing = {f for f in fds if f not in setown}
    return [] if missing or not flagged or not owned else owned[:1] + flagged[:1] + waits[:1]


def _uring(t: Trace) -> list[Call]:
    setup, enter = t.named(["io_uring_setup"]), t.named(["io_uring_enter"])
    return setup[:1] + enter[:1] if setup and enter and not t.on_clients(READS) else []


EVIDENCE: dict[str, Evidence] = {
    "blocking": Evidence(
        "blocking recv()/read() on client sockets that were never made non-blocking",
        _blocking_reads, frozenset(), False,
        "use plain blocking sockets: accept(), then recv() until 0, then close()"),
    "threaded": Evidence(
        "blocking recv()/read() on client sockets that were never made non-blocking",
        _blocking_reads, frozenset(), False,
        "one thread per connection, each doing blocking recv()/send() on its socket"),
    "nonblocking": Evidence(
        "client sockets made non-blocking (O_NONBLOCK/FIONBIO) and read by recv()/read()",
        _polling_reads, frozenset(), True,
        "set O_NONBLOCK (fcntl) or FIONBIO (ioctl) on every socket and poll them in a loop"),
    "select": Evidence(
        "select()/pselect6() calls watching client sockets",
        lambda t: t.on_clients(n for n, m in WAIT_MECHANISM.items() if m == "select"),
        frozenset({"select"}), None,
        "put the client sockets in the fd_set you pass to select()"),
    "poll": Evidence(
        "poll()/ppoll() calls watching client sockets",
        lambda t: t.on_clients(n for n, m in WAIT_MECHANISM.items() if m == "poll"),
        frozenset({"poll"}), None,
        "put the client sockets in the pollfd array you pass to poll()"),
    "epoll-lt": Evidence(
        "epoll_ctl() registering client sockets without EPOLLET, and epoll_wait()",
        lambda t: _registers(t, edge=False) if t.waits("epoll") else [],
        frozenset({"epoll"}), None,
        "register client sockets with epoll_ctl(EPOLL_CTL_ADD) without EPOLLET"),
    "epoll-et": Evidence(
        "epoll_ctl() registering client sockets with EPOLLET, and epoll_wait()",
        lambda t: _registers(t, edge=True) if t.waits("epoll") else [],
        frozenset({"epoll"}), True,
        "register client sockets with EPOLLIN|EPOLLET, and make them non-blocking"),
    "sigio": Evidence(
        "F_SETOWN and O_ASYNC on the listening and every accepted socket, and a wait for "
        "SIGIO", _sigio, frozenset({"signal"}), True,
        "fcntl(fd, F_SETOWN, getpid()) and O_ASYNC on every socket, accepted ones included "
        "(they do not inherit it), then wait for SIGIO"),
    "io_uring": Evidence(
        "io_uring_setup() and io_uring_enter(), with no recv()/read() system calls on "
        "client sockets (their I/O goes through the ring)", _uring,
        frozenset({"io_uring"}), None,
        "submit accept/recv/send as io_uring SQEs instead of calling them directly"),
}


def _traced_exchange(s: Session) -> Trace:
    """Three clients served (in turn, for sequential models) with more than one read
    each, under the tracer; the trace of it.  Whether the service is right is for the
    other clauses to judge: a broken server still shows which mechanism it uses."""
    clients = s.connect(3)
    work = [(c, s.payload(c.conn, 700, "model")) for c in clients]
    s.serve_in_turn(work, stall=1.0)
    for c in clients:
        c.close("fin")
    s.connect_one().close("fin")  # one more accept, so the listener is seen again
    return s.trace()


@clause("MODEL-1", Level.MUST, """
    The syscall trace shows the declared model's mechanism serving the clients (e.g.
    epoll_ctl with EPOLLET for epoll-et; F_SETOWN and O_ASYNC on every socket for sigio;
    blocking recv() on sockets never made non-blocking for blocking).""",
    traced=True,
    hint="""the server must really be written in the model it claims: see the evidence the
    check looked for""",
    source="""select(2), poll(2), epoll(7), fcntl(2) F_SETOWN/O_ASYNC, io_uring(7), recv(2):
    the mechanism the assignment claims""")
def model_used(s: Session) -> str:
    ev = EVIDENCE.get(s.model.name)
    if ev is None:
        raise Failed(f"no evidence table for model {s.model.name}")
    t = _traced_exchange(s)
    if not t.accepted() and s.model.name != "io_uring":
        raise Failed("the trace shows no accepted client connection",
                     expected="accept()/accept4() returning client sockets",
                     actual=f"{len(t.calls)} traced calls, none of them an accept")
    proof = ev.uses(t)
    # recv(..., MSG_DONTWAIT) fails with EAGAIN on a blocking socket too: as good as
    # O_NONBLOCK for reading until EAGAIN.
    nonblocking = t.nonblocking_calls() + [c for c in t.on_clients(READS)
                                           if "MSG_DONTWAIT" in c.args]
    if proof and ev.nonblocking and not nonblocking:
        raise Failed(f"the server uses {s.model.name}'s mechanism, but its sockets are never "
                     "made non-blocking",
                     expected="O_NONBLOCK (fcntl), SOCK_NONBLOCK (accept4), FIONBIO (ioctl) "
                              "or MSG_DONTWAIT on the client sockets",
                     actual="every read is on a blocking socket: the read that should fail "
                            "with EAGAIN blocks the whole server instead",
                     details=quote(proof, 2), hint=ev.hint)
    if proof and ev.nonblocking is False and nonblocking:
        raise Failed(f"the {s.model.name} model's sockets are made non-blocking",
                     expected=ev.describe,
                     actual=f"{len(nonblocking)} call(s) setting non-blocking mode",
                     details=quote(nonblocking, 2), hint=ev.hint)
    if not proof:
        seen = sorted({c.name for c in t.calls if c.fds} - {"close", "setsockopt"})
        raise Failed(f"no evidence that the server uses {s.model.name}",
                     expected=ev.describe,
                     actual="system calls on sockets seen: " + ", ".join(seen),
                     details=quote([c for c in t.calls if t.client_fds(c)][:4]), hint=ev.hint)
    return f"evidence: {ev.describe}; e.g.\n" + "\n".join(quote(proof, 2, width=160))


@clause("MODEL-2", Level.MUST, """
    The syscall trace shows no other model's mechanism used on client sockets: no
    select/poll/epoll/io_uring waits for models that do not declare them, and client
    sockets never made non-blocking in the blocking and threaded models.""",
    traced=True,
    hint="""use one I/O model for the client sockets: the one the assignment asks for""",
    source="""select(2), poll(2), epoll(7), io_uring(7), fcntl(2) O_NONBLOCK: one model's
    mechanism for the client sockets""")
def model_exclusive(s: Session) -> None:
    ev = EVIDENCE[s.model.name]
    t = _traced_exchange(s)
    foreign: list[Call] = []
    for mech in sorted(_MULTIPLEXERS - ev.mechanisms):
        names = [n for n, m in WAIT_MECHANISM.items() if m == mech]
        foreign += t.on_clients(names)
        if mech == "epoll":
            foreign += t.on_clients(["epoll_ctl"])
    if foreign:
        mech = WAIT_MECHANISM.get(foreign[0].name, "epoll")
        raise Failed(f"the server uses {mech}, which is not the {s.model.name} model",
                     expected=f"only {s.model.name}'s mechanism on client sockets",
                     actual=f"{len(foreign)} {mech} call(s) on client sockets",
                     details=quote(foreign, 3))
    if ev.nonblocking is False and (nb := t.nonblocking_calls()):
        raise Failed(f"the {s.model.name} model's sockets are made non-blocking",
                     expected="blocking sockets (no O_NONBLOCK, FIONBIO or SOCK_NONBLOCK)",
                     actual=f"{len(nb)} call(s) setting non-blocking mode",
                     details=quote(nb, 3),
                     hint="the blocking models rely on recv() and accept() blocking; "
                          "non-blocking sockets belong to the other models")


@clause("MODEL-3", Level.MUST, """
    A single-threaded model stays single-threaded: serving ten concurrent clients adds no
    thread (counted by psutil, no tracer needed).""",
    applies=Applies(models=frozenset(n for n, m in MODELS.items() if m.single_threaded)),
    hint="""this model multiplexes clients in one thread: do not start threads or a
    thread pool for them""",
    source="select(2), poll(2), epoll(7): one thread multiplexes every connection")
def model_single_thread(s: Session) -> None:
    before = s.threads()
    clients = s.connect(10)
    work = [(c, s.payload(c.conn, 300, "threads")) for c in clients]
    if s.model.concurrency is Concurrency.CONCURRENT:
        s.roundtrip(work)
        during = s.threads()
    else:
        s.roundtrip(work[:1])
        during = s.threads()
    verify.at_most(during - before, 0, what="threads added while serving 10 clients",
                   unit="threads", details=(f"{before} before, {during} while serving",))


@clause("MODEL-4", Level.MUST, """
    The threaded model serves each connection on a thread of its own: ten concurrent
    clients run on at least ten more threads than an idle server.""",
    applies=Applies(models=frozenset({"threaded"})),
    hint="start a thread for each accepted connection (and let it end when the client leaves)",
    source="pthread_create(3): one thread per connection")
def model_thread_per_connection(s: Session) -> None:
    before = s.threads()
    clients = s.connect(10)
    work = [(c, s.payload(c.conn, 300, "threads")) for c in clients]
    s.roundtrip(work)
    verify.served(s, work)
    during = s.threads()
    if during - before < 10:
        raise Failed("fewer threads than connections",
                     expected=f"at least {before + 10} threads with 10 clients connected",
                     actual=f"{during} threads ({before} when idle)")
