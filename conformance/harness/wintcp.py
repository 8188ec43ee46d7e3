"""Windows' TCP table without owners: GetTcpTable and GetTcp6Table (iphlpapi).

psutil reads the table with the owning process of every socket
(GetExtendedTcpTable(TCP_TABLE_OWNER_PID_ALL)).  The harness finds a Windows server's
sockets by their port and needs no owner; and under Wine the owner lookup scans every
process's descriptors for every socket: with the 2,000 TIME_WAIT sockets a churn clause
leaves behind, one read took 1.7 s instead of 0.06 s, and polled every few milliseconds
it slowed the whole run (and the wineserver every server depends on) several times over.

The table keeps changing while it is read, and both Windows and Wine say so with an
error rather than a short table: ERROR_INSUFFICIENT_BUFFER when it outgrew the buffer,
and under Wine ERROR_OUTOFMEMORY when it grew during each of Wine's own five tries (see
``transient``).  Such a read is made again, with a larger buffer and a growing pause,
for at most ``_TRIES`` tries and ``_BUDGET`` seconds.  If the table still cannot be read,
psutil's read answers (the one with owners, through another call).

Under Wine the first source is Linux's own table, ``/proc/net/tcp`` and ``tcp6``
through Wine's drive Z:: it is what Wine's NSI reads too, a read never finds it
half-written, and it costs a fraction of GetTcpTable, whose every call goes through the
wineserver and winedevice.exe that a starting server needs too.  Beside other churning
runs (21,000 sockets in the table, load 50 on 2 cores) one GetTcpTable took 1.4-2.9 s,
one read of Linux's table 0.3 s, and one psutil read 199 s; and it is polled while a
server starts (in the CI run where two Windows CPython servers did not listen within
30 s, it was GetTcpTable).  GetTcpTable is the fallback there, and psutil is none.

Only when that fails too is the answer ``TableUnreadable``.  Never an empty table
instead: "no socket on the port" is a verdict (a server that closed its clients'
sockets).
"""

from __future__ import annotations

import ctypes
import socket
import sys
import time
from ctypes import wintypes

import psutil

from conformance.harness import transient, wine

# MIB_TCP_STATE values (tcpmib.h) -> psutil's names, for the states observe.py keeps.
_STATES = {2: "LISTEN", 5: "ESTABLISHED", 8: "CLOSE_WAIT"}


class TableUnreadable(OSError):
    """Neither GetTcpTable nor psutil could read the TCP table within their tries."""


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
    # GetTcpTable makes its own bounded tries (_rows); the others are retried here.
    sources = [("GetTcpTable", _from_iphlpapi),
               ("psutil", lambda p: transient.retried(lambda: _from_psutil(p)))]
    if wine.under_wine():
        sources = [("Linux's table", lambda p: transient.retried(lambda: _from_linux(p))),
                   ("GetTcpTable", _from_iphlpapi)]
    (name, read), (other, fallback) = sources
    try:
        return read(port)
    except (OSError, psutil.Error) as e:
        first = e
    try:
        return fallback(port)
    except (OSError, psutil.Error) as e:
        raise TableUnreadable(f"the TCP table could not be read from {name}: {first}; nor "
                              f"from {other}: {type(e).__name__}: {e}") from e


def _from_iphlpapi(port: int) -> list[tuple[int, int, str]]:
    out = []
    for name, row in (("GetTcpTable", _Row4), ("GetTcp6Table", _Row6)):
        for r in _rows(name, row):
            state = _STATES.get(r.state)
            if state and socket.ntohs(r.local_port & 0xFFFF) == port:
                out.append((port, socket.ntohs(r.remote_port & 0xFFFF), state))
    return out


def _from_psutil(port: int) -> list[tuple[int, int, str]]:
    held = set(_STATES.values())
    return [(port, c.raddr.port if c.raddr else 0, c.status)
            for c in psutil.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.status in held]


# Under Wine: the host's tables (Wine maps drive Z: to /), and their TCP states (hex,
# include/net/tcp_states.h) -> psutil's names.
LINUX_TABLES = (r"Z:\proc\net\tcp", r"Z:\proc\net\tcp6")
_LINUX_STATES = {"0A": "LISTEN", "01": "ESTABLISHED", "08": "CLOSE_WAIT"}


def _from_linux(port: int) -> list[tuple[int, int, str]]:
    out = []
    for i, path in enumerate(LINUX_TABLES):
        try:
            with open(path, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]  # after the heading
        except FileNotFoundError:
            if i == 0:
                raise
            continue  # no IPv6 on the host
        for line in lines:
            # "sl local_address rem_address st ...", addresses as HEXADDR:HEXPORT
            _, local, remote, st = line.split()[:4]
            state = _LINUX_STATES.get(st)
            if state and int(local.rsplit(":", 1)[1], 16) == port:
                out.append((port, int(remote.rsplit(":", 1)[1], 16), state))
    return out


# The answer when the buffer is too small; the call then writes the size it needs.
_ERROR_INSUFFICIENT_BUFFER = 122
# Answers that mean an empty table: no IPv6 stack (ERROR_NOT_SUPPORTED), no rows
# (ERROR_NO_DATA, ERROR_NOT_FOUND).
_EMPTY = {50, 232, 1168}
_TRIES = 10  # reads of one table at most ...
_BUDGET = 2.0  # ... and no new one after this many seconds (one took 2.9 s under Wine)


def _rows(function: str, row: type[ctypes.Structure]) -> list[ctypes.Structure]:
    if sys.platform != "win32":
        raise OSError("iphlpapi exists on Windows only")
    get = getattr(ctypes.windll.iphlpapi, function)
    need, size_offered, pause = 0, 4096, 0.005
    deadline = time.monotonic() + _BUDGET
    # The table grows between the size query and the read while other programs churn
    # connections (beside a whole-contract run, thousands a second): a buffer of exactly
    # the size asked for was too small four times running, and the server's sockets read
    # as none.  So twice the size asked for, and never less than the last offer.
    made = 0
    while made < _TRIES and (made == 0 or time.monotonic() < deadline):
        made += 1
        size_offered = max(2 * need, size_offered)
        buf = ctypes.create_string_buffer(size_offered)
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
        if err == _ERROR_INSUFFICIENT_BUFFER:
            need = size.value
            continue  # at once: the larger buffer is the remedy
        if err not in transient.WINERRORS:
            raise ctypes.WinError(err)
        # Out of memory, busy: Wine's NSI re-read a growing table five times already.
        # Let the churn move on, and offer more room as well.
        time.sleep(pause)  # the condition passes with time; nothing signals when
        pause, size_offered = min(2 * pause, 0.25), 2 * size_offered
    raise OSError(f"{function}: the TCP table changed faster than it could be read "
                  f"({made} tries; the last answer: {ctypes.WinError(err)})")
