"""How many bytes of one loopback TCP connection the kernels hold, on both ends.

A client knows what it sent and what came back.  The difference sits in one of five
places: the client's send queue, the server's receive queue, the server's own memory,
the server's send queue, the client's receive queue.  Subtract the four kernel queues and
what remains is what the server holds itself -- whatever its speed, which an RSS figure
sampled in a time window cannot say.

On Linux ``/proc/net/tcp`` (and ``tcp6``) lists every socket of the network namespace with
``tx_queue`` (bytes written and not yet acknowledged by the peer: unsent and in flight)
and ``rx_queue`` (bytes arrived and not yet read).  On loopback a segment stays in its
sender's tx_queue until the receiver has queued it and acknowledged it, so at any
instant every byte in the kernel is counted at least once: the sum can only overstate
the kernel's share, never understate it, and what it leaves for the server is a lower
bound.

Elsewhere, or when the table cannot be read, ``bound`` gives the most the four queues
can hold: the client's own SO_SNDBUF and SO_RCVBUF, plus the largest buffers a server
socket can be given (tcp_rmem/tcp_wmem's maximum, or SO_RCVBUF/SO_SNDBUF set up to
rmem_max/wmem_max, which the kernel doubles; tcp(7), socket(7)).
"""

from __future__ import annotations

import socket
from pathlib import Path

from conformance.harness.driver import Client

# IPv4 sockets, and IPv6 ones: a server listening on [::] accepts our 127.0.0.1 clients
# as ::ffff:127.0.0.1, which only /proc/net/tcp6 lists.
_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LOOPBACK = ("0100007F:", "0000000000000000FFFF00000100007F:")
_ELSEWHERE = 32 << 20  # a server socket's two buffers where no sysctl says (macOS, Windows)


def _entries(text: str) -> dict[tuple[int, int], int]:
    """(local port, remote port) -> tx_queue + rx_queue, for loopback sockets."""
    queued: dict[tuple[int, int], int] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        local, remote, queues = fields[1], fields[2], fields[4]
        if not (local.startswith(_LOOPBACK) and remote.startswith(_LOOPBACK)):
            continue
        tx, _, rx = queues.partition(":")
        ports = (int(local.rpartition(":")[2], 16), int(remote.rpartition(":")[2], 16))
        queued[ports] = int(tx, 16) + int(rx, 16)
    return queued


def in_kernel(client_port: int, server_port: int) -> int | None:
    """Bytes of the connection 127.0.0.1:client_port <-> 127.0.0.1:server_port queued in
    the kernel, both ends and both directions; None when either end is not listed."""
    queued: dict[tuple[int, int], int] = {}
    for table in _TABLES:
        try:
            queued.update(_entries(table.read_text()))
        except OSError:
            continue  # no IPv6 here, or no /proc at all
    ends = (queued.get((client_port, server_port)), queued.get((server_port, client_port)))
    return None if None in ends else sum(e for e in ends if e is not None)


def _sysctl_max(name: str) -> int | None:
    try:
        return int(Path(f"/proc/sys/net/{name}").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def bound(client: socket.socket) -> int:
    """The most the four queues of ``client``'s connection can hold."""
    mine = (client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            + client.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    sizes = [_sysctl_max(n) for n in ("ipv4/tcp_rmem", "ipv4/tcp_wmem", "core/rmem_max",
                                      "core/wmem_max")]
    if None in sizes:
        return mine + _ELSEWHERE
    rmem, wmem, rmax, wmax = (s or 0 for s in sizes)
    return mine + max(rmem, 2 * rmax) + max(wmem, 2 * wmax)


def between(client: Client, server_port: int) -> tuple[int, bool] | None:
    """(bytes in the kernel between ``client`` and the server, exact?): counted where the
    kernel lists them, else the most its queues can hold; None once the client's socket
    is closed."""
    counted = in_kernel(client.local_port, server_port)
    if counted is not None:
        return counted, True
    return None if client.sock is None else (bound(client.sock), False)
