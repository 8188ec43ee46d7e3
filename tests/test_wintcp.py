"""Windows' TCP table read (wintcp) against a fake iphlpapi, on any platform: the table
grows between the size query and the read while other programs churn connections, Wine
answers ERROR_OUTOFMEMORY when it grew during each of its own tries, and psutil's read
(on Windows) or Linux's own table (under Wine) stands in when the table cannot be
read."""

from __future__ import annotations

import ctypes
import socket
import sys
import time
import types
from collections.abc import Iterable
from ctypes import wintypes
from typing import Any

import psutil
import pytest

from conformance.harness import wine, wintcp

ROW = ctypes.sizeof(wintcp._Row4)
ERROR_OUTOFMEMORY, ERROR_INVALID_PARAMETER, ERROR_NO_DATA = 14, 87, 232
MINE = [(2, 5000, 0), (5, 5000, 40001), (8, 5000, 40002), (5, 6000, 40003)]
FOUND = [(5000, 0, "LISTEN"), (5000, 40001, "ESTABLISHED"), (5000, 40002, "CLOSE_WAIT")]


class Fake:
    """GetTcpTable over ``rows`` (state, local port, remote port) that gains ``growth``
    rows of other programs every call, as a table does under churn (a negative
    ``growth``: always one row more than the buffer offered holds), and first gives the answers
    of ``script`` (error codes) instead of the table."""

    def __init__(self, rows: list[tuple[int, int, int]], growth: int = 0,
                 script: Iterable[int] = (), clock: list[float] | None = None) -> None:
        self.rows, self.growth, self.script = rows, growth, iter(script)
        self.clock = clock  # when given: every call takes a second of it
        self.offered: list[int] = []  # the buffer sizes offered, call by call
        self.others = 0  # TIME_WAIT rows of other programs, before the server's own

    def get(self, buf: Any, size: Any, order: bool) -> int:
        self.offered.append(size._obj.value)
        if self.clock is not None:
            self.clock[0] += 1.0
        if (answer := next(self.script, None)) is not None:
            return answer
        self.others += self.growth if self.growth >= 0 else size._obj.value // ROW + 1
        count = wintypes.DWORD(self.others + len(self.rows))
        if size._obj.value < ctypes.sizeof(count) + count.value * ROW:
            size._obj.value = ctypes.sizeof(count) + count.value * ROW
            return 122  # ERROR_INSUFFICIENT_BUFFER
        table = [(11, 1, 1)] * self.others + self.rows
        out = (wintcp._Row4 * len(table))(*[
            wintcp._Row4(st, 0x0100007F, socket.htons(lp), 0x0100007F, socket.htons(rp))
            for st, lp, rp in table])
        ctypes.memmove(buf, ctypes.byref(count), ctypes.sizeof(count))
        ctypes.memmove(ctypes.addressof(buf) + ctypes.sizeof(count), out, ctypes.sizeof(out))
        return 0


def _win_error(code: int) -> OSError:
    e = OSError(f"[WinError {code}]")
    e.winerror = code  # type: ignore[attr-defined,unused-ignore]
    return e


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between tries, taken at no cost."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


@pytest.fixture
def psutil_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """psutil's table: the server's sockets, counted by read (the fallback)."""
    reads: list[int] = []

    def net_connections(kind: str) -> list[Any]:
        assert kind == "tcp"
        reads.append(1)
        return [types.SimpleNamespace(laddr=_addr(lp), raddr=_addr(rp) if rp else (),
                                      status=wintcp._STATES[st]) for st, lp, rp in MINE]

    monkeypatch.setattr(psutil, "net_connections", net_connections)
    return reads


def _addr(port: int) -> Any:
    return types.SimpleNamespace(ip="127.0.0.1", port=port)


def _install(monkeypatch: pytest.MonkeyPatch, fake: Fake) -> Fake:
    def get6(buf: Any, size: Any, order: bool) -> int:
        return ERROR_NO_DATA  # no IPv6 sockets

    api = types.SimpleNamespace(GetTcpTable=fake.get, GetTcp6Table=get6)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(iphlpapi=api), raising=False)
    monkeypatch.setattr(ctypes, "WinError", _win_error, raising=False)
    monkeypatch.setattr(wine, "under_wine", lambda: False)
    return fake


def test_a_table_that_grows_between_query_and_read_is_still_read(
        monkeypatch: pytest.MonkeyPatch, psutil_reads: list[int]) -> None:
    # 1,000 rows gained per call: a buffer of exactly the size asked for never fits.
    fake = _install(monkeypatch, Fake(MINE, growth=1000))
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) <= 3, fake.offered
    assert not psutil_reads


def test_wines_out_of_memory_for_a_growing_table_is_read_again_with_more_room(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], psutil_reads: list[int]) -> None:
    """Wine's NSI gives up with ERROR_OUTOFMEMORY when the table grew during each of its
    own five reads (the Wine leg's DISCONNECT-4 harness error): it is a passing answer."""
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 3))
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) == 4 and not psutil_reads
    assert fake.offered == sorted(fake.offered) and fake.offered[-1] > fake.offered[0]
    assert len(pauses) == 3 and pauses == sorted(pauses)


