"""Windows' TCP table without owners: GetTcpTable and GetTcp6Table (iphlpapi).

psutil reads the table with the owning process of every socket
(GetExtendedTcpTable(TCP_TABLE_OWNER_PID_ALL)).  The harness finds a Windows server's
sockets by their port and needs no owner; and under Wine the owner lookup scans every
process's descriptors for every socket: with the 2,000 TIME_WAIT sockets a churn clause
leaves behind, one read took 1.7 s instead of 0.06 s, and polled every few milliseconds
it slowed the whole run (and the wineserver every server depends on) several times over.
"""

from __future__ import annotations

import ctypes
import socket
import sys
from ctypes import wintypes

# MIB_TCP_STATE values (tcpmib.h) -> psutil's names, for the states observe.py keeps.
_STATES = {2: "LISTEN", 5: "ESTABLISHED", 8: "CLOSE_WAIT"}


class _Row4(ctypes.Structure):  # MIB_TCPROW
    _fields_ = [("state", wintypes.DWORD), ("local_addr", wintypes.DWORD),
                ("local_port", wintypes.DWORD), ("remote_addr", wintypes.DWORD),
                ("remote_port", wintypes.DWORD)]


class _Row6(ctypes.Structure):  # MIB_TCP6ROW
    _fields_ = [("state", wintypes.DWORD), ("local_addr", ctypes.c_ubyte * 16),
                ("local_scope", wintypes.DWORD), ("local_port", wintypes.DWORD),
                ("remote_addr", ctypes.c_ubyte * 16), ("remote_scope", wintypes.DWORD),
                ("remote_port", wintypes.DWORD)]


def sockets_on(port: int) -> list[tuple[int, int, str]]:
    """(port, remote port or 0, state) of the IPv4 and IPv6 sockets on local ``port``
    in the LISTEN, ESTABLISHED or CLOSE_WAIT state."""
    out = []
    for name, row in (("GetTcpTable", _Row4), ("GetTcp6Table", _Row6)):
        for r in _rows(name, row):
            state = _STATES.get(r.state)
            if state and socket.ntohs(r.local_port & 0xFFFF) == port:
                out.append((port, socket.ntohs(r.remote_port & 0xFFFF), state))
    return out


# GetTcpTable's answer when the buffer is too small; it then writes the size it needs.
_ERROR_INSUFFICIENT_BUFFER = 122
# Answers that mean an empty table: no IPv6 stack (ERROR_NOT_SUPPORTED), no rows
# (ERROR_NO_DATA, ERROR_NOT_FOUND).
_EMPTY = {50, 232, 1168}


def _rows(function: str, row: type[ctypes.Structure]) -> list[ctypes.Structure]:
    if sys.platform != "win32":
        raise OSError("iphlpapi exists on Windows only")
    get = getattr(ctypes.windll.iphlpapi, function)
    need = 0
    # The table grows between the size query and the read while other programs churn
    # connections (beside a whole-contract run, thousands a second): a buffer of exactly
    # the size asked for was too small four times running, and the server's sockets read
    # as none.  Twice the size asked for, and an error rather than an empty table.
    for _ in range(8):
        buf = ctypes.create_string_buffer(max(2 * need, 4096))
        size = wintypes.DWORD(len(buf))
        err = get(buf, ctypes.byref(size), False)
        if err == 0:
            count = ctypes.cast(buf, ctypes.POINTER(wintypes.DWORD))[0]
            offset = ctypes.sizeof(wintypes.DWORD)  # the rows follow dwNumEntries
            table = (row * count).from_buffer_copy(buf.raw[offset:offset
                                                           + count * ctypes.sizeof(row)])
            return list(table)
        if err in _EMPTY:
            return []
        if err != _ERROR_INSUFFICIENT_BUFFER:
            raise ctypes.WinError(err)
        need = size.value
    raise OSError(f"{function}: the TCP table grew faster than it could be read")
