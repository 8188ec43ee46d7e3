"""``ioconform bench``: the load generators, the measurements, the report and the plots.

No test here judges speed (a loaded CI machine makes any threshold flaky): they check
that each figure is produced, plausible in kind (requests counted, echoes verified,
connections held) and reported in the documented fields.  The command itself measures.
"""

from __future__ import annotations

import builtins
import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.bench import generator, measure, plots, report, session
from conformance.bench.generator import Generator
from conformance.exits import UsageError
from conformance.manifest import bundled, from_command

LINUX = sys.platform.startswith("linux")
needs_cc = pytest.mark.skipif(not LINUX or not shutil.which("cc"),
                              reason="the C generator needs Linux (epoll) and cc")
SHORT = measure.Profile(conns=(1, 8), warmup=0.05, duration=0.2, hold=30, hold_time=10,
                        confirm_timeout=2.0)


def _poll_reference() -> Any:
    impl = next(i for i in bundled() if i.name == ("py-poll" if LINUX else "py-select"))
    return impl


def _exercise(gen: Generator) -> None:
    """Every mode of ``gen`` against a bundled reference: the counts hold together."""
    with measure.serving(_poll_reference(), timeout=15) as server:
        for conns in SHORT.conns:
            with gen.start("pingpong", server.port, conns=conns, warmup=0.05, duration=0.2,
                           timeout=2) as run:
                doc = run.result(30)
            assert doc["connected"] == doc["confirmed"] == conns and doc["errors"] == 0, doc
            assert doc["unconfirmed"] == doc["connect_failed"] == 0, doc
            assert doc["requests"] > 0 and doc["starved"] == 0, doc
            assert 0 < doc["p50_us"] <= doc["p99_us"] <= doc["max_us"], doc
        with gen.start("bulk", server.port, size=65536, warmup=0.05, duration=0.2) as run:
            doc = run.result(30)
        assert doc["errors"] == 0 and doc["bytes_per_s"] > 0, doc
        assert doc["echoed"] <= doc["sent"], doc
        # Writes shorter than the check pattern's period (251) keep flowing; by default a
        # write is 64 KiB.
        with gen.start("bulk", server.port, size=100, warmup=0.05, duration=0.2) as run:
            doc = run.result(30)
        assert doc["errors"] == 0 and doc["echoed"] > 10 * 251, doc
        with gen.start("bulk", server.port, warmup=0.05, duration=0.2) as run:
            doc = run.result(30)
        assert doc["size"] == 65536 and doc["errors"] == 0, doc
        # Several batches, the last one short: every connection is counted once.
        with gen.start("hold", server.port, conns=25, duration=10, timeout=2, keep=30,
                       batch=10) as run:
            doc = run.next(30)
            assert doc == {**doc, "held": 25, "target": 25, "stopped": "target reached",
                           "batch": 10}
            held = sum(1 for _, remote, _ in server.sockets() if remote)
        assert held >= 25  # still open while the generator holds them


_FULL_AFTER = textwrap.dedent("""\
    import selectors, socket, sys
    # Echoes on its first 51 connections (the bench's primer, then 50), closes every later
    # one at once.
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=1024)
    sel, accepted = selectors.DefaultSelector(), 0
    sel.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                accepted += 1
                if accepted > 51:
                    conn.close()
                else:
                    sel.register(conn, selectors.EVENT_READ)
            elif data := key.fileobj.recv(4096):
                key.fileobj.sendall(data)
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
    """)


def _exercise_limits(gen: Generator, tmp_path: Path) -> None:
    """Hold stops at the first failure, its batch settled; ping-pong opens every connection
    before its window and tells the unconfirmed from the starved."""
    (tmp_path / "full.py").write_text(_FULL_AFTER)
    full = from_command("poll", "echo", [sys.executable, str(tmp_path / "full.py"), "{port}"],
                        name="full-after-50")
    with measure.serving(full, timeout=15) as server, gen.start(
            "hold", server.port, conns=200, duration=20, timeout=2, keep=1, batch=16) as run:
        doc = run.next(60)
    assert doc["held"] == 50 and doc["target"] == 200, doc
    assert "closed" in doc["stopped"] or "reset" in doc["stopped"], doc
    blocking = next(i for i in bundled() if i.name == "py-blocking")
    with measure.serving(blocking, timeout=15) as server, gen.start(
            "pingpong", server.port, conns=5, warmup=0.05, duration=0.2, timeout=0.5,
            connect=5) as run:
        doc = run.result(60)
    # One client at a time: the first is served all along, the other four wait in the
    # accept queue, connected but never confirmed, and are not counted as starved.
    assert doc["connected"] == 5 and doc["confirmed"] == 1, doc
    assert doc["unconfirmed"] == 4 and doc["starved"] == 0 and doc["requests"] > 0, doc


