"""Withdrawal shows the referrals it revoked (and the partner is told to purge); erasure by a team lead, with a
confirmation, leaves no name on any page; refusals (403/404) are German pages; reports and staffing show the
services' figures, with the reporting service's suppression."""

from __future__ import annotations

from datetime import date

from playwright.async_api import expect

from ..support import eventually
from .conftest import TEAM, UNNA
from .pages import Person


async def case_with_referral(people) -> tuple[str, str, str]:
    """Through the APIs (the journey test drives these steps in the browser): client, case, consent, referral."""
    m = people.api["manager"]
    name = f"Olena Kovalenko {people.tag}"
    client = await m.expect(201, "POST", "cases", "/clients", {"name": name, "languages": ["uk"]})
    case = await m.expect(201, "POST", "cases", "/cases", {
        "client_id": client["client_id"], "municipality": UNNA, "team": "stadt", "team_organisation_id": TEAM,
        "access_channel": "selbstmeldung"})
    await m.expect(201, "POST", "cases", f"/cases/{case['case_id']}/consents", {
        "recipients": [people.partner_id], "purposes": ["arbeitsmarktintegration"],
        "data_categories": ["stammdaten", "arbeit_qualifikation"], "form": "schriftlich", "informed_in": "uk"})

    async def refer():
        r = await m.request("POST", "referrals", "/referrals", {
            "case_id": case["case_id"], "to_organisation_id": people.partner_id,
            "purpose": "arbeitsmarktintegration", "data_categories": ["stammdaten"]})
        return r.json() if r.status_code == 201 else None

    referral = await eventually(refer, what="the referrals service knows the case's consent")
    return name, case["case_id"], referral["referral_id"]


async def test_a_withdrawal_shows_the_referrals_it_revoked(web, people, chromium):
    name, case_id, referral_id = await case_with_referral(people)
    cm = await Person.open(chromium, web)
    await cm.sign_in(people.tokens["manager"])
    await cm.goto(f"/faelle/{case_id}")
    await expect(cm.page.locator(f"tr[data-referral='{referral_id}']")).to_have_attribute("data-state", "requested")
    consents = cm.section("Einwilligungen")
    await consents.get_by_text("Einwilligung widerrufen").click()
    await consents.get_by_role("button", name="Widerruf erfassen").click()
    notice = cm.section("Folgen des Widerrufs")
    await expect(notice).to_contain_text(people.partner_name)
    await expect(notice).to_contain_text("Einwilligung widerrufen")
    await expect(cm.page.locator(f"tr[data-referral='{referral_id}']")).to_have_attribute("data-state", "revoked")
    await expect(consents.locator("tbody")).to_contain_text("widerrufen")
    await cm.accessible("Fallseite nach Widerruf", screenshot="widerruf")
    await cm.close()

    partner = await Person.open(chromium, web)
    await partner.sign_in(people.tokens["partner"])
    # its only referral is revoked: gone from the inbox, as from its compacted topic (the API answers 410 Gone)
    await expect(partner.page.locator("section.referral")).to_have_count(0)
    await expect(partner.page.get_by_text("Keine Vermittlungen.")).to_be_visible()
    await partner.close()


