"""Windows' TCP table read (wintcp) against a fake iphlpapi, on any platform: the table
grows between the size query and the read while other programs churn connections."""

from __future__ import annotations

import ctypes
import socket
import sys
import types
from ctypes import wintypes
from typing import Any

import pytest

from conformance.harness import wintcp

ROW = ctypes.sizeof(wintcp._Row4)


def _fake_table(monkeypatch: pytest.MonkeyPatch, rows: list[tuple[int, int, int]],
                growth: int) -> list[int]:
    """GetTcpTable over ``rows`` (state, local port, remote port) that gains ``growth``
    rows of other programs every call, as a table does under churn (a negative
    ``growth``: always more than twice the buffer offered); returns the sizes offered."""
    offered: list[int] = []
    others = 0  # TIME_WAIT rows of other programs, before the server's own

    def get(buf: Any, size: Any, order: bool) -> int:
        nonlocal others
        offered.append(size._obj.value)
        others += growth if growth >= 0 else 2 * size._obj.value // ROW
        count = wintypes.DWORD(others + len(rows))
        if size._obj.value < ctypes.sizeof(count) + count.value * ROW:
            size._obj.value = ctypes.sizeof(count) + count.value * ROW
            return 122  # ERROR_INSUFFICIENT_BUFFER
        table = [(11, 1, 1)] * others + rows
        out = (wintcp._Row4 * len(table))(*[
            wintcp._Row4(st, 0x0100007F, socket.htons(lp), 0x0100007F, socket.htons(rp))
            for st, lp, rp in table])
        ctypes.memmove(buf, ctypes.byref(count), ctypes.sizeof(count))
        ctypes.memmove(ctypes.addressof(buf) + ctypes.sizeof(count), out, ctypes.sizeof(out))
        return 0

    def get6(buf: Any, size: Any, order: bool) -> int:
        return 232  # ERROR_NO_DATA: no IPv6 sockets

    api = types.SimpleNamespace(GetTcpTable=get, GetTcp6Table=get6)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(iphlpapi=api), raising=False)
    return offered


def test_a_table_that_grows_between_query_and_read_is_still_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000 rows gained per call: a buffer of exactly the size asked for never fits.
    mine = [(2, 5000, 0), (5, 5000, 40001), (8, 5000, 40002), (5, 6000, 40003)]
    offered = _fake_table(monkeypatch, mine, growth=1000)
    assert wintcp.sockets_on(5000) == [(5000, 0, "LISTEN"), (5000, 40001, "ESTABLISHED"),
                                       (5000, 40002, "CLOSE_WAIT")]
    assert len(offered) <= 3, offered


def test_a_table_that_outgrows_every_buffer_is_an_error_not_an_empty_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_table(monkeypatch, [(2, 5000, 0)], growth=-1)
    with pytest.raises(OSError, match="grew faster"):
        wintcp.sockets_on(5000)
