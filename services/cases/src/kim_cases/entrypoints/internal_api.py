"""HTTP, internal, for the referrals service only: the consent gate's decision, and the personal data a consent
shares with a partner.

GET /internal/cases/{case_id}/consent-decision decides whether a consent of the case (the one named, or the first
that covers it) covers recipient × purpose × data categories on a day (kim_cases.domain.consent_gate): the cases
service owns the consents and their dates, so they never have to be published for this. Policy action
internal.consent_decision.read (service token, sub = kim-referrals). Answers `met`, every reason it is not, and
what the consent examined grants (its id, recipients, purposes and categories left after withdrawals, its validity
and whether it was withdrawn), which the referrals service records as kim.referrals.ConsentChecked. An erased
client's case has no consent that covers anything. Nothing personal is read, so nothing is access-logged.

GET /internal/cases/{case_id}/consented-person answers the fields of the categories asked for that the consent still
covers for that recipient and purpose today (kim_schemas.codes.PERSON_FIELDS: stammdaten -> name and date of birth,
kontaktdaten -> address and contact, sprache_bildung -> languages), decrypted with the client's key on this request. Only a service token of the referrals
service gets here (policy action internal.consented_person.read, role service, and sub = kim-referrals). The read
is recorded in the client's access log with the partner organisation as the reader (`partner:<org>`) and the
partner's referral id in `via`. Refused with a problem detail (410, `reason`) when the consent no longer covers it
(withdrawn: einwilligung_widerrufen, expired: einwilligung_abgelaufen) or the client was erased (loeschung).

GET /internal/clients/{client_id}/sealing-key, for the reporting service only (policy action
internal.sealing_key.read, service token with sub = kim-reporting; every other caller 403 whether or not the client
exists): the client's sealing key (HKDF-SHA256 of the data key, info "kim-reporting"), which opens the sealed dates
and codes of the client's case events (kim_schemas.sealing) and nothing else. 410 once the client's key is destroyed
(erased; also for an id that never had a key): the reporting service then skips the client's events.
"""

from __future__ import annotations

import base64

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from kim_runtime.auth import REFERRALS_SERVICE, REPORTING_SERVICE, Principal, Role
from kim_runtime.errors import Gone
from kim_runtime.problems import refused
from kim_runtime import sealing
from kim_runtime.scheduler import local_day
from kim_runtime.types import Day, Id, OrganisationId
from kim_schemas.codes import PERSON_FIELDS, ConsentPurpose, DataCategory

from kim_cases.adapters import crypto
from kim_cases.adapters.events import CommandContext
from kim_cases.application.services import Services
from kim_cases.domain.consent_gate import Consent, choose_consent
from kim_cases.entrypoints.deps import caller, services

router = APIRouter(prefix="/internal", tags=["internal (service tokens only)"])

FIELDS = {c.value: fields for c, fields in PERSON_FIELDS.items()}  # the rest of the client's file is never opened


@router.get("/cases/{case_id}/consent-decision",
            summary="Whether a consent of the case covers a referral on a day (referrals service only)")
async def consent_decision(case_id: str, on: Annotated[Day, Query(description="The day the referral is requested")],
                           recipient: OrganisationId = Query(), purpose: ConsentPurpose = Query(),
                           categories: list[DataCategory] = Query(min_length=1, max_length=len(DataCategory)),
                           consent_id: Id | None = Query(None, description="The consent named by the request"),
                           ctx: CommandContext = Depends(caller("internal.consent_decision.read")),
                           s: Services = Depends(services)) -> dict:
    if ctx.principal.sub != REFERRALS_SERVICE:
        raise HTTPException(403, detail="only the referrals service asks for consent decisions")
    case = await s.repo.case(case_id)
    if case.client_erased_at is not None:
        return {"met": False, "granted": None, "reasons": [
            f"the client of case {case_id} was erased: no consent of theirs covers anything any more"]}
    consents = sorted((Consent.of(c) for c in case.consents.values()), key=lambda c: (c.granted_on, c.consent_id))
    chosen, reasons = choose_consent(consents, case_id=case_id, recipient=recipient, purpose=purpose.value,
                                     categories=[c.value for c in categories], today=on, consent_id=consent_id)
    return {"met": not reasons, "reasons": reasons,
            "granted": jsonable_encoder(chosen.granted()) if chosen is not None else None}


@router.get("/cases/{case_id}/consented-person",
            summary="The personal data a consent shares with a partner (referrals service only; recorded)")
async def consented_person(case_id: str, request: Request,
                           consent_id: Id = Query(), recipient: OrganisationId = Query(),
                           purpose: ConsentPurpose = Query(),
                           categories: list[DataCategory] = Query(min_length=1, max_length=len(FIELDS)),
                           reference: Id = Query(description="The partner's id of the referral"),
                           ctx: CommandContext = Depends(caller("internal.consented_person.read")),
                           s: Services = Depends(services)):
    if ctx.principal.sub != REFERRALS_SERVICE:
        raise HTTPException(403, detail="only the referrals service reads consented personal data")
    categories = [c.value for c in categories]
    purpose = purpose.value
    unknown = sorted(set(categories) - set(FIELDS))
    if unknown:
        raise refused("query.categories", f"{unknown} hold no personal fields; ask for {list(FIELDS)}")
    case = await s.repo.case(case_id)
    consent = case.consents.get(consent_id)
    if consent is None:
        raise HTTPException(404, detail=f"case {case_id} has no consent {consent_id}")
    if case.client_erased_at is not None:
        raise Gone("the client's data was erased", reason="loeschung")
    today = local_day(request.app.state.runtime.clock.now())
    status = consent.status(today)
    if status != "active":
        reason = {"withdrawn": "einwilligung_widerrufen", "expired": "einwilligung_abgelaufen"}.get(status, status)
        raise Gone(f"the consent is {status}", reason=reason)
    uncovered = [c for c in categories if not consent.covers(recipient, purpose, c, today)]
    if uncovered:
        raise Gone(f"the consent no longer covers {uncovered} for {recipient}", reason="einwilligung_widerrufen")
    found = await s.keys.get(case.client_id)
    if found is None:
        raise Gone("the client's key is destroyed", reason="loeschung")
    client = await s.repo.client(case.client_id)
    opened = crypto.decrypt(found[1], case.client_id, client.registered.personal)
    if client.registered.profile is not None:  # languages (ClientRegistered v2; v1 data upcast has no profile)
        opened |= crypto.decrypt(found[1], case.client_id, client.registered.profile)
    fields = [f for c in sorted(set(categories)) for f in FIELDS[c]]
    reader = Principal(sub=f"partner:{recipient}", role=Role.PARTNER, organisation=recipient)
    await s.access_log.record(reader, case.client_id, fields,
                              f"referrals: GET /partner/referrals/{reference}/person (partner {recipient})",
                              ctx.correlation_id)
    return {"categories": sorted(set(categories)), "person": {f: opened.get(f) for f in fields}}


@router.get("/clients/{client_id}/sealing-key",
            summary="The key that opens a client's sealed case dates and codes (reporting service only)")
async def sealing_key(client_id: Id, ctx: CommandContext = Depends(caller("internal.sealing_key.read")),
                      s: Services = Depends(services)) -> dict:
    if ctx.principal.sub != REPORTING_SERVICE:
        raise HTTPException(403, detail="only the reporting service reads sealing keys")
    found = await s.keys.get(client_id)
    if found is None:
        raise Gone("the client's key is destroyed (erased) or the client is unknown", reason="loeschung")
    return {"client_id": client_id, "key_id": found[0],
            "sealing_key": base64.b64encode(sealing.derive(found[1])).decode()}