def test_a_table_that_stays_unreadable_is_read_by_psutil_after_a_bounded_number_of_tries(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], psutil_reads: list[int]) -> None:
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000))
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) == wintcp._TRIES and len(psutil_reads) == 1
    assert sum(pauses) < 1.5


def test_a_table_that_outgrows_every_buffer_is_read_by_psutil_never_answered_empty(
        monkeypatch: pytest.MonkeyPatch, psutil_reads: list[int]) -> None:
    fake = _install(monkeypatch, Fake([(2, 5000, 0)], growth=-1))
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) == wintcp._TRIES and len(psutil_reads) == 1


def test_an_error_that_is_no_passing_one_goes_to_psutil_at_once(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], psutil_reads: list[int]) -> None:
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_INVALID_PARAMETER] * 1000))
    assert wintcp.sockets_on(5000) == FOUND
    assert (len(fake.offered), len(psutil_reads), pauses) == (1, 1, [])


def test_psutils_passing_errors_are_retried_too(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float]) -> None:
    _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000))
    answers = iter([_win_error(ERROR_OUTOFMEMORY), _win_error(8)])

    def net_connections(kind: str) -> list[Any]:
        if (e := next(answers, None)) is not None:
            raise e
        return []

    monkeypatch.setattr(psutil, "net_connections", net_connections)
    assert wintcp.sockets_on(5000) == []  # psutil read it, and nothing is on the port


def test_a_table_neither_can_read_is_an_error_that_says_so_not_an_empty_table(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float]) -> None:
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000))
    psutil_calls: list[int] = []

    def net_connections(kind: str) -> list[Any]:
        psutil_calls.append(1)
        raise _win_error(ERROR_OUTOFMEMORY)

    monkeypatch.setattr(psutil, "net_connections", net_connections)
    with pytest.raises(wintcp.TableUnreadable, match=r"could not be read.*nor from psutil"):
        wintcp.sockets_on(5000)
    assert len(fake.offered) == wintcp._TRIES and 1 < len(psutil_calls) <= 8
    assert sum(pauses) < 3


def test_a_table_that_stays_unreadable_is_read_again_for_a_bounded_time(
        monkeypatch: pytest.MonkeyPatch, psutil_reads: list[int]) -> None:
    """Under load one read took 2.9 s: tries stop at the budget, not only at their count."""
    clock = [0.0]
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000, clock=clock))
    monkeypatch.setattr(wintcp, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], sleep=lambda s: None))
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) == int(wintcp._BUDGET) and len(psutil_reads) == 1  # at 0 s, 1 s


LINUX_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1
   1: 0100007F:1388 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 2
   2: 0100007F:1388 0100007F:9C42 08 00000000:00000000 00:00000000 00000000     0        0 3
   3: 0100007F:1388 0100007F:9C44 06 00000000:00000000 00:00000000 00000000     0        0 0
   4: 0100007F:1770 0100007F:9C43 01 00000000:00000000 00:00000000 00000000     0        0 4
"""
LINUX_TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1388 00000000000000000000000000000000:0000 0A
"""


@pytest.fixture
def under_wine(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """Wine, with Linux's tables at ``tmp_path`` (drive Z: under Wine)."""
    (tmp_path / "tcp").write_text(LINUX_TCP)
    (tmp_path / "tcp6").write_text(LINUX_TCP6)
    monkeypatch.setattr(wintcp, "LINUX_TABLES", (str(tmp_path / "tcp"), str(tmp_path / "tcp6")))
    monkeypatch.setattr(wine, "under_wine", lambda: True)
    return tmp_path


def test_under_wine_linuxs_own_table_is_read_first_and_never_psutil(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], psutil_reads: list[int],
        under_wine: Any) -> None:
    """GetTcpTable goes through the wineserver a starting server needs (1.4-2.9 s a read
    beside churning runs, against 0.3 s for Linux's table); psutil's read took 199 s."""
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000))
    monkeypatch.setattr(wine, "under_wine", lambda: True)
    assert wintcp.sockets_on(5000) == [*FOUND, (5000, 0, "LISTEN")]  # the IPv6 listener too
    assert fake.offered == [] and not psutil_reads


def test_under_wine_a_host_without_ipv6_still_has_its_table_read(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], under_wine: Any) -> None:
    fake = _install(monkeypatch, Fake(MINE, script=[ERROR_OUTOFMEMORY] * 1000))
    monkeypatch.setattr(wine, "under_wine", lambda: True)
    (under_wine / "tcp6").unlink()
    assert wintcp.sockets_on(5000) == FOUND and fake.offered == []
    (under_wine / "tcp").unlink()
    with pytest.raises(wintcp.TableUnreadable,
                       match=r"from Linux's table.*nor from GetTcpTable"):
        wintcp.sockets_on(5000)
    assert len(fake.offered) == wintcp._TRIES


def test_under_wine_gettcptable_stands_in_when_linuxs_table_cannot_be_read(
        monkeypatch: pytest.MonkeyPatch, pauses: list[float], psutil_reads: list[int],
        under_wine: Any) -> None:
    fake = _install(monkeypatch, Fake(MINE))
    monkeypatch.setattr(wine, "under_wine", lambda: True)
    for table in ("tcp", "tcp6"):
        (under_wine / table).unlink()
    assert wintcp.sockets_on(5000) == FOUND
    assert len(fake.offered) >= 1 and not psutil_reads
