"""The suite's Windows code paths, on Windows: process groups and Ctrl-Break, tearing a
tree down, handle counts, finding a server's sockets by its port, and the platform
skips.  `tox -e wine` runs this file in Windows CPython under Wine; GitHub's windows
runner runs it for real.  Where Wine differs from Windows, the test says so and accepts
only Wine's documented behaviour, and only under Wine."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import pytest

from conformance.clause import REGISTRY, Verdict
from conformance.harness import observe, wine
from conformance.harness.process import ServerProcess
from conformance.implementation import Implementation
from conformance.manifest import bundled
from conformance.runner import Options, run

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows code paths")

BLOCKING = next((i for i in bundled() if i.name == "py-blocking"), None)
UNDER_WINE = wine.under_wine()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _served(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"ping")
        return c.recv(16) == b"ping"


def test_wine_is_detected_when_the_leg_says_so() -> None:
    assert (os.environ.get("IOCONFORM_EXPECT_WINE") == "1") == UNDER_WINE


def test_a_server_starts_listens_and_stops_in_its_own_process_group() -> None:
    assert BLOCKING is not None
    with ServerProcess(BLOCKING, _port()) as server:
        assert server.wait_listening(30), server.output_tail()
        assert _served(server.port)
        server.signal(2)  # SIGINT: Ctrl-Break to its group (Wine: terminated, see STOP-1's gaps)
        code = server.wait_exit(15)
        assert code is not None, "the server ignored Ctrl-Break"
        if not UNDER_WINE:
            assert code == 0, f"a clean exit on Ctrl-Break, not {code}"
    assert not server.listening()


def test_teardown_kills_the_whole_tree(weird_server: Callable[..., Implementation],
                                      wait_for: Callable[..., Any]) -> None:
    """A server that starts a child in a process group of its own: kill() takes both
    down (a Ctrl-Break to the server's group would miss the child)."""
    with ServerProcess(weird_server("spawns_child.py"), _port()) as server:
        assert server.wait_listening(30), server.output_tail()
        tree = wait_for(lambda: len(t := server.tree()) >= 2 and t, 15,
                        "the child in the server's tree")
    assert not [p.pid for p in tree if p.is_running()]


def test_the_servers_sockets_are_found_by_its_port() -> None:
    assert BLOCKING is not None
    with ServerProcess(BLOCKING, _port()) as server:
        assert server.wait_listening(30)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            remotes = {r for _, r, st in observe.tcp_sockets_on(server.port)
                       if st == "ESTABLISHED"}
            assert c.getsockname()[1] in remotes


def test_handles_are_counted() -> None:
    if UNDER_WINE:
        pytest.skip(REGISTRY["LEAK-1"].gap(["wine"]) or "")
    import psutil

    me = [psutil.Process()]
    before = observe.open_fds(me)
    socks = [socket.socket() for _ in range(20)]
    try:
        assert observe.open_fds(me) >= before + 20
    finally:
        for s in socks:
            s.close()


def test_linux_only_servers_and_clauses_are_skipped_with_a_reason() -> None:
    epoll = next(i for i in bundled() if i.name == "py-epoll-et")
    result = run(REGISTRY["ECHO-1"], epoll, Options())
    assert (result.verdict, "not on windows" in result.detail) == (Verdict.SKIP, True)
    assert BLOCKING is not None
    traced = run(REGISTRY["MODEL-1"], BLOCKING, Options())
    assert traced.verdict is Verdict.SKIP and "strace" in traced.detail
    ctrl_c = run(REGISTRY["STOP-2"], BLOCKING, Options())
    assert ctrl_c.verdict is Verdict.SKIP
    assert ("CTRL_C_EVENT" if UNDER_WINE else "Ctrl-C") in ctrl_c.detail
