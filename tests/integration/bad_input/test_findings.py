"""The bad inputs that answered 500 (issue 13), each against real data: now a 422 naming the field, nothing written.

Each service first holds real data (a client and a case, a grant and a position, a partner, a report), so a refusal
is not a 404 in disguise: the same request with a good value succeeds (checked for each row).
"""

from __future__ import annotations

import pytest

from .conftest import MANAGER, Service, running

pytestmark = [pytest.mark.postgres]

CLIENT = {"name": "Amina Haddad", "date_of_birth": "1990-04-02", "languages": ["ar"]}
CASE = {"municipality": "05978024", "team": "stadt", "team_organisation_id": "stadt-luenen",
        "access_channel": "jobcenter", "opened_on": "2025-01-10"}
CONSENT = {"recipients": ["abh-unna"], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
           "form": "schriftlich", "informed_in": "ar", "granted_on": "2025-01-10"}
GRANT = {"grant_id": "kim-2025", "baustein": "2", "period_from": "2025-01-01", "period_to": "2025-12-31",
         "vza": "2.0", "rate_per_vza": "56000.00"}
POSITION = {"baustein": "2", "vza": "1.0", "host_organisation_id": "kreis-unna", "municipality": "05978024",
            "funding_source": "kommune", "valid_from": "2025-01-01"}
PARTNER = {"organisation_id": "abh-unna", "name": "Ausländerbehörde Kreis Unna", "kind": "abh"}


async def _ok(svc: Service, method: str, url: str, body=None, headers=None) -> dict:
    r = await svc.call(method, url, json=body, headers=headers)
    assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
    return r.json()


async def cases_setup(svc: Service) -> dict:
    client_id = (await _ok(svc, "POST", "/clients", CLIENT, MANAGER))["client_id"]
    case_id = (await _ok(svc, "POST", "/cases", CASE | {"client_id": client_id}, MANAGER))["case_id"]
    return {"client": client_id, "case": case_id}


async def staffing_setup(svc: Service) -> dict:
    await _ok(svc, "POST", "/grants", GRANT)
    return {"position": (await _ok(svc, "POST", "/positions", POSITION))["position_id"]}


async def referrals_setup(svc: Service) -> dict:
    await _ok(svc, "POST", "/partners", PARTNER)
    return {}


async def reporting_setup(svc: Service) -> dict:
    return {"report": (await _ok(svc, "POST", "/reports", {"period": "2025-Q1"}))["report_id"]}


SETUPS = {"cases": cases_setup, "staffing": staffing_setup, "referrals": referrals_setup,
          "reporting": reporting_setup}

