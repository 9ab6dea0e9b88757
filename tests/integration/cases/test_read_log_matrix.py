"""Every read of a client's personal data is recorded: a matrix generated from the cases service's OpenAPI document.

For each GET operation (its path parameters filled with a seeded client's ids, its required query parameters with
values that make it answer, and once more with each optional parameter that opens more: `personal=true`, `as_of`,
`at`) × every role that may read (case manager, team lead, auditor, admin, and the two service tokens): when the
answer is 200 and shows one of the client's personal fields in clear, the client's access log (GET
/clients/{id}/reads) must have grown. "Personal" is the set the audit route counts as such: the labels of what it
opened (`fields_read` of GET /audit/cases/{id}?personal=true on the same case), the fields inside `personal` and the
profile, and a special category (health) shown in clear. A field shows in clear unless it is absent, null, or
"withheld" / "erased" (or still encrypted). A new GET route that shows personal data without recording the read
fails here without anyone adding a row.
"""

from __future__ import annotations

import pytest
from kim_runtime.auth import REFERRALS_SERVICE, REPORTING_SERVICE, Role, service_token
from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET

from kim_cases.application.personal import PERSONAL_FIELDS, PROFILE_FIELDS, mentions_health

from .conftest import ADMIN, AUDITOR, MANAGER, TEAM_LEAD, Api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NOT_SHOWN = ("withheld", "erased", "unreadable")
NAME, NOTES, LANGUAGE = "Amina Haddad", "Gespräch über die Gesundheit der Tochter", "ar"


def roles() -> dict[str, dict[str, str]]:
    """The callers, service tokens minted now: they live 5 minutes, and a suite can take longer than that from
    collecting this module to running it."""
    return {"case_manager": MANAGER, "team_lead": TEAM_LEAD, "auditor": AUDITOR, "admin": ADMIN,
            "kim-referrals": {"Authorization": f"Bearer {service_token(DEV_SERVICE_TOKEN_SECRET, REFERRALS_SERVICE)}"},
            "kim-reporting": {"Authorization": f"Bearer {service_token(DEV_SERVICE_TOKEN_SECRET, REPORTING_SERVICE)}"}}


# values that make each query parameter answer for the seeded case (a required one without a value here fails)
QUERY = {"recipient": "abh-unna", "purpose": "aufenthaltssicherung", "categories": "stammdaten", "on": "2025-02-01",
         "reference": "ref-matrix-1", "personal": "true", "as_of": "2025-06-01", "at": "2099-01-01T00:00:00Z"}
# optional parameters that open more: each gets a cell of its own
OPENING = ("personal", "as_of", "at")


async def seed(api: Api) -> dict[str, str]:
    client_id = await api.client(NAME)
    case_id = await api.case(client_id)
    consent_id = await api.consent(case_id, informed_in=LANGUAGE, data_categories=["aufenthalt", "stammdaten"])
    await api.post(f"/cases/{case_id}/assessment", {"assessed_on": "2025-01-12", "rechtskreis": "SGB_II",
                                                    "domains": [{"domain": "gesundheit", "need": "hoch",
                                                                 "resources": "mittel"}]})
    await api.post(f"/cases/{case_id}/plan", {"agreed_on": "2025-01-15", "goals": [
        {"goal_id": "g1", "domain": "gesundheit", "target_date": "2025-12-01",
         "responsible_organisation_id": "awo"}]}, expect=201)
    await api.post(f"/cases/{case_id}/reviews", {"held_on": "2025-03-01", "notes": NOTES}, expect=201)
    return {"client_id": client_id, "case_id": case_id, "consent_id": consent_id}


def is_encrypted(value) -> bool:
    return isinstance(value, dict) and {"key_id", "nonce", "ciphertext"} <= value.keys()


def leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def shown(value) -> bool:
    """A personal field's value in clear. A composite one (the profile with its clear bands, a goal list with its
    ids) counts as withheld when the reader put "withheld" / "erased" in its place inside it."""
    if value is None or is_encrypted(value):
        return False
    found = [leaf for leaf in leaves(value) if leaf is not None]
    return bool(found) and not any(leaf in NOT_SHOWN for leaf in found)


