"""The contract for partners: the versioned JSON Schemas the ce_dataschema header of each partner record names, and
the route to report a record that could not be read (stored as an event, listed for the Kreis's operators)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Path, Request, Response
from kim_runtime.auth import Principal
from kim_runtime.errors import NotFound
from kim_runtime.pagination import Page, paged
from kim_runtime.types import Line
from kim_runtime.policy import authorize
from kim_schemas import EVENT_TYPES
from kim_schemas.contract import CONTRACT_VERSION
from kim_schemas.generate import event_schema
from kim_schemas.referrals import FeedbackProblem, PartnerFeedbackReceived
from kim_runtime.topics import partner_topic
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.events import SOURCE
from .deps import context

router = APIRouter(tags=["partner contract"])
schemas_read = authorize("partner.schemas.read")
feedback_send = authorize("partner.feedback")
feedback_read = authorize("feedback.read")
# A partner's feedback words are kept at most this long (a partner topic keeps its records 30 days by default,
# KIM_PARTNER_TOPIC_RETENTION_MS): also those of a report that names no referral, which no revocation deletes.
FEEDBACK_DETAIL_DAYS = 30
_EXPIRE_DETAILS = ("DELETE FROM partner_feedback_details WHERE received_at < now() - make_interval(days => $1)")


def _partner_types() -> list[tuple[str, int]]:
    return sorted(k for k in EVENT_TYPES if k[0].startswith("kim.partner."))


@router.get("/partner/schemas", summary="The partner events of the current contract: type, version, schema URL")
async def schema_index(principal: Principal = Depends(schemas_read)):
    return {"contract_version": CONTRACT_VERSION,
            "schemas": [{"type": t, "version": v, "url": f"/partner/schemas/{t}/{v}"} for t, v in _partner_types()]}


@router.get("/partner/schemas/{event_type}/{version}", summary="The JSON Schema of one partner event version "
            "(the URL in ce_dataschema); the same file as schemas/json/<type>/v<version>.json")
async def schema(event_type: Line(200) = Path(), version: int = Path(ge=1, le=1000),
                 principal: Principal = Depends(schemas_read)):
    if not event_type.startswith("kim.partner.") or (event_type, version) not in EVENT_TYPES:
        raise NotFound(f"no partner event {event_type} version {version}; GET /partner/schemas lists them")
    return event_schema(EVENT_TYPES[(event_type, version)])


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: Line(255) | None = Field(default=None, description="Defaults to your topic")
    partition: int | None = Field(default=None, ge=0, le=100_000)
    offset: int | None = Field(default=None, ge=0, le=2**63 - 1)
    key: Line(100) | None = None
    ce_id: Line(100) | None = None
    ce_type: Line(200) | None = None
    ce_schemaversion: Line(10) | None = None
    problem: FeedbackProblem
    detail: Line(500) = Field(default="", description="What went wrong; no personal data")


@router.post("/partner/feedback", status_code=202, summary="Report a record on your topic you could not read")
async def feedback(body: FeedbackIn, request: Request, principal: Principal = Depends(feedback_send)):
    """The report is an event (kim.referrals); the partner's words (`detail`) are not part of it since contract
    6.0.0: they stay in this service's store (partner_feedback_details) and go when the referral it names is
    revoked (adapters.partner_stream), or after FEEDBACK_DETAIL_DAYS (deleted at the next report or listing)."""
    own = partner_topic(principal.organisation)
    event = PartnerFeedbackReceived(
        feedback_id=str(uuid.uuid4()), organisation_id=principal.organisation,
        **body.model_dump(exclude={"topic", "detail"}), topic=body.topic or own,
        received_at=datetime.now(UTC).replace(microsecond=0))
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        await runtime.store.append(event.feedback_id, [context(request, principal).wrap(event, source=SOURCE)], 0,
                                   conn=conn)
        await conn.execute(_EXPIRE_DETAILS, FEEDBACK_DETAIL_DAYS)
        if body.detail:
            await conn.execute(
                "INSERT INTO partner_feedback_details (feedback_id, organisation_id, partner_referral_id, detail, "
                "received_at) VALUES ($1, $2, $3, $4, $5)", event.feedback_id, event.organisation_id, event.key,
                body.detail, event.received_at)
    return {"feedback_id": event.feedback_id}


@router.get("/partner-feedback", summary="Records partners reported they could not read (newest first); `detail` "
            "as long as the referral it names is not revoked")
async def feedback_list(request: Request, response: Response, principal: Principal = Depends(feedback_read),
                        page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        await conn.execute(_EXPIRE_DETAILS, FEEDBACK_DETAIL_DAYS)
        rows = await conn.fetch(
            "SELECT e.data, d.detail FROM events e LEFT JOIN partner_feedback_details d "
            "ON d.feedback_id = e.data->>'feedback_id' WHERE e.type = $1 ORDER BY e.position DESC OFFSET $2 LIMIT $3",
            PartnerFeedbackReceived.event_type, page.offset, page.fetch)
    return page.trim([feedback_view(dict(r["data"]), r["detail"]) for r in rows], response)


def feedback_view(data: dict, detail: str | None) -> dict:
    """A report as the operators see it: the latest version's fields and the partner's words, if still kept (a v1
    report's own detail is not shown: it is on the topic, but this list no longer repeats it)."""
    data.pop("detail", None)
    return data | {"detail": detail or ""}
