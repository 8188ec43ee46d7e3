"""IDLE, CAPACITY and ROBUST: cost at rest, limits under many clients, survival of abuse."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence

from conformance.clause import Applies, Failed, Level, Skipped, clause
from conformance.clauses import verify
from conformance.events import Eof, Reset
from conformance.harness import observe, sanitize
from conformance.harness.driver import Client
from conformance.harness.session import Session
from conformance.matching import find_printed
from conformance.models import current_platform

# select() cannot watch descriptors numbered FD_SETSIZE or above on POSIX; Winsock's
# fd_set holds FD_SETSIZE sockets (CPython builds with 512).
FD_SETSIZE = {"linux": 1024, "darwin": 1024, "windows": 512}
IDLE_WINDOW = 1.0  # seconds of CPU sampling


@clause("IDLE-1", Level.MUST, """
    After a client has come and gone, with ten idle connections open, the server uses
    almost no CPU: at most 5 % of one core (25 % for the nonblocking polling model, which
    must sleep between passes).  On Linux, time the server spent preempted and waiting for
    a CPU counts as used, so a loaded machine does not hide a spinning loop.""",
    hint="""block in the kernel (accept/recv/select/poll/epoll_wait) while nothing happens;
    a polling loop must sleep when a pass found nothing to do; remove a closed socket from
    your poll set or fd_set (a closed fd there is reported at once, forever)""",
    source="""select(2), poll(2), epoll_wait(2): the call blocks until a descriptor is ready;
    poll(2) POLLNVAL and select(2) EBADF return at once on a closed descriptor,
    forever""")
def idle_cpu(s: Session) -> None:
    # A client that leaves once the others are connected: a server that closes a socket
    # but keeps it in its poll set (POLLNVAL) or fd_set (EBADF) spins from then on, and
    # no later accept() reuses the number and hides the mistake.
    leaver = s.connect_one()
    s.roundtrip([(leaver, s.payload(leaver.conn, 16, "leaver"))])
    clients = s.connect(10)
    leaver.close("fin")
    work = [(clients[0], s.payload(clients[0].conn, 16))]
    s.roundtrip(work)  # served after the leaver left, even by a sequential server
    # The window runs between two samples that each wait until the kernel has credited
    # every thread's wait for a CPU (on a busy machine a second's wait can otherwise fall
    # outside the window): a little longer than IDLE_WINDOW, measured, not assumed.
    before = s.cpu_sample()
    time.sleep(IDLE_WINDOW)  # the measurement window itself, not a synchronisation
    after = s.cpu_sample()
    took = after.at - before.at
    used = (after.cpu - before.cpu) / took
    # On a loaded machine a spinning server gets a share of a core, not the core it would
    # take: count the time it was preempted and kept waiting too (Linux), so the verdict
    # is the same on a busy grading machine as on an idle one.
    kept_waiting = observe.preempted_wait(before, after) / took
    verify.alive(s)
    details = [f"measured over {took:.2g} s with 10 idle connections"]
    if after.waiting:
        details.append(f"{len(after.waiting)} thread(s) still waiting for a CPU "
                       f"{after.at - after.waiting_since:.1f} s after the window: a very "
                       "busy machine")
    if kept_waiting >= 0.005:
        details.append(f"{used:.1%} of a core used, and {kept_waiting:.1%} more wanted while "
                       "the machine was busy (preempted, waiting for a CPU)")
    verify.at_most(round((used + kept_waiting) * 100, 1), s.model.idle_cpu * 100,
                   unit="% of one core", what="CPU use while idle", details=tuple(details))


def _fd_headroom(needed: int) -> None:
    if sys.platform == "win32":
        return  # no per-process descriptor limit to speak of
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise Skipped(f"the open-file limit here is {soft} (hard {hard}); this check needs "
                      f"{needed}: raise it with `ulimit -n {needed}`")


# Past a descriptor limit the clients are opened this many at a time: fewer than a
# listen() backlog of 64 holds, so no SYN or handshake ACK is dropped for a full accept
# queue while a batch waits to be accepted.
CAPACITY_BATCH = 50
PAST_LIMIT = 100  # clients opened beyond the limit: every one must be served or refused


class _Answers:
    """The clients opened so far, each with its payload, and what became of them: served
    (echoed, or printed), refused (EOF or reset), or neither yet."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.sent: dict[Client, bytes] = {}
        self._start: dict[Client, int] = {}  # stdout offset when the payload was sent
        self._printed: set[Client] = set()
        self._searched = -1  # stdout's size when last searched

    def send(self, batch: list[Client]) -> dict[Client, bytes]:
        s = self.s
        # 64 bytes, not fewer: a short payload could be pieced together from the ends of
        # other clients' printed lines, and a refused client taken for a served one.
        work = {c: s.payload(c.conn, 64, "cap") for c in batch}
        out = s.server.stdout
        for c in work:
            self._start[c] = out.total if out is not None else 0
        self.sent.update(work)
        s.send(list(work.items()), read_back=False)
        return work

    def served(self, c: Client, out: bytes | None) -> bool:
        """``out``: stdout, or None when it has not changed since the last search."""
        if self.s.echo:
            return c.received >= len(self.sent[c])
        if out is not None and c not in self._printed:
            # Searched only in what was printed after the payload was sent: fast, and
            # nothing printed before can be mistaken for it.
            n, end = find_printed(out, self.sent[c], self._start[c])
            if n == len(self.sent[c]):
                self._printed.add(c)
                self.s.printed_from[c.conn] = end
        return c in self._printed

    def refused(self, c: Client) -> bool:
        # The flags first: the transcript is searched only for a connection that broke.
        return c.eof or (c.broken and isinstance(self.s.transcript.ending(c.conn),
                                                 (Eof, Reset)))

    def stdout(self, changed: bool = False) -> bytes | None:
        """The server's stdout; with ``changed``, None unless it grew since last asked."""
        out = self.s.server.stdout
        if self.s.echo or out is None or (changed and out.total == self._searched):
            return None
        self._searched = out.total
        return out.data()

    def settle(self, pending: dict[Client, bytes], stall: float,
               until: float) -> tuple[dict[Client, bytes], bool]:
        """Wait until each client is served or refused.  Returns those still waiting,
        and whether they met silence: ``stall`` seconds in which none of them settled
        (rather than ``until``, a bound on the whole wait, while some still did).

        A refusal shows only to a client that reads: a print server's client never
        expects data, so its socket is read here too, and the EOF or reset of a closed
        connection lands in the transcript.  All clients wait together, under one
        deadline."""
        pending = dict(pending)
        deadline = time.monotonic() + stall
        while True:
            out = self.stdout(changed=True)
            settled = [c for c in pending if self.refused(c) or self.served(c, out)]
            for c in settled:
                del pending[c]
            now = time.monotonic()
            if settled:
                deadline = now + stall
            if not pending or now >= min(deadline, until):
                return pending, now >= deadline
            self.s.driver.wait_readable(list(pending), min(min(deadline, until) - now, 0.05))


