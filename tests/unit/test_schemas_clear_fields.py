"""What travels in clear on kim.cases and kim.referrals (contract 6.0.0): the table in schemas/README.md is what the
models say, file numbers are file numbers, and the free text and bands a probe found in the log are gone from the
versions published now (older versions upcast without them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

import kim_schemas
from kim_schemas.cases import LegalHoldPlaced
from kim_schemas.clear_fields import END, README_FILE, START, clear_fields_table, split_fields, with_clear_fields
from kim_schemas.generate import SCHEMAS_DIR
from kim_schemas.referrals import PartnerFeedbackReceived

PROBE = "Antrag Zyxwq ProbemannD geb 05.06.1987"
SEALED = {"key_id": "k-1", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "c2VhbGVk"}
AT = datetime(2026, 12, 3, tzinfo=UTC)


def test_the_readme_lists_exactly_what_the_models_leave_in_clear():
    readme = (SCHEMAS_DIR / README_FILE).read_text(encoding="utf-8")
    assert readme == with_clear_fields(readme), "run `kim schemas generate`"
    table = readme.split(START, 1)[1].split(END, 1)[0]
    assert table.strip() == clear_fields_table().strip()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| `")}
    assert "`birth_band`" not in table and "`request_reference`" not in table and "`detail`" not in table
    assert "| `client_id`, `key_id`, `erased_at`, `ground`, `reason` |" in rows["`kim.cases.ClientErased` v2"]
    assert "`placed_by`" in rows["`kim.cases.LegalHoldPlaced` v2"] and "| `reference` |" in rows[
        "`kim.cases.LegalHoldPlaced` v2"]
    assert "`recorded_by`" in rows["`kim.cases.ConsentGranted` v3"]


def test_the_columns_come_from_the_declarations():
    assert split_fields(LegalHoldPlaced) == (["client_id", "hold_id", "reason", "placed_by", "placed_at"],
                                            ["reference"], [])
    clear, sealed, encrypted = split_fields(kim_schemas.latest("kim.cases.ConsentGranted"))
    assert "granted_on" in sealed and encrypted == ["informed_in"] and "recipients" in clear


def test_a_file_number_has_no_spaces_in_the_event_model_either():
    hold = {"client_id": "c-1", "hold_id": "h-1", "reason": "rechtsstreit", "placed_by": "lead-1", "placed_at": AT}
    assert LegalHoldPlaced(**hold, reference="AZ-2026/0815.a_b").reference == "AZ-2026/0815.a_b"
    for bad in (PROBE, "", "-AZ", "A" * 41, "AZ\n1"):
        with pytest.raises(ValidationError, match="reference"):
            LegalHoldPlaced(**hold, reference=bad)


def test_the_legal_hold_reference_is_sealed_on_the_wire():
    hold = LegalHoldPlaced(client_id="c-1", hold_id="h-1", reason="pruefung", reference="AZ-ZYXWQ-1",
                           placed_by="lead-1", placed_at=AT)
    sealed = hold.seal(b"k" * 32, "key-1", "c-1")
    assert "ZYXWQ" not in sealed.model_dump_json() and "reference" not in sealed.model_dump(mode="json")
    assert sealed.unseal(b"k" * 32, "c-1").reference == "AZ-ZYXWQ-1"


def test_old_versions_upcast_without_the_free_text():
    erased = kim_schemas.parse("kim.cases.ClientErased", 1, {
        "client_id": "c-1", "key_id": "k-1", "erased_at": AT.isoformat(), "request_reference": PROBE})
    assert erased.schema_version == 2 and "Zyxwq" not in erased.model_dump_json()
    hold = kim_schemas.parse("kim.cases.LegalHoldPlaced", 1, {
        "client_id": "c-1", "hold_id": "h-1", "reason": "sonstiges", "reference": PROBE, "placed_by": "lead-1",
        "placed_at": AT.isoformat()})
    assert hold.schema_version == 2 and hold.reference == "Antrag_Zyxwq_ProbemannD_geb_05.06.1987"
    assert kim_schemas.parse("kim.cases.LegalHoldPlaced", 1, {
        "client_id": "c-1", "hold_id": "h-1", "reason": "sonstiges", "reference": " ?x", "placed_by": "lead-1",
        "placed_at": AT.isoformat()}).reference == "X__x"
    feedback = kim_schemas.parse("kim.referrals.PartnerFeedbackReceived", 1, {
        "feedback_id": "f-1", "organisation_id": "jobcenter-x", "topic": "kim.partner.jobcenter-x",
        "problem": "other", "detail": PROBE, "received_at": AT.isoformat()})
    assert feedback.schema_version == 2 and "Zyxwq" not in feedback.model_dump_json()
    registered = kim_schemas.parse("kim.cases.ClientRegistered", 2, {
        "client_id": "c-1", "personal": SEALED, "profile": SEALED, "birth_band": "1980-1989",
        "arrival_band": "2015-2019"})
    assert registered.schema_version == 3 and "band" not in registered.model_dump_json()
    assert "detail" not in PartnerFeedbackReceived.model_fields
