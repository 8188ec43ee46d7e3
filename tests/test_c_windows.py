"""The Winsock C references build: `make windows` cross-compiles them with mingw-w64 into
64-bit Windows programs, and their manifests point at what it builds.  Running them (under
Wine on Linux) is the reference run's job, not this file's."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import implementations
from conformance.manifest import bundled

C_DIR = Path(implementations.__file__).resolve().parent / "c"  # as installed
WIN_CC = "gcc" if sys.platform == "win32" else "x86_64-w64-mingw32-gcc"
IMAGE_FILE_MACHINE_AMD64 = 0x8664
PE32_PLUS = 0x20B  # the optional header's magic: 64-bit image
SERVERS = {"blocking", "nonblocking", "select", "iocp"}


def _pe_machine_and_magic(exe: Path) -> tuple[int, int]:
    """The COFF header's machine and the optional header's magic of a PE image."""
    data = exe.read_bytes()
    assert data[:2] == b"MZ", f"{exe.name}: no DOS header"
    (pe,) = struct.unpack_from("<I", data, 0x3C)  # e_lfanew: where the PE header starts
    assert data[pe:pe + 4] == b"PE\0\0", f"{exe.name}: no PE signature at {pe:#x}"
    (machine,) = struct.unpack_from("<H", data, pe + 4)
    (magic,) = struct.unpack_from("<H", data, pe + 24)  # after the 20-byte COFF header
    return machine, magic


@pytest.mark.skipif(shutil.which(WIN_CC) is None or shutil.which("make") is None,
                    reason=f"needs make and {WIN_CC} (mingw-w64) to build the Winsock servers")
def test_make_windows_builds_64_bit_windows_programs(tmp_path: Path) -> None:
    # BUILD= keeps this build apart from the one the manifests' build step makes.
    proc = subprocess.run(["make", "-s", "windows", f"BUILD={tmp_path}"], cwd=C_DIR,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # -Werror makes any warning a failure; -s leaves nothing else to print.
    assert proc.stdout + proc.stderr == ""
    built = {p.stem: p for p in (tmp_path / "win").glob("*.exe")}
    assert set(built) == SERVERS
    for exe in built.values():
        assert _pe_machine_and_magic(exe) == (IMAGE_FILE_MACHINE_AMD64, PE32_PLUS), exe.name


def test_the_windows_manifests_name_what_make_windows_builds() -> None:
    win = {i.name: i for i in bundled() if i.name.startswith("c-win-")}
    assert {i.model for i in win.values()} == SERVERS
    for impl in win.values():
        assert impl.platforms == frozenset({"windows"}), impl.name
        assert impl.cwd == C_DIR
        assert impl.command == (f"build/win/{impl.model}.exe", "{port}")
        assert impl.build == ("make -s windows",)