def _silence(s: Session, c: Client) -> str:
    if s.transcript.ending(c.conn) is None:
        since = next((e.at for e in s.transcript.of(c.conn)), s.transcript.now())
        return (f"no {'echo' if s.echo else 'print'} and no EOF or reset, the connection "
                f"still open {s.transcript.now() - since:.0f} s after it was made")
    return verify.ending(s.transcript, c.conn)


def judge_past_limit(limit: int, opened: int, served: int,
                     hung: Sequence[tuple[int, str]], silent: bool = True) -> None:
    """The verdict on ``opened`` clients, ``limit + PAST_LIMIT`` wanted: every one served
    or refused.  ``hung`` lists (connection, how it ended) for the others; ``silent``
    says they met a full stall of silence, not the time bound while clients were still
    being answered (a slow server, or a busy machine, is no defect)."""
    if hung and silent:
        conn, how = hung[0]
        details = [f"{served} clients were served, {opened - served - len(hung)} refused"]
        if opened < limit + PAST_LIMIT:
            details.append(f"stopped after {opened} of {limit + PAST_LIMIT} clients: the "
                           "last batch got no answer at all")
        raise Failed(f"{len(hung)} of {opened} clients were neither served nor refused",
                     expected="every client served, or its connection closed by the server",
                     actual=f"connection #{conn}: {how}", details=tuple(details))
    if hung or opened <= limit:
        raise Skipped(f"{opened} clients opened and {served} served in the time allowed, "
                      f"{'some still waiting' if hung else 'none'} past the limit of "
                      f"{limit}: a slow server or a busy machine; try --timeout-scale 2")


