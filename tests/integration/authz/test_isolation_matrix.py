"""The isolation matrix: every operation of the four services' OpenAPI documents × every role (and no token) × an
own and a foreign resource, against the real services on the real Kafka and PostgreSQL.

The expected answer of each cell comes from kim_runtime.policy (`expected`), read off the same table the routes
enforce; each operation names its action in its OpenAPI document (x-kim-action). A route without an action stops
its service at start-up and fails this test when the document is built; an action without an entry fails at import.

A cell the policy allows must get through it: 2xx, or 409/422 from the command itself; and no answer to a case
manager, team lead or partner (but a refusal echoing the id asked for) names anything of the foreign place: not its
client, case, consent or referral ids, nor the foreign client's name. So a route that declares too wide an action
for a foreign resource shows up here too, not only in the statuses. To keep such cells free of
side effects, their body is `[]` (422 after the policy) unless the resource is named in the body (POST /cases,
POST /referrals): those carry a real body naming the own or the foreign client or case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.policy import ALLOWED, FOREIGN, OWN, POLICY, Resource, expected

from .conftest import (ADMIN, FOREIGN_MANAGER, FOREIGN_PLACE, OWN_MANAGER, OWN_PLACE, Kreis, Services, bearer,
                       ok, partner_token, staff)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROLES: tuple[Role | None, ...] = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.PARTNER, Role.AUDITOR, Role.ADMIN, None)
# 412/428: a precondition (If-Match) checked after the policy let the call through
ALLOWED_ANSWERS = {200, 201, 202, 409, 412, 422, 428}
SCOPED = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.PARTNER)
FOREIGN_NAME = "Oleksandr K."
# run last: they change what other cells read (an erased client stays readable; its commands answer 409)
LAST = ("client.erase",)


@dataclass
class World:
    ids: dict[str, dict[str, str]]  # ownership -> path parameter -> id
    bodies: dict[str, dict[str, dict]]  # in-body action -> ownership -> body
    tokens: dict[Role | None, dict[str, str]]

    @property
    def foreign_marks(self) -> list[str]:
        ids = self.ids[FOREIGN]
        return [FOREIGN_NAME] + [ids[k] for k in ("client_id", "case_id", "consent_id", "referral_id",
                                                  "partner_referral_id")]


async def build_world(s: Services) -> World:
    kreis = Kreis(s)
    org_a, org_b = (f"partner-{x}-{uuid.uuid4().hex[:6]}" for x in "ab")
    # partners whose API credential the matrix issues (POST /partners/{organisation_id}/credentials): not org_a,
    # whose plain partner token would be refused from then on
    org_c, org_d = (f"partner-{x}-{uuid.uuid4().hex[:6]}" for x in "cd")
    for org in (org_a, org_b, org_c, org_d):
        await kreis.register_partner(org)
    own_client, own_case = await kreis.client_with_case(OWN_MANAGER, OWN_PLACE, "Amina Haddad")
    foreign_client, foreign_case = await kreis.client_with_case(FOREIGN_MANAGER, FOREIGN_PLACE, FOREIGN_NAME)
    # opening a case for a foreign client succeeds for an admin: a client of its own, so the others stay foreign
    opened_for, _ = await kreis.client_with_case(FOREIGN_MANAGER, FOREIGN_PLACE, "Samir A.")
    own_consent = await kreis.consent(OWN_MANAGER, own_case, org_a)
    foreign_consent = await kreis.consent(FOREIGN_MANAGER, foreign_case, org_b)
    await kreis.known_downstream(own_case, own_consent)
    await kreis.known_downstream(foreign_case, foreign_consent)
    own_referral = await kreis.refer(OWN_MANAGER, own_case, org_a)
    foreign_referral = await kreis.refer(FOREIGN_MANAGER, foreign_case, org_b)

    grant, position = f"grant-{uuid.uuid4().hex[:8]}", f"pos-{uuid.uuid4().hex[:8]}"
    await ok(await s.staffing.post("/grants", headers=ADMIN, json={
        "grant_id": grant, "baustein": "2", "period_from": "2025-01-01", "period_to": "2025-12-31", "vza": "2.0",
        "rate_per_vza": "56000.00"}), 201)
    await ok(await s.staffing.post("/positions", headers=ADMIN, json={
        "position_id": position, "baustein": "2", "vza": "1.0", "host_organisation_id": "stadt-luenen",
        "municipality": OWN_PLACE["municipality"], "funding_source": "kim_land", "grant_id": grant,
        "valid_from": "2025-01-01"}), 201)
    reporter = bearer(Principal(sub="lead-reporter", role=Role.TEAM_LEAD))  # four eyes: not one of the tokens
    report = (await ok(await s.reporting.post("/reports", headers=reporter, json={"period": "2025"}), 201))
    shared = {"grant_id": grant, "position_id": position, "staff_member_id": "cm-luenen",
              "report_id": report["report_id"], "goal_id": str(uuid.uuid4()),
              "hold_id": str(uuid.uuid4()),
              "event_type": "kim.partner.PartnerReferralSnapshot", "version": "1"}  # a partner schema (public)
    ids = {
        OWN: shared | {"organisation_id": org_c, "client_id": own_client, "case_id": own_case, "consent_id": own_consent,
                       "referral_id": own_referral, "partner_referral_id": await kreis.partner_id(org_a)},
        FOREIGN: shared | {"organisation_id": org_d, "client_id": foreign_client, "case_id": foreign_case, "consent_id": foreign_consent,
                           "referral_id": foreign_referral, "partner_referral_id": await kreis.partner_id(org_b)},
    }
    bodies = {
        "case.open": {o: {"client_id": client, "access_channel": "selbstmeldung", **OWN_PLACE}
                      for o, client in ((OWN, own_client), (FOREIGN, opened_for))},
        "referral.request": {o: {"case_id": ids[o]["case_id"], "to_organisation_id": org_a,
                                 "purpose": "aufenthaltssicherung", "data_categories": ["aufenthalt"]}
                             for o in (OWN, FOREIGN)},
    }
    tokens = {Role.CASE_MANAGER: staff(Role.CASE_MANAGER, "cm-luenen-2", OWN_PLACE),
              Role.TEAM_LEAD: staff(Role.TEAM_LEAD, "lead-luenen", OWN_PLACE), Role.PARTNER: partner_token(org_a),
              Role.AUDITOR: bearer(Principal(sub="audit-1", role=Role.AUDITOR)), Role.ADMIN: ADMIN, None: {}}
    return World(ids, bodies, tokens)


def operations(s: Services) -> list[tuple[str, str, str, str]]:
    """(service, method, path, action) of every operation in the four OpenAPI documents, erasures last."""
    ops = []
    for name, app in s.apps.items():
        for path, methods in app.openapi()["paths"].items():
            for method, operation in methods.items():
                ops.append((name, method.upper(), path, operation["x-kim-action"]))
    return sorted(ops, key=lambda op: op[3] in LAST)


def url(path: str, action: str, ids: dict[str, str]) -> str:
    names = dict(ids)
    if POLICY[action].resource is Resource.PARTNER_REFERRAL:
        names["referral_id"] = ids["partner_referral_id"]
    try:
        return path.format(**names)
    except KeyError as missing:
        raise AssertionError(f"{path}: the matrix has no {missing} of an own and a foreign resource yet") from None


async def test_every_operation_by_every_role_on_own_and_foreign_resources(services: Services):
    world = await build_world(services)
    clients = {"cases": services.cases, "staffing": services.staffing, "referrals": services.referrals,
               "reporting": services.reporting}
    ops = operations(services)
    cells, failed, failures = 0, 0, []
    for service, method, path, action in ops:
        rule = POLICY[action]
        for role in ROLES:
            for ownership in (OWN, FOREIGN):
                want = expected(action, role, ownership)
                body = world.bodies[action][ownership] if rule.in_body else ([] if method in ("POST", "PUT")
                                                                             else None)
                r = await clients[service].request(method, url(path, action, world.ids[ownership]),
                                                   headers=world.tokens[role], json=body)
                cells += 1
                passed = r.status_code in ALLOWED_ANSWERS if want == ALLOWED else r.status_code == want
                who = f"{service} {method} {path} [{action}] as {role and role.value or 'no token'} on {ownership}"
                if not passed:
                    failures.append(f"{who}: expected {want}, got {r.status_code} {r.text[:160]}")
                # a foreign id in a refusal only echoes the request; in any other answer it is a leak
                looked = role in SCOPED and (ownership == OWN or r.is_success)
                leaked = [m for m in world.foreign_marks if m in r.text] if looked else []
                if leaked:
                    failures.append(f"{who}: the answer names the foreign place's {leaked}")
                failed += not passed or bool(leaked)
    roles, ownerships = len(ROLES), 2
    print(f"\nisolation matrix: {len(ops)} operations x {roles} roles (incl. no token) x {ownerships} ownerships "
          f"= {cells} cells; {cells - failed} passed, {failed} failed")
    assert cells == len(ops) * roles * ownerships
    assert not failures, "\n".join(failures)
