# ruff: noqa: E501  (recorded strace lines are kept whole)
"""The syscall-trace parser and its queries, on recorded strace excerpts (no tracer runs).

The excerpts are real ``strace -f -qq -yy -s 64`` output of the reference servers, cut
short, plus the forms strace uses when threads interleave.
"""

from __future__ import annotations

from conformance.clauses.lt_et import accept_stopped_short, drain_stopped_short, renotified
from conformance.clauses.model import EVIDENCE
from conformance.syscalls import Call, Signal, Trace, asleep_in_wait, parse

PORT = 27001
C1 = "4<TCP:[127.0.0.1:27001->127.0.0.1:43988]>"
LISTENER = "3<TCP:[127.0.0.1:27001]>"

SELECT = f"""\
3856  socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<TCP:[5999867]>
3856  listen({LISTENER}, 4096) = 0
3856  ioctl({LISTENER}, FIONBIO, [1]) = 0
3856  pselect6(4, [{LISTENER}], NULL, NULL, NULL, NULL) = 1 (in [3])
3856  accept4({LISTENER}, {{sa_family=AF_INET}}, [16], SOCK_CLOEXEC) = {C1}
3856  ioctl({C1}, FIONBIO, [1]) = 0
3856  accept4({LISTENER}, 0x7ffc55199b90, [16], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)
3856  pselect6(5, [{LISTENER} {C1}], NULL, NULL, NULL, NULL) = 1 (in [4])
3856  recvfrom({C1}, ""..., 255, 0, NULL, NULL) = 255
3856  write(1</dev/pts/3<char 136:3>>, ""..., 256) = 256
3856  pselect6(5, [{LISTENER} {C1}], [{C1}], NULL, NULL, NULL) = 2 (in [4], out [4])
3856  recvfrom({C1}, ""..., 255, 0, NULL, NULL) = 90
3856  pselect6(5, [{LISTENER} {C1}], NULL, NULL, NULL, NULL
"""

EPOLL_ET = f"""\
8490  epoll_create1(EPOLL_CLOEXEC)      = 5<anon_inode:[eventpoll]>
8490  epoll_ctl(5<anon_inode:[eventpoll]>, EPOLL_CTL_ADD, {LISTENER}, {{events=EPOLLIN|EPOLLET, data={{u32=3, u64=3}}}}) = 0
8490  epoll_wait(5<anon_inode:[eventpoll]>, [{{events=EPOLLIN, data={{u32=3, u64=3}}}}], 1023, -1) = 1
8490  accept4({LISTENER}, NULL, NULL, SOCK_CLOEXEC) = {C1}
8490  ioctl({C1}, FIONBIO, [1]) = 0
8490  epoll_ctl(5<anon_inode:[eventpoll]>, EPOLL_CTL_ADD, {C1}, {{events=EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, data={{u32=4, u64=139655156596740}}}}) = 0
8490  accept4({LISTENER}, NULL, NULL, SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)
8490  epoll_wait(5<anon_inode:[eventpoll]>, [{{events=EPOLLIN|EPOLLOUT, data={{u32=4, u64=139655156596740}}}}], 1023, -1) = 1
8490  recvfrom({C1}, ""..., 255, 0, NULL, NULL) = 255
8490  recvfrom({C1}, ""..., 255, 0, NULL, NULL) = 45
8490  recvfrom({C1}, ""..., 255, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)
8490  epoll_wait(5<anon_inode:[eventpoll]>, [], 1023, 0) = 0
8490  epoll_wait(5<anon_inode:[eventpoll]>, [{{events=EPOLLIN, data={{u32=4, u64=1}}}}], 1023, -1) = 1
"""

# Two threads of the threaded model, as strace prints them on stderr: a call that
# blocks in one thread is split around the other thread's calls.
THREADS = f"""\
[pid  7001] accept4({LISTENER}, NULL, NULL, SOCK_CLOEXEC) = {C1}
[pid  7001] clone3({{flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0}}, 88) = 7002
[pid  7002] recvfrom({C1}, <unfinished ...>
[pid  7001] accept4({LISTENER}, NULL, NULL, SOCK_CLOEXEC <unfinished ...>
[pid  7002] <... recvfrom resumed>""..., 255, 0, NULL, NULL) = 255
[pid  7002] sendto({C1}, ""..., 255, 0, NULL, 0) = 255
[pid  7002] --- SIGIO {{si_signo=SIGIO, si_code=SI_KERNEL}} ---
[pid  7002] +++ exited with 0 +++
"""


