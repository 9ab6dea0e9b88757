"""One access log (issue 15): every path that shows a client's personal data, or a special category (health), in
clear lands in the client's own hash-chained access log with an authenticated actor and role, and GET
/clients/{id}/reads shows it. A matrix: each read path of the cases API (which the web app calls with the user's token)
and of `kim audit case` × each role that may take it, with the fields the log must name."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Role

from . import cli
from .test_audit_case import SECRET, _auth, _bearer, _post, cases_api  # noqa: F401  (cases_api is a fixture)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

HEALTH = "gesundheit (Art. 9)"
WHO = {Role.CASE_MANAGER: "staff-1", Role.TEAM_LEAD: "lead-1", Role.ADMIN: "admin-1", Role.AUDITOR: "auditor-7"}
STAFF, AUDITOR = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN), Role.AUDITOR


def _withheld(fields: list[str]) -> list[str]:
    """What an auditor's read records: each field withheld; health shows only inside the encrypted assessment
    (AssessmentCompleted v2), so an auditor no longer sees it in clear."""
    return sorted(f"{f} (withheld)" for f in fields if f != HEALTH)


# (how, path template, fields the log names for a reader in clear); an auditor gets the same fields withheld
API_PATHS = [
    ("GET", "/clients/{client}", ["personal", "profile"]),
    ("GET", "/clients/{client}/history", ["personal", "profile"]),
    ("GET", "/cases/{case}", ["domains", HEALTH, "goals", "informed_in", "notes", "personal"]),
    ("GET", "/cases/{case}/history", ["domains", HEALTH, "goals", "informed_in", "notes"]),
]
CLI_PATHS = [  # (arguments, via, roles, fields)
    # without --show-personal nothing personal is in clear (health needs and goals are encrypted since the v2
    # events): the trail is still the client's casework, a read recorded as such
    ((), "kim audit case", (Role.AUDITOR, Role.ADMIN), ["trail"]),
    (("--show-personal",), "kim audit case --show-personal", (Role.AUDITOR, Role.ADMIN),
     ["domains", HEALTH, "goals", "informed_in", "notes", "personal", "profile"]),
]


async def _story(http) -> tuple[str, str]:
    manager = _auth(Role.CASE_MANAGER, WHO[Role.CASE_MANAGER])
    client_id = (await _post(http, "/clients", {"name": "Amina Haddad", "date_of_birth": "1990-04-02",
                                                "languages": ["ar"], "arrival_year": 2016}, manager))["client_id"]
    case_id = (await _post(http, "/cases", {"client_id": client_id, "municipality": "05978024", "team": "stadt",
                                            "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter",
                                            "opened_on": "2025-01-10"}, manager))["case_id"]
    await _post(http, f"/cases/{case_id}/consents", {
        "recipients": ["abh-unna"], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
        "form": "schriftlich", "informed_in": "ar", "granted_on": "2025-01-10"}, manager)
    await _post(http, f"/cases/{case_id}/assessment", {
        "assessed_on": "2025-01-12", "rechtskreis": "SGB_II",
        "domains": [{"domain": "gesundheit", "need": "hoch", "resources": "gering"}]}, manager, expect=200)
    await _post(http, f"/cases/{case_id}/plan", {"agreed_on": "2025-01-15", "goals": [
        {"goal_id": "g1", "domain": "familie", "target_date": "2025-12-01", "responsible_organisation_id": "awo"}]},
        manager)
    await _post(http, f"/cases/{case_id}/reviews", {"held_on": "2025-03-01", "notes": "vertraulich"}, manager)
    return client_id, case_id


async def _last_read(http, client_id: str) -> dict:
    r = await http.get(f"/clients/{client_id}/reads", headers=_auth(Role.AUDITOR, "auditor-7"))
    assert r.status_code == 200, r.text
    return r.json()[-1]


async def test_every_read_path_of_personal_or_health_data_is_in_the_clients_access_log(cases_api, fresh_db):
    client_id, case_id = await _story(cases_api)
    cells = 0
    for method, template, fields in API_PATHS:
        path = template.format(client=client_id, case=case_id)
        for role in (*STAFF, AUDITOR):
            r = await cases_api.request(method, path, headers=_auth(role, WHO[role]))
            assert r.status_code == 200, f"{role} {path}: {r.text}"
            read = await _last_read(cases_api, client_id)
            want = fields if role in STAFF else _withheld(fields)
            assert (read["via"], read["actor"], read["role"], read["fields"]) == (
                f"{method} {path}", WHO[role], role.value, want), f"{role.value} {path}"
            cells += 1

    missing = fresh_db.rsplit("/", 1)[0] + "/kim_no_such_db"
    env = cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_STAFFING_DATABASE_URL=missing,
                          KIM_REFERRALS_DATABASE_URL=missing, KIM_REPORTING_DATABASE_URL=missing,
                          KIM_AUTH_SECRET=SECRET)
    for name in ("KIM_TOKEN", "KIM_AUDIT_TOKEN"):
        env.pop(name, None)
    for args, via, roles, fields in CLI_PATHS:
        for role in roles:
            token = _bearer(_auth(role, WHO[role]))
            before = await _last_read(cases_api, client_id)
            code, out, err = await cli.run("audit", "case", case_id, *args, "--token", token, env=env)
            assert code == 0, err
            read = await _last_read(cases_api, client_id)
            assert read != before and (read["via"], read["actor"], read["role"], read["fields"]) == (
                via, WHO[role], role.value, fields), f"{role.value} {via}"
            cells += 1
    before = await _last_read(cases_api, client_id)
    for args in ((), ("--show-personal",)):  # no token, or a case manager's: refused, and nothing read or recorded
        for token in ((), ("--token", _bearer(_auth(Role.CASE_MANAGER, WHO[Role.CASE_MANAGER])))):
            code, out, err = await cli.run("audit", "case", case_id, *args, *token, env=env)
            assert code == 2 and out == "" and ("give your token" in err or "may not run" in err), err
    assert await _last_read(cases_api, client_id) == before
    print(f"{cells} read paths x roles recorded")
    assert cells == len(API_PATHS) * 4 + sum(len(roles) for _, _, roles, _ in CLI_PATHS)
