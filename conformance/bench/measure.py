"""The measurements of one implementation: start it, load it, read its CPU and memory.

Figures are flat ``{metric: value}`` maps whose keys the report and the plots share:

- ``rate@N`` requests per second with N connections, one 64-byte request in flight on
  each; ``p50_us@N``, ``p99_us@N`` latency percentiles; ``cpu_us@N`` the server's CPU time
  (user + system, its whole process tree) per request, and ``cpu_sys_us@N`` the system
  (kernel) part of it; ``gen_busy@N`` the share of one core the load generator used (near
  1: it was the bottleneck); ``gen_ceiling@N`` requests per second of generator CPU time.
  The N connections are all opened, in batches, and each confirmed by one echo before the
  warm-up and the window; ``unconfirmed@N`` counts those that were not (never connected,
  or no echo: a blocking server answers one client at a time), ``starved@N`` the
  confirmed ones that then got no reply in the whole window.
- ``bulk_mb_s`` echoed megabytes (10^6) per second on one connection, 64 KiB writes;
  ``bulk_server_busy`` the share of one core the server used meanwhile, and
  ``bulk_kernel_share`` the part of it spent in the kernel (near 1 with the server near
  1: the kernel's TCP, not the server's code, set the rate); ``bulk_gen_busy`` the
  generator's share of a core.
- ``held`` idle connections held, opened in batches and each confirmed by an echo;
  ``bytes_per_conn`` the server's memory growth per held connection (USS, or RSS where USS
  cannot be read), given when at least 100 were held.  The capacity record also gives
  ``stopped`` (why it stopped: "target reached", "time limit", or the first failure),
  ``seconds`` (the time it took), ``batch`` (connections opened at once) and ``target``.

A server that cannot be built, does not listen or dies under load raises ``Failure`` with
the reason; the caller turns it into a failed row.  Servers run with their stdout on the
null device, the open-file limit at the hard limit, no CPU or memory limit, and none of
the variables of ``UNSET_ENV``.  Before it is measured, each server is given one whole
connection (``prime``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from conformance.bench.generator import Generator, GeneratorError
from conformance.harness import build, ports, sandbox
from conformance.harness.process import ServerProcess, describe_exit
from conformance.implementation import Implementation

# Unlimited, except open files: at the hard limit, for the capacity test.
POLICY = sandbox.Policy("off", sandbox.Limits(cpu_s=0, memory_mb=0, open_files=0,
                                              processes=0, file_size_mb=0))

# Variables of the caller's shell that would change how fast a Python server runs, so that
# the figures do not depend on the shell the bench was started from.  PYTHONUNBUFFERED, set
# by many CI images and containers, alone makes a reference's one write() per round two
# per message; the asyncio debug and dev modes and tracemalloc cost far more.
UNSET_ENV = ("PYTHONUNBUFFERED", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONMALLOC",
             "PYTHONMALLOCSTATS", "PYTHONTRACEMALLOC", "PYTHONPROFILEIMPORTTIME")


def unset_env() -> list[str]:
    """Those of UNSET_ENV that the servers of this run do not inherit, being set here."""
    return [k for k in UNSET_ENV if k in os.environ]


_MIN_HELD = 100  # fewer connections than this: no memory per connection (noise)
PRIME = bytes(range(64))  # the first connection's message
PRIME_TIMEOUT = 2.0  # for its echo and the server's close


class Failure(Exception):
    """The implementation could not be measured: the reason, for a failed row."""


@dataclass(frozen=True)
class Profile:
    conns: tuple[int, ...] = (1, 100, 1000)
    warmup: float = 0.5
    duration: float = 2.0
    message: int = 64
    bulk_size: int = 64 * 1024
    hold: int = 19000  # connections the capacity test tries to hold
    hold_time: float = 60.0  # seconds to open them in
    confirm_timeout: float = 2.0  # for the echoes of each batch of connections
    connect_timeout: float = 10.0  # to open the ping-pong's connections, before the warm-up
    batch: int = 128  # connections opened at once, each confirmed before the next batch
    start_timeout: float = 15.0

    def run_timeout(self) -> float:
        """The longest a timed generator run may take, connecting included (the last batch
        may take the confirm timeout past the connect deadline)."""
        return (self.connect_timeout + self.confirm_timeout + self.warmup + self.duration
                + 30.0)


Metrics = dict[str, float]


@contextlib.contextmanager
def serving(impl: Implementation, timeout: float) -> Iterator[ServerProcess]:
    """``impl`` built, started and listening on a reserved port; always taken down."""
    built = build.ensure_built(impl, POLICY)
    if not built.ok:
        tail = built.output.strip().splitlines()[-3:]
        raise Failure(f"build failed: {built.command}: {built.status}"
                      + (f" ({' / '.join(tail)})" if tail else ""))
    port = ports.free_port()
    server = ServerProcess(impl, port, policy=POLICY, discard_stdout=True, unset_env=UNSET_ENV)
    try:
        try:
            server.start()
        except OSError as e:
            raise Failure(f"could not start {' '.join(server.argv)}: {e.strerror or e}") \
                from None
        if not server.wait_listening(timeout):
            raise Failure(f"not listening on port {port} after {timeout:g} s: "
                          f"{describe_exit(server.returncode())}{_stderr(server)}")
        prime(port, PRIME_TIMEOUT)
        _alive(server, "a first connection (connect, one echo, close), before the measurements")
        yield server
    finally:
        server.kill()
        ports.release(port)


def prime(port: int, timeout: float) -> None:
    """One whole connection, as a server that has run a while has seen: connect, a 64-byte
    echo, our FIN, and the server's close in reply; given up after ``timeout`` seconds.

    Without it the first figure pays for first-connection costs, and not only once: a
    fresh asyncio server that has never read an EOF recv()s each message into a 256 KiB
    buffer that glibc mmap()s, shrinks and munmap()s, three system calls per message, for
    as long as no connection closes.  The empty read of the first close raises malloc's
    mmap threshold for good.  Here, at 100 connections measured first, asyncio-streams did
    48k requests/s, and 112k once one connection had come and gone.  Waiting for the server's
    own close is what makes its EOF handling part of the past, not of the measurement."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                 timeout=timeout) as s:
        s.sendall(PRIME)
        s.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            if not s.recv(4096):
                return  # the server closed: it has read our EOF


