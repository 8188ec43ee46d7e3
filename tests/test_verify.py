"""The shared verifiers judged on hand-built transcripts: no server, no socket.

A fake session offers exactly what the verifiers touch: ``transcript``, ``echo``,
``timing.stall``, and a ``server`` with ``returncode()`` and a captured ``stdout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.clause import REGISTRY, Failed, Skipped
from conformance.clauses import verify
from conformance.clauses.capacity_idle_robust import PAST_LIMIT, judge_past_limit
from conformance.clauses.partial_backpressure_fairness import HELD_BOUND, judge_held
from conformance.events import (
    Closed,
    Connected,
    ConnectFailed,
    Eof,
    Received,
    Reset,
    Sent,
    Stalled,
    Transcript,
)
from conformance.harness.queues import _entries
from conformance.runner import render


@dataclass
class FakeStdout:
    head: bytes = b""

    @property
    def total(self) -> int:
        return len(self.head)

    def data(self) -> bytes:
        return self.head

    def wait(self, probe: Any, timeout: float) -> Any:
        return probe(bytearray(self.head))  # nothing more will ever arrive


@dataclass
class FakeServer:
    code: int | None = None
    stdout: FakeStdout = field(default_factory=FakeStdout)
    pid: int = 4242
    port: int = 20123

    def returncode(self) -> int | None:
        return self.code

    def listening(self) -> bool:
        return self.code is None

    def wait_exit(self, timeout: float) -> int | None:
        return self.code

    def output_tail(self) -> str:
        return "  last stdout lines:\n    hello from the server"

    def containment(self) -> list[str]:
        return []


@dataclass
class FakeTiming:
    stall: float = 5.0


@dataclass
class FakeSession:
    transcript: Transcript = field(default_factory=Transcript)
    echo: bool = True
    server: FakeServer = field(default_factory=FakeServer)
    timing: FakeTiming = field(default_factory=FakeTiming)


@dataclass
class FakeClient:
    conn: int
    sent: int = 0
    local_port: int = 40000


def session_with(*events: Any, echo: bool = True, code: int | None = None,
                 stdout: bytes = b"") -> Any:
    s = FakeSession(echo=echo, server=FakeServer(code, FakeStdout(stdout)))
    for e in events:
        s.transcript.record(e)
    return s


def exchange(conn: int, sent: bytes, *echoes: bytes) -> list[Any]:
    return [Connected(conn, 0.0, 40000 + conn), Sent(conn, 0.1, sent),
            *(Received(conn, 0.2, e) for e in echoes)]


def failure(check: Any, *args: Any, **kw: Any) -> Failed:
    with pytest.raises(Failed) as info:
        check(*args, **kw)
    return info.value


PAYLOAD = bytes(range(48, 58)) * 10  # 100 bytes


# -- echoed ------------------------------------------------------------------------------
def test_echoed_accepts_an_exact_echo_in_any_number_of_reads() -> None:
    s = session_with(*exchange(0, PAYLOAD, PAYLOAD[:7], PAYLOAD[7:]))
    verify.echoed(s, [(FakeClient(0, sent=100), PAYLOAD)])


def test_echoed_names_the_first_differing_byte_in_hex() -> None:
    wrong = PAYLOAD[:42] + b"X" + PAYLOAD[43:]
    s = session_with(*exchange(0, PAYLOAD, wrong))
    f = failure(verify.echoed, s, [(FakeClient(0, sent=100), PAYLOAD)], hint="my hint")
    assert f.summary == "the echo differs from what was sent"
    assert (f.expected, f.actual, f.hint) == ("100 B echoed unchanged", "100 B echoed", "my hint")
    text = "\n".join(f.details)
    assert "connection #0: sent 100 B of 100 B, echoed 100 B" in text
    assert "first difference at byte 42" in text
    assert "[32]" in text and "[58]" in text  # expected '2', actual 'X'


def test_echoed_reports_where_a_short_echo_stalled() -> None:
    stall = Stalled(0, 5.2, "byte 61 of 100 to come back", 5.0)
    s = session_with(*exchange(0, PAYLOAD, PAYLOAD[:60]), stall)
    f = failure(verify.echoed, s, [(FakeClient(0, sent=100), PAYLOAD)])
    assert f.summary == "the echo is incomplete"
    assert f.actual == "60 B echoed"
    assert ("the stream stopped after byte 60; then stalled: waited 5 s for byte 61 of 100 "
            "to come back") in f.details


def test_a_correct_echo_cut_by_the_budget_is_too_slow_to_judge_not_a_failure() -> None:
    """One byte per read is slow, not wrong: a correct prefix, still flowing when the
    transfer's budget ran out, is a skip that says so.  A stall or a wrong byte still
    fails."""
    out_of_time = Stalled(0, 60.0, "byte 61 of 100 to come back", 0.1, 60.0)
    s = session_with(*exchange(0, PAYLOAD, PAYLOAD[:60]), out_of_time)
    with pytest.raises(Skipped, match="echoed 60 B of 100 B in order, and was still going"):
        verify.echoed(s, [(FakeClient(0, sent=100), PAYLOAD)])
    assert "budget ran out while bytes still flowed" in verify.ending(s.transcript, 0)
    wrong = session_with(*exchange(0, PAYLOAD, PAYLOAD[:59] + b"X"), out_of_time)
    failure(verify.echoed, wrong, [(FakeClient(0, sent=100), PAYLOAD)])


def test_echoed_counts_the_other_failing_connections() -> None:
    s = session_with(*exchange(0, PAYLOAD, PAYLOAD), *exchange(1, PAYLOAD, b""),
                     *exchange(2, PAYLOAD, PAYLOAD[:1]), Eof(2, 1.0))
    work = [(FakeClient(n, sent=100), PAYLOAD) for n in range(3)]
    f = failure(verify.echoed, s, work)
    assert f.details[0].startswith("connection #1:")
    assert "1 other connection(s) of 3 failed the same way" in f.details


def test_echoed_tells_connections_apart() -> None:
    s = session_with(*exchange(0, b"aaaa", b"bbbb"), *exchange(1, b"bbbb", b"aaaa"))
    with pytest.raises(Failed):
        verify.echoed(s, [(FakeClient(0, 4), b"aaaa"), (FakeClient(1, 4), b"bbbb")])


def test_echoed_flags_extra_bytes() -> None:
    s = session_with(*exchange(0, b"abc", b"abcabc"))
    f = failure(verify.echoed, s, [(FakeClient(0, 3), b"abc")])
    assert "first difference at byte 3" in "\n".join(f.details)


# -- how a connection ended ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "text"),
    [(Eof(0, 1.0), "the server closed the connection (EOF)"),
     (Reset(0, 1.0, "ECONNRESET"), "the connection was reset (ECONNRESET)"),
     (ConnectFailed(0, 1.0, "ECONNREFUSED"), "connect() failed (ECONNREFUSED)"),
     (Stalled(0, 1.0, "EOF from the server", 2.5),
      "stalled: waited 2.5 s for EOF from the server")],
)
def test_ending_describes_the_first_ending_event(event: Any, text: str) -> None:
    s = session_with(Sent(0, 0.0, b"x"), event, Eof(0, 9.0), Reset(1, 0.5, "EPIPE"))
    assert verify.ending(s.transcript, 0) == text


def test_ending_of_a_connection_still_open_or_closed_by_the_client() -> None:
    s = session_with(Sent(0, 0.0, b"x"), Closed(0, 1.0, "fin"), Eof(1, 0.5))
    assert verify.ending(s.transcript, 0) == "no error"


def test_eof_requires_eof_on_every_client() -> None:
    verify.eof(session_with(Eof(0, 1.0), Eof(1, 1.0)), [FakeClient(0), FakeClient(1)])
    s = session_with(Eof(0, 1.0), Reset(1, 1.0, "ECONNRESET"))
    f = failure(verify.eof, s, [FakeClient(0), FakeClient(1)], hint="close it")
    assert f.actual == "the connection was reset (ECONNRESET)"
    assert f.hint == "close it"
    f = failure(verify.eof, session_with(Sent(0, 0.0, b"x")), [FakeClient(0)])
    assert f.actual == "no error"


def test_closed_by_server_accepts_eof_or_reset_but_not_a_stall() -> None:
    s = session_with(Eof(0, 1.0), Reset(1, 1.0, "EPIPE"), Stalled(2, 5.0, "EOF from the server", 5))
    verify.closed_by_server(s, [FakeClient(0), FakeClient(1)])
    f = failure(verify.closed_by_server, s, [FakeClient(0), FakeClient(2)])
    assert f.actual == "connection #2: stalled: waited 5 s for EOF from the server"


def test_connected_names_the_connection_that_failed() -> None:
    s = session_with(ConnectFailed(1, 0.1, "ECONNREFUSED"))
    verify.connected(s, [FakeClient(0)])
    f = failure(verify.connected, s, [FakeClient(0), FakeClient(1, local_port=0)])
    assert f.summary == "1 of 2 connections could not be established"
    assert f.actual == "connection #1: connect() failed (ECONNREFUSED)"


# -- the process and the numbers ------------------------------------------------------------
def test_alive_passes_while_running_and_names_the_signal_after_death() -> None:
    verify.alive(session_with(code=None))
    f = failure(verify.alive, session_with(code=-13))
    assert f.actual == "killed by SIGPIPE"
    assert "SIGPIPE" in f.hint
    assert failure(verify.alive, session_with(code=2)).actual == "exited with status 2"
    assert failure(verify.alive, session_with(code=1), hint="h").hint == "h"
    # A Python server that exited is not told about C's SIGPIPE.
    exited = failure(verify.alive, session_with(code=1)).hint
    assert "SIGPIPE" not in exited and "exited with status 1" in exited
    assert "uncaught exception" in exited
    assert "--sanitize" in failure(verify.alive, session_with(code=-11)).hint


def test_at_most() -> None:
    verify.at_most(5, 5, what="CPU use", unit="%")
    f = failure(verify.at_most, 5.5, 5, what="CPU use", unit="%", details=("over 1 s",))
    assert (f.summary, f.expected, f.actual, f.details) == (
        "CPU use is too high", "at most 5 %", "5.5 %", ("over 1 s",))


# -- printed / served ------------------------------------------------------------------------
def test_printed_accepts_chunks_on_stdout() -> None:
    s = session_with(echo=False, stdout=b"recv hello\nrecv  world\n")
    verify.printed(s, [(FakeClient(0, 11), b"hello world")])


def test_printed_names_the_missing_byte() -> None:
    s = session_with(echo=False, stdout=b"hello \nworl\n")
    f = failure(verify.printed, s, [(FakeClient(0, 11), b"hello world")])
    assert f.actual == "10 B found"
    assert "then byte 10 (… 6c 6c 6f 20 77 6f 72 6c [64]) is missing" in f.details[0]
    assert f.details[1] == "stdout holds 12 B in all"


def test_printed_accepts_other_text_around_each_chunk() -> None:
    out = b"fd 5: hello (5 bytes)\nfd 5:   (1 bytes)\nfd 5: world (5 bytes)\n"
    verify.printed(session_with(echo=False, stdout=out), [(FakeClient(0, 11), b"hello world")])
    out = b"echoing b'hello'\necho b' '\nechoing b'world'\n"  # Python's print of bytes
    verify.printed(session_with(echo=False, stdout=out), [(FakeClient(0, 11), b"hello world")])


def test_printed_tells_an_echo_server_that_prints_nothing_about_echo_only() -> None:
    f = failure(verify.printed, session_with(echo=True), [(FakeClient(0, 40), PAYLOAD[:40])])
    assert f.actual == "none found"
    assert "not even its first 8 bytes appear on stdout" in f.details[0]
    assert "still in stdio's buffer" in f.details[2]
    assert "until the next newline" in f.details[2]
    assert "service echo-only" in f.details[3]
    # A print server is told about stdio, not about a service that would not print.
    f = failure(verify.printed, session_with(echo=False), [(FakeClient(0, 40), PAYLOAD[:40])])
    assert not any("echo-only" in d for d in f.details)


def test_printed_counts_no_coincidence() -> None:
    # The log line holds the payload's first byte ("s") and more of its letters.
    s = session_with(echo=False, stdout=b"server started on port 8080\n")
    f = failure(verify.printed, s, [(FakeClient(0, 12), b"s8080abcdefg")])
    assert f.actual == "none found"


def test_printed_says_where_the_rest_of_the_payload_is() -> None:
    # Two chunks printed on one line with text between them: not read as two chunks.
    s = session_with(echo=False, stdout=b"got: 0123456789 then: abcdefghij\n")
    f = failure(verify.printed, s, [(FakeClient(0, 20), b"0123456789abcdefghij")])
    assert f.actual == "10 B found"
    assert "byte 10 onwards appears further along the same line, after b' then: '" in (
        f.details[2])


def test_printed_names_a_nul_byte_and_a_lone_missing_byte() -> None:
    s = session_with(echo=False, stdout=b"got: abcdefghij\n")
    f = failure(verify.printed, s, [(FakeClient(0, 20), b"abcdefghij\0klmnopqrs")])
    assert f.details[2].startswith("byte 10 is a NUL byte: printf's %s stops")
    s = session_with(echo=False, stdout=b"got: abcdefghi\ngot: klmnopqrst\n")
    f = failure(verify.printed, s, [(FakeClient(0, 20), b"abcdefghijklmnopqrst")])
    assert f.details[2].startswith("byte 9 alone is missing: the bytes after it appear")


def test_printed_recognises_bytes_shown_in_another_form() -> None:
    data = bytes(range(1, 21))
    for shown, name in ((data.hex().encode(), "hexadecimal (lower case)"),
                        (repr(data).encode(), "Python's repr() of bytes")):
        s = session_with(echo=True, stdout=b"received " + shown + b"\n")
        f = failure(verify.printed, s, [(FakeClient(0, 20), data)])
        assert f.details[2].startswith(f"stdout shows the bytes as {name}")
        assert len(f.details) == 3  # it prints: no word of echo-only
    # Python's repr of a chunk that starts with a NUL: the form, not the NUL, is the cause.
    s = session_with(echo=False, stdout=b"echoing " + repr(b"\0" + data).encode() + b"\n")
    f = failure(verify.printed, s, [(FakeClient(0, 21), b"\0" + data)])
    assert f.details[2].startswith("stdout shows the bytes as Python's repr()")


def test_served_picks_the_check_for_the_service() -> None:
    echo = session_with(*exchange(0, b"abc", b"abc"), echo=True)
    verify.served(echo, [(FakeClient(0, 3), b"abc")])  # stdout is empty: not consulted
    printing = session_with(*exchange(0, b"abc"), echo=False, stdout=b"abc\n")
    verify.served(printing, [(FakeClient(0, 3), b"abc")])  # nothing echoed: not consulted
    with pytest.raises(Failed):
        verify.served(session_with(echo=False, stdout=b"ab\n"), [(FakeClient(0, 3), b"abc")])


# -- the rendered failure ---------------------------------------------------------------------
def test_render_spells_out_clause_requirement_expected_actual_and_hint() -> None:
    c = REGISTRY["ECHO-1"]
    f = Failed("the echo differs", expected="100 B echoed unchanged", actual="99 B echoed",
               details=("first difference at byte 7",))
    text = render(c, f, FakeServer(code=None))  # type: ignore[arg-type]
    lines = text.splitlines()
    assert lines[0] == f"ECHO-1 (MUST): {c.requirement}"
    assert "  problem:  the echo differs" in lines
    assert "  expected: 100 B echoed unchanged" in lines
    assert "  actual:   99 B echoed" in lines
    assert "  first difference at byte 7" in lines
    assert "  server:   still running (pid 4242, port 20123)" in lines
    assert "    hello from the server" in lines
    assert lines[-1] == f"  hint:     {c.hint}"


def test_render_prefers_the_failures_own_hint_and_shows_the_exit() -> None:
    f = Failed("gone", hint="a specific\n   hint")
    text = render(REGISTRY["START-1"], f, FakeServer(code=-9))  # type: ignore[arg-type]
    assert "  server:   killed by SIGKILL (pid 4242, port 20123)" in text.splitlines()
    assert text.splitlines()[-1] == "  hint:     a specific hint"
    assert "expected:" not in text and "actual:" not in text


def test_render_gives_a_gone_server_advice_on_its_end_not_the_clauses() -> None:
    """A server that exited in the middle of a check is told why servers exit, not the
    clause's advice about its stimulus (a single-threaded server told its threads must
    end, a Python one told about SIGPIPE in C)."""
    c = REGISTRY["ECHO-1"]
    text = render(c, Failed("no echo"), FakeServer(code=0))  # type: ignore[arg-type]
    hint = text.splitlines()[-1]
    assert "exited with status 0 during the check" in hint and c.hint not in hint
    # STOP clauses judge the exit itself: their own hint stays.
    stop = REGISTRY["STOP-1"]
    text = render(stop, Failed("wrong status"), FakeServer(code=3))  # type: ignore[arg-type]
    assert text.splitlines()[-1] == f"  hint:     {stop.hint}"


# -- CAPACITY-1/3 and BACKPRESSURE-2: verdicts on counts, judged with no server ----------

def test_past_limit_passes_when_every_client_is_served_or_refused() -> None:
    judge_past_limit(1024, 1024 + PAST_LIMIT, 1020, [])


def test_past_limit_fails_a_client_left_in_silence() -> None:
    with pytest.raises(Failed, match="12 of 1124 clients were neither served nor refused") as e:
        judge_past_limit(1024, 1024 + PAST_LIMIT, 1020, [(1025, "no echo")] * 12)
    assert e.value.actual == "connection #1025: no echo"
    assert "92 refused" in e.value.details[0]


def test_past_limit_names_a_silent_batch_that_stopped_the_opening() -> None:
    with pytest.raises(Failed) as e:
        judge_past_limit(1024, 1050, 1020, [(1030, "no echo")] * 30)
    assert any("stopped after 1050 of 1124" in d for d in e.value.details)


def test_past_limit_is_no_verdict_on_a_slow_server() -> None:
    """Cut by the time bound while clients were still being answered, or never past the
    limit: a skip, never a false FAIL."""
    with pytest.raises(Skipped, match="busy machine"):
        judge_past_limit(1024, 1100, 1000, [(1050, "no echo")] * 40, silent=False)
    with pytest.raises(Skipped, match="none past the limit"):
        judge_past_limit(1024, 750, 750, [])
    judge_past_limit(1024, 1100, 1020, [])  # past the limit, all answered: a pass


def test_held_subtracts_what_the_kernel_holds() -> None:
    mib = 1 << 20
    # A bounded server: 6 MiB pushed, 5.9 MiB of it in the four socket queues.
    judge_held(6 * mib, 0, 6 * mib - 100 * 1024, True, 0)
    # Exactly the bound is still within it, even while growing.
    judge_held(5 * mib + HELD_BOUND, 0, 5 * mib, True, HELD_BOUND, growing=100)


def test_held_past_the_bound_is_fine_once_the_server_stops_reading() -> None:
    """A cap of 256 KiB plus a 1 MiB read buffer: more than HELD_BOUND, but bounded."""
    mib = 1 << 20
    judge_held(8 * mib, 0, 6 * mib + 700 * 1024, True, 2 * mib, growing=0)


def test_held_fails_a_server_that_reads_on_and_keeps_the_echo() -> None:
    mib = 1 << 20
    with pytest.raises(Failed, match="holds the echo") as e:
        judge_held(48 * mib, 256, 4 * mib + 256, True, 44 * mib)
    assert e.value.actual == "at least 44.0 MiB held"  # past HELD_LIMIT, stopped or not
    assert "held 4.0 MiB" in e.value.details[0]
    with pytest.raises(Failed) as e:  # a slow server, still reading at the end
        judge_held(7 * mib, 0, 5 * mib + 900 * 1024, True, 1 * mib, growing=3000)
    assert e.value.actual == "at least 1.1 MiB held, and growing"
    assert "3 KiB more than 1 s before" in e.value.details[1]


def test_held_leaves_a_server_that_drops_the_echo_to_backpressure_1() -> None:
    """Bytes neither echoed, nor queued, nor in the server's memory were dropped."""
    mib = 1 << 20
    judge_held(48 * mib, 0, 4 * mib, True, 0, growing=0)


