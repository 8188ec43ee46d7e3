"""The contract as data: the clause registry, what each clause applies to, the generated
document, and the ``clause()`` declaration's own checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import clause as clause_module
from conformance import report
from conformance.clause import FAMILIES, REGISTRY, Applies, Level, clause, ordered
from conformance.models import MODELS, SERVICES, Triggering

CLAUSES = ordered()
CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "CONTRACT.md"


def _ids(family: str) -> list[str]:
    return [c.id for c in CLAUSES if c.family == family]


def _models_covered(clause_id: str, service: str = "echo") -> set[str]:
    applies = REGISTRY[clause_id].applies
    return {m.name for m in MODELS.values() if applies(m, service)}


# -- registry invariants -----------------------------------------------------------------
@pytest.mark.parametrize("c", CLAUSES, ids=lambda c: c.id)
def test_clause_record_is_complete(c: clause_module.Clause) -> None:
    assert re.fullmatch(r"[A-Z]+-[1-9][0-9]*", c.id)
    assert c.family in FAMILIES
    assert c.id == f"{c.family}-{c.number}"
    assert c.level in (Level.MUST, Level.SHOULD)
    assert c.requirement.strip() and c.requirement == " ".join(c.requirement.split())
    assert c.hint.strip() and c.hint == " ".join(c.hint.split())
    assert callable(c.check)
    assert any(c.applies(m, s) for m in MODELS.values() for s in SERVICES), "applies to nothing"
    # The level rule: every clause cites the documentation it rests on (a man page with its
    # section, an RFC, POSIX, ISO C or the Winsock docs); a SHOULD says why it is quality.
    assert re.search(r"\w\(\d\)|RFC \d+|POSIX|ISO C|Winsock", c.source), c.source
    assert c.level is Level.MUST or "quality" in c.source, "a SHOULD says why it is one"


def test_every_family_has_a_clause() -> None:
    assert [f for f in FAMILIES if not _ids(f)] == []


def test_ordered_follows_families_then_numbers() -> None:
    keys = [(FAMILIES.index(c.family), c.number) for c in CLAUSES]
    assert keys == sorted(keys)
    assert len(CLAUSES) == len(REGISTRY)


# -- Applies -----------------------------------------------------------------------------
def test_et_clauses_apply_to_edge_triggered_models_only() -> None:
    edge = {m.name for m in MODELS.values() if m.triggering is Triggering.EDGE}
    for cid in _ids("ET"):
        assert "epoll-et" in _models_covered(cid)
        assert _models_covered(cid) == edge
        assert not {"select", "poll", "epoll-lt", "blocking"} & _models_covered(cid)


def test_lt_clauses_apply_to_level_triggered_models_only() -> None:
    level = {m.name for m in MODELS.values() if m.triggering is Triggering.LEVEL}
    for cid in _ids("LT"):
        assert _models_covered(cid) == level
        assert {"select", "poll", "epoll-lt"} <= _models_covered(cid)


def test_capacity_1_is_about_select_only() -> None:
    assert _models_covered("CAPACITY-1") == {"select"}
    assert _models_covered("CAPACITY-1", "print") == {"select"}


@pytest.mark.parametrize("cid", _ids("ECHO"))
def test_echo_clauses_do_not_apply_to_print_servers(cid: str) -> None:
    assert _models_covered(cid, "print") == set()
    assert _models_covered(cid, "echo") == set(MODELS)


def test_applies_combines_its_conditions() -> None:
    applies = Applies(triggering=frozenset({Triggering.LEVEL}), services=frozenset({"print"}))
    assert applies(MODELS["poll"], "print")
    assert not applies(MODELS["poll"], "echo")
    assert not applies(MODELS["blocking"], "print")
    assert applies.describe() == "level-triggered models; service print"
    assert Applies().describe() == "all models"


def test_not_applicable_explains_itself() -> None:
    from conformance.manifest import bundled
    from conformance.runner import not_applicable

    et = next(i for i in bundled() if i.model == "epoll-et")
    why = not_applicable(REGISTRY["LT-1"], et)
    assert why is not None and why.startswith("LT-1 applies to level-triggered models")
    assert not_applicable(REGISTRY["ET-1"], et) is None


# -- the generated document ----------------------------------------------------------------
def test_contract_document_is_generated_from_the_registry() -> None:
    if CONTRACT.read_text(encoding="utf-8") != report.contract_markdown():
        pytest.fail("docs/CONTRACT.md differs from the clause registry: regenerate it with "
                    "`ioconform list --markdown > docs/CONTRACT.md`", pytrace=False)


def test_contract_document_lists_every_clause_and_model() -> None:
    text = report.contract_markdown()
    for c in CLAUSES:
        assert f"### {c.id} ({c.level.value})" in text
        assert c.requirement in text
    for m in MODELS:
        assert f"| `{m}` |" in text


# -- the declaration ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["ECHO", "ECHO-0", "ECHO-01", "echo-1", "NOPE-1", "ECHO-1a",
                                 "-1", "ECHO_1"])
def test_clause_rejects_malformed_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="bad clause id"):
        clause(bad, Level.MUST, "r", hint="h")


def test_clause_rejects_a_duplicate_id() -> None:
    with pytest.raises(ValueError, match="ECHO-1 declared twice"):
        clause("ECHO-1", Level.MUST, "r", hint="h")


def test_clause_rejects_unknown_models() -> None:
    with pytest.raises(ValueError, match=r"unknown models.*kqueue-xyz"):
        clause("ECHO-99", Level.MUST, "r", applies=Applies(models=frozenset({"kqueue-xyz"})),
               hint="h")


def test_clause_registers_with_normalised_text(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: dict[str, clause_module.Clause] = {}
    monkeypatch.setattr(clause_module, "REGISTRY", registry)

    @clause("ECHO-99", Level.SHOULD, """
        two
        lines""", hint="  a   hint ")
    def check(s: object) -> None:
        pass

    assert registry["ECHO-99"].requirement == "two lines"
    assert registry["ECHO-99"].hint == "a hint"
    assert registry["ECHO-99"].check is check
    assert "ECHO-99" not in REGISTRY