def test_every_line_form_is_understood() -> None:
    records = parse(THREADS)
    calls = [r for r in records if isinstance(r, Call)]
    assert [c.name for c in calls] == ["accept4", "clone3", "recvfrom", "sendto"]
    assert [r.name for r in records if isinstance(r, Signal)] == ["SIGIO"]
    resumed = calls[2]
    assert resumed.pid == 7002 and resumed.ret == 255
    assert resumed.fds[0].remote_port == 43988
    # The accept4 still blocked when the excerpt ends has no result: it is left out.
    assert sum(c.name == "accept4" for c in calls) == 1


def test_descriptors_are_classified_by_their_decoration() -> None:
    t = Trace(parse(SELECT), PORT)
    accept = t.accepted()
    assert len(accept) == 1 and accept[0].returned_fd is not None
    assert t.is_client(accept[0].returned_fd)
    listen = t.named(["listen"])[0]
    assert t.is_listener(listen.fds[0]) and not t.is_client(listen.fds[0])
    writes = t.named(["write"])
    assert writes and not t.client_fds(writes[0])  # stdout is no client
    assert [c.errno for c in t.named(["accept4"])] == [None, "EAGAIN"]


def test_waits_blocking_and_readiness() -> None:
    t = Trace(parse(SELECT), PORT)
    waits = t.waits("select")
    assert len(waits) == 3  # the one still blocked at the end is not a call yet
    assert all(w.blocks for w in waits)
    assert [t.readable(w) for w in waits] == [{3}, {4}, {4}]
    e = Trace(parse(EPOLL_ET), PORT)
    ewaits = e.waits("epoll")
    assert [w.blocks for w in ewaits] == [True, True, False, True]
    data = e.epoll_data()
    assert e.readable(ewaits[0], data) == {3}
    assert e.readable(ewaits[1], data) == {4}
    # u64 differs from the registration (undefined upper half): u32 still maps it.
    assert e.readable(ewaits[3], data) == {4}


def test_segments_split_at_sleeping_waits_only() -> None:
    t = Trace(parse(EPOLL_ET), PORT)
    segments = t.segments()
    assert len(segments) == 2  # the calls after the trace's last sleeping wait: unknown
    _, after = segments[1]
    assert [c.name for c in after] == ["recvfrom", "recvfrom", "recvfrom", "epoll_wait"]
    assert after[2].errno == "EAGAIN"


def test_nonblocking_mode_is_detected_in_all_its_spellings() -> None:
    lines = f"""\
1  fcntl({C1}, F_SETFL, O_RDWR|O_NONBLOCK) = 0
1  ioctl({C1}, FIONBIO, [1]) = 0
1  ioctl({C1}, FIONBIO, [0]) = 0
1  accept4({LISTENER}, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = {C1}
1  fcntl({C1}, F_GETFL) = 0x2 (flags O_RDWR)
"""
    t = Trace(parse(lines), PORT)
    assert [c.name for c in t.nonblocking_calls()] == ["fcntl", "ioctl", "accept4"]


def test_model_evidence_tables() -> None:
    select = Trace(parse(SELECT), PORT)
    epoll = Trace(parse(EPOLL_ET), PORT)
    assert EVIDENCE["select"].uses(select)
    assert not EVIDENCE["poll"].uses(select)
    assert not EVIDENCE["epoll-et"].uses(select)
    assert EVIDENCE["epoll-et"].uses(epoll)
    assert not EVIDENCE["epoll-lt"].uses(epoll)  # registered with EPOLLET
    threads = Trace(parse(THREADS), PORT)
    assert EVIDENCE["threaded"].uses(threads)


