"""Upgrading a referrals database from before the consent gate was a projection: at the first start the rows of the
old gate tables in `public` move into the `consent_gate` schema (the old tables are left empty) and the old
consumer's inbox claims move to the new consumer's name, so an event handled before the upgrade is never handled
again (no second revocation) when the new consumer group reads kim.cases from its start."""

from __future__ import annotations

import uuid

import pytest

from ..db_rows import fetch
from .support import referrals_service

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_first_start_moves_the_old_gate_rows_and_inbox_claims(fresh_db, kafka_bootstrap):
    case, client, consent, claimed = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex, str(uuid.uuid4())
    async with referrals_service(fresh_db, kafka_bootstrap):
        pass  # migrations made the old public tables (empty): the database of a service that ran before
    await fetch(fresh_db,
                f"INSERT INTO public.gate_cases (case_id, client_id, municipality, team_organisation_id) "
                f"VALUES ('{case}', '{client}', '05978024', 'stadt-luenen')",
                f"INSERT INTO public.gate_clients (client_id) VALUES ('{client}')",
                f"INSERT INTO public.gate_consents (consent_id, case_id, recipients, purposes, data_categories, "
                f"withdrawn_recipients) VALUES ('{consent}', '{case}', '{{abh}}', '{{aufenthaltssicherung}}', "
                "'{aufenthalt}', '{abh}')",
                f"INSERT INTO inbox (consumer, event_id) VALUES ('cases', '{claimed}')",
                "DELETE FROM inbox WHERE consumer = 'consent_gate'")

    async with referrals_service(fresh_db, kafka_bootstrap):
        pass
    cases, consents, claims, left = await fetch(
        fresh_db, "SELECT case_id, client_id, municipality FROM consent_gate.gate_cases",
        "SELECT consent_id, recipients, withdrawn_recipients FROM consent_gate.gate_consents",
        "SELECT consumer, event_id::text FROM inbox WHERE event_id = "
        f"'{claimed}'",
        "SELECT (SELECT count(*) FROM public.gate_cases) + (SELECT count(*) FROM public.gate_clients) + "
        "(SELECT count(*) FROM public.gate_consents)")
    assert cases == [(case, client, "05978024")]
    assert consents == [(consent, ["abh"], ["abh"])]
    assert claims == [("consent_gate", claimed)] and left == [(0,)]