def _stderr(server: ServerProcess) -> str:
    lines = server.stderr.tail_lines(3) if server.stderr else []
    return f" (stderr: {' / '.join(lines)})" if lines else ""


def _alive(server: ServerProcess, during: str) -> None:
    if not server.alive():
        raise Failure(f"the server {describe_exit(server.returncode())} during {during}"
                      f"{_stderr(server)}")


def cpu_split(server: ServerProcess) -> tuple[float, float]:
    """(user, system) CPU seconds of the server's process tree."""
    user = system = 0.0
    for p in server.tree():
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            user += t.user + t.children_user
            system += t.system + t.children_system
    return user, system


def memory(server: ServerProcess) -> tuple[int, str]:
    """(bytes, "uss" or "rss") summed over the server's process tree."""
    uss, rss, kind = 0, 0, "uss"
    for p in server.tree():
        with contextlib.suppress(psutil.Error):
            rss += p.memory_info().rss
            try:
                uss += p.memory_full_info().uss
            except (psutil.AccessDenied, AttributeError):
                kind = "rss"
    return (uss, kind) if kind == "uss" else (rss, kind)


def pingpong(server: ServerProcess, gen: Generator, conns: int, profile: Profile) -> Metrics:
    marks: list[tuple[float, float]] = []
    with gen.start("pingpong", server.port, conns=conns, size=profile.message,
                   warmup=profile.warmup, duration=profile.duration,
                   timeout=profile.confirm_timeout, connect=profile.connect_timeout,
                   batch=profile.batch) as run:
        doc = run.result(profile.run_timeout(),
                         at_window=lambda: marks.append(cpu_split(server)))
        user1, sys1 = cpu_split(server)
    user0, sys0 = marks[0] if marks else (0.0, 0.0)
    _alive(server, f"the ping-pong at {conns} connection(s)")
    if doc["connected"] == 0:
        raise Failure(f"none of {conns} connection(s) was accepted")
    requests, gen_cpu = int(doc["requests"]), float(doc["cpu_s"])
    out: Metrics = {f"rate@{conns}": float(doc["rate"]), f"starved@{conns}": doc["starved"],
                    f"unconfirmed@{conns}": doc["unconfirmed"],
                    f"gen_busy@{conns}": gen_cpu / float(doc["seconds"])}
    if requests:
        out.update({f"p50_us@{conns}": doc["p50_us"], f"p99_us@{conns}": doc["p99_us"],
                    f"cpu_us@{conns}": 1e6 * (user1 - user0 + sys1 - sys0) / requests,
                    f"cpu_sys_us@{conns}": 1e6 * (sys1 - sys0) / requests})
        if gen_cpu > 0:
            out[f"gen_ceiling@{conns}"] = requests / gen_cpu
    return out