def test_held_with_only_a_capacity_bound_says_so() -> None:
    mib = 1 << 20
    judge_held(40 * mib, 0, 40 * mib, False, 0)  # the queues could hold all of it
    with pytest.raises(Failed) as e:
        judge_held(58 * mib, 0, 40 * mib, False, 18 * mib)
    assert "can hold at most 40.0 MiB" in e.value.details[0]


def test_kernel_queues_are_read_for_both_ends_of_a_loopback_connection() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
        "   1: 0100007F:A000 0100007F:1F90 01 00004000:00000000 00:00000000 00000000\n"
        "   2: 0100007F:1F90 0100007F:A000 01 00000100:00200000 00:00000000 00000000\n"
        "   3: 0A000001:1F90 0A000002:A000 01 00000001:00000001 00:00000000 00000000\n")
    queued = _entries(table)
    assert queued[(0xA000, 0x1F90)] == 0x4000
    assert queued[(0x1F90, 0xA000)] == 0x100 + 0x200000
    assert len(queued) == 2  # neither the listener nor a connection off loopback
    v6 = ("  sl  local_address                         remote_address                        "
          "st tx_queue rx_queue\n"
          "   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:A000 "
          "01 00000010:00000020\n")
    assert _entries(v6) == {(0x1F90, 0xA000): 0x30}  # ::ffff:127.0.0.1, a dual-stack server