# service, method, url, body (bad), the same with a good value, the field the 422 names
FINDINGS = [
    ("cases", "POST", "/clients", CLIENT | {"date_of_birth": "1899-12-31"}, CLIENT, "date_of_birth"),
    ("cases", "POST", "/clients", CLIENT | {"date_of_birth": "9999-12-31"}, CLIENT, "date_of_birth"),
    ("cases", "POST", "/clients", CLIENT | {"birth_year": 9999, "date_of_birth": None}, CLIENT, "birth_year"),
    ("cases", "POST", "/clients", CLIENT | {"name": "Amina\x00"}, CLIENT, "name"),
    ("cases", "POST", "/clients", CLIENT | {"name": "Amina\ud800"}, CLIENT, "name"),
    ("cases", "POST", "/clients", CLIENT | {"address": "Markt 1\x1b[2J"}, CLIENT, "address"),
    ("cases", "GET", "/cases/{case}%00", None, "/cases/{case}", "path"),
    ("cases", "GET", "/clients/{client}%00x", None, "/clients/{client}", "path"),
    ("cases", "GET", "/clients/{client}%ff", None, "/clients/{client}", "path"),
    ("cases", "GET", "/cases?phase=intake%00", None, "/cases?phase=intake", "query.phase"),
    ("cases", "GET", "/cases/{case}?as_of=9999-12-31", None, "/cases/{case}?as_of=2025-06-01", "query.as_of"),
    ("cases", "POST", "/cases", CASE | {"client_id": "{client}", "municipality": "12345678"},
     CASE | {"client_id": "{client}"}, "municipality"),
    ("cases", "POST", "/cases", CASE | {"client_id": "{client}\x00"}, CASE | {"client_id": "{client}"}, "client_id"),
    ("cases", "POST", "/cases/{case}/consents", CONSENT | {"valid_until": "9999-12-31"}, CONSENT,
     "valid_until"),
    ("cases", "POST", "/cases/{case}/transfer", {"municipality": "05978999", "team": "stadt",
     "team_organisation_id": "stadt-unna", "case_manager_id": "staff-1"}, None, "municipality"),
    ("staffing", "POST", "/positions", POSITION | {"position_id": "stelle-lünen-€"},
     POSITION | {"position_id": "stelle-luenen-1"}, "position_id"),
    ("staffing", "POST", "/positions", POSITION | {"municipality": "99999999"}, POSITION, "municipality"),
    ("staffing", "POST", "/grants", GRANT | {"grant_id": "g-2", "period_to": "9999-12-31"},
     GRANT | {"grant_id": "g-2"}, "period_to"),
    ("staffing", "GET", "/positions?municipality=99999999", None, "/positions?municipality=05978024",
     "query.municipality"),
    ("staffing", "GET", "/positions/{position}%00", None, "/positions/{position}", "path"),
    ("staffing", "GET", "/reports/funded-vs-filled?period_from=2025-01-01&period_to=9999-12-31", None,
     "/reports/funded-vs-filled?period_from=2025-01-01&period_to=2025-12-31", "query.period_to"),
    ("referrals", "POST", "/partners", PARTNER | {"organisation_id": "awo", "municipality": "00000000"},
     PARTNER | {"organisation_id": "awo"}, "municipality"),
    ("referrals", "GET", "/referrals/x%00y", None, None, "path"),
    ("referrals", "GET", "/referrals/" + "r" * 101, None, None, "path.referral_id"),
    ("reporting", "POST", "/reports", {"period": "0000-Q1"}, {"period": "2025-Q2"}, "period"),
    ("reporting", "POST", "/reports", {"period": "2025-Q1", "municipality": "05978999"}, None, "municipality"),
    ("reporting", "GET", "/indicators?from=9999-01-01&to=9999-12-31", None,
     "/indicators?from=2025-01-01&to=2025-12-31", "query.from"),
    ("reporting", "GET", "/indicators?by=municipality%00", None, "/indicators?by=municipality", "query.by"),
    ("reporting", "GET", "/reports/{report}%00", None, "/reports/{report}", "path"),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("name", ["cases", "staffing", "referrals", "reporting"])
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(name, service_db):
    async with running(name, await service_db()) as svc:
        ids = await SETUPS[name](svc)
        headers = MANAGER if name == "cases" else None
        for service, method, url, body, good, field in [f for f in FINDINGS if f[0] == name]:
            before = await svc.state()
            r = await svc.call(method, _fill(url, ids), json=_fill(body, ids), headers=headers)
            assert r.status_code == 422, f"{method} {url}: {r.status_code} {r.text}"
            assert field in [e["field"] for e in r.json()["errors"]], r.text
            assert field in r.json()["detail"]
            assert await svc.state() == before, f"{method} {url} was refused, yet wrote"
            if good is not None:  # the same request with a good value passes: the field alone was wrong
                if isinstance(good, str):
                    await _ok(svc, method, _fill(good, ids), headers=headers)
                else:
                    await _ok(svc, method, _fill(url, ids), _fill(good, ids), headers=headers)


async def test_the_municipalities_are_the_ones_the_service_is_configured_for(service_db):
    unna = POSITION | {"municipality": "05978036"}
    async with running("staffing", await service_db(), municipalities=("05978024",)) as only_luenen, \
            running("staffing", await service_db()) as kreis_unna:
        before = await only_luenen.state()
        for method, url, body, field in (("POST", "/positions", unna, "municipality"),
                                         ("GET", "/positions?municipality=05978036", None, "query.municipality")):
            r = await only_luenen.call(method, url, json=body)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
            assert "unknown municipality 05978036: one of 05978024" in r.text
        assert await only_luenen.state() == before
        await _ok(only_luenen, "POST", "/positions", POSITION)
        await _ok(kreis_unna, "POST", "/positions", unna)  # the default: Kreis Unna's eleven codes
