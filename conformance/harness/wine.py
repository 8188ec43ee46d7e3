"""Windows programs under Wine: how a Linux machine grades Winsock servers, and what
Wine cannot show.

Two ways the suite meets Wine:

- **A Windows program on a Linux host** (a manifest with ``platforms = ["windows"]`` and
  no "linux"): the harness runs ``wine PROGRAM ARGS``.  The program's sockets are real
  Linux sockets on loopback, so every byte-level clause judges it as on Windows.
- **The suite itself in Windows CPython under Wine** (``tox -e wine``): the Windows code
  paths of the harness run for real (process groups, handle counts, platform skips).

What Wine changes, and how the harness copes:

- *wineserver.*  Every Wine process talks to one wineserver per prefix, which the first
  Wine process starts and which holds the sockets' descriptors.  Started by a server, it
  would inherit that server's token and be killed with it, under the feet of every other
  server of the run.  So the harness starts it first, persistent, with a clean
  environment (``ensure_server``), and stops it when the run ends (``shutdown``).
- *Sockets.*  Because wineserver owns them, no socket shows up in the program's own
  process (Linux host), and Wine's ``GetExtendedTcpTable`` reports no owning process
  (Windows harness).  The harness therefore finds the server's sockets by its port, which
  it chose (``observe.tcp_sockets_on``).
- *"Out of memory".*  Wine reads a system table (the TCP table behind GetTcpTable and
  psutil) up to five times while it keeps growing, then answers ERROR_OUTOFMEMORY; behind
  a churn clause's thousands of TIME_WAIT sockets that happens without any shortage of
  memory.  Such a read is made again within a bound (``transient``), then the table is
  read from Linux's ``/proc/net/tcp`` through drive Z: (``wintcp``).
- *Terminal.*  On a terminal, Wine's console layer writes cursor escapes into the
  program's stdout; a pipe keeps the bytes exact (and Windows CPython refuses to start
  with its stdout on a file).
- *What cannot be observed* is declared by each clause (its ``gaps``, under "wine"):
  those clauses are skipped under Wine with the reason, and stay in force on real
  Windows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from conformance.models import current_platform

PREFIX_ENV = "IOCONFORM_WINEPREFIX"
PYTHON_ENV = "IOCONFORM_WINE_PYTHON"
_BOOT_TIMEOUT = 300.0  # a first wineboot creates the prefix: ~10 s here, minutes on slow disks

# Clause ID -> why Wine cannot judge it.  Only what Wine itself hides belongs here: the
# clauses stay MUST on Windows, where GitHub's windows runner checks them.
def under_wine() -> bool:
    """Is this Python itself a Windows program running under Wine?"""
    return _windows_under_wine()


@functools.cache
def _windows_under_wine() -> bool:
    if sys.platform != "win32":
        return False
    import ctypes

    try:
        ntdll = ctypes.WinDLL("ntdll")  # type: ignore[attr-defined,unused-ignore]
        return hasattr(ntdll, "wine_get_version")
    except OSError:
        return False


def emulates(platforms: frozenset[str]) -> bool:
    """Does a program for ``platforms`` run under Wine here (a Windows-only program on a
    Linux host)?"""
    return (current_platform() == "linux" and "windows" in platforms
            and "linux" not in platforms)


def runs_under_wine(platforms: frozenset[str]) -> bool:
    """Does such a program run under Wine here, one way or the other?"""
    return under_wine() or emulates(platforms)


def missing() -> str | None:
    """Why Windows programs cannot run here, or None when Wine is ready to use."""
    if not shutil.which("wine"):
        return ("Windows programs run under Wine on Linux, and `wine` is not installed "
                "(Debian: apt-get install wine wine64)")
    if not shutil.which("wineserver"):
        return "`wineserver` is not on PATH (Debian: apt-get install wine wine64)"
    return None


def python() -> str | None:
    """A Windows python.exe for ``{python}`` in Windows-only manifests (IOCONFORM_WINE_PYTHON)."""
    return os.environ.get(PYTHON_ENV) or None


def prefix(env: Mapping[str, str] | None = None) -> Path:
    """The Wine prefix the suite uses (its own, never the user's ~/.wine), as ``env`` (by
    default this process's environment) chooses it."""
    env = os.environ if env is None else env
    if chosen := env.get(PREFIX_ENV):
        return Path(chosen)
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ioconform" / "wine"


def environ(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with Wine pointed at our prefix and its debug chatter off (it would go to
    the server's stderr, which the diagnoses quote)."""
    env = dict(base)
    env["WINEPREFIX"] = str(prefix(base))
    env.setdefault("WINEDEBUG", "-all")
    env["WINEDLLOVERRIDES"] = "mscoree,mshtml="  # no prompt to install Mono or Gecko
    return env


def is_system_process(p: psutil.Process) -> bool:
    """Is ``p`` part of Wine rather than of a program: the wineserver, or a service from
    the Windows folder (services.exe, winedevice.exe, explorer.exe...)?  The first Windows
    program to run in a prefix starts those services, and they inherit its environment,
    token included.  Counted as the server's, their threads come and go with Wine's
    drivers (a fresh-clone CI run failed LEAK-2 on a single-threaded server, 35 threads
    before the churn and 39 after), and suspending them with the server would stop Wine."""
    try:
        argv = p.cmdline()
        name = p.name()
    except psutil.Error:
        return False
    first = argv[0].lower().replace("/", "\\") if argv else ""
    return name.startswith("wineserver") or first.startswith("c:\\windows\\")


def wrap(argv: Sequence[str]) -> list[str]:
    """``argv`` of a Windows program, run under Wine; a command that already starts with
    Wine (``wine prog.exe``, ``wine64 ...``) is left as it is, never doubled."""
    if argv and os.path.basename(argv[0]).lower() in ("wine", "wine64", "wine.exe"):
        return list(argv)
    return [shutil.which("wine") or "wine", *argv]


def ensure_server(clean_env: Mapping[str, str]) -> None:
    """Create the prefix if needed and make sure its wineserver runs, started by us with
    ``clean_env`` (no server's token), before any server starts it as its child."""
    env = environ(clean_env)
    pfx = Path(env["WINEPREFIX"])
    if pfx in _served:
        return
    pfx.parent.mkdir(parents=True, exist_ok=True)
    with _locked(pfx.parent / "wine.lock"):
        if not (pfx / "system.reg").exists():
            # The first start creates the prefix, with a wineserver of its own: let that
            # one finish and exit (-w) before ours takes over.
            _wine_tool(["wineboot", "-i"], env)
            _wine_tool(["wineserver", "-w"], env)
        _wine_tool(["wineserver", "-p"], env)  # persistent; a second one exits at once
    _served.add(pfx)


_served: set[Path] = set()  # prefixes whose wineserver this process made sure of


def _wine_tool(argv: list[str], env: Mapping[str, str]) -> None:
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=_BOOT_TIMEOUT, check=False)


def shutdown(clean_env: Mapping[str, str]) -> None:
    """Stop the prefix's wineserver and every Wine process in it (end of a run)."""
    env = environ(clean_env)
    _served.discard(Path(env["WINEPREFIX"]))
    if missing() is None and Path(env["WINEPREFIX"]).exists():
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            _wine_tool(["wineserver", "-k"], env)
            # -k only signals.  Until the old server is gone, the `wineserver -p` of a run
            # that starts next exits at once ("one is running"); the old one then exits,
            # and the next run's first server starts a wineserver as its own child, which
            # its teardown kills, and with it every Wine program of that run.
            _wine_tool(["wineserver", "-w"], env)


@contextlib.contextmanager
def _locked(path: Path):  # type: ignore[no-untyped-def]
    """One process at a time (xdist workers start servers in parallel)."""
    if sys.platform == "win32":
        raise OSError("a Linux host runs Windows programs under Wine")
    import fcntl

    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
