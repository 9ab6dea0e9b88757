"""The demo organisation: 29 planned positions, 19 filled, partners of every kind, every body valid for the
staffing and referrals request models (sent to an in-memory recorder instead of the services)."""

from __future__ import annotations

import asyncio
from datetime import date

from kim_referrals.entrypoints.models import PartnerIn
from kim_schemas.codes import PartnerKind
from kim_staffing.application import commands as c

from kim_cli.demo import organisation
from kim_cli.demo.data import BY_AGS, KREIS_UNNA, PARTNERS, POSITIONS

TODAY = date(2026, 11, 24)
MODELS = {"/partners": PartnerIn, "/grants": c.AwardGrant, "/positions": c.EstablishPosition,
          "transfer": c.TransferPosition, "fill": c.FillPosition, "vacate": c.VacatePosition}


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []

    async def call(self, who, method, service, path, body=None, **_):
        self.calls.append((service, path, body))
        return {}


def test_the_team_plans_29_positions_and_fills_19():
    assert len(POSITIONS) == 29 and sum(p.filled_by is not None for p in POSITIONS) == 19
    assert {p.baustein for p in POSITIONS} == {"1", "2", "3"}
    assert all(p.municipality in BY_AGS or p.municipality == KREIS_UNNA for p in POSITIONS)


def test_partners_of_every_kind():
    assert {p.kind for p in PARTNERS} == {k.value for k in PartnerKind}


def test_the_organisation_seed_sends_valid_bodies_in_a_sensible_order():
    api, ticks = Recorder(), []
    asyncio.run(organisation.seed_organisation(api, TODAY, lambda: ticks.append(1)))
    assert len(api.calls) == len(ticks) == organisation.commands(TODAY)
    for service, path, body in api.calls:
        MODELS[path if path in MODELS else path.rsplit("/", 1)[-1]].model_validate(body)
    fills = [(p, b) for _, p, b in api.calls if p.endswith("/fill")]
    vacates = {b["staff_member_id"] for _, p, b in api.calls if p.endswith("/vacate")}
    assert {b["staff_member_id"] for _, b in fills} - vacates == {p.filled_by for p in POSITIONS if p.filled_by}
    assert all(date.fromisoformat(b["filled_on"]) <= TODAY for _, b in fills)
    first, last = organisation.period(TODAY)
    assert first.year == TODAY.year - 2 and last == date(TODAY.year, 12, 31)
