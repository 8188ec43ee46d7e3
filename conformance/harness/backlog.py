"""The listening socket's accept queue, as the kernel reports it (Linux only).

listen(2)'s backlog bounds how many established connections may wait for accept().
A handshake that finds the queue full is dropped, and its client tries again 1 s, 3 s,
7 s ... later (tcp(7), tcp_syn_retries).  listen(2) makes that legal: "the request may be
ignored so that a later reattempt at connection succeeds".  A burst of clients against
the seed's listen(fd, 1) is therefore slow, not wrong.  So the clauses that need many
clients connected at the same time (not connecting in the same instant) pace their
connects to the room the queue has, and only ACCEPT-4, at SHOULD level, sends the raw
burst.

The kernel tells both numbers through sock_diag(7): for a listening socket, inet_diag's
idiag_rqueue is how many connections wait for accept() and idiag_wqueue is the backlog
(what ``ss -lt`` shows as Recv-Q and Send-Q).  One netlink request dumps the listening
sockets only, so asking costs the same with five thousand connections open as with
none.  Elsewhere, or where netlink is refused, nothing is known and nothing is paced.
"""

from __future__ import annotations

import socket
import struct
import sys

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_TCP_LISTEN = 10
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_REQUEST = struct.Struct("=BBBxI48x")  # inet_diag_req_v2: family, protocol, ext, states
_MESSAGE = struct.Struct("=4x48xIII")  # inet_diag_msg: expires, rqueue, wqueue (sport apart)


def queue(port: int) -> tuple[int, int] | None:
    """(connections waiting for accept(), the most that may wait) for the listener on
    ``port``; None when the kernel cannot be asked here.  The kernel calls the queue
    full only once it holds more than the backlog, so the most is the backlog plus one."""
    if not sys.platform.startswith("linux"):
        return None
    found: list[tuple[int, int]] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(2.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                found += _listeners(nl, family, port)
    except OSError:
        return None
    if not found:
        return None
    waiting, backlog = max(found)
    return waiting, backlog + 1


def _listeners(nl: socket.socket, family: int, port: int) -> list[tuple[int, int]]:
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 1 << _TCP_LISTEN)
    nl.send(_HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY,
                         _NLM_F_REQUEST_DUMP, 1, 0) + body)
    out: list[tuple[int, int]] = []
    while True:
        data = nl.recv(1 << 16)
        at = 0
        while at + _HEADER.size <= len(data):
            length, kind, _, _, _ = _HEADER.unpack_from(data, at)
            if kind in (_NLMSG_DONE, _NLMSG_ERROR) or length < _HEADER.size:
                return out
            msg = at + _HEADER.size
            sport = struct.unpack_from("!H", data, msg + 4)[0]
            _, rqueue, wqueue = _MESSAGE.unpack_from(data, msg)
            if sport == port:
                out.append((rqueue, wqueue))
            at += (length + 3) & ~3
