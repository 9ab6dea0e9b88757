"""`kim schemas check` and `generate` on temporary folders: drift, each kind of breaking change, a proper v2."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum

import pytest
from kim_runtime.upcasting import UpcasterChain
from pydantic import ConfigDict, create_model
from typer.testing import CliRunner

from kim_cli.schemas_cmd import app
from kim_schemas.base import Event, EventRegistry, event
from kim_schemas.check import check
from kim_schemas.generate import SCHEMAS_DIR, generated_files, write_files

THING = "json/kim.cases.Thing/v1.json"


class Colour(StrEnum):
    RED = "rot"
    GREEN = "gruen"


class FewerColours(StrEnum):
    RED = "rot"


V1 = {"case_id": (str, ...), "count": (int, ...), "colour": (Colour, ...), "note": (str | None, None)}


def thing(version: int = 1, **changes) -> type[Event]:
    fields = {**V1, **changes}
    fields = {k: v for k, v in fields.items() if v is not None}
    model = create_model(f"ThingV{version}", __base__=Event, __doc__="A test event.", **fields)
    return model


def registry_of(*models: tuple[type[Event], int], upcasters: UpcasterChain | None = None) -> EventRegistry:
    registry = EventRegistry(upcasters or UpcasterChain())
    for model, version in models:
        event("kim.cases.Thing", key="case_id", version=version, registry=registry)(model)
    return registry


def rename_count_add_since(data: dict) -> dict:
    """v1 -> v2: count is now called total; since is new, 2024-01-01 for all old events."""
    data = dict(data)
    data["total"] = data.pop("count")
    return data | {"since": "2024-01-01"}


@pytest.fixture
def committed(tmp_path):
    """A schemas/ folder whose committed files were generated from Thing v1."""
    write_files(tmp_path, generated_files(registry_of((thing(), 1))))
    return tmp_path


def test_the_real_schemas_folder_is_up_to_date():
    assert check(SCHEMAS_DIR) == []


def test_a_fresh_generation_passes(committed):
    assert check(committed, registry_of((thing(), 1))) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"count": None}, "count: field removed"),
        ({"count": None, "total": (int, ...)}, "count: field removed (renamed to 'total'?)"),
        ({"count": (str, ...)}, "count: type changed from integer to string"),
        ({"note": (str | None, ...)}, "note: optional field made required"),
        ({"colour": (FewerColours, ...)}, "colour: enum value(s) removed: gruen"),
        ({"since": (date, ...)}, "since: new required field"),
    ],
    ids=["removed", "renamed", "type-changed", "optional-made-required", "enum-value-removed", "new-required"],
)
def test_check_catches_each_kind_of_breaking_change(committed, changes, expected):
    problems = check(committed, registry_of((thing(**changes), 1)))
    assert any(p.startswith(f"{THING}: BREAKING: {expected}") for p in problems), problems
    assert f"{THING}: differs from the generated file — run `kim schemas generate` and commit the result" in problems


def test_additive_changes_are_drift_but_not_breaking(committed):
    problems = check(committed, registry_of((thing(remark=(str | None, None)), 1)))
    assert problems and not [p for p in problems if "BREAKING" in p]


def test_hand_edits_missing_and_orphaned_files_are_reported(committed):
    (committed / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n# edited by hand\n")
    (committed / THING).unlink()
    orphan = committed / "json/kim.cases.Gone/v1.json"
    orphan.parent.mkdir()
    orphan.write_text("{}\n")
    problems = check(committed, registry_of((thing(), 1)))
    assert any(p.startswith("asyncapi.yaml: differs") for p in problems)
    assert any(p.startswith(f"{THING}: missing") for p in problems)
    assert any(p.startswith("json/kim.cases.Gone/v1.json: BREAKING: no model defines this version") for p in problems)


def test_a_breaking_change_done_right_is_a_new_version_with_an_upcaster(committed):
    chain = UpcasterChain()
    chain.register("kim.cases.Thing", 1, rename_count_add_since)
    v2 = thing(2, count=None, total=(int, ...), since=(date, ...))
    registry = registry_of((thing(), 1), (v2, 2), upcasters=chain)
    problems = check(committed, registry)
    assert not [p for p in problems if "BREAKING" in p], problems
    assert any(p.startswith("json/kim.cases.Thing/v2.json: missing") for p in problems)
    write_files(committed, generated_files(registry))
    assert check(committed, registry) == []
    upgraded = registry.parse("kim.cases.Thing", 1, {"case_id": "c-1", "count": 3, "colour": "rot"})
    assert type(upgraded) is v2 and upgraded.total == 3 and upgraded.since == date(2024, 1, 1)


def test_cli_check_and_generate_refuse_a_breaking_change(tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "CHANGELOG.md").write_text((SCHEMAS_DIR / "CHANGELOG.md").read_text())  # written by hand
    assert runner.invoke(app, ["check", "--dir", str(tmp_path)]).exit_code == 0
    path = tmp_path / "json/kim.cases.CaseResumed/v1.json"
    committed = json.loads(path.read_text())
    committed["properties"]["legacy"] = {"type": "string"}  # as if the code had dropped this field since
    path.write_text(json.dumps(committed))
    result = runner.invoke(app, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "kim.cases.CaseResumed/v1.json: BREAKING: legacy: field removed" in result.output
    assert "schemas check FAILED" in result.output
    refused = runner.invoke(app, ["generate", "--dir", str(tmp_path)])
    assert refused.exit_code == 1 and "nothing written" in refused.output
    assert json.loads(path.read_text())["properties"]["legacy"] == {"type": "string"}


def test_a_partner_schema_changes_only_in_its_descriptions_partners_validate_strictly():
    from kim_schemas.contract import strict_partner_changes

    old = {"type": "object", "additionalProperties": False, "description": "a",
           "properties": {"state": {"enum": ["requested"], "description": "x"}}}
    worded = {**old, "description": "better words"}
    new_code = {**old, "properties": {"state": {"enum": ["requested", "parked"], "description": "x"}}}
    new_field = {**old, "properties": {**old["properties"], "note": {"type": "string"}}}
    rel = "json/kim.partner.PartnerReferralSnapshot/v1.json"
    assert strict_partner_changes(rel, old, worded) == []
    assert strict_partner_changes(rel, old, new_code) and strict_partner_changes(rel, old, new_field)
    assert "new version" in strict_partner_changes(rel, old, new_code)[0]
    assert strict_partner_changes("json/kim.cases.Thing/v1.json", old, new_code) == []  # tolerant readers


def test_the_changelog_must_name_the_contract_version_and_its_fingerprint(tmp_path):
    from kim_schemas.contract import CONTRACT_VERSION, changelog_problems, fingerprint

    files = generated_files()
    assert changelog_problems(tmp_path, files)[0].startswith("CHANGELOG.md: missing")
    (tmp_path / "CHANGELOG.md").write_text(f"# x\n\n## {CONTRACT_VERSION} — fingerprint {fingerprint(files)}\n")
    assert changelog_problems(tmp_path, files) == []
    changed = {**files, THING: "{}\n"}  # any change of the contract
    [problem] = changelog_problems(tmp_path, changed)
    assert "the contract changed" in problem and fingerprint(changed) in problem
    (tmp_path / "CHANGELOG.md").write_text(f"## 9.9.9 — fingerprint {fingerprint(files)}\n")
    assert "make them the same" in changelog_problems(tmp_path, files)[0]


def test_the_committed_contract_passes_the_cli_check_with_partner_guide_and_changelog():
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "PARTNERS.md" in result.output and "CHANGELOG.md" in result.output