@needs_cc
def test_c_generator_counts_refusals_and_unconfirmed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _exercise_limits(generator.find("c"), tmp_path)


def test_python_generator_counts_refusals_and_unconfirmed(tmp_path: Path) -> None:
    if not LINUX:
        pytest.skip("py-blocking's accept queue behaviour is the Linux one")
    _exercise_limits(generator.find("python"), tmp_path)


@needs_cc
def test_c_generator_builds_and_measures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    gen = generator.find("c")
    assert gen.kind == "c" and Path(gen.argv[0]).parent == tmp_path / "ioconform"
    _exercise(gen)


@needs_cc
def test_c_generator_is_rebuilt_when_its_source_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = generator.find("c").argv[0]
    assert generator.find("c").argv[0] == first  # cached: same file, not rebuilt
    edited = generator._source() + b"\n/* edited */\n"
    monkeypatch.setattr(generator, "_source", lambda: edited)
    assert generator.find("c").argv[0] != first


def test_python_generator_measures() -> None:
    gen = generator.find("python")
    assert gen.kind == "python" and "Python" in gen.describe()
    _exercise(gen)


def test_generator_refuses_a_host_beyond_loopback() -> None:
    gen = generator.find("python")
    run = generator.Run([*gen.argv, "pingpong", "--port", "9", "--host", "10.0.0.1"])
    with pytest.raises(generator.GeneratorError, match="loopback"):
        run.result(30)
    run.close()