def _past_limit(s: Session, limit: int, died: str) -> None:
    """Open ``limit + PAST_LIMIT`` clients in batches, each sending a short message; then
    every client must have been served or refused (its connection closed), the server
    alive, and the first and last clients it served still served."""
    _fd_headroom(limit + PAST_LIMIT + 200)
    wanted = limit + PAST_LIMIT
    until = time.monotonic() + 6 * s.timing.stall  # bounds the whole stimulus
    answers = _Answers(s)
    waiting: dict[Client, bytes] = {}
    while len(answers.sent) < wanted and time.monotonic() < until:
        batch = s.connect(min(CAPACITY_BATCH, wanted - len(answers.sent)))
        late, _ = answers.settle(answers.send(batch), s.timing.stall, until)
        waiting.update(late)
        verify.alive(s, hint=died)
        if len(late) == len(batch):
            break  # a whole batch met silence: more clients cannot change the verdict
    # A segment dropped for a full accept queue comes again after TCP's retransmission
    # timeout (0.2 s and more, doubling): a stall more lets those clients settle, and a
    # server still answering gets a little longer.
    waiting, silent = answers.settle(waiting, s.timing.stall, until + 2 * s.timing.stall)
    verify.alive(s, hint=died)
    # A refusal outweighs service: read what ended since, so a client closed by the server
    # is counted refused, whatever appears on stdout.
    s.driver.wait_readable(list(answers.sent), 0)
    out = answers.stdout()
    served = [c for c in answers.sent
              if c not in waiting and not answers.refused(c) and answers.served(c, out)]
    judge_past_limit(limit, len(answers.sent), len(served),
                     [(c.conn, _silence(s, c)) for c in waiting], silent)
    work = [(c, s.payload(c.conn, 32, "again")) for c in dict.fromkeys(served[:5] + served[-5:])]
    s.roundtrip(work)
    whole = [(c, s.transcript.sent(c.conn)) for c, _ in work] if s.echo else work
    verify.served(s, whole, hint="the clients accepted before the limit must still be served")


@clause("CAPACITY-1", Level.MUST, """
    Past select()'s FD_SETSIZE limit (1024 descriptors on Linux and macOS, 512 sockets on
    Windows) the server refuses or closes the extra clients without crashing, and keeps
    serving the clients it already has.""",
    applies=Applies(models=frozenset({"select"})),
    hint="""check the descriptor against FD_SETSIZE before FD_SET(): close() a client you
    cannot watch (FD_SET beyond the limit writes past the fd_set and corrupts memory)""",
    source="""select(2): FD_SET() with fd >= FD_SETSIZE 'will result in undefined behavior';
    Winsock select: FD_SETSIZE sockets""")
def capacity_select(s: Session) -> None:
    _past_limit(s, FD_SETSIZE.get(current_platform(), 1024), died="""the server died once
    clients reached FD_SETSIZE: FD_SET() of a descriptor of FD_SETSIZE or more writes past
    the fd_set (or, in Python, select() raises ValueError); close such a client at once""")


# The models that watch any number of descriptors: poll(), epoll, kqueue, signals and
# io_uring have no FD_SETSIZE, so a server of theirs meets descriptors past 1023 as soon
# as a thousand clients are connected, and a table indexed by descriptor must hold them.
UNBOUNDED = frozenset({"poll", "epoll-lt", "epoll-et", "sigio", "io_uring", "kqueue-lt",
                       "kqueue-et"})
FD_TABLE = 1024  # the size of the fixed tables people write: struct pollfd fds[1024]


