"""The one end-to-end run: every bundled reference server against the whole contract,
through the ``ioconform`` command as CI and graders use it.  It costs most of this
suite's time, so nothing else repeats it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.manifest import bundled
from conformance.models import current_platform


@pytest.mark.contract
@pytest.mark.xdist_group("whole-runs")  # never beside the graded fork bomb: see tox.ini
def test_every_reference_conforms(ioconform_cli, tmp_path: Path) -> None:
    report = tmp_path / "references.json"
    proc = ioconform_cli("run", "--json", str(report), "-q", timeout=600)
    if not report.exists():
        raise AssertionError(f"no report; exit status {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    doc = json.loads(report.read_text(encoding="utf-8"))
    bad = [f"--- {impl['name']} {c['clause']} [{c['verdict']}]\n{c['detail']}"
           for impl in doc["implementations"] for c in impl["clauses"]
           if c["verdict"] in ("fail", "error")]
    assert not bad, "\n\n".join(bad)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    here = {i.name for i in bundled() if current_platform() in i.platforms}
    assert {impl["name"] for impl in doc["implementations"]} == here
    assert all(impl["status"] == "pass" for impl in doc["implementations"])
    assert doc["summary"]["pass"] > 0
