"""A client's whole journey in the browser, against the real services: intake (with the API's 422 at the field)
→ consent → referral (the consent gate's answer before sending) → the partner accepts, schedules, reports →
assessment, plan, milestone (a stale version's 409), goal → the referral closed → the case closed. axe-core checks
every page on the way."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta

from playwright.async_api import expect

from .conftest import TEAM, UNNA
from .pages import AXE_RESULTS, Person


async def gate_answer(cm: Person, timeout_s: float = 30) -> str:
    """Ask the gate until the referrals service knows the case's consent (it learns it over Kafka)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await cm.page.get_by_role("button", name="Einwilligung prüfen").click()
        text = await cm.page.locator("#gate-answer").inner_text()
        if "keine Einwilligung erfasst" not in text or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.2)


async def test_a_clients_journey_from_intake_to_closure(web, people, chromium):
    cm = await Person.open(chromium, web)
    page = cm.page
    await cm.sign_in(people.tokens["manager"])
    await expect(page.get_by_role("heading", name="Wiedervorlagen")).to_be_visible()  # the cases service's /worklist
    await cm.accessible("Arbeitsliste", screenshot="arbeitsliste")

    # intake: the API's 422 shows at the field, then the client is registered and the case opened
    await page.get_by_role("link", name="Neue Aufnahme").click()
    await cm.accessible("Aufnahme")
    await page.get_by_role("button", name="Registrieren und Fall eröffnen").click()
    await expect(page.locator("#main-name")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#main-name-error")).to_contain_text("Bitte ausfüllen")
    await cm.accessible("Aufnahme mit Fehlern", screenshot="aufnahme-fehler")
    name = f"Yasmin Darwish {people.tag}"
    await page.locator("#main-name").fill(name)
    await page.locator("#main-date-of-birth").fill("1991-05-17")
    await page.locator("#main-languages").fill("ar, de")
    await page.locator("#main-arrival-year").fill("2015")
    await expect(page.locator("#main-municipality")).to_have_value(UNNA)  # from the token
    await expect(page.locator("#main-team-organisation-id")).to_have_value(TEAM)
    await page.locator("#main-access-channel").select_option("jobcenter")
    await page.get_by_role("button", name="Registrieren und Fall eröffnen").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    case_url = page.url.split("?")[0]
    case_id = case_url.rsplit("/", 1)[1]
    await expect(page.locator(".lead")).to_contain_text("Erstkontakt")

    # consent for the partner: work and training, identity and qualifications
    consents = cm.section("Einwilligungen")
    await consents.get_by_text("Einwilligung erfassen").click()
    await consents.get_by_label(people.partner_name).check()
    await consents.get_by_label("Arbeitsmarktintegration").check()
    await consents.get_by_label("Stammdaten").check()
    await consents.get_by_label("Arbeit und Qualifikation").check()
    await consents.get_by_label("Aufgeklärt in der Sprache").select_option("ar")
    await consents.get_by_role("button", name="Einwilligung speichern").click()
    await expect(page.get_by_role("status")).to_contain_text("Einwilligung erfasst.")
    await expect(cm.section("Einwilligungen").locator("tbody")).to_contain_text("gültig")
    await cm.accessible("Fallseite", screenshot="fallseite")

    # the referral: the gate names what is missing (health) before anything is sent, then covers the right one
    await page.get_by_role("link", name="Neue Vermittlung …").click()
    await page.get_by_label("Partnerorganisation").select_option(people.partner_id)
    await page.get_by_label("Zweck").select_option("arbeitsmarktintegration")
    await page.get_by_label("Stammdaten").check()
    await page.get_by_label("Gesundheit (besondere Kategorie)").check()
    answer = await gate_answer(cm)
    assert "Gesundheit (besondere Kategorie) ist nicht abgedeckt" in answer, answer
    await expect(page.get_by_role("button", name="Vermittlung senden")).to_have_count(0)
    await cm.accessible("Vermittlung: Einwilligung fehlt", screenshot="vermittlung-einwilligung-fehlt")
    await page.get_by_label("Gesundheit (besondere Kategorie)").uncheck()
    await page.get_by_label("Arbeit und Qualifikation").check()
    assert "deckt diese Vermittlung ab" in await gate_answer(cm)
    await page.get_by_role("button", name="Vermittlung senden").click()
    await expect(page.get_by_role("status")).to_contain_text("Vermittlung gesendet.")
    await expect(cm.section("Vermittlungen").locator("tbody")).to_contain_text("angefragt")

    # the partner: accepts, schedules (an empty date gets the API's 422 at the field), reports a placement
    partner = await Person.open(chromium, web)
    await partner.sign_in(people.tokens["partner"])
    assert partner.page.url.split("?")[0].endswith("/partner")
    card = partner.page.locator("section.referral").first
    await expect(card).to_contain_text("angefragt")
    assert name not in await partner.page.content()  # pseudonymous
    await partner.accessible("Posteingang Partner", screenshot="posteingang-partner")
    await card.get_by_role("button", name="Annehmen").click()
    await expect(partner.page.get_by_role("status")).to_contain_text("Vermittlung angenommen.")
    card = partner.page.locator("section.referral").first
    await card.get_by_role("button", name="Termin eintragen").click()
    await expect(partner.page.locator("[aria-invalid=true]")).to_have_count(1)
    await partner.accessible("Posteingang mit Fehler")
    appointment = date.today() + timedelta(days=14)
    card = partner.page.locator("section.referral").first
    await card.get_by_label("Termin am").fill(appointment.isoformat())
    await card.get_by_role("button", name="Termin eintragen").click()
    await expect(partner.page.get_by_role("status")).to_contain_text("Termin eingetragen.")
    card = partner.page.locator("section.referral").first
    await card.get_by_label("Ergebnis").select_option("vermittelt")
    await card.get_by_role("button", name="Ergebnis melden").click()
    await expect(partner.page.locator("section.referral").first).to_contain_text("Ergebnis gemeldet")
    await partner.close()

    # the case side sees it, closes the referral, and works the case to its end
    await page.goto(case_url)
    referrals = cm.section("Vermittlungen")
    await expect(referrals.locator("tbody")).to_contain_text("Ergebnis gemeldet")
    await expect(referrals.locator("tbody")).to_contain_text(appointment.strftime("%d.%m.%Y"))
    await expect(referrals.locator("tbody")).to_contain_text("vermittelt")
    await referrals.get_by_role("button", name="Vermittlung abschließen").click()
    await expect(cm.section("Vermittlungen").locator("tbody")).to_contain_text("abgeschlossen")

    assessment = cm.section("Clearing").locator("details", has_text="Clearing erfassen")
    await assessment.get_by_text("Clearing erfassen").click()
    await assessment.get_by_label("Bedarf Arbeit und Ausbildung").select_option("hoch")
    await assessment.get_by_label("Ressourcen Arbeit und Ausbildung").select_option("mittel")
    await assessment.get_by_label("Rechtskreis").select_option("SGB_II")
    await assessment.get_by_role("button", name="Clearing speichern").click()
    await expect(page.get_by_role("status")).to_contain_text("Clearing abgeschlossen.")

    plan = cm.section("Hilfeplan und Ziele")
    await plan.get_by_text("Hilfeplan vereinbaren").click()
    await page.locator("#plan-goals-0-domain").select_option("arbeit")
    await page.locator("#plan-goals-0-target-date").fill(f"{date.today().year + 1}-06-30")
    await page.locator("#plan-goals-0-responsible-organisation-id").select_option(people.partner_id)
    await plan.get_by_role("button", name="Hilfeplan speichern").click()
    await expect(page.get_by_role("status")).to_contain_text("Hilfeplan vereinbart.")

    # someone else records a milestone meanwhile: this page's version is stale, the API's 412 says so
    await people.api["manager"].expect(201, "POST", "cases", f"/cases/{case_id}/milestones",
                                       {"milestone": "sprachkurs_beginn"})
    milestone = cm.section("Meilensteine")
    await milestone.get_by_text("Meilenstein erfassen").click()
    await milestone.get_by_label("Meilenstein").select_option("beschaeftigung_beginn")
    await milestone.get_by_role("button", name="Meilenstein speichern").click()
    await expect(page.get_by_role("alert")).to_contain_text("inzwischen von jemand anderem geändert")
    await cm.accessible("Fallseite mit Konflikt")
    await cm.section("Meilensteine").get_by_role("button", name="Meilenstein speichern").click()  # values kept
    await expect(page.get_by_role("status")).to_contain_text("Meilenstein erfasst.")
    await expect(cm.section("Meilensteine")).to_contain_text("sozialversicherungspflichtige Beschäftigung begonnen")

    await cm.section("Hilfeplan und Ziele").get_by_role("button", name="Ziel aktualisieren").first.click()
    await expect(cm.section("Hilfeplan und Ziele").locator("tbody")).to_contain_text("erreicht")
    await page.locator("#closure-reason").select_option("ziele_erreicht")
    await page.get_by_role("button", name="Fall abschließen").click()
    await expect(page.get_by_role("status")).to_contain_text("Fall abgeschlossen.")
    await expect(page.locator(".lead")).to_contain_text("Abgeschlossen")

    # the timeline: who did what, when (Berlin time, de-DE)
    timeline = cm.section("Verlauf")
    for what in ("Fall eröffnet", "Einwilligung erteilt", "Clearing abgeschlossen", "Hilfeplan vereinbart",
                 "Meilenstein erreicht", "Ziel erreicht", "Fall abgeschlossen"):
        await expect(timeline).to_contain_text(what)
    await expect(timeline).to_contain_text(f"cm-{people.tag}")
    await expect(timeline).to_contain_text(date.today().strftime("%d.%m.%Y"))
    await cm.accessible("Fallseite abgeschlossen")
    await cm.close()
    assert all(v == 0 for v in AXE_RESULTS.values())