def test_no_compiler_falls_back_to_python(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    gen = generator.find("auto")
    assert gen.kind == "python" and gen.note  # and says why
    with pytest.raises(generator.GeneratorError):
        generator.find("c")


# -- the selection -----------------------------------------------------------------------
def _one_connection_server(
        behaviour: str) -> tuple[socket.socket, threading.Thread, list[bytes], threading.Event]:
    """A listener whose first client is echoed and closed once it sends EOF ("echo"), or
    accepted and neither read nor answered until the returned event is set ("silent");
    what it read goes into the returned list."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []
    release = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            if behaviour == "silent":
                release.wait(30)
                return
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            got.append(data)
            conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread, got, release


def test_prime_returns_once_the_server_has_closed_after_the_echo() -> None:
    listener, thread, got, _ = _one_connection_server("echo")
    with listener:
        measure.prime(listener.getsockname()[1], timeout=10)
        # prime() returned on the server's close, which follows its read of our EOF.
        assert got == [measure.PRIME]
        thread.join(10)
        assert not thread.is_alive()


def test_prime_gives_up_on_a_server_that_never_answers() -> None:
    listener, thread, _, release = _one_connection_server("silent")
    with listener:
        t0 = time.monotonic()
        measure.prime(listener.getsockname()[1], timeout=0.3)
        waited = time.monotonic() - t0
        release.set()
        thread.join(10)
    assert waited < 10  # its own timeout ended the wait: the server held on for 30 s
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the connect is refused
        measure.prime(closed.getsockname()[1], timeout=0.3)  # no exception


def test_servers_have_seen_a_whole_connection_before_they_are_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Primed, and without the variables that would make their speed the shell's."""
    marker = tmp_path / "eof-seen"
    (tmp_path / "server.py").write_text(textwrap.dedent(f"""\
        import socket, sys
        s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
        while True:
            c, _ = s.accept()
            while data := c.recv(4096):
                c.sendall(data)
            open({str(marker)!r}, "a").write("eof\\n")
            c.close()
        """))
    impl = from_command("blocking", "echo", [sys.executable, str(tmp_path / "server.py"),
                                              "{port}"], cwd=str(tmp_path))
    for name in measure.UNSET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    monkeypatch.setenv("IOCONFORM_TEST_KEPT", "1")
    with measure.serving(impl, timeout=15) as server:
        assert marker.read_text() == "eof\n"  # written before the server closed the primer
        assert server.alive()
        env = psutil.Process(server.pid).environ()
    assert "PYTHONUNBUFFERED" not in env and env["IOCONFORM_TEST_KEPT"] == "1"
    assert measure.unset_env() == ["PYTHONUNBUFFERED"]  # what the report says was left out


def test_selection_adds_baselines_and_skips_print_servers() -> None:
    rows = session.select(["py-poll-print", "py-poll"])
    names = [r.name for r in rows]
    assert names[:3] == ["asyncio-streams", "uvloop-streams", "c-epoll-et"]
    printer = next(r for r in rows if r.name == "py-poll-print")
    assert printer.status == "skipped" and "print server" in printer.reason
    poll = next(r for r in rows if r.name == "py-poll")
    assert poll.impl.command[-2:] == ("--bufsize", "65536")
    assert not {"asyncio-streams", "uvloop-streams"} & {i.name for i in bundled()}
    with pytest.raises(UsageError, match="neither a manifest"):
        session.select(["no-such-server"])


# -- the report and the plots (no servers) ------------------------------------------------
def _row(name: str, rates: list[float], role: str = "reference") -> session.Row:
    row = session.Row(from_command("epoll-et", "echo", ["srv", "{port}"], name=name), role)
    for rate in rates:
        row.add({"rate@1": rate, "rate@100": 2 * rate, "starved@100": 0.0,
                 "bulk_mb_s": rate / 100, "p50_us@1": 20.0, "p99_us@1": 50.0,
                 "cpu_us@1": 0.95, "cpu_sys_us@1": 0.25, "bulk_server_busy": 1.0,
                 "bulk_kernel_share": 0.6,
                 "bulk_gen_busy": 0.95 if role == "ceiling" else 0.2})
    row.add({"held": 1000.0, "bytes_per_conn": rate})
    row.capacity = {"held": 1000, "target": 1000, "stopped": "target reached",
                    "memory": "uss", "bytes_per_conn": rate, "seconds": 1.5, "batch": 128}
    return row


def _document() -> dict[str, Any]:
    rows = [_row("asyncio-streams", [10.0, 30.0, 20.0], "baseline"),
            _row("py-epoll-et", [40.0, 50.0, 60.0]), _row("c-epoll-et", [100.0], "ceiling")]
    rows.append(session.Row(rows[0].impl, "reference", "failed", "it crashed"))
    settings = {"conns": [1, 100], "repeat": 3, "duration": 1.0, "server_bufsize": 65536,
                "server_env_unset": ["PYTHONUNBUFFERED"]}
    return report.document(rows, generator={"kind": "c", "command": ["loadgen"], "note": "",
                                            "description": "C"},
                           settings=settings, self_loop={"rate@1": [7.0, 9.0]},
                           started="now", seconds=1.0)


def test_report_medians_ranges_and_ratios() -> None:
    doc = json.loads(json.dumps(_document()))  # JSON-clean
    impls = {i["name"]: i for i in doc["implementations"] if i["status"] == "ok"}
    fig = impls["py-epoll-et"]["figures"]["rate@1"]
    assert fig == {"median": 50.0, "min": 40.0, "max": 60.0, "n": 3}
    assert impls["py-epoll-et"]["ratios"]["rate@1"] == pytest.approx(2.5)
    assert impls["asyncio-streams"]["ratios"]["rate@1"] == pytest.approx(1.0)
    assert doc["generator"]["ceiling_against"] == "c-epoll-et"
    assert doc["generator"]["self_loop"]["rate@1"]["median"] == 8.0
    text = report.console(doc)
    assert "2.50×" in text and "it crashed" in text and "failed" in text
    assert "1,000 in 1.5 s" in text
    assert "100% (60% kernel)" in text  # the server's CPU at bulk, and the kernel's part
    kernel = report.render(*report.tables(doc)[3])
    assert kernel.startswith("...of which in the kernel") and "0.25" in kernel
    assert "servers ran without PYTHONUNBUFFERED (set in this environment)" in text
    # A figure the generator may have capped is starred; busy generator, busy figure only.
    assert report._cell(impls["c-epoll-et"], "bulk_mb_s").endswith(" *")
    assert not report._cell(impls["py-epoll-et"], "bulk_mb_s").endswith("*")
    assert not report._cell(impls["c-epoll-et"], "cpu_us@1").endswith("*")
    assert "may be the generator's own limit" in text
    md = report.console(doc, markdown=True)
    assert "| implementation | model |" in md
    assert md.startswith("```\nload generator:") and "environment)\n```\n" in md  # no paragraph
    assert "```" not in text


def test_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    written = plots.write(_document(), tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(f"{n}.{e}" for n in ("rate_vs_connections", "bulk_throughput",
                                                "memory_per_connection")
                           for e in ("png", "svg"))
    for p in written:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<" in head
    bulk = (tmp_path / "bulk_throughput.svg").read_text()
    assert "(60% kernel)" in bulk
    # c-epoll-et's generator was 95% busy: starred; the others' (20%) are not.
    assert bulk.count("(60% kernel) *") == 1 and bulk.count("(60% kernel)") == 3


def test_missing_matplotlib_is_a_clear_message(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    real = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(plots.PlotError, match=r"pip install 'ioconform\[bench\]'"):
        plots.write(_document(), tmp_path)
    from conformance import cli

    assert cli.main(["bench", "py-poll", "--plots", str(tmp_path)]) == 2
    assert "matplotlib" in capsys.readouterr().err


# -- the command, end to end ------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return _cli("bench", *args)


@pytest.mark.skipif(not LINUX, reason="the baseline manifests are Linux ones")
def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = _bench("--quick", "--no-baselines", "py-poll", "asyncio-streams", "--conns", "1,10",
                  "--hold", "150", "--json", str(out), "--markdown", str(tmp_path / "b.md"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads(out.read_text())
    assert doc["settings"]["quick"] and doc["settings"]["conns"] == [1, 10]
    assert doc["generator"]["kind"] in ("c", "python")
    impls = {i["name"]: i for i in doc["implementations"]}
    poll = impls["py-poll"]
    assert poll["status"] == "ok" and poll["role"] == "reference"
    for key in ("rate@1", "rate@10", "p50_us@10", "p99_us@10", "cpu_us@10", "cpu_sys_us@10",
                "bulk_mb_s", "bulk_server_busy", "bulk_kernel_share", "bulk_gen_busy", "held",
                "bytes_per_conn"):
        assert set(poll["figures"][key]) == {"median", "min", "max", "n"}, key
    assert poll["figures"]["bulk_server_busy"]["median"] > 0
    assert 0 <= poll["figures"]["bulk_kernel_share"]["median"] <= 1
    assert poll["figures"]["held"]["median"] == 150
    assert poll["capacity"]["stopped"] == "target reached"
    assert poll["ratios"]["rate@1"] > 0  # against asyncio-streams, measured in the same run
    assert "Request rate" in done.stdout and "| py-poll |" in (tmp_path / "b.md").read_text()


@pytest.mark.skipif(not LINUX, reason="epoll")
def test_the_python_floor_is_benched_and_rejected_by_the_contract(tmp_path: Path) -> None:
    """benchmarks/python_floor measures what Python costs per message; it is no server to
    copy, and the contract says so."""
    floor = Path(__file__).resolve().parent.parent / "benchmarks" / "python_floor"
    done = _bench("--quick", "--no-baselines", "--no-capacity", "--conns", "1,10", str(floor),
                  "--json", str(tmp_path / "b.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    row, = json.loads((tmp_path / "b.json").read_text())["implementations"]
    assert row["name"] == "py-et-floor" and row["status"] == "ok", row
    assert row["figures"]["rate@10"]["median"] > 0 and row["figures"]["bulk_mb_s"]["median"] > 0
    check = _cli("check", str(floor), "--clause", "FAIRNESS-1")
    assert check.returncode == 1 and "FAIRNESS-1 (MUST)" in check.stdout, check.stdout


def test_failing_servers_are_failed_rows(tmp_path: Path) -> None:
    (tmp_path / "dies").mkdir()
    (tmp_path / "dies" / "ioconform.toml").write_text(textwrap.dedent("""\
        name = "dies-at-once"
        model = "poll"
        service = "echo"
        command = ["{python}", "-c", "raise SystemExit(3)", "{port}"]
        """))
    (tmp_path / "one" / "server.py").parent.mkdir()
    (tmp_path / "one" / "server.py").write_text(textwrap.dedent("""\
        import socket, sys
        s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
        c, _ = s.accept()
        c.sendall(c.recv(64))
        raise SystemExit(0)  # gone after one echo
        """))
    (tmp_path / "one" / "ioconform.toml").write_text(textwrap.dedent("""\
        name = "one-echo"
        model = "blocking"
        service = "echo"
        command = ["{python}", "server.py", "{port}"]
        """))
    done = _bench("--quick", "--no-baselines", "--no-capacity", str(tmp_path / "dies"),
                  str(tmp_path / "one"), "--json", str(tmp_path / "b.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    rows = {i["name"]: i for i in json.loads((tmp_path / "b.json").read_text())
            ["implementations"]}
    assert rows["dies-at-once"]["status"] == "failed"
    assert "exited with status 3" in rows["dies-at-once"]["reason"]
    assert rows["one-echo"]["status"] == "failed"
    assert "exited with status 0 during" in rows["one-echo"]["reason"]
    assert "dies-at-once" in done.stdout and "Not measured" in done.stdout
