"""The web app against fake services (unit tier): CSRF on every form, sign-in and its cookie, what each role is
offered, and the services' refusals shown at the field or as German messages."""

from __future__ import annotations

import re

import pytest

from kim_web.adapters.transport import ApiError
from kim_web.application.messages import problem

from .fakes import CASE, FakeServices, client, sign_in, token

FORMS = ["/anmelden", "/abmelden", "/aufnahme", "/faelle/case-1/aktion/consent", "/faelle/case-1/aktion/closure",
         "/faelle/case-1/ziele/g-1", "/faelle/case-1/einwilligungen/k-1/widerruf",
         "/faelle/case-1/vermittlungen/r-1/abschliessen", "/faelle/case-1/loeschen", "/faelle/case-1/vermittlung",
         "/partner/r-1/accept", "/partner/r-1/outcome"]


def test_every_form_route_is_in_the_csrf_matrix():
    from kim_web.entrypoints import app as app_module
    posted = [r.path for m in app_module.PAGES for r in m.router.routes if "POST" in getattr(r, "methods", set())]
    patterns = [re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$") for p in posted]
    assert len(posted) == 10
    assert all(any(p.match(f) for f in FORMS) for p in patterns)


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize("csrf", [None, "", "another-browsers-token"])
def test_a_form_without_this_browsers_csrf_token_is_refused_before_any_service_is_called(path, csrf):
    fakes = FakeServices()
    with client(fakes) as web:
        sign_in(web, "team_lead", team="stadt-unna")
        data = {"reason": "ziele_erreicht", "confirm": "on", "token": token("admin")}
        if csrf is not None:
            data["csrf"] = csrf
        response = web.post(path, data=data)
    assert response.status_code == 403 and "Formular abgelehnt" in response.text
    assert fakes.posts() == []


@pytest.mark.parametrize("path", ["/", "/aufnahme", "/faelle/case-1", "/faelle/case-1/vermittlung", "/partner",
                                  "/berichte", "/personal", "/faelle/case-1/loeschen"])
def test_every_page_needs_a_sign_in(path):
    with client(FakeServices()) as web:
        response = web.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/anmelden"


@pytest.mark.parametrize("secure,setting,expected", [("http", None, False), ("https", None, True),
                                                     ("http", True, True), ("https", False, False)])
def test_sign_in_keeps_the_token_in_an_httponly_strict_cookie_never_in_the_url(secure, setting, expected):
    fakes = FakeServices()
    tok = token("case_manager", team="stadt-unna")
    with client(fakes, secure_cookies=setting) as web:
        web.base_url = f"{secure}://web"
        web.cookies.set("kim_csrf", "csrf-1")
        response = web.post("/anmelden", data={"csrf": "csrf-1", "token": tok})
    assert response.status_code == 303 and tok not in response.headers["location"]
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("kim_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and ("Secure" in cookie) == expected
    assert fakes.calls[-1].headers["Authorization"] == f"Bearer {tok}"  # the service was asked whether it is good


@pytest.mark.parametrize("status,shown", [(401, "nicht angenommen"), (403, "nicht angenommen"),
                                          (503, "nicht angenommen")])
def test_a_token_the_services_refuse_does_not_sign_in(status, shown):
    fakes = FakeServices()
    fakes.on("GET", "http://cases/cases", status, {"detail": "the token is not valid"})
    with client(fakes) as web:
        web.cookies.set("kim_csrf", "csrf-1")
        response = web.post("/anmelden", data={"csrf": "csrf-1", "token": token("case_manager")})
    assert response.status_code in (422, 502) and shown in response.text
    assert "kim_session=" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("text", ["", "kein token", "a.b.c", token("admin", exp=1)])
def test_what_is_not_a_current_token_is_refused_in_german(text):
    with client(FakeServices()) as web:
        web.cookies.set("kim_csrf", "csrf-1")
        response = web.post("/anmelden", data={"csrf": "csrf-1", "token": text})
    assert response.status_code == 422 and ("kein gültiges Token" in response.text or "abgelaufen" in response.text)


@pytest.mark.parametrize("role,forms,erase", [("case_manager", True, False), ("team_lead", True, True),
                                              ("admin", True, True), ("auditor", False, False)])
def test_the_case_page_offers_what_the_role_may_do(role, forms, erase):
    with client(FakeServices()) as web:
        sign_in(web, role, team="stadt-unna")
        page = web.get("/faelle/case-1").text
    assert ("Einwilligung speichern" in page) == forms and ("Fall abschließen" in page) == forms
    assert ("/faelle/case-1/loeschen" in page) == erase
    assert 'lang="de"' in page and "Amal Nasser" in page


def test_a_422_is_shown_at_the_field_it_names_and_the_values_stay():
    fakes = FakeServices()
    fakes.on("POST", "http://cases/cases/case-1/closure", 422, {"detail": "invalid input: reason", "errors": [
        {"field": "reason", "message": "Input should be 'ziele_erreicht', ...", "type": "enum"}]})
    with client(fakes) as web:
        sign_in(web, "case_manager")
        response = web.post("/faelle/case-1/aktion/closure", data={"csrf": "csrf-1", "version": "3",
                                                                    "reason": "quatsch", "closed_on": "1.4.2025"})
    assert response.status_code == 422
    assert 'id="closure-reason" name="reason" required aria-describedby="closure-reason-error" aria-invalid="true"' \
        in response.text
    assert "Bitte einen der angebotenen Werte wählen." in response.text and 'value="1.4.2025"' in response.text
    sent = fakes.posts()[0]
    assert sent.headers["If-Match"] == '"3"' and sent.read() == b'{"reason":"quatsch","closed_on":"2025-04-01"}'


def test_the_intake_registers_the_client_once_even_when_opening_the_case_is_refused():
    fakes = FakeServices()
    fakes.on("POST", "http://cases/clients", 201, {"client_id": "client-9", "version": 1})
    fakes.on("POST", "http://cases/cases", 422, {"errors": [{"field": "municipality", "message": "bad",
                                                             "type": "string_pattern_mismatch"}]})
    with client(fakes) as web:
        sign_in(web, "case_manager", team="stadt-unna", municipality="05978036")
        first = web.post("/aufnahme", data={"csrf": "csrf-1", "name": "Amal", "municipality": "x"})
        assert first.status_code == 422 and 'name="client_id" value="client-9"' in first.text
        fakes.on("POST", "http://cases/cases", 201, {"case_id": "case-1"})
        second = web.post("/aufnahme", data={"csrf": "csrf-1", "client_id": "client-9", "municipality": "05978036",
                                             "team": "stadt", "team_organisation_id": "stadt-unna",
                                             "access_channel": "jobcenter"})
    assert second.status_code == 303 and second.headers["location"] == "/faelle/case-1?ok=aufnahme"
    assert [str(c.url) for c in fakes.posts()].count("http://cases/clients") == 1


@pytest.mark.parametrize("status,body,says", [
    (403, {"detail": "role"}, "nicht erlaubt"), (404, {"detail": "no"}, "gibt es nicht"),
    (409, {"detail": "stale", "current_version": 4}, "inzwischen von jemand anderem geändert"),
    (412, {"type": "urn:kim:problem:stale-precondition", "title": "The resource changed since the ETag you sent",
           "status": 412, "detail": "stale", "current_version": 4}, "inzwischen von jemand anderem geändert"),
    (409, {"detail": "no consent", "missing": ["recipient x"]}, "Einwilligung deckt diese Vermittlung nicht ab"),
    (409, {"detail": "closed"}, "so nicht möglich"), (503, {"detail": "down"}, "nicht erreichbar"),
    (500, {"detail": "boom"}, "einen Fehler gemeldet")])
def test_each_refusal_has_its_german_message(status, body, says):
    from .fakes import httpx
    from kim_web.adapters.transport import _error
    err = _error("cases", httpx.Response(status, json=body))
    assert isinstance(err, ApiError) and says in problem(err).message
    assert problem(err).reason == body["detail"]


def test_a_session_the_services_no_longer_accept_ends_with_a_sign_in():
    fakes = FakeServices()
    fakes.on("GET", "http://cases/cases/case-1", 401, {"detail": "the token has expired"})
    with client(fakes) as web:
        sign_in(web, "case_manager")
        response = web.get("/faelle/case-1")
    assert response.status_code == 303 and response.headers["location"] == "/anmelden?grund=abgelaufen"
    assert CASE["client"]["name"] not in response.text


@pytest.mark.parametrize("index", ["²", "①", "1" * 400, "-1", "x"])
def test_a_demo_index_that_is_no_number_is_a_refused_sign_in_not_a_crash(index):
    """The stranger's probe: '²' passed str.isdigit() and int() raised, a 500 on the sign-in page."""
    fakes = FakeServices()
    with client(fakes) as web:
        web.cookies.set("kim_csrf", "csrf-1")
        response = web.post("/anmelden", data={"csrf": "csrf-1", "token": "", "demo": index})
    assert response.status_code == 422 and "kein gültiges Token" in response.text


@pytest.mark.parametrize("reference", ["Antrag Zyxwq ProbemannD geb 05.06.1987", "AZ 1", "-AZ", "A" * 41])
def test_the_erasure_form_takes_a_file_number_only_and_never_sends_free_text(reference):
    fakes = FakeServices()
    with client(fakes) as web:
        sign_in(web, "team_lead")
        response = web.post("/faelle/case-1/loeschen", data={"csrf": "csrf-1", "ground": "widerspruch",
                                                              "request_reference": reference, "confirm": "on"})
    assert response.status_code == 422 and "ohne Leerzeichen" in response.text
    assert [str(c.url) for c in fakes.posts()] == []  # the cases service never saw it


def test_the_erasure_form_sends_a_file_number_on():
    fakes = FakeServices()
    with client(fakes) as web:
        sign_in(web, "team_lead")
        web.post("/faelle/case-1/loeschen", data={"csrf": "csrf-1", "ground": "widerspruch",
                                                  "request_reference": " DSGVO-2026/0042 ", "confirm": "on"})
    [sent] = fakes.posts()
    assert str(sent.url).endswith("/erasure") and b'"request_reference":"DSGVO-2026/0042"' in sent.read()
