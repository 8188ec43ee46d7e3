"""The house's one direction of imports (docs/ARCHITECTURE.md): a module imports only
from its own layer or the layers below it, and no two modules import each other, even
through others.  The layer list is data here; moving a module between layers is a change
to this list and to ARCHITECTURE.md together.  Imports made inside functions count: a
late import hides an arrow, it does not remove it.  Imports under ``TYPE_CHECKING`` do
not: they name types and run nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conformance.clause import FAMILIES, REGISTRY
from conformance.clauses import select_clauses  # noqa: F401  (registers the clauses)

ROOT = Path(__file__).resolve().parent.parent / "conformance"

# Bottom up.  A name stands for the module and, for a package, everything inside it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("vocabulary", ("conformance", "conformance.text", "conformance.exits",
                    "conformance.models", "conformance.events", "conformance.matching",
                    "conformance.syscalls", "conformance.implementation",
                    "conformance.failure")),
    ("harness", ("conformance.harness",)),
    ("contract", ("conformance.clause", "conformance.clauses")),
    ("engine", ("conformance.manifest", "conformance.runner", "conformance.causes",
                "conformance.killmatrix", "conformance.falsealarms", "conformance.report",
                "conformance.settings", "conformance.launch")),
    ("pytest", ("conformance.plugin", "conformance.test_contract")),
    ("front ends", ("conformance.grading", "conformance.bench", "conformance.cli")),
]


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in ROOT.rglob("*.py")}


def _layer(module: str) -> int:
    """The index of the layer holding ``module``: its longest listed prefix decides."""
    best, depth = -1, -1
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > depth:
                best, depth = i, len(n)
    return best


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The line numbers of imports under ``if TYPE_CHECKING:``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)
                      if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def _imports(module: str, source: str | None = None) -> dict[str, int]:
    """The conformance modules ``module`` imports, each with the line of its first import."""
    tree = ast.parse(source if source is not None else
                     MODULES[module].read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    out: dict[str, int] = {}
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                       else node.module for a in node.names]
        for t in targets:
            if t in MODULES and t != module:
                out.setdefault(t, node.lineno)
    return out


GRAPH = {m: _imports(m) for m in sorted(MODULES)}


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if _layer(m) < 0] == []


def _upward(graph: dict[str, dict[str, int]]) -> list[str]:
    return [f"{MODULES[m].relative_to(ROOT.parent)}:{line}: {m} ({LAYERS[_layer(m)][0]}) "
            f"imports {t} ({LAYERS[_layer(t)][0]})"
            for m, targets in graph.items() for t, line in targets.items()
            if _layer(t) > _layer(m)]


def test_no_import_runs_up_the_layers() -> None:
    assert _upward(GRAPH) == []


def _cycle() -> list[str]:
    """One import cycle among the modules, or []: depth-first search for a back edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for t in GRAPH[m]:
            # A package's own __init__ importing its submodules is how packages load,
            # not a cycle: only edges between modules count.
            if m.startswith(t + "."):
                continue
            if state.get(t) == 1:
                return [*path[path.index(t):], t]
            if t not in state and (found := visit(t)):
                return found
        state[m] = 2
        path.pop()
        return []

    for m in GRAPH:
        if m not in state and (found := visit(m)):
            return found
    return []


def test_no_module_imports_itself_through_others() -> None:
    assert _cycle() == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b": 1}, "b": {"a": 2}}, ["a", "b", "a"]),
    ({"a": {"b": 1}, "b": {"c": 2}, "c": {}}, []),
])
def test_the_cycle_finder_finds_cycles(monkeypatch: pytest.MonkeyPatch,
                                       graph: dict[str, dict[str, int]],
                                       expected: list[str]) -> None:
    monkeypatch.setattr(f"{__name__}.GRAPH", graph)
    assert _cycle() == expected


@pytest.mark.parametrize(("source", "upward"), [
    ("def f():\n    from conformance.cli import main\n", 1),  # a late import counts
    ("from conformance.grading import gradebook\n", 1),  # a package's module
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    from conformance.cli import main\n", 0),  # a type's name runs nothing
    ("from conformance import matching, text\n", 0),  # down to the vocabulary
])
def test_an_upward_import_is_seen(source: str, upward: int) -> None:
    module = "conformance.harness.ports"
    assert len(_upward({module: _imports(module, source)})) == upward


def test_the_harness_holds_no_clause_id() -> None:
    """What a platform cannot observe is a fact about a clause, declared with it (its
    ``gaps``): the harness observes, and names no clause.  Docstrings and comments may."""
    family = re.compile(rf"\b(?:{'|'.join(FAMILIES)})-[1-9][0-9]*\b")
    found = []
    for name, path in MODULES.items():
        if _layer(name) != _layer("conformance.harness"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        found += [f"{path.relative_to(ROOT.parent)}:{n.lineno}: {n.value!r}"
                  for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and id(n) not in docstrings
                  and family.search(n.value)]
    assert found == []


def test_a_gap_is_declared_on_the_clause_and_named_by_place() -> None:
    stop2 = REGISTRY["STOP-2"]
    assert str(stop2.gap(["wine", "windows"])).startswith("under Wine: Wine cannot deliver")
    assert str(stop2.gap(["windows"])).startswith("on Windows: Windows cannot send Ctrl-C")
    assert stop2.gap([]) is None and REGISTRY["ECHO-1"].gap(["wine", "windows"]) is None
    # Every traced clause: the syscalls a tracer sees under Wine are Wine's own.
    assert all("wine" in c.gaps for c in REGISTRY.values() if c.traced)


MAX_FUNCTION_LINES = 60


def test_no_function_is_longer_than_a_screen() -> None:
    """A function over 60 lines (docstring and signature included) does several things:
    give each its name."""
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    lines := (node.end_lineno or 0) - node.lineno + 1) > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.name} "
                            f"is {lines} lines")
    assert long == []
