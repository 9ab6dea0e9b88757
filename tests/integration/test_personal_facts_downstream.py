"""Staffing and reporting keep only non-personal facts of a client (issue 13).

Every kind of kim.cases event that carries something about the client (ClientRegistered with its encrypted personal
data, birth year, languages and arrival year; ReviewHeld with encrypted notes; the casework codes; ClientErased) goes
to the real staffing and reporting services over the real broker. Then every row of every table of their databases is
read back: no encrypted blob, nonce or key id, no birth year, arrival year or language arrives there; staffing holds
no client id at all, reporting only the pseudonymous client id of a case (to count distinct persons for suppression).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date

import asyncpg
import pytest
from kim_cli.stack import create_database, drop_database
from kim_runtime.auth import Role
from kim_schemas import cases as c
from kim_schemas.types import Encrypted

from .reporting.conftest import running_service as reporting_service
from .reporting.kafka_io import produce
from .staffing.conftest import CasesProducer, running as staffing_service, token
from .runtime.harness import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

BIRTH_YEAR, ARRIVAL_YEAR, LANGUAGES = 1937, 2003, ["prs", "ti"]  # values nothing else in these tests uses


def sealed(what: str) -> Encrypted:
    return Encrypted(key_id=f"key-{uuid.uuid4()}", nonce=base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
                     ciphertext=base64.b64encode(f"{what}-{uuid.uuid4()}".encode()).decode())


def client_history(client_id: str, case_id: str) -> tuple[list, set]:
    personal, notes = sealed("personal"), sealed("notes")
    events = [
        # version 1 (clear birth year, languages, arrival year) is still on the topic: nothing of it may stay
        c.ClientRegisteredV1(client_id=client_id, personal=personal, birth_year=BIRTH_YEAR, languages=LANGUAGES,
                             arrival_year=ARRIVAL_YEAR),
        c.CaseOpened(case_id=case_id, client_id=client_id, municipality="05978024", baustein="2", team="stadt",
                     team_organisation_id="stadt-luenen", case_manager_id="cm-4711", access_channel="selbstmeldung",
                     opened_on=date(2025, 1, 10)),
        c.ResidenceStatusRecordedV2(case_id=case_id, status="duldung_60a", status_since=date(2024, 6, 1),
                                    perspective="gelb", recorded_on=date(2025, 1, 10)),
        c.ConsentGranted(case_id=case_id, consent_id=str(uuid.uuid4()), recipients=["abh-kreis-unna"],
                         purposes=["aufenthaltssicherung"], data_categories=["aufenthalt"], special_categories=False,
                         form="schriftlich", informed_in="prs", granted_on=date(2025, 1, 10), recorded_by="cm-4711"),
        c.AssessmentCompleted(case_id=case_id, assessed_on=date(2025, 1, 20), rechtskreis="AsylbLG", domains=[
            c.DomainAssessment(domain="sprache", need="hoch", resources="gering")]),
        c.IntegrationPlanAgreed(case_id=case_id, plan_id=str(uuid.uuid4()), agreed_on=date(2025, 1, 25), goal_ids=["g-1"], goals=[
            c.Goal(goal_id="g-1", domain="sprache", target_date=date(2025, 9, 1),
                   responsible_organisation_id="vhs-unna")]),
        c.ReviewHeld(case_id=case_id, review_id=str(uuid.uuid4()), held_on=date(2025, 2, 20), notes=notes),
        c.MilestoneRecorded(case_id=case_id, milestone="sprachkurs_beginn", reached_on=date(2025, 3, 1)),
        c.ClientErased(client_id=client_id, key_id=personal.key_id, erased_at="2025-03-05T10:00:00+00:00"),
    ]
    secrets = {v for blob in (personal, notes) for v in (blob.key_id, blob.nonce, blob.ciphertext)}
    return events, secrets | {BIRTH_YEAR, ARRIVAL_YEAR, *LANGUAGES}


async def rows_of_every_table(dsn: str) -> list[tuple[str, str, object]]:
    """(table, column, value) of every leaf value of every row in every non-system schema."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        out = []
        for t in tables:
            name = f'"{t["table_schema"]}"."{t["table_name"]}"'
            for row in await conn.fetch(f"SELECT row_to_json(t)::text AS j FROM {name} t"):
                out += [(name, column, leaf) for column, value in json.loads(row["j"]).items()
                        for leaf in _leaves(value)]
        return out
    finally:
        await conn.close()


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


async def test_staffing_and_reporting_keep_no_personal_fact_of_a_client(fresh_db, stack, kafka_bootstrap):
    reporting_db = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, reporting_db)
    client_id, case_id = f"client-{uuid.uuid4()}", f"case-{uuid.uuid4()}"
    events, personal = client_history(client_id, case_id)
    try:
        async with staffing_service(fresh_db, kafka_bootstrap) as staffing, \
                reporting_service(stack.database_url(reporting_db), kafka_bootstrap) as reporting:
            async def publish(batch) -> None:
                feed = CasesProducer(kafka_bootstrap)
                await feed.producer.start()
                try:
                    envelopes = [await feed.publish(e) for e in batch]
                finally:
                    await feed.producer.stop()
                await produce(kafka_bootstrap, reporting.topic("cases"), envelopes)

            async def staffing_knows_the_case():
                return (await staffing.get(f"/cases/{case_id}", headers=token(Role.ADMIN))).status_code == 200

            async def stored_rows() -> dict:
                return {"staffing": await rows_of_every_table(fresh_db),
                        "reporting": await rows_of_every_table(stack.database_url(reporting_db))}

            await publish(events[:-1])  # the casework, then the erasure
            await eventually(staffing_knows_the_case, timeout=60)
            await reporting.caught_up()
            stored = await stored_rows()
            await publish(events[-1:])
            await reporting.caught_up()
            erased = await stored_rows()
    finally:
        await drop_database(stack.postgres_url, reporting_db)

    assert any(value == case_id for value in (v for _, _, v in stored["reporting"]))  # the facts did arrive
    assert any(value == case_id for value in (v for _, _, v in stored["staffing"]))
    for service, rows in stored.items():
        leaked = [(table, column, value) for table, column, value in rows if value in personal]
        assert not leaked, f"{service} stores personal data of the client: {leaked}"
    assert [(t, col) for t, col, v in stored["staffing"] if v == client_id] == []
    assert {(t, col) for t, col, v in stored["reporting"] if v == client_id} == {('"reporting_cases"."cases"',
                                                                                  "client_id")}
    # the erasure: reporting deletes every row of the client's cases (their sealed facts can no longer be opened)
    assert not [(t, col) for t, col, v in erased["reporting"] if v in (client_id, case_id)]
    for service, rows in erased.items():
        assert not [(table, column, value) for table, column, value in rows if value in personal], service