def bulk(server: ServerProcess, gen: Generator, profile: Profile) -> Metrics:
    marks: list[tuple[float, tuple[float, float]]] = []

    def mark() -> None:
        marks.append((time.monotonic(), cpu_split(server)))

    with gen.start("bulk", server.port, size=profile.bulk_size, warmup=profile.warmup,
                   duration=profile.duration, timeout=profile.confirm_timeout) as run:
        doc = run.result(profile.run_timeout(), at_window=mark)
        mark()
    _alive(server, "the bulk echo")
    if doc.get("errors"):
        raise Failure(f"bulk echo: {doc.get('reason') or 'failed'}")
    out = {"bulk_mb_s": float(doc["bytes_per_s"]) / 1e6,
           "bulk_gen_busy": float(doc["cpu_s"]) / float(doc["seconds"])}
    if len(marks) == 2:
        (t0, (user0, sys0)), (t1, (user1, sys1)) = marks
        used = (user1 - user0) + (sys1 - sys0)
        if t1 > t0:
            out["bulk_server_busy"] = used / (t1 - t0)
        if used > 0:
            out["bulk_kernel_share"] = (sys1 - sys0) / used
    return out


def throughput(impl: Implementation, gen: Generator, profile: Profile) -> Metrics:
    """Ping-pong at every connection count, then bulk, on one server instance."""
    out: Metrics = {}
    with serving(impl, profile.start_timeout) as server:
        try:
            for conns in profile.conns:
                out.update(pingpong(server, gen, conns, profile))
            out.update(bulk(server, gen, profile))
        except GeneratorError as e:
            _alive(server, "the measurement")
            raise Failure(str(e)) from None
    return out


def _settled_memory(server: ServerProcess, within: float = 1.0) -> tuple[int, str]:
    """The server's memory once a runtime has finished starting up: sampled until two
    readings agree, or ``within`` seconds pass (a counter the kernel updates; no event)."""
    deadline = time.monotonic() + within
    last = memory(server)
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = memory(server)
        if now == last:
            break
        last = now
    return last


def capacity(impl: Implementation, gen: Generator, profile: Profile) -> dict[str, Any]:
    """Idle connections held by a fresh server, and its memory growth per connection."""
    with serving(impl, profile.start_timeout) as server:
        before, kind = _settled_memory(server)
        try:
            with gen.start("hold", server.port, conns=profile.hold,
                           duration=profile.hold_time, timeout=profile.confirm_timeout,
                           batch=profile.batch, keep=profile.hold_time + 60) as run:
                doc = run.next(profile.hold_time + profile.confirm_timeout + 30)
                after, kind_after = memory(server)
                alive = server.alive()
        except GeneratorError as e:
            raise Failure(f"capacity: {e}") from None
        held = int(doc["held"])
        out: dict[str, Any] = {"held": held, "target": profile.hold,
                               "stopped": str(doc["stopped"]), "memory": kind_after,
                               "seconds": float(doc["seconds"]), "batch": int(doc["batch"])}
        if held >= _MIN_HELD and alive and kind == kind_after:
            out["bytes_per_conn"] = max(0.0, (after - before) / held)
        if not alive:
            out["stopped"] += f"; the server {describe_exit(server.returncode())}"
    return out