@clause("CAPACITY-3", Level.MUST, f"""
    Past {FD_TABLE:,} descriptors ({FD_TABLE + PAST_LIMIT:,} clients, each sending a short
    message) the server does not crash or hang: it serves or refuses (closes) each
    client, and keeps serving the clients it already has.""",
    applies=Applies(models=UNBOUNDED),
    hint="""poll(), epoll and kqueue have no FD_SETSIZE: descriptors pass 1023 as soon as a
    thousand clients are connected.  A table indexed by descriptor (struct pollfd
    fds[1024], conns[fd]) must be as large as the open-file limit or grow; or check the
    descriptor and close() a client that does not fit (refusing is fine, writing past the
    table is not)""",
    source="""poll(2): nfds may be any number up to RLIMIT_NOFILE (EINVAL only beyond it);
    epoll(7): the watched set is limited by /proc/sys/fs/epoll/max_user_watches, not by
    FD_SETSIZE; accept(2): a new descriptor is the lowest one free, so the 1,021st client
    gets descriptor 1024""")
def capacity_fd_tables(s: Session) -> None:
    _past_limit(s, FD_TABLE, died="""the server died once descriptors passed 1023: look for
    a table indexed by descriptor (struct pollfd fds[1024], conns[fd]) written past its
    end; size it by the open-file limit, grow it, or close a client that does not fit""")


@clause("CAPACITY-2", Level.SHOULD, """
    The server holds 5,000 concurrent connections, each confirmed by a round trip.""",
    applies=Applies(models=frozenset({"poll", "epoll-lt", "epoll-et"})),
    hint="""size your tables dynamically (no fixed POLL_SIZE/EPOLL_SIZE caps on clients) and
    raise the open-file limit (ulimit -n) if needed""",
    source="""poll(2), epoll(7) have no FD_SETSIZE limit; getrlimit(2) RLIMIT_NOFILE (quality:
    scale beyond the platform's limit)""")
def capacity_many(s: Session) -> None:
    _fd_headroom(5000 * 2 + 200)  # the harness holds the client side of every connection
    answers = _Answers(s)
    until = time.monotonic() + s.timing.total
    while len(answers.sent) < 5000:
        before = len(answers.sent)
        batch = s.connect(250)
        late, silent = answers.settle(answers.send(batch), s.timing.stall, until)
        out = answers.stdout()
        unserved = [c for c in batch if not answers.served(c, out)]
        if late and not silent:
            raise Skipped(f"{before} connections opened in the time allowed, and the "
                          "server was still answering: a slow server or a busy machine")
        if unserved:
            c = unserved[0]
            raise Failed(f"{len(unserved)} of the 250 clients opened after {before} were "
                         "not served", expected="every connection confirmed by a round trip",
                         actual=f"connection #{c.conn}: {_silence(s, c)}",
                         details=(f"{before} connections were open and served before",))
    verify.alive(s)


@clause("ROBUST-1", Level.MUST, """
    Large garbage input -- 4 MiB of random bytes of every value in random-sized writes --
    does not crash the server, and it keeps serving new clients.""",
    hint="""never interpret received bytes as a C string or a fixed-size record, and never
    index a buffer by a received value""",
    source="recv(2): a stream delivers any bytes; a crash on input is a defect")
def robust_garbage(s: Session) -> None:
    rng = random.Random(f"{s.seed}/garbage")
    c = s.connect_one()
    garbage = rng.randbytes(4 << 20)
    s.send([(c, garbage)], write_chunk=rng.choice((1000, 4096, 65536)))
    c.close("fin")
    _still_serving(s)


@clause("ROBUST-2", Level.MUST, """
    Clients that vanish mid-transfer (send 1 MiB, read nothing, then reset) do not crash the
    server, and it keeps serving new clients.""",
    hint="""ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or use send(..., MSG_NOSIGNAL):
    writing to a reset connection otherwise kills the whole process""",
    source="send(2): EPIPE, and SIGPIPE kills the process unless ignored or MSG_NOSIGNAL")
def robust_vanish(s: Session) -> None:
    clients = s.connect(5, rcvbuf=16 << 10)
    s.send([(c, s.payload(c.conn, 1 << 20, "vanish")) for c in clients], read_back=False,
           stall=1.0)
    for c in clients:
        c.close("rst")
    _still_serving(s)