def test_registration_follows_add_mod_and_del() -> None:
    t = Trace(parse(EPOLL_ET), PORT)
    assert t.edge_registered(3) is True and t.edge_registered(4) is True
    assert t.edge_registered(9) is None  # never registered
    level = EPOLL_ET.replace("EPOLLIN|EPOLLET, data={u32=3", "EPOLLIN, data={u32=3")
    assert Trace(parse(level), PORT).edge_registered(3) is False
    dropped = EPOLL_ET + (f"8490  epoll_ctl(5<anon_inode:[eventpoll]>, EPOLL_CTL_DEL, {C1}, "
                          "NULL) = 0\n")
    assert Trace(parse(dropped), PORT).edge_registered(4) is None
    first_wait = Trace(parse(EPOLL_ET), PORT).waits("epoll")[0]
    assert Trace(parse(EPOLL_ET), PORT).edge_registered(4, first_wait.index) is None


def _accept_once(listener_events: str) -> Trace:
    ep = "5<anon_inode:[eventpoll]>"
    wait = f"8490  epoll_wait({ep}, [{{events=EPOLLIN, data={{u32=3, u64=3}}}}], 1023, -1) = 1\n"
    return Trace(parse(
        f"8490  epoll_ctl({ep}, EPOLL_CTL_ADD, {LISTENER}, {{events={listener_events}, "
        "data={u32=3, u64=3}}) = 0\n"
        + wait + f"8490  accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = {C1}\n"
        + wait + f"8490  accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = -1 EAGAIN (x)\n"
        + wait), PORT)


def test_et4_judges_the_listeners_own_registration() -> None:
    """One accept() per report is a defect only on a listener registered with EPOLLET."""
    short = accept_stopped_short(_accept_once("EPOLLIN|EPOLLET"))
    assert short is not None and short[1].name == "accept4" and short[1].ret is not None
    assert accept_stopped_short(_accept_once("EPOLLIN")) is None
    assert accept_stopped_short(Trace(parse(EPOLL_ET), PORT)) is None  # drained to EAGAIN


def test_lt2_sees_renotification_after_a_full_read_only() -> None:
    """SELECT: reported, one full 255-byte read, reported again.  EPOLL_ET drains (a
    second read before the next wait), so it shows none."""
    seen = renotified(Trace(parse(SELECT), PORT))
    assert seen is not None and [c.name for c in seen] == ["pselect6", "recvfrom", "pselect6"]
    assert renotified(Trace(parse(EPOLL_ET), PORT)) is None
    short_read = SELECT.replace('""..., 255, 0, NULL, NULL) = 255', '""..., 255, 0, NULL, NULL) = 90')
    assert renotified(Trace(parse(short_read), PORT)) is None  # nothing was left behind


def test_ipv6_pairs_and_tcp_only_nonblocking_sockets() -> None:
    """A dual-stack socket's pair has brackets inside the brackets (Java's default), and
    glibc's AF_UNIX probes made SOCK_NONBLOCK are no client socket of the model."""
    v6 = "5<TCPv6:[[::ffff:127.0.0.1]:27001->[::ffff:127.0.0.1]:41550]>"
    t = Trace(parse(
        f"7  accept(4<TCPv6:[[::ffff:127.0.0.1]:27001]>, NULL, NULL) = {v6}\n"
        "7  socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 6<UNIX-STREAM:[1]>\n"
        f"7  read({v6}, \"x\", 8192) = 1\n"), PORT)
    assert [c.returned_fd for c in t.accepted()] != [] and t.on_clients(["read"])
    assert t.nonblocking_calls() == []
    tcp = Trace(parse("7  socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_IP) = 3<TCP:[9]>\n"),
                PORT)
    assert len(tcp.nonblocking_calls()) == 1


def test_a_turn_belongs_to_one_thread() -> None:
    """Go: the netpoller sleeps in epoll_pwait on one thread while the accept loop runs
    on another; that sleep does not end the accept loop's turn."""
    ep = "5<anon_inode:[eventpoll]>"
    wait = f"epoll_pwait({ep}, [{{events=EPOLLIN, data={{u32=3, u64=3}}}}], 128, -1, NULL, 0) = 1\n"
    t = Trace(parse(
        f"10 epoll_ctl({ep}, EPOLL_CTL_ADD, {LISTENER}, {{events=EPOLLIN|EPOLLET, data={{u32=3, u64=3}}}}) = 0\n"
        f"11 {wait}"
        f"12 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = {C1}\n"
        f"11 {wait}"
        f"12 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = -1 EAGAIN (x)\n"
        f"11 {wait}"), PORT)
    assert accept_stopped_short(t) is None
    assert all(c.pid == w.pid for w, after in t.segments() for c in after)