async def test_a_team_lead_erases_a_client_after_confirming(web, people, chromium):
    name, case_id, _ = await case_with_referral(people)
    cm = await Person.open(chromium, web)
    await cm.sign_in(people.tokens["manager"])
    await cm.goto(f"/faelle/{case_id}")
    await expect(cm.page.get_by_role("heading", level=1)).to_contain_text(name)
    await expect(cm.page.get_by_role("link", name="Personenbezogene Daten löschen")).to_have_count(0)  # not theirs
    await cm.close()

    lead = await Person.open(chromium, web)
    await lead.sign_in(people.tokens["lead"])
    await lead.goto(f"/faelle/{case_id}")
    await lead.page.get_by_role("link", name="Personenbezogene Daten löschen").click()
    await expect(lead.page.locator("main")).to_contain_text(name)
    await lead.accessible("Löschen bestätigen", screenshot="loeschen")
    await lead.page.get_by_role("button", name="Endgültig löschen").click()  # not confirmed yet
    await expect(lead.page.locator("#main-confirm")).to_have_attribute("aria-invalid", "true")
    client = await people.api["manager"].expect(200, "GET", "cases", f"/clients/{await case_client(people, case_id)}")
    assert client["personal"]["name"] == name  # the unconfirmed attempt erased nothing
    await expect(lead.page.locator("#main-ground")).to_have_attribute("aria-invalid", "true")  # ground missing
    await lead.page.get_by_label("Rechtsgrund der Löschung").select_option("widerspruch")
    await lead.page.get_by_label("Aktenzeichen des Löschantrags").fill("DSGVO-2026-0042")
    await lead.page.get_by_label("Ich bestätige").check()
    await lead.page.get_by_role("button", name="Endgültig löschen").click()
    await expect(lead.page.get_by_role("status")).to_contain_text("gelöscht")
    await expect(lead.page.get_by_role("heading", level=1)).to_contain_text("Daten gelöscht")
    assert name not in await lead.page.content()
    await lead.accessible("Fallseite nach Löschung")
    await lead.close()


async def case_client(people, case_id: str) -> str:
    return (await people.api["manager"].expect(200, "GET", "cases", f"/cases/{case_id}"))["client"]["client_id"]


async def test_refusals_are_german_pages_and_nothing_is_shown_without_sign_in(web, people, chromium):
    _, case_id, _ = await case_with_referral(people)
    anonymous = await Person.open(chromium, web)
    await anonymous.goto(f"/faelle/{case_id}")
    assert anonymous.page.url.split("?")[0].endswith("/anmelden")
    await anonymous.accessible("Anmelden", screenshot="anmelden")
    await anonymous.close()

    stranger = await Person.open(chromium, web)  # a case manager of another team and municipality
    await stranger.sign_in(people.tokens["stranger"])
    response = await stranger.goto(f"/faelle/{case_id}")
    assert response.status in (403, 404)
    await expect(stranger.page.locator("main")).to_contain_text("nicht" if response.status == 404 else "nicht erlaubt")
    await stranger.accessible("Fehlerseite (fremder Fall)")
    response = await stranger.goto("/faelle/kein-solcher-fall")
    assert response.status == 404
    await expect(stranger.page.locator("main")).to_contain_text("Das Gesuchte gibt es nicht")
    await stranger.close()


async def test_reports_and_staffing_show_the_services_figures_in_german(web, people, chromium):
    await case_with_referral(people)
    today = date.today()
    first = today.replace(year=today.year - 1, month=1, day=1).isoformat()
    lead = await Person.open(chromium, web)
    await lead.sign_in(people.tokens["lead"])
    await lead.goto(f"/berichte?period=quarter&from={first}&to={today.isoformat()}")
    api = await people.api["lead"].expect(200, "GET", "reporting",
                                          f"/indicators?period=quarter&from={first}&to={today.isoformat()}")
    active = {c["period"]: c for c in api["cells"] if c["indicator"] == "active_cases"}
    table = lead.page.locator("[data-indicator=active_cases] tbody tr").first
    for period, cell in active.items():
        shown = await table.locator(f"td[data-period='{period}']").inner_text()
        expected = "unterdrückt" if cell["suppressed"] else f"{cell['value']:,}".replace(",", ".")
        assert shown == expected, (period, shown, cell)
    assert any(c["suppressed"] for c in api["cells"])  # small numbers exist here, and the page hides them too
    await expect(lead.page.locator("td.suppressed").first).to_have_text("unterdrückt")
    await lead.accessible("Berichte", screenshot="berichte")
    await lead.goto("/personal")
    await expect(lead.page.get_by_role("heading", level=1)).to_have_text("Personal: Stellen und Fallzahlen")
    await lead.accessible("Personal", screenshot="personal")
    await lead.close()
