"""The accept queue as sock_diag reports it, and the driver's connects paced to it.

listen(fd, 1) is slow, not wrong (listen(2)): a burst of handshakes that finds the queue
full is dropped for TCP to retry a second later.  These run real listeners on loopback;
the accepting side is a thread, so each test controls when the queue drains.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.events import Transcript
from conformance.harness import backlog
from conformance.harness.driver import Driver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="sock_diag(7) is Linux's")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s


def _port(s: socket.socket) -> int:
    return int(s.getsockname()[1])


def test_the_queue_reports_waiting_connections_and_room(listener: socket.socket) -> None:
    assert backlog.queue(_port(listener)) == (0, 2)  # backlog 1: full above one waiting
    with socket.create_connection(("127.0.0.1", _port(listener)), timeout=2):
        assert backlog.queue(_port(listener)) == (1, 2)
    assert backlog.queue(1) is None  # nothing listens on port 1


def test_a_burst_overflows_a_small_backlog(listener: socket.socket) -> None:
    """Nobody accepts: two handshakes fit, the rest wait for TCP's retry (1 s), past the
    driver's half-second stall."""
    clients = Driver(_port(listener), Transcript(), 0.5).connect(8, burst=True)
    assert sum(not c.broken for c in clients) == 2


def test_paced_connects_all_complete_through_a_backlog_of_one(
        listener: socket.socket) -> None:
    """The server accepts as the queue fills, and the driver opens a connection only
    when there is room: all twenty connect, none waits for a retry."""
    peers: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(5)
        while len(peers) < 20:
            peers.append(listener.accept()[0])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        clients = Driver(_port(listener), Transcript(), 0.5).connect(20)
        t.join(5)
        assert [c for c in clients if c.broken] == [] and len(peers) == 20
    finally:
        for p in peers:
            p.close()
        for c in clients:
            c.close("fin")


def test_wait_readable_polls_groups_when_one_select_cannot_watch_them_all(
        listener: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' select() watches 512 sockets at most: the driver asks in groups (here of
    2) and still reads what any client of any group was sent."""
    from conformance.harness import driver as driver_module

    monkeypatch.setattr(driver_module, "_SELECT_GROUP", 2)
    sizes: list[int] = []
    read_ready = driver_module._read_ready

    def watched(group: list[Any], timeout: float) -> bool:
        sizes.append(len(group))
        return read_ready(group, timeout)

    monkeypatch.setattr(driver_module, "_read_ready", watched)
    listener.listen(8)
    d = Driver(_port(listener), Transcript(), 2.0)
    clients = d.connect(5)
    peers = [listener.accept()[0] for _ in clients]
    try:
        peers[4].sendall(b"last group")  # the fifth client: the third group
        d.wait_readable(clients, 2.0)
        assert [c.received for c in clients] == [0, 0, 0, 0, len(b"last group")]
        assert sizes and max(sizes) <= 2
    finally:
        for p in peers:
            p.close()
        for c in clients:
            c.close("fin")


def test_one_client_waits_for_room_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sequential server's clients come one by one: one that finds the queue full has
    its SYN dropped and retried a second later (2,000 of them took DISCONNECT-4 64 s on
    a socketserver), so the driver waits for room for a single client as well."""
    answers = iter([(2, 2), (2, 2), (2, 2), (1, 2)])  # full, full, ..., then one accepted
    asked: list[tuple[int, int]] = []

    def queue(port: int) -> tuple[int, int]:
        asked.append(q := next(answers, (1, 2)))
        return q

    opened: list[int] = []
    monkeypatch.setattr(backlog, "queue", queue)
    driver = Driver(1, Transcript(), 5.0)
    monkeypatch.setattr(driver, "_open", lambda batch, rcvbuf: opened.append(len(asked)))
    driver.connect(1)
    assert opened == [4]  # the limit, two full answers, then room: only then the connect
    driver.connect(1, burst=True)  # a burst goes at once, whatever the queue
    assert opened == [4, 4]