def test_sigio_evidence_follows_f_setsig() -> None:
    """fcntl(2): F_SETSIG may name a real-time signal to send instead of SIGIO; the
    wait for it is the wait for SIGIO (strace prints the set's members without SIG)."""
    lines = (f"9  fcntl({LISTENER}, F_SETOWN, 9) = 0\n"
             f"9  fcntl({LISTENER}, F_SETSIG, SIGRT_2) = 0\n"
             f"9  fcntl({LISTENER}, F_SETFL, O_RDWR|O_NONBLOCK|FASYNC) = 0\n"
             "9  rt_sigtimedwait([IO RT_2], {si_signo=SIGRT_2, si_code=0x1}, NULL, 8) = 34 (SIGRT_2)\n"
             f"9  accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = {C1}\n"
             f"9  fcntl({C1}, F_SETOWN, 9) = 0\n"
             f"9  fcntl({C1}, F_SETSIG, SIGRT_2) = 0\n"
             f"9  fcntl({C1}, F_SETFL, O_RDWR|O_NONBLOCK|FASYNC) = 0\n")
    assert EVIDENCE["sigio"].uses(Trace(parse(lines), PORT))
    no_wait = lines.replace("rt_sigtimedwait([IO RT_2]", "rt_sigtimedwait([USR1]").replace(
        "= 34 (SIGRT_2)", "= 10 (SIGUSR1)")
    assert not EVIDENCE["sigio"].uses(Trace(parse(no_wait), PORT))


def test_go_reports_mid_loop_count_only_if_no_eagain_follows() -> None:
    """New connections bring new reports while the accepting goroutine loops on another
    thread: every report must be followed by EAGAIN somewhere, not before the next one.
    One accept() per report and never EAGAIN is still caught."""
    ep = "5<anon_inode:[eventpoll]>"
    report = f"11 epoll_pwait({ep}, [{{events=EPOLLIN, data={{u32=3, u64=3}}}}], 128, -1, NULL, 0) = 1\n"
    ok = f"12 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = {C1}\n"
    eagain = f"13 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = -1 EAGAIN (x)\n"
    reg = (f"10 epoll_ctl({ep}, EPOLL_CTL_ADD, {LISTENER}, "
           "{events=EPOLLIN|EPOLLET, data={u32=3, u64=3}}) = 0\n")
    assert accept_stopped_short(Trace(parse(reg + report + ok + report + ok + eagain
                                            + report), PORT)) is None
    short = accept_stopped_short(Trace(parse(reg + report + ok + report + ok + report),
                                       PORT))
    assert short is not None and short[1].ret is not None and short[1].ret > 0


