"""The case side: register partners, refer clients, follow and close referrals, see the consent gate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Header, Request, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.errors import NotFound
from kim_runtime.http import etag, parse_if_match
from kim_runtime.policy import authorize, ensure
from kim_runtime.topics import PARTITIONS, partner_topic
from kim_runtime.types import OrganisationId
from kim_schemas import parse
from kim_schemas.partner import PartnerReferralSealedSnapshot
from kim_schemas.referrals import PartnerCredentialIssued, PartnerRegistered

from ..adapters import gate_sql, referral_sql
from ..adapters.referral_keys import ReferralKey, open_snapshot
from ..application.commands import RequestReferral
from .deps import commands, context
from .scope import case_owner
from .models import ConsentOut, HistoryItem, PartnerCredentialOut, PartnerIn, PartnerOut, ReferralIn, ReferralOut

router = APIRouter(tags=["case side"])


@router.post("/partners", status_code=201, response_model=PartnerOut, summary="Register a partner organisation")
async def register_partner(body: PartnerIn, request: Request,
                           principal: Principal = Depends(authorize("registry.register"))):
    await commands(request).register_partner(PartnerRegistered(**body.model_dump()), context(request, principal))
    # brokers never auto-create topics: the partner's topic exists before anything is published to it
    await request.app.state.runtime.ensure_topics({partner_topic(body.organisation_id): PARTITIONS["partner"]})
    return PartnerOut(**body.model_dump(), topic=partner_topic(body.organisation_id))


@router.post("/partners/{organisation_id}/credentials", status_code=201, response_model=PartnerCredentialOut,
             summary="Issue a registered partner's API credential (a new token; every earlier one is refused from now on)")
async def issue_partner_credential(organisation_id: OrganisationId, request: Request,
                                   principal: Principal = Depends(authorize("registry.credentials"))):
    now = datetime.now(UTC).replace(microsecond=0)
    issued = PartnerCredentialIssued(organisation_id=organisation_id, credential_id=str(uuid.uuid4()), issued_at=now,
                                     expires_at=now + timedelta(days=request.app.state.settings.partner_token_days))
    await commands(request).issue_partner_credential(issued, context(request, principal))
    token = issue_token(request.app.state.auth_secret, Principal(
        sub=f"partner:{organisation_id}", role=Role.PARTNER, organisation=organisation_id,
        credential=issued.credential_id), ttl_seconds=int((issued.expires_at - now).total_seconds()))
    return PartnerCredentialOut(organisation_id=organisation_id, credential_id=issued.credential_id, token=token,
                                issued_at=issued.issued_at, expires_at=issued.expires_at)


@router.get("/partners", response_model=list[PartnerOut], summary="The partner registry")
async def list_partners(request: Request, response: Response, _: Principal = Depends(authorize("registry.read")),
                        page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await referral_sql.partners(conn)
    return page.answer([PartnerOut(**{k: r[k] for k in r.keys() if k != "registered_at"}, topic=partner_topic(r["organisation_id"]))
                        for r in rows], response)


@router.post("/referrals", status_code=201, response_model=ReferralOut,
             summary="Refer a client to a partner (refused with what is missing when no consent covers it)")
async def request_referral(body: ReferralIn, request: Request, response: Response,
                           principal: Principal = Depends(authorize("referral.request"))):
    ensure(principal, "referral.request", await case_owner(request, principal, body.case_id), body.case_id)
    referral_id, version = await commands(request).request(RequestReferral(**body.model_dump()),
                                                           context(request, principal))
    response.headers["ETag"] = etag(version)
    response.headers["Location"] = f"/referrals/{referral_id}"
    return await _referral(request, referral_id)


@router.get("/referrals/{referral_id}", response_model=ReferralOut, summary="A referral, with its history if asked")
async def get_referral(referral_id: str, request: Request, response: Response, history: bool = False,
                       _: Principal = Depends(authorize("referral.read"))):
    out = await _referral(request, referral_id, history=history)
    response.headers["ETag"] = etag(out.version)
    return out


@router.post("/referrals/{referral_id}/close", response_model=ReferralOut,
             summary="Close a referral once declined or its outcome is reported")
async def close_referral(referral_id: str, request: Request, response: Response,
                         if_match: str | None = Header(default=None),
                         principal: Principal = Depends(authorize("referral.close"))):
    version = await commands(request).decide(referral_id, lambda r, now: r.close(now), context(request, principal),
                                             expected_version=parse_if_match(if_match))
    response.headers["ETag"] = etag(version)
    return await _referral(request, referral_id)


@router.get("/cases/{case_id}/referrals", response_model=list[ReferralOut], summary="The referrals of a case")
async def case_referrals(case_id: str, request: Request, response: Response,
                         _: Principal = Depends(authorize("referral.case.read")), page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        return page.answer([ReferralOut(**r) for r in await referral_sql.referrals_of_case(conn, case_id)], response)


@router.get("/cases/{case_id}/consents", response_model=list[ConsentOut],
            summary="The consents of a case as the referrals service knows them (scope, withdrawals, expiry)")
async def case_consents(case_id: str, request: Request, response: Response,
                        _: Principal = Depends(authorize("referral.case.read")), page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await gate_sql.consent_rows(conn, case_id)
    return page.answer([ConsentOut(**{k: r[k] for k in ConsentOut.model_fields}) for r in rows], response)


def _opened(envelope, key: ReferralKey | None) -> dict:
    """A sealed partner snapshot as the partner opens it, while its key exists; after a revocation it stays sealed
    for the staff too (the key is destroyed)."""
    if envelope.type != PartnerReferralSealedSnapshot.event_type or key is None:
        return envelope.data
    return open_snapshot(parse(envelope.type, envelope.schema_version, envelope.data), key).model_dump(mode="json")


async def _referral(request: Request, referral_id: str, *, history: bool = False) -> ReferralOut:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        row = await referral_sql.referral(conn, referral_id)
    if row is None:
        raise NotFound(f"referral {referral_id} does not exist")
    out = ReferralOut(**{k: row[k] for k in ReferralOut.model_fields if k != "history"})
    if history:  # the referral's events, then what its partner was told (under the partner's ids)
        stream = await runtime.store.read_stream(referral_id)
        key = None
        if row["partner_referral_id"]:
            told = await runtime.store.read_stream(row["partner_referral_id"])
            stream += [e for e in told if e.type.startswith("kim.partner.")]  # an old stream's link stays out
            async with runtime.pool.acquire() as conn:
                key = (await commands(request).partner_keys.of(conn, [row["partner_referral_id"]])).get(
                    row["partner_referral_id"])
        out.history = [HistoryItem(version=e.stream_version, type=e.type, time=e.time, actor=e.actor,
                                   data=_opened(e, key)) for e in stream]
    return out
