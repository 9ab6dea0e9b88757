"""Sealed fields (kim_schemas.sealing, kim_runtime.sealing): round trip, wrong key, missing key, old versions."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import date

import pytest
from kim_runtime import sealing
from kim_runtime.envelope import Envelope
from kim_schemas import cases as ev
from kim_schemas import parse
from kim_schemas.case_codes import AccessChannel, ClosureReason, MilestoneKind, TeamKind
from kim_schemas.codes import Baustein
from pydantic import ValidationError

CLIENT = "client-1"
DATA_KEY = os.urandom(32)
KEY = sealing.derive(DATA_KEY)


def opened() -> ev.CaseOpened:
    return ev.CaseOpened(case_id="case-1", client_id=CLIENT, municipality="05978024", baustein=Baustein("2"),
                         team=TeamKind("kreis"), team_organisation_id="kreis-unna", case_manager_id="cm-1",
                         access_channel=AccessChannel.JOBCENTER, opened_on=date(2025, 3, 4))


def test_a_sealed_event_keeps_ids_and_team_in_clear_and_its_dates_and_codes_in_one_ciphertext():
    sealed = opened().seal(KEY, "key-1", CLIENT)
    wire = sealed.model_dump(mode="json")
    assert set(wire) == {"case_id", "client_id", "municipality", "baustein", "team", "team_organisation_id",
                         "case_manager_id", "sealed"}
    text = json.dumps(wire)
    assert "2025-03-04" not in text and "jobcenter" not in text
    assert wire["sealed"]["key_id"] == "key-1"
    assert sealed.is_sealed and sealed.opened_on is None


def test_the_sealed_form_round_trips_through_the_wire_and_opens_with_the_clients_key():
    wire = opened().seal(KEY, "key-1", CLIENT).model_dump(mode="json")
    read = parse("kim.cases.CaseOpened", 2, wire)
    assert read.is_sealed
    assert read.unseal(KEY, CLIENT) == opened()


def test_the_sealing_key_is_derived_from_the_data_key_and_is_not_it():
    assert sealing.derive(DATA_KEY) == KEY and KEY != DATA_KEY
    assert sealing.derive(DATA_KEY, b"other") != KEY


@pytest.mark.parametrize("key, client", [(os.urandom(32), CLIENT), (KEY, "client-2"), (DATA_KEY, CLIENT)])
def test_another_key_or_another_client_does_not_open_it(key, client):
    sealed = opened().seal(KEY, "key-1", CLIENT)
    with pytest.raises(sealing.Unopenable):
        sealed.unseal(key, client)


def test_a_sealed_part_moved_to_another_event_type_does_not_open():
    part = opened().seal(KEY, "key-1", CLIENT).sealed
    moved = ev.CaseResumed(case_id="case-1", sealed=part)
    with pytest.raises(sealing.Unopenable):
        moved.unseal(KEY, CLIENT)


def test_after_the_erasure_a_decision_is_sealed_under_a_key_nobody_keeps():
    closed = ev.CaseClosed(case_id="case-1", reason=ClosureReason("ziele_erreicht"), closed_on=date(2025, 6, 1),
                           goals_agreed=2, goals_achieved=1, duration_days=89)
    sealed = closed.seal(None, sealing.SHREDDED_KEY_ID, CLIENT)
    assert sealed.sealed.key_id == "shredded" and sealed.closed_on is None
    with pytest.raises(sealing.Unopenable):
        sealed.unseal(KEY, CLIENT)


def test_the_clear_form_needs_its_required_fields_and_the_sealed_form_has_none_in_clear():
    with pytest.raises(ValidationError, match="opened_on"):
        ev.CaseOpened.model_validate(opened().model_dump(mode="json", exclude={"opened_on"}))
    both = opened().seal(KEY, "key-1", CLIENT).model_dump(mode="json") | {"opened_on": "2025-03-04"}
    with pytest.raises(ValidationError, match="cannot also be in clear"):
        ev.CaseOpened.model_validate(both)


def test_validators_of_the_clear_form_do_not_run_on_the_sealed_form():
    milestone = ev.MilestoneRecorded(case_id="c", milestone=MilestoneKind("anerkennung"),
                                     reached_on=date(2025, 1, 1))
    assert parse("kim.cases.MilestoneRecorded", 2,
                 milestone.seal(KEY, "k", CLIENT).model_dump(mode="json")).unseal(KEY, CLIENT) == milestone


def test_old_versions_are_upcast_to_the_clear_form_of_the_sealed_version():
    v1 = {"case_id": "case-1", "client_id": CLIENT, "municipality": "05978024", "baustein": "2", "team": "kreis",
          "team_organisation_id": "kreis-unna", "case_manager_id": "cm-1", "access_channel": "jobcenter",
          "opened_on": "2025-03-04"}
    read = parse("kim.cases.CaseOpened", 1, v1)
    assert read == opened() and not read.is_sealed
    consent_v1 = {"case_id": "c", "consent_id": "k", "recipients": ["jobcenter-unna"], "purposes": ["arbeitsmarktintegration"],
                  "data_categories": ["stammdaten"], "special_categories": False, "form": "schriftlich",
                  "informed_in": "de", "granted_on": "2025-03-04", "valid_until": None, "recorded_by": "cm"}
    consent = parse("kim.cases.ConsentGranted", 1, consent_v1)
    assert consent.granted_on == date(2025, 3, 4) and consent.schema_version == 3


def test_the_json_schema_describes_the_sealed_form_only():
    schema = ev.CaseOpened.model_json_schema()
    assert "opened_on" not in schema["properties"] and "access_channel" not in schema["properties"]
    assert "sealed" in schema["required"] and "AccessChannel" not in schema["$defs"]


def _envelope(event, subject=CLIENT) -> Envelope:
    return Envelope.wrap(event, source="/kim/cases", actor="t", correlation_id=None, causation_id=None,
                         subject=subject)


def test_the_unsealer_opens_with_a_resolved_key_and_answers_none_when_the_key_is_gone():
    env = _envelope(opened().seal(KEY, "key-1", CLIENT))
    asked = []

    async def resolve(client_id):
        asked.append(client_id)
        return {CLIENT: KEY}.get(client_id)

    unsealer = sealing.Unsealer(resolve)
    out = asyncio.run(unsealer.open(env))
    assert out.event == opened() and out.data["opened_on"] == "2025-03-04"
    gone = _envelope(opened().seal(KEY, "key-1", CLIENT), subject="client-erased")
    assert asyncio.run(unsealer.open(gone)) is None
    both = asyncio.run(unsealer.open_all([env, env, gone]))
    assert [b is not None for b in both] == [True, True, False]
    assert asked.count(CLIENT) == 2  # once for open, once for open_all (cached within it)


def test_the_sealing_of_the_key_holder_seals_under_the_derived_key_and_shreds_after_the_erasure():
    keys = {CLIENT: ("key-1", DATA_KEY)}

    async def data_key_of(client_id):
        return keys.get(client_id)

    holder = sealing.Sealing(data_key_of)
    (sealed,) = asyncio.run(holder.seal([opened()], CLIENT))
    assert sealed.sealed.key_id == "key-1" and sealed.unseal(KEY, CLIENT) == opened()
    keys.clear()
    (shredded,) = asyncio.run(holder.seal([opened()], CLIENT))
    assert shredded.sealed.key_id == "shredded"
