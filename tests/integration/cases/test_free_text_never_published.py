"""The stranger's probe (contract 6.0.0): free text put into the erasure request's and the legal hold's reference,
and the decade of birth and period of arrival of ClientRegistered v2, were found in kim.cases' Kafka log segments.
Now both references are file numbers (422 naming the field for anything else), the hold's is sealed under the
client's key and the erasure's stays in the cases store; ClientRegistered v3 carries no band. Checked on the raw
bytes of kim.cases' segments, the stored events and the records of the client's stream."""

from __future__ import annotations

import json

import asyncpg
import pytest

from .conftest import TEAM_LEAD, Api
from .kafka_tail import eventually, records_of
from tests.integration.log_segments import segment_bytes

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROBE_HOLD = "Antrag Zyxwq ProbemannD geb 05.06.1987"
PROBE_ERASURE = "Loeschantrag Zyxwq ProbemannE geb 05.06.1987"
HOLD_REF, ERASURE_REF = "AZ-QXHOLD-8812/26", "DSGVO-QXERASE-4471"  # file numbers no other test uses
BIRTH, ARRIVAL = "1911-05-06", 1913  # bands 1910-1919 and 1910-1914: nothing else in the tests is that old


async def test_free_text_references_are_refused_and_the_file_numbers_and_bands_never_reach_kim_cases(
        api: Api, fresh_db: str, kafka_bootstrap: str):
    client_id = await api.client("Zyxwq Probemann", date_of_birth=BIRTH, arrival_year=ARRIVAL)
    for url, field, probe in ((f"/clients/{client_id}/legal-holds", "reference", PROBE_HOLD),
                              (f"/clients/{client_id}/erasure", "request_reference", PROBE_ERASURE)):
        body = {"reason": "sonstiges"} if field == "reference" else {"ground": "widerspruch"}
        refused = await api.call("POST", url, json=body | {field: probe}, headers=TEAM_LEAD)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [field]
        assert "Zyxwq" not in refused.text  # the answer does not echo the text either
    hold = await api.post(f"/clients/{client_id}/legal-holds", {"reason": "pruefung", "reference": HOLD_REF},
                          expect=201, headers=TEAM_LEAD)
    shown = await api.get(f"/clients/{client_id}", headers=TEAM_LEAD)
    assert [(h["hold_id"], h["reference"]) for h in shown["legal_holds"]] == [(hold["hold_id"], HOLD_REF)]
    assert (shown["birth_band"], shown["arrival_band"]) == ("1910-1919", "1910-1914")  # computed, not published
    erased = await api.post(f"/clients/{client_id}/erasure", {"ground": "widerspruch",
                                                              "request_reference": ERASURE_REF}, headers=TEAM_LEAD)
    assert erased["request_reference"] == ERASURE_REF
    after = await api.get(f"/clients/{client_id}", headers=TEAM_LEAD)
    assert [h["reference"] for h in after["legal_holds"]] == ["erased"]  # sealed under the destroyed key
    assert (after["birth_band"], after["arrival_band"]) == ("erased", "erased")

    conn = await asyncpg.connect(fresh_db)
    try:
        async def relayed():
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL")

        await eventually(relayed)
        stored = "\n".join(r["t"] for r in await conn.fetch(
            "SELECT data::text || metadata::text AS t FROM events WHERE stream_id = $1", client_id))
        kept = await conn.fetchval("SELECT request_reference FROM erasure_requests WHERE client_id = $1", client_id)
    finally:
        await conn.close()
    assert kept == ERASURE_REF, "the auditor's record of the request stays in the store"
    records = await records_of(kafka_bootstrap, "kim.cases", {client_id}, at_least=3)
    wire = "\n".join(m.value.decode() + json.dumps({k: v.decode() for k, v in m.headers}) for m in records)
    assert [dict(m.headers)["ce_type"].decode() for m in records] == [
        "kim.cases.ClientRegistered", "kim.cases.LegalHoldPlaced", "kim.cases.ClientErased"]
    needles = ("Zyxwq", "QXHOLD", "QXERASE", "1910-1919", "1910-1914", "birth_band", "arrival_band")
    assert [n for n in needles if n in stored] == [], "in the store"
    assert [n for n in needles if n in wire] == [], "in the records of kim.cases"

    segments = segment_bytes("kim.cases")
    if not segments:
        pytest.skip("the stack's Kafka is not local: no segments to read")
    assert client_id.encode() in segments and b'"placed_by"' in segments, "the search reads the records as stored"
    assert [n for n in needles[:3] if n.encode() in segments] == [], "in kim.cases' log segments"
    assert b"1910-1919" not in segments and b"1910-1914" not in segments
