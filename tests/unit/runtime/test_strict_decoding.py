"""Strict decoding through the real contract (kim_schemas): what it does not know is refused, with the reason."""

from __future__ import annotations

from datetime import date

import pytest

from kim_runtime.consumer import RecordRef, decode
from kim_runtime.envelope import Envelope, EnvelopeError
from kim_schemas import cases

OPENED = cases.CaseOpened(
    case_id="c-1", client_id="p-1", municipality="05978024", baustein="2", team="kreis",
    team_organisation_id="kreis-unna", case_manager_id="cm-4711", access_channel="selbstmeldung",
    opened_on=date(2025, 2, 1))


def _record(env: Envelope, **header_changes: str | None) -> RecordRef:
    headers = {**env.kafka_headers(), **header_changes}
    return RecordRef("kim.cases", 0, 0, env.kafka_key(), env.kafka_value(),
                     tuple((k, v.encode()) for k, v in headers.items() if v is not None))


def _opened(**data_changes) -> Envelope:
    env = Envelope.wrap(OPENED, source="/kim/cases", actor="cm-4711", correlation_id=None, causation_id=None)
    return env.model_copy(update={"data": {**env.data, **data_changes}})


def test_a_known_event_is_read_through_its_model():
    env = decode(_record(_opened()))
    assert env.event == OPENED
    assert env.data == OPENED.model_dump(mode="json")


def test_an_older_version_is_upcast_to_the_newest_model():
    v1 = cases.ResidenceStatusRecordedV1(case_id="c-1", status="duldung_60a", perspective="gelb",
                                         recorded_on=date(2025, 2, 1))
    env = Envelope.wrap(v1, source="/kim/cases", actor=None, correlation_id=None, causation_id=None)
    read = decode(_record(env))
    assert isinstance(read.event, cases.ResidenceStatusRecorded) and read.schema_version == 4
    assert (read.event.status, read.event.recorded_on, read.event.dates) == ("duldung_60a", date(2025, 2, 1), None)


@pytest.mark.parametrize(("record", "reason"), [
    (_record(_opened(), ce_schemaversion="99"), "unknown-version"),
    (_record(_opened(), ce_type="kim.cases.CaseReopenedSomehow"), "unknown-type"),
    (_record(_opened(), ce_type="kim.referrals.ReferralRequested", ce_schemaversion="1"), "invalid-data"),
    (_record(_opened(municipality="not an AGS")), "invalid-data"),
    (_record(_opened(unexpected="field")), "invalid-data"),
    (_record(_opened(), ce_schemaversion="zwei"), "invalid-header"),
    (_record(_opened(), ce_id=None), "missing-header"),
])
def test_what_the_contract_does_not_know_is_refused_with_its_reason(record, reason):
    with pytest.raises(EnvelopeError) as refused:
        decode(record)
    assert refused.value.reason == reason


def test_an_event_of_a_model_without_a_schema_version_keeps_the_records():
    """A FixedContract's OpenData declares no schema version: the record's stays (looked up once per model, not by
    an attribute miss per event, which pydantic answers by raising: a quarter of `kim bench replay`'s time)."""
    from kim_runtime.contract import FixedContract, OpenData

    env = Envelope(type="kim.bench.Counted", source="/kim/bench", stream_id="s-1", data={"n": 1, "schema_version": 7})
    record = RecordRef("kim.bench", 0, 0, env.kafka_key(), env.kafka_value(),
                       tuple((k, v.encode()) for k, v in env.kafka_headers().items()))
    read = decode(record, FixedContract({"kim.bench.Counted": OpenData}))
    assert read.schema_version == 1 and read.data == {"n": 1, "schema_version": 7}


async def test_a_rebuild_collects_garbage_less_often_and_then_as_before():
    import gc

    from kim_runtime.rebuild import REBUILD_GC_THRESHOLDS, collecting_less

    before, seen = gc.get_threshold(), []

    @collecting_less
    async def rebuild(fail: bool):
        seen.append(gc.get_threshold())
        if fail:
            raise RuntimeError("the rebuild failed")
        return "done"

    assert await rebuild(False) == "done" and gc.get_threshold() == before
    with pytest.raises(RuntimeError):
        await rebuild(True)
    assert seen == [REBUILD_GC_THRESHOLDS] * 2 and gc.get_threshold() == before
