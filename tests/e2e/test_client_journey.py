"""One client's journey across all four services, through their HTTP APIs only (issue 10).

register → consent for the Jobcenter → case → case manager (staffing's caseload) → referral to the Jobcenter
(seen on its partner topic, pseudonymous) → the Jobcenter accepts and reports a placement → job start milestone,
goal achieved, case closed → the reporting API counts closure and job start within 2 s → erasure: no view shows
the name.

Reporting suppresses cells under 5 persons, so four companion clients make the same journey first: the figures the
test waits for (5 closures with goals achieved, 5 job starts) can only appear once the journey's client is counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date

import asyncpg
import httpx
import pytest
from kim_runtime.anchor import read_file
from kim_runtime.auth import Principal, Role, issue_token

from .support import Caller, end_offsets, eventually, read_topic, record_text
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

LUENEN, TEAM, JOBCENTER = "05978024", "stadt-luenen", "jobcenter-kreis-unna"
# the issue's requirement is "counted within two seconds of the last command": a latency, measured and printed here
# (and by `kim bench latency`), not asserted, so a loaded CI machine cannot fail the journey; the wait is bounded
REPORT_TARGET_S, REPORT_WAIT_S = 2.0, 60.0


class Journey:
    def __init__(self, services, http: httpx.AsyncClient, tag: str):
        def caller(**who) -> Caller:
            return Caller(http, services.urls, services.auth_secret, Principal(**who))

        self.manager = caller(sub=f"cm-{tag}", role=Role.CASE_MANAGER, team=TEAM, municipality=LUENEN)
        self.lead = caller(sub=f"lead-{tag}", role=Role.TEAM_LEAD, team=TEAM)
        self.admin = caller(sub="admin-e2e", role=Role.ADMIN)
        self.auditor = caller(sub="auditor-e2e", role=Role.AUDITOR)
        self.partner = caller(sub="jc-e2e", role=Role.PARTNER, organisation=JOBCENTER)

    async def case_with_plan(self, name: str) -> tuple[str, str]:
        """Register the client, open the case, record the Jobcenter consent, assess, agree a work goal."""
        m = self.manager
        client = await m.expect(201, "POST", "cases", "/clients", {
            "name": name, "date_of_birth": "1994-03-12", "address": "Kurt-Schumacher-Straße 3, 44532 Lünen",
            "contact": "+49 157 1234567", "languages": ["ar", "de"], "arrival_year": 2016})
        case = await m.expect(201, "POST", "cases", "/cases", {
            "client_id": client["client_id"], "municipality": LUENEN, "team": "stadt", "team_organisation_id": TEAM,
            "access_channel": "jobcenter"})
        path = f"/cases/{case['case_id']}"
        await m.expect(201, "POST", "cases", f"{path}/consents", {
            "recipients": [JOBCENTER], "purposes": ["arbeitsmarktintegration"],
            "data_categories": ["stammdaten", "arbeit_qualifikation", "leistungsbezug"], "form": "schriftlich",
            "informed_in": "ar"})
        await m.expect(200, "POST", "cases", f"{path}/assessment", {
            "domains": [{"domain": "arbeit", "need": "hoch", "resources": "mittel"}], "rechtskreis": "SGB_II"})
        await m.expect(201, "POST", "cases", f"{path}/plan", {"goals": [{
            "goal_id": "arbeit-1", "domain": "arbeit", "target_date": f"{date.today().year + 1}-06-30",
            "responsible_organisation_id": JOBCENTER}]})
        return client["client_id"], case["case_id"]

    async def job_start_and_closure(self, case_id: str) -> dict:
        m, path = self.manager, f"/cases/{case_id}"
        await m.expect(201, "POST", "cases", f"{path}/milestones", {"milestone": "beschaeftigung_beginn"})
        await m.expect(200, "POST", "cases", f"{path}/goals/arbeit-1/achieved", {})
        return await m.expect(200, "POST", "cases", f"{path}/closure", {"reason": "ziele_erreicht"})

    async def figures(self) -> dict[str, int | None]:
        today = date.today().isoformat()
        body = await self.lead.expect(200, "GET", "reporting", f"/indicators?period=month&from={today}&to={today}"
                                      f"&municipality={LUENEN}&indicator=closures&indicator=job_starts")
        return {c["indicator"] + (f":{c['dimensions']['reason']}" if c["dimensions"] else ""): c["value"]
                for c in body["cells"]}


async def test_a_clients_journey_across_every_service(services):
    tag = uuid.uuid4().hex[:8]
    name = f"Amina Haddad-{tag}"  # no other test uses this name: every "not shown" check below can be trusted
    async with httpx.AsyncClient(timeout=30) as http:
        j = Journey(services, http, tag)
        cases_topic_start = await end_offsets(services.kafka_bootstrap, "kim.cases")
        await j.admin.expect(201, "POST", "referrals", "/partners", {
            "organisation_id": JOBCENTER, "name": "Jobcenter Kreis Unna", "kind": "jobcenter", "public_body": True})

        async def companion(n: int) -> None:
            _, case_id = await j.case_with_plan(f"Begleitung {n} {tag}")
            await j.job_start_and_closure(case_id)

        await asyncio.gather(*(companion(n) for n in range(4)))
        client_id, case_id = await j.case_with_plan(name)
        shown = await j.manager.expect(200, "GET", "cases", f"/clients/{client_id}")
        assert shown["personal"]["name"] == name  # in clear for the case manager, before the erasure

        # staffing learns of the case over Kafka; the team lead names the case manager; the caseload shows it
        staff = f"ma-{tag}"
        await eventually(lambda: _status(j.lead, "GET", "staffing", f"/cases/{case_id}", 200),
                         what="staffing knows the case")
        await j.lead.expect(200, "PUT", "staffing", f"/cases/{case_id}/case-manager", {"staff_member_id": staff})
        caseload = await j.lead.expect(200, "GET", "staffing", f"/caseloads/{staff}")
        assert caseload["active_cases"] == 1

        # the referral: refused until the referrals service has the case and its consent from Kafka, then made
        referral = await eventually(lambda: _json_if(j.manager, 201, "POST", "referrals", "/referrals", {
            "case_id": case_id, "to_organisation_id": JOBCENTER, "purpose": "arbeitsmarktintegration",
            "data_categories": ["stammdaten", "arbeit_qualifikation"]}), what="the referral is accepted for the case")
        referral_id, partner_referral_id = referral["referral_id"], referral["partner_referral_id"]
        offered = await eventually(lambda: _partner_records(services, partner_referral_id),
                                   what="the partner topic has it")
        headers = dict(offered[0].headers)
        assert headers["ce_type"] == b"kim.partner.PartnerReferralSealedSnapshot"
        assert "ce_subject" not in headers  # the partner's pseudonym is inside the sealed snapshot only
        assert name not in record_text(offered[0]) and client_id not in record_text(offered[0])

        # the Jobcenter (partner token) accepts, schedules, reports a placement; the case sees the outcome
        mine = f"/partner/referrals/{partner_referral_id}"  # the Jobcenter's own id of the referral
        pseudonym = (await j.partner.expect(200, "GET", "referrals", mine))["client_pseudonym"]
        assert pseudonym.startswith("ps-") and pseudonym not in record_text(offered[0])  # sealed, not in clear
        assert (await j.partner.expect(200, "GET", "referrals", f"{mine}/key"))["referral_id"] == partner_referral_id
        await j.partner.expect(200, "POST", "referrals", f"{mine}/accept")
        await j.partner.expect(200, "POST", "referrals", f"{mine}/appointment",
                               {"appointment_on": date.today().isoformat()})
        await j.partner.expect(200, "POST", "referrals", f"{mine}/outcome", {"outcome": "vermittelt"})
        await eventually(lambda: _case_outcome(j, case_id, referral_id), what="the case shows the outcome")

        before = await j.figures()
        assert before.get("closures:ziele_erreicht") is None and before.get("job_starts") is None  # 4: suppressed
        closed = await j.job_start_and_closure(case_id)
        last_command = time.monotonic()
        assert closed["closure"]["reason"] == "ziele_erreicht"
        assert closed["closure"]["goals_achieved"] == closed["closure"]["goals_agreed"] == 1
        want = {"closures:ziele_erreicht": 5, "job_starts": 5}
        await eventually(lambda: _matching(j.figures, want), timeout_s=REPORT_WAIT_S, what=f"reporting counts {want}")
        took = time.monotonic() - last_command
        print(f"\nlast command -> counted in reporting: {took:.2f} s (target {REPORT_TARGET_S:.0f} s)")

        await _erase_and_look_everywhere(j, services, name, client_id, case_id, (referral_id, partner_referral_id),
                                         cases_topic_start)


async def _erase_and_look_everywhere(j: Journey, services, name, client_id, case_id, referral_ids, cases_start):
    referral_id, partner_referral_id = referral_ids
    await j.lead.expect(200, "POST", "cases", f"/clients/{client_id}/erasure", ERASURE)
    client = await j.manager.expect(200, "GET", "cases", f"/clients/{client_id}")
    assert client["erased"] and client["personal"]["name"] == "erased"
    views = [
        (j.manager, "cases", f"/clients/{client_id}"), (j.manager, "cases", f"/clients/{client_id}/history"),
        (j.manager, "cases", f"/cases/{case_id}"), (j.manager, "cases", f"/cases/{case_id}/history"),
        (j.manager, "cases", "/cases?limit=1000"), (j.manager, "cases", f"/clients/{client_id}/consents"),
        (j.auditor, "cases", f"/clients/{client_id}/reads"), (j.auditor, "cases", f"/cases/{case_id}/history"),
        (j.lead, "staffing", f"/cases/{case_id}?history=true"), (j.lead, "staffing", "/caseloads"),
        (j.manager, "referrals", f"/referrals/{referral_id}?history=true"),
        (j.manager, "referrals", f"/cases/{case_id}/referrals"), (j.partner, "referrals", "/partner/referrals"),
        (j.lead, "reporting", "/indicators?period=year&by=municipality"),
    ]
    for who, service, path in views:
        r = await who.request("GET", service, path)
        assert r.status_code == 200, f"{service}{path}: {r.status_code} {r.text}"
        assert name not in r.text, f"{service}{path} shows the erased client's name"
    reads = await j.auditor.expect(200, "GET", "cases", f"/clients/{client_id}/reads")
    assert reads, "the read log records the case manager's reads of personal data"
    partner_records = await _partner_records(services, partner_referral_id)
    assert len(partner_records) >= 3 and not any(name in record_text(r) for r in partner_records)
    ours = [r for r in await read_topic(services.kafka_bootstrap, "kim.cases", cases_start)
            if r.key in (client_id.encode(), case_id.encode())]
    assert len(ours) >= 8 and not any(name in record_text(r) for r in ours)
    trail = _audit_trail(services, case_id)
    assert case_id in trail and "erased" in trail and name not in trail
    reads = await j.auditor.expect(200, "GET", "cases", f"/clients/{client_id}/reads")
    assert [(r["actor"], r["role"]) for r in reads if r["via"] == "kim audit case --show-personal"] == [
        ("e2e-auditor", "auditor")], "the CLI's read is in the client's access log under the token's subject"
    for service in services.urls:
        await _sealed_and_verified(services, service)


async def _sealed_and_verified(services, service: str) -> None:
    """The service itself anchored its whole store (its signed anchor seals every event, published or not), and
    `kim audit verify` finds the store as its anchors describe it."""
    conn = await asyncpg.connect(services.database_urls[service])
    try:
        stored = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()

    async def sealed():
        path = services.anchor_file(service)
        latest = [r for r in read_file(path) if r.kind == "anchor"][-1] if path.exists() else None
        return latest if latest and latest.body.events == stored else None

    await eventually(sealed, timeout_s=30, what=f"{service}: an anchor sealing all {stored} events")
    env = {**os.environ, f"KIM_{service.upper()}_DATABASE_URL": services.database_urls[service]}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "kim"), "audit", "verify", "--service",
                          service, "--no-kafka", "--anchors", str(services.anchor_file(service))],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"seals {stored:,} events" in out.stdout, out.stdout


def _audit_trail(services, case_id: str) -> str:
    """`kim audit case --show-personal` on the e2e databases (the audit view across every service store)."""
    env = {**os.environ, **{f"KIM_{s.upper()}_DATABASE_URL": url for s, url in services.database_urls.items()},
           "KIM_KAFKA_BOOTSTRAP": services.kafka_bootstrap, "KIM_AUTH_SECRET": services.auth_secret,
           "KIM_CASES_URL": services.urls["cases"],  # the read is recorded (and sealed) by the cases service
           "KIM_TOKEN": issue_token(services.auth_secret, Principal(sub="e2e-auditor", role=Role.AUDITOR))}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "kim"), "audit", "case", case_id,
                          "--format", "json", "--show-personal"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    json.loads(out.stdout)  # well-formed
    return out.stdout


async def _status(caller: Caller, method: str, service: str, path: str, status: int) -> bool:
    return (await caller.request(method, service, path)).status_code == status


async def _json_if(caller: Caller, status: int, method: str, service: str, path: str, body: dict):
    r = await caller.request(method, service, path, body)
    assert r.status_code in (status, 404, 409), f"{service}{path}: {r.status_code} {r.text}"
    return r.json() if r.status_code == status else None


async def _partner_records(services, referral_id: str) -> list:
    records = await read_topic(services.kafka_bootstrap, f"kim.partner.{JOBCENTER}")
    return [r for r in records if r.key == referral_id.encode()]


async def _case_outcome(j: Journey, case_id: str, referral_id: str) -> bool:
    case = await j.manager.expect(200, "GET", "cases", f"/cases/{case_id}")
    return any(r["referral_id"] == referral_id and r["outcome"] == "vermittelt" for r in case["referrals"])


async def _matching(figures, want: dict) -> dict | None:
    got = await figures()
    return got if all(got.get(k) == v for k, v in want.items()) else None
