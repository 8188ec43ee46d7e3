"""The load generator in Python, for machines without a C compiler (or without epoll).

Same command line, same modes, same JSON as ``loadgen.c`` (read that file's comment for
what each mode does); one thread and ``selectors``.  Python spends some 20 µs per
request of its own, so against a fast server this generator is the bottleneck: the
report shows its ceiling next to every figure.  Run as ``python -m conformance.bench.pygen``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import sys
import time
from dataclasses import dataclass

_MAX_SAMPLES = 1_000_000


def _say(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def _raise_nofile() -> None:
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _connect(host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        s.connect((host, port))
    return s


class _Failed(Exception):
    """A connection failed; the message says why (hold reports the first one)."""


def _payload(seq: int, size: int) -> bytes:
    return (seq.to_bytes(8, "little") + bytes([97 + seq % 26]) * size)[:size]


@dataclass
class _Conn:
    sock: socket.socket
    index: int
    seq: int = 0  # the request's number: each connection starts at its own index
    payload: bytes = b""
    sent: int = 0  # bytes of the request sent, of its echo received
    got: int = 0
    started: float = 0.0  # when the request's first byte was sent
    latency: float = 0.0  # of the last completed request
    done: int = 0  # replies completed inside the window
    interest: int = selectors.EVENT_READ | selectors.EVENT_WRITE
    connected: bool = False
    confirmed: bool = False
    closed: bool = False  # failed: kept, so that "connected" counts it as loadgen.c does

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def send(self, size: int) -> None:
        if self.sent == 0:
            self.payload, self.started = _payload(self.seq, size), time.perf_counter()
        try:
            self.sent += self.sock.send(self.payload[self.sent:])
        except BlockingIOError:
            pass
        except OSError as e:
            raise _Failed(f"send: {e.strerror or e}") from None

    def receive(self, size: int) -> bool:
        """What has come of the echo, checked as it comes; True once it is whole."""
        while self.got < size:
            try:
                chunk = self.sock.recv(size - self.got)
            except BlockingIOError:
                return False
            except OSError as e:
                raise _Failed(f"{e.strerror or e} before the echo") from None
            if not chunk:
                raise _Failed("the server closed the connection before the echo")
            if chunk != self.payload[self.got:self.got + len(chunk)]:
                raise _Failed("the echo differs from what was sent")
            self.got += len(chunk)
        return True

    def event(self, mask: int, size: int, hold_still: bool = False) -> bool:
        """One readiness event: True when an echo completed (and, unless ``hold_still``,
        the next request went out)."""
        done = False
        if not self.connected:
            if not mask & selectors.EVENT_WRITE:
                return False
            if err := self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise _Failed(f"connect: {os.strerror(err)}")
            self.connected = True
        elif mask & selectors.EVENT_READ and self.receive(size):
            self.latency = time.perf_counter() - self.started
            self.got = self.sent = 0
            self.seq += 1
            if hold_still:
                return True
            done = True
        if self.sent < size:
            self.send(size)
        return done


class _Conns:
    """The connections of a pingpong or hold run, and their connect phase (in batches, as
    loadgen.c explains): ``strict`` (hold) stops at the first failure, once the batch in
    flight has settled; else a batch whose echoes are late is let go, and from then on a
    batch is settled once its handshakes are done."""

    def __init__(self, a: argparse.Namespace, size: int, strict: bool) -> None:
        self.a, self.size, self.strict = a, size, strict
        self.total, self.batch = int(a.conns), int(a.batch)
        self.sel = selectors.DefaultSelector()
        self.conns: list[_Conn | None] = [None] * a.conns
        self.confirmed = self.failed = 0
        self.gate, self.why = True, ""

    def _fail(self, i: int, why: str) -> None:
        c = self.conns[i]
        self.why, self.failed = self.why or why, self.failed + 1
        if c is not None:
            self.drop(c)

    def drop(self, c: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(c.sock)
        c.close()

    def _launch_batch(self, first: int) -> int:
        end = min(first + self.batch, self.total)
        for i in range(first, end):
            try:
                c = _Conn(_connect(self.a.host, self.a.port), index=i, seq=i)
            except OSError as e:
                self._fail(i, f"socket/connect: {e.strerror or e}")
                if self.strict:  # out of descriptors or ports: more would fail alike
                    return i + 1
                continue
            self.conns[i] = c
            self.sel.register(c.sock, c.interest, i)
        return end

    def _settled(self, first: int, launched: int) -> bool:
        return all(c is None or c.closed or c.confirmed or (not self.gate and c.connected)
                   for c in self.conns[first:launched])

    def _expire(self, first: int, launched: int) -> None:
        if not self.strict:
            self.gate = False
            return
        for i in range(first, launched):
            c = self.conns[i]
            if c is not None and not c.closed and not c.confirmed:
                self._fail(i, f"no echo within {self.a.timeout:g} s" if c.connected
                           else "connect did not complete in time")

    def _on_event(self, i: int, mask: int) -> None:
        c = self.conns[i]
        if c is None or c.closed or c.confirmed:
            return
        try:
            done = c.event(mask, self.size, hold_still=True)
        except _Failed as e:
            self._fail(i, str(e))
            return
        if done:  # quiet until the warm-up (pingpong) or for good (hold)
            c.confirmed, self.confirmed = True, self.confirmed + 1
            self.sel.unregister(c.sock)
        else:
            self.interest(c)

    def interest(self, c: _Conn) -> None:
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if not c.connected
                                       or c.sent < self.size else 0)
        if want != c.interest:
            c.interest = want
            self.sel.modify(c.sock, want, c.index)

    def establish(self, deadline: float) -> None:
        first = launched = 0
        expires, expired = 0.0, False
        while True:
            now = time.monotonic()
            if not expired and launched > first and now >= expires:
                self._expire(first, launched)
                expired = True
            if expired or self._settled(first, launched):
                if launched == self.total or now >= deadline or (self.strict and self.why):
                    return
                first, expires, expired = launched, now + self.a.timeout, False
                launched = self._launch_batch(first)
                continue
            for key, mask in self.sel.select(expires - now):
                self._on_event(key.data, mask)

    def resume(self) -> int:
        """Every confirmed connection sends its next request; the errors."""
        errors = 0
        for i, c in enumerate(self.conns):
            if c is None or c.closed or not c.confirmed:
                continue
            self.sel.register(c.sock, selectors.EVENT_READ, i)
            c.interest = selectors.EVENT_READ
            try:
                c.send(self.size)
            except _Failed:
                errors += 1
                self.drop(c)
                continue
            self.interest(c)
        return errors

    def close(self) -> None:
        for c in self.conns:
            if c is not None:
                c.close()
        self.sel.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1e6


def _measure(run: _Conns, w0: float, w1: float) -> tuple[list[float], int, float]:
    """The warm-up, then the window: latencies inside it, broken connections, CPU time."""
    latencies: list[float] = []
    errors, cpu0, announced = 0, 0.0, False
    while (now := time.perf_counter()) < w1:
        if not announced and now >= w0:
            announced, cpu0 = True, time.process_time()
            _say({"event": "window"})
        for key, mask in run.sel.select((w1 if announced else w0) - now):
            c = run.conns[key.data]
            if c is None or c.closed:
                continue
            try:
                if c.event(mask, run.size) and w0 <= c.started < w1:
                    c.done += 1
                    if len(latencies) < _MAX_SAMPLES:
                        latencies.append(c.latency)
            except _Failed:
                errors += 1
                run.drop(c)
                continue
            run.interest(c)
    return latencies, errors, time.process_time() - cpu0


def pingpong(a: argparse.Namespace) -> None:
    run = _Conns(a, a.size, strict=False)
    t0 = time.monotonic()
    run.establish(t0 + a.connect)
    connect_s = time.monotonic() - t0
    errors = run.resume()
    w0 = time.perf_counter() + a.warmup
    latencies, broken, cpu = _measure(run, w0, w0 + a.duration)
    conns = [c for c in run.conns if c is not None]  # launched
    requests = sum(c.done for c in conns)
    latencies.sort()
    _say({"mode": "pingpong", "conns": a.conns, "connected": sum(c.connected for c in conns),
          "connect_failed": run.failed, "confirmed": run.confirmed,
          "unconfirmed": a.conns - run.confirmed, "connect_s": round(connect_s, 3),
          "size": a.size, "requests": requests,
          "seconds": a.duration, "rate": requests / a.duration,
          "p50_us": _percentile(latencies, 0.5), "p99_us": _percentile(latencies, 0.99),
          "max_us": _percentile(latencies, 1.0),
          "starved": sum(c.confirmed and c.done == 0 for c in conns),
          "errors": errors + broken, "cpu_s": cpu, "self": False})
    run.close()


def bulk(a: argparse.Namespace) -> None:
    sock = _connect(a.host, a.port)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    pattern = bytes(i % 251 for i in range(a.size + 251))
    sent = got = counted = 0
    reason, cpu0, announced = "", 0.0, False
    t0 = time.perf_counter()
    w0 = t0 + a.warmup + a.timeout  # as in loadgen.c: once the echo flows
    w1 = w0 + a.duration
    while (now := time.perf_counter()) < w1 and not reason:
        if not announced and now >= t0 + a.warmup and (got or now >= w0):
            announced, counted, cpu0 = True, got, time.process_time()
            w0, w1 = now, now + a.duration
            _say({"event": "window"})
        for _, mask in sel.select(0.01):
            try:
                if mask & selectors.EVENT_WRITE:
                    off = sent % 251
                    sent += sock.send(pattern[off:off + a.size])
                if mask & selectors.EVENT_READ:
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        reason = "the server closed the connection"
                    elif chunk[0] != got % 251 or chunk[-1] != (got + len(chunk) - 1) % 251:
                        reason = "the echo differs from what was sent"
                    got += len(chunk)
            except BlockingIOError:
                pass
            except OSError as e:
                reason = f"socket error: {e}"
    _say({"mode": "bulk", "size": a.size, "sent": sent, "echoed": got, "seconds": a.duration,
          "bytes_per_s": (got - (counted if announced else got)) / a.duration,
          "cpu_s": time.process_time() - cpu0 if announced else 0.0,
          "errors": int(bool(reason)), "reason": reason})
    sock.close()


def hold(a: argparse.Namespace) -> None:
    t0 = time.monotonic()
    run = _Conns(a, 8, strict=True)
    run.establish(t0 + a.duration)
    why = run.why or ("target reached" if run.confirmed == a.conns else "time limit")
    _say({"mode": "hold", "target": a.conns, "held": run.confirmed,
          "seconds": round(time.monotonic() - t0, 3), "stopped": why, "batch": a.batch})
    sel = selectors.DefaultSelector()
    if sys.platform != "win32":  # Windows cannot select() a pipe: keep for KEEP seconds
        sel.register(sys.stdin, selectors.EVENT_READ)
    end = time.monotonic() + a.keep
    while time.monotonic() < end and not sel.select(min(0.1, end - time.monotonic())):
        pass
    run.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pygen", description=__doc__)
    p.add_argument("mode", choices=("pingpong", "bulk", "hold"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--size", type=int, help="bytes per request (64) or per bulk write (65536)")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--keep", type=float, default=60.0)
    p.add_argument("--connect", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=128)
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if not a.host.startswith("127."):
        _say({"error": "--host must be an IPv4 loopback address (127.0.0.0/8)"})
        return 2
    if a.size is None:
        a.size = 65536 if a.mode == "bulk" else 64
    _raise_nofile()
    {"pingpong": pingpong, "bulk": bulk, "hold": hold}[a.mode](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
