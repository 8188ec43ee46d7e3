"""The shared verifiers: every clause judges through these, none reads sockets itself.

Each verifier either returns quietly or raises ``Failed`` with the expected and actual
behaviour spelled out: bytes sent and received, the first differing byte in hex, where
the stream stalled, and a hint.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.clause import Failed, Skipped
from conformance.events import ConnectFailed, Eof, Reset, Stalled, Transcript
from conformance.harness.driver import Client
from conformance.harness.process import describe_exit
from conformance.harness.session import Session
from conformance.matching import (
    MIN_FOUND,
    escaped_forms,
    find_printed,
    first_difference,
    hex_context,
    size,
)


def ending(t: Transcript, conn: int) -> str:
    e = t.ending(conn)
    if isinstance(e, Stalled) and e.budget:
        return (f"the transfer's {e.budget:g} s budget ran out while bytes still flowed "
                f"(the last {e.seconds:g} s before), waiting for {e.waiting_for}")
    if isinstance(e, Stalled):
        return f"stalled: waited {e.seconds:g} s for {e.waiting_for}"
    if isinstance(e, Eof):
        return "the server closed the connection (EOF)"
    if isinstance(e, Reset):
        return f"the connection was reset ({e.error})"
    if isinstance(e, ConnectFailed):
        return f"connect() failed ({e.error})"
    return "no error"


def alive(s: Session, hint: str = "") -> None:
    """The server process is still running."""
    code = s.server.returncode()
    if code is not None:
        raise Failed(
            "the server process died during the check",
            expected="the server keeps running",
            actual=describe_exit(code),
            hint=hint or exit_hint(code),
        )


_CRASHES = ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGFPE", "SIGILL")


def exit_hint(code: int) -> str:
    """Advice for a server that ended during a check, from how it ended: a clause's own
    hint (about its stimulus) does not apply to a server that is no longer there."""
    name = describe_exit(code).removeprefix("killed by ")
    if name == "SIGPIPE":
        return ("a server must survive whatever one client does, and SIGPIPE kills a "
                "server that writes to a connection the client reset: ignore it "
                "(signal(SIGPIPE, SIG_IGN)) or send with MSG_NOSIGNAL, and treat EPIPE as "
                "that client's end")
    if name in _CRASHES:
        return (f"the server crashed ({name}): a memory error, or a failed assertion; "
                "--sanitize builds a C or C++ server with AddressSanitizer, whose report "
                "says where")
    if code < 0:
        return (f"the server was killed ({name}) during the check: if a 'contained:' line "
                "says a resource limit stopped it, bound what the server allocates")
    return (f"the server {describe_exit(code)} during the check, and nothing more could be "
            "judged: its last stderr lines say why (an uncaught exception, or exit() on an "
            "error a server must survive: a reset client, EPIPE, EINTR); a server keeps "
            "serving until it is told to stop")


def connected(s: Session, clients: Sequence[Client], hint: str = "") -> None:
    bad = [c for c in clients if c.local_port == 0]
    if bad:
        raise Failed(
            f"{len(bad)} of {len(clients)} connections could not be established",
            expected=f"{len(clients)} connections accepted",
            actual=f"connection #{bad[0].conn}: {ending(s.transcript, bad[0].conn)}",
            hint=hint,
        )


def echoed(s: Session, work: Sequence[tuple[Client, bytes]], hint: str = "") -> None:
    """Each client got exactly its own bytes back, in order."""
    for c, payload in work:
        got = s.transcript.received(c.conn)
        if got == payload:
            continue
        at = first_difference(payload, got)
        assert at is not None
        details = [f"connection #{c.conn}: sent {size(c.sent)} of {size(len(payload))}, "
                   f"echoed {size(len(got))}"]
        if at < len(got):
            details.append(f"first difference at byte {at}: expected "
                           f"{hex_context(payload, at)}")
            details.append(f"{'':>{len(str(at)) + 27}}actual   {hex_context(got, at)}")
            summary = "the echo differs from what was sent"
        else:
            _too_slow_to_judge(s, c, at, len(payload))
            details.append(f"the stream stopped after byte {at}; then "
                           f"{ending(s.transcript, c.conn)}")
            summary = "the echo is incomplete"
        others = sum(1 for c2, p2 in work if s.transcript.received(c2.conn) != p2) - 1
        if others > 0:
            details.append(f"{others} other connection(s) of {len(work)} failed the same way")
        raise Failed(summary, expected=f"{size(len(payload))} echoed unchanged",
                     actual=f"{size(len(got))} echoed", details=tuple(details), hint=hint)


def _too_slow_to_judge(s: Session, c: Client, echoed: int, want: int) -> None:
    """A correct prefix, cut by the transfer's budget while the server was still at work:
    nothing was lost or stalled, the server is only slower than the budget (one byte per
    read, say).  A MUST clause cannot fail it for that; the check is a skip, and says so."""
    e = s.transcript.ending(c.conn)
    if isinstance(e, Stalled) and e.budget and echoed:
        raise Skipped(f"the server echoed {size(echoed)} of {size(want)} in order, and was "
                      f"still going when the {e.budget:g} s budget ran out "
                      f"({echoed / e.budget / 1024:.0f} KiB/s): too slow to see the whole "
                      "stream here, and no byte was lost or reordered")


def printed(s: Session, work: Sequence[tuple[Client, bytes]], hint: str = "") -> None:
    """Each client's bytes appeared on stdout, in order (chunked as recv() returned them,
    each chunk on a line of its own, other text around it allowed)."""
    assert s.server.stdout is not None
    for c, payload in work:
        def whole(out: bytearray, payload: bytes = payload) -> bool | None:
            if len(out) < len(payload):
                return None
            return True if find_printed(out, payload)[0] == len(payload) else None

        # The output may still be on its way through the pty: allow it a short while.
        if s.server.stdout.wait(whole, s.timing.stall / 5):
            continue
        out = s.server.stdout.data()
        n, end = find_printed(out, payload)
        details = [f"connection #{c.conn}: sent {size(c.sent)}; " + (
            f"the first {size(n)} appear on stdout, then byte {n} "
            f"({hex_context(payload, n)}) is missing" if n else
            f"not even its first {MIN_FOUND} bytes appear on stdout "
            f"({hex_context(payload, 0)}); shorter runs are taken for coincidences"),
            f"stdout holds {size(s.server.stdout.total)} in all"]
        where, printed_somehow = _where_the_rest_is(out, payload, n, end)
        details.append(where)
        if not n and not printed_somehow and s.echo:
            details.append("service echo prints every chunk it echoes; a server that prints "
                           "nothing, or only messages of its own, is service echo-only "
                           "(--service echo-only, or service = \"echo-only\" in its "
                           "ioconform.toml): PRINT clauses do not apply to it")
        raise Failed(
            "the received bytes do not all appear on stdout",
            expected=f"{size(len(payload))} printed in order (each chunk on a line of its "
                     "own; other text around it is fine)",
            actual=f"{size(n)} found" if n else "none found", details=tuple(details),
            hint=hint)


def _where_the_rest_is(out: bytes, payload: bytes, n: int, end: int) -> tuple[str, bool]:
    """Why the bytes from ``n`` on were not read as printed, and whether they are on
    stdout at all: elsewhere on the line, in another form, cut at a NUL or a lost byte,
    or nowhere (never printed, or still in stdio's buffer)."""
    rest = payload[n: n + 16]
    at = out.find(rest, end)
    if at >= 0:
        between = out[end: at]
        where = "further along the same line" if b"\n" not in between else "later"
        return (f"byte {n} onwards appears {where}, after {bytes(between[-40:])!r}: each "
                "chunk is looked for on a line of its own, with other text around it "
                "standing apart (a space or punctuation, not letters or digits)", True)
    shown = [name for name, form in escaped_forms(rest).items() if form in out]
    if shown:
        return (f"stdout shows the bytes as {shown[0]}: the PRINT clauses look for the "
                "bytes exactly as received (write them with fwrite(buf, 1, n, stdout) or "
                "sys.stdout.buffer.write(data))", True)
    if payload[n: n + 1] == b"\0":
        return (f"byte {n} is a NUL byte: printf's %s stops at the first NUL, while "
                "fwrite(buf, 1, n, stdout) writes the chunk by its length", True)
    if len(payload) > n + 1 and out.find(payload[n + 1: n + 17], end) >= 0:
        return (f"byte {n} alone is missing: the bytes after it appear further on (a chunk "
                "printed one byte short, or a byte dropped between two reads?)", True)
    return (f"byte {n} onwards is nowhere on stdout: never printed, or still in stdio's "
            "buffer -- a chunk printed without a line break stays there until the next "
            "newline (stdout on a terminal) or until the buffer fills (a pipe) unless the "
            "server calls fflush(stdout)", False)


def served(s: Session, work: Sequence[tuple[Client, bytes]], hint: str = "") -> None:
    """The service-appropriate check: echoed for echo servers, printed for print ones."""
    if s.echo:
        echoed(s, work, hint)
    else:
        printed(s, work, hint)


def eof(s: Session, clients: Sequence[Client], hint: str = "") -> None:
    for c in clients:
        e = s.transcript.ending(c.conn)
        if not isinstance(e, Eof):
            raise Failed(
                "the server did not close its side of the connection",
                expected="EOF (recv() returns 0) after the client's FIN",
                actual=ending(s.transcript, c.conn), hint=hint,
            )


def closed_by_server(s: Session, clients: Sequence[Client], hint: str = "") -> None:
    """Each client saw its connection end from the server's side (EOF or reset)."""
    for c in clients:
        e = s.transcript.ending(c.conn)
        if not isinstance(e, (Eof, Reset)):
            raise Failed(
                "a client connection was not closed by the server",
                expected="EOF or a reset on every client connection",
                actual=f"connection #{c.conn}: {ending(s.transcript, c.conn)}", hint=hint,
            )


def at_most(value: float, bound: float, *, what: str, unit: str, hint: str = "",
            details: tuple[str, ...] = ()) -> None:
    if value > bound:
        raise Failed(f"{what} is too high", expected=f"at most {bound:g} {unit}",
                     actual=f"{value:g} {unit}", details=details, hint=hint)