def test_the_trace_is_read_again_until_the_turn_is_seen_to_end(tmp_path) -> None:
    """Go: the last client's echo comes before the accepting thread's last accept() (the
    one that says EAGAIN), while another thread already sleeps in epoll_pwait(): a trace
    read at once shows a turn that stops short.  ET-4 reads it again until it ends, within
    the settle time, and a server that never drains is still caught when that runs out."""
    import threading
    from types import SimpleNamespace

    from conformance.harness.session import Session

    ep = "5<anon_inode:[eventpoll]>"
    head = (f"10 epoll_ctl({ep}, EPOLL_CTL_ADD, {LISTENER}, "
            "{events=EPOLLIN|EPOLLET, data={u32=3, u64=3}}) = 0\n"
            f"11 epoll_pwait({ep}, [{{events=EPOLLIN, data={{u32=3, u64=3}}}}], 128, -1, NULL, 0) = 1\n"
            f"12 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = {C1}\n"
            f"11 epoll_pwait({ep},  <unfinished ...>\n")
    path = tmp_path / "trace"
    path.write_text(head)
    s = object.__new__(Session)
    s.server = SimpleNamespace(trace_to=str(path), port=PORT)  # type: ignore[assignment]
    done = lambda t: accept_stopped_short(t) is None  # noqa: E731
    assert accept_stopped_short(s.trace()) is not None  # what a single read judged
    appended = threading.Event()

    def finish_the_turn() -> None:
        with path.open("a") as f:
            f.write(f"12 accept4({LISTENER}, NULL, NULL, SOCK_NONBLOCK) = -1 EAGAIN (x)\n"
                    f"12 epoll_pwait({ep},  <unfinished ...>\n")
        appended.set()

    timer = threading.Timer(0.2, finish_the_turn)
    timer.start()
    try:
        assert accept_stopped_short(s.trace(settle=30.0, until=done)) is None
        assert appended.is_set()
    finally:
        timer.cancel()
    path.write_text(head)  # never drained: judged when the settle time runs out
    assert accept_stopped_short(s.trace(settle=0.3, until=done)) is not None


def test_a_turn_that_ends_in_a_wait_still_in_progress_is_judged() -> None:
    """The trace is read while the server sleeps in its next wait, whose line strace has
    not ended: the turn before it is over and must be judged (it used to be left out as
    unfinished, and ET-3 passed every correct single-threaded server without judging)."""
    ep = "4<anon_inode:[eventpoll]>"
    head = (f"9  epoll_ctl({ep}, EPOLL_CTL_ADD, {C1}, {{events=EPOLLIN|EPOLLET, data={{u32=4, u64=4}}}}) = 0\n"
            f"9  epoll_wait({ep}, [{{events=EPOLLIN, data={{u32=4, u64=4}}}}], 1023, -1) = 1\n"
            f"9  recvfrom({C1}, \"x\"..., 255, 0, NULL, NULL) = 255\n")
    eagain = f"9  recvfrom({C1}, 0x7f, 255, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)\n"
    asleep = f"9  epoll_wait({ep}, "
    assert asleep_in_wait(head + eagain + asleep) == {9}
    assert asleep_in_wait(head + eagain) == set()  # still in its turn: unknown
    assert drain_stopped_short(Trace.read(head + eagain + asleep, PORT)) == (None, 1)
    short, judged = drain_stopped_short(Trace.read(head + asleep, PORT))
    assert short is not None and "stopped short of EAGAIN" in short.summary and judged == 1
    assert drain_stopped_short(Trace.read(head, PORT)) == (None, 0)  # not judged: skipped


def test_go_reads_on_another_thread_by_splice() -> None:
    """Go's io.Copy reads a socket with splice(2), on whichever thread runs the
    goroutine: a report must be followed, on any thread, by a read that ends in EAGAIN."""
    ep = "5<anon_inode:[eventpoll]>"
    reg = (f"10 epoll_ctl({ep}, EPOLL_CTL_ADD, {C1}, "
           "{events=EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, data={u32=7, u64=140137759612312}}) = 0\n")
    report = (f"11 epoll_pwait({ep}, [{{events=EPOLLIN|EPOLLOUT, data={{u32=7, u64=140137759612312}}}}],"
              " 128, -1, NULL, 0) = 1\n")
    moved = (f"12 splice({C1}, NULL, 9<pipe:[1]>, NULL, 4194304, SPLICE_F_NONBLOCK) = 65536\n"
             f"12 splice(8<pipe:[1]>, NULL, {C1}, NULL, 65536, SPLICE_F_NONBLOCK) = 65536\n")
    eagain = (f"12 splice({C1}, NULL, 9<pipe:[1]>, NULL, 4194304, SPLICE_F_NONBLOCK) = -1 EAGAIN"
              " (Resource temporarily unavailable)\n")
    asleep = f"11 epoll_pwait({ep},  <unfinished ...>\n"
    assert drain_stopped_short(Trace.read(reg + report + moved + eagain + asleep, PORT)) \
        == (None, 1)
    short, _ = drain_stopped_short(Trace.read(reg + report + moved + asleep, PORT))
    assert short is not None and "stopped short" in short.summary