@clause("ROBUST-3", Level.MUST, """
    Connections reset by their clients before the server got to them (accept() returns a
    dead connection, or fails with ECONNABORTED) do not stop the server: it keeps
    accepting and serving.""",
    hint="""recv() returns -1 (ECONNRESET) on such a connection: handle errors, not just 0
    and >0 -- an unchecked -1 makes a loop spin forever; and an accept() error is no reason
    to exit""",
    source="""accept(2) NOTES: pending network errors on the new socket are passed as errors
    from accept(); 'treat them like EAGAIN by retrying'; ECONNABORTED""")
def robust_reset_before_accept(s: Session) -> None:
    s.server.suspend()
    try:
        clients = s.connect(s.room(10))
        s.send([(c, s.payload(c.conn, 32, "doomed")) for c in clients], read_back=False)
        for c in clients:
            c.close("rst")
    finally:
        s.server.resume()
    _still_serving(s)


def _still_serving(s: Session) -> None:
    verify.alive(s)
    c = s.connect_one()
    work = [(c, s.payload(c.conn, 64, "after"))]
    s.roundtrip(work)
    verify.alive(s)
    verify.served(s, work, hint="the server stopped serving after the abuse")


@clause("ROBUST-4", Level.MUST, """
    Built with AddressSanitizer and UBSan (--sanitize), the server reports no memory error
    or undefined behaviour while serving buffers filled to every power-of-two size and one
    byte either side, a 256 KiB burst, and clients that close or reset.""",
    hint="""a recv() into a buffer of N bytes can return N: there is no room left for a
    terminating NUL, and writing buf[n] writes past the end (reserve one byte, recv(fd,
    buf, sizeof buf - 1, 0), or do not treat the data as a string at all); recv() can also
    return -1, and buf[-1] is before the start""", sanitized=True,
    source="""ISO C: out-of-bounds access and signed overflow are undefined behaviour; recv(2)
    may fill the whole buffer""")
def robust_sanitized(s: Session) -> None:
    program = s.server.impl.executable()
    if not sanitize.instrumented(program):
        if not s.sanitize:
            raise Skipped(f"{program or 'the program'} is not built with AddressSanitizer/"
                          "UBSan; check or grade with --sanitize to build C and C++ servers "
                          "with them")
        raise Skipped(f"--sanitize was given, but {program or 'the program'} is not built "
                      "with AddressSanitizer/UBSan: "
                      + ("its build step did not use $CC/$CXX or $CFLAGS, so the sanitizer "
                         "flags never reached the compiler" if s.impl.build else
                         "a server given as a command line has no build step to run again "
                         "with the sanitizer flags; check its folder with a manifest whose "
                         "`build` compiles it (e.g. `make`), or build it yourself with "
                         f"{sanitize.FLAGS}"))
    try:
        sizes = sorted({(1 << k) + d for k in range(4, 17) for d in (-1, 0, 1)})
        c = s.connect_one()
        s.roundtrip([(c, s.payload(c.conn, 256 << 10, "burst"))])
        for n in sizes:
            s.roundtrip([(c, s.payload(c.conn, n, f"size{n}"))])
        c.close("fin")
        for how in ("rst", "fin"):
            d = s.connect_one()
            s.send([(d, s.payload(d.conn, 4096, how))], read_back=False)
            d.close(how)
        _still_serving(s)
    except Failed as failure:
        _sanitizer_failure(s, wait=True)
        raise failure
    _sanitizer_failure(s, wait=False)


def _sanitizer_failure(s: Session, *, wait: bool) -> None:
    """Raise the sanitizer's report when it made one.  A server stopped by the sanitizer
    may still be writing its report: wait for stderr to end, a bounded time."""
    stderr = s.server.stderr
    if stderr is None:
        return
    if wait and s.server.wait_exit(1.0) is not None:  # the sanitizer stops the program
        stderr.wait(lambda head: None, stall=s.timing.stop, total=s.timing.stop)
    text = stderr.data().decode("utf-8", "backslashreplace")
    if found := sanitize.report(text):
        first = found.splitlines()[0].strip()
        raise Failed("the sanitizer reported a memory error or undefined behaviour",
                     expected="no sanitizer report", actual=first,
                     details=("sanitizer report:", *("  " + ln for ln in found.splitlines())))