def personal_in_clear(body, keys: frozenset[str]) -> set[str]:
    """The personal fields `body` shows in clear, wherever they sit in it."""
    found: set[str] = set()
    if isinstance(body, dict):
        for k, v in body.items():
            if k in keys and shown(v):
                found.add(k)
            found |= personal_in_clear(v, keys)
    elif isinstance(body, list):
        for v in body:
            found |= personal_in_clear(v, keys)
    return found


def cells(api: Api, ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """(path template, query) of every GET operation of the document, once plain and once per opening parameter;
    a parameter named like a seeded id (consent_id) gets that id."""
    values, out = QUERY | ids, []
    for path, methods in api.app.openapi()["paths"].items():
        operation = methods.get("get")
        if operation is None or operation["x-kim-action"] == "public":
            continue
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        required = {p["name"]: values[p["name"]] for p in query if p.get("required")}
        out.append((path, required))
        out += [(path, required | {p["name"]: values[p["name"]]}) for p in query if p["name"] in OPENING]
    return out


async def reads(api: Api, client_id: str) -> int:
    return len(await api.get(f"/clients/{client_id}/reads", headers=AUDITOR, params={"limit": 1000}))


async def test_every_get_that_shows_personal_data_records_the_read(api: Api):
    ids = await seed(api)
    counted = await api.get(f"/audit/cases/{ids['case_id']}", headers=AUDITOR, params={"personal": "true"})
    labels = set(counted["fields_read"])
    assert {"personal", "informed_in", "notes"} <= labels, labels  # the audit route opened them all
    keys = frozenset(labels | set(PERSONAL_FIELDS) | set(PROFILE_FIELDS))

    answered, unrecorded, showing = [], [], set()
    callers = roles()
    matrix = cells(api, ids)
    for path, query in matrix:
        url = path.format(**ids)
        for role, headers in callers.items():
            before = await reads(api, ids["client_id"])
            r = await api.call("GET", url, headers=headers, params=query)
            if r.status_code != 200:
                continue
            answered.append((path, role))
            body = r.json()
            found = personal_in_clear(body, keys) | ({"health"} if mentions_health(body) else set())
            if not found:
                continue
            showing.add((path, role))
            if await reads(api, ids["client_id"]) == before:
                unrecorded.append(f"GET {url} {query} as {role} showed {sorted(found)} and recorded no read")
    assert not unrecorded, "\n".join(unrecorded)
    # the matrix reached what it means to: the reads that show personal data, by the roles that may see it
    for path in ("/clients/{client_id}", "/clients/{client_id}/consents", "/clients/{client_id}/history",
                 "/cases/{case_id}", "/cases/{case_id}/history", "/audit/cases/{case_id}"):
        assert any(p == path for p, _ in showing), f"GET {path} showed no personal field to any role"
    assert ("/internal/cases/{case_id}/consented-person", "kim-referrals") in showing
    print(f"\nread-log matrix: {len(matrix)} GET cells x {len(callers)} roles; {len(answered)} answered 200, "
          f"{len(showing)} showed personal fields, all recorded")


async def test_the_consent_ledger_records_the_language_it_shows(api: Api):
    """The probe's case: GET /clients/{id}/consents showed `informed_in` to a case manager and an admin and
    recorded nothing; an auditor sees it withheld, and that look is recorded too."""
    ids = await seed(api)
    client_id = ids["client_id"]
    before = await api.get(f"/clients/{client_id}/reads", headers=AUDITOR)
    for headers in (MANAGER, ADMIN):
        ledger = await api.get(f"/clients/{client_id}/consents", headers=headers)
        assert [c["informed_in"] for c in ledger] == [LANGUAGE]
    withheld = await api.get(f"/clients/{client_id}/consents", headers=AUDITOR)
    assert [c["informed_in"] for c in withheld] == ["withheld"]
    after = (await api.get(f"/clients/{client_id}/reads", headers=AUDITOR))[len(before):]
    assert [(r["role"], r["fields"], r["via"]) for r in after] == [
        (Role.CASE_MANAGER.value, ["informed_in"], f"GET /clients/{client_id}/consents"),
        (Role.ADMIN.value, ["informed_in"], f"GET /clients/{client_id}/consents"),
        (Role.AUDITOR.value, ["informed_in (withheld)"], f"GET /clients/{client_id}/consents")]
