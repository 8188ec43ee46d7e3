"""tools/wine_leg.py's own bounds, with stand-ins for wine and wineserver (no Wine)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "wine_leg.py"


def _leg() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wine_leg", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell stand-ins")
def test_a_run_under_wine_that_hangs_is_killed_at_its_limit(tmp_path: Path) -> None:
    (tmp_path / "wine").write_text("#!/bin/sh\necho started\nexec sleep 60\n")
    (tmp_path / "wineserver").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/killed\n")
    for tool in ("wine", "wineserver"):
        (tmp_path / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    code, tail = _leg()._wine(Path("python.exe"), ["-c", "pass"], env, limit=1.0)
    assert code < 0 and tail[-1] == "wine leg: killed after 1 s"
    assert (tmp_path / "killed").read_text() == "-k\n"  # every Wine process of the prefix
