"""What a hostile server prints reaches the grader inert: the console report shows its
escape sequences, C1 controls and bidi overrides as visible escapes (no terminal title
set, no screen cleared, no cursor report asked), and no workflow command can be formed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conformance.cli import main

SERVER = Path(__file__).resolve().parent / "servers" / "prints_escapes.py"
_LIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.skipif(sys.platform == "win32", reason="the diagnosis shows POSIX output")
def test_console_report_shows_a_servers_escapes_inert(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--model", "blocking", "--service", "echo", "--clause", "START-1",
                 "--", sys.executable, str(SERVER), "{port}"])
    out = capsys.readouterr().out
    assert code == 1 and "START-1" in out, out
    assert "\\x1b]0;pwned\\x07" in out and "<U+202E>evil" in out, out  # shown, not acted on
    assert not _LIVE.search(out), repr(_LIVE.search(out))
