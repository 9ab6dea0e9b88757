"""HTTP: what `kim audit` shows an auditor, recorded (and sealed) by this service.

GET /audit/cases/{case_id} (action `audit.case.read`, auditors and admins): the cases store's part of a case's trail,
or the case's state at a past moment, with the client's personal data opened here with this service's keyring when
`personal=true` (`kim audit case --show-personal`). The CLI holds no KEK and decrypts nothing: a holder of the
database credentials (and even of the KEK) cannot make the CLI show personal data without a token, and every read
through this route is recorded before it is answered: in the client's access log (GET /clients/{id}/reads: the
fields shown in clear, or "trail") and in the audit-<date> stream, both under the token's subject and role and
sealed by a signed receipt; if the receipt cannot be written the answer is 503 with Retry-After and nothing is shown
(kim_runtime.errors.NotSealed).

POST /audit/records (action `audit.record`): for what the CLI reads itself from the stores, never decrypted (the
referral, report and position questions, the list of erasures, the cases store's withheld-only lookups) and for an
export's SHA-256, which it signs with the audit key for the CLI's FILE.sig (`kim audit verify-export`): this service
appends the read to the client's access log (when the answer shows a client's data) and the answer to the
audit-<date> stream, both sealed, under the token's subject and role. `kim audit verify` requires a valid seal on
them like on any other event.

Neither route writes casework: like GET /clients/{id}, which also appends the reader to the access log, they record
the caller's own read and nothing else.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from kim_runtime.problems import refused
from kim_runtime.types import Id
from pydantic import Field, StringConstraints

from kim_cases.adapters.access_log import AuditLog
from kim_cases.adapters.events import CommandContext
from kim_cases.application import audit_trail
from kim_cases.application.personal import HEALTH, mentions_health
from kim_cases.application.services import Services
from kim_cases.entrypoints.deps import caller, services
from kim_cases.entrypoints.requests import Body

router = APIRouter(prefix="/audit", tags=["audit"])
SHA256 = re.compile(r"[0-9a-f]{64}")

# What an access log may show as text: no control characters (C0, DEL, C1), no zero-width or direction-changing
# characters and no line or paragraph separators, which could hide or reorder what an auditor reads in a log.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
Word = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,39}$")]
Scalar = Annotated[str, StringConstraints(max_length=500, pattern=PRINTABLE)] | int | None
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=PRINTABLE)]


class AuditRecord(Body):
    command: Literal["case", "referral", "report", "position", "erasures"] = Field(
        description="The `kim audit` command whose answer is recorded")
    via: Annotated[str, StringConstraints(pattern=r"^kim audit [a-z][a-z -]{0,60}$")] = Field(
        description="How the data was read, as the access log shows it (e.g. `kim audit case --show-personal`)")
    client_id: Id | None = Field(default=None, description="The client whose data the answer shows (None: none)")
    fields: list[FieldName] = Field(default_factory=list, max_length=40,
                                    description="What of the client's data was shown in clear (access log)")
    answer: dict[Word, Scalar] = Field(max_length=20, description="What was answered: ids, format, destination, "
                                       "the export's SHA-256 (the audit stream's kim.audit.TrailExported)")


@router.post("/records", status_code=status.HTTP_201_CREATED,
             summary="Record an auditor's read with `kim audit` (sealed by this service; the CLI calls it)")
async def record(body: AuditRecord, request: Request, ctx: CommandContext = Depends(caller("audit.record")),
                 s: Services = Depends(services)) -> dict:
    out: dict = {"access": None}
    if body.command == "case" and (body.client_id is not None or body.fields
                                   or not SHA256.fullmatch(str(body.answer.get("sha256") or ""))):
        raise refused("body.command", "a case's read is recorded by GET /audit/cases/{case_id} as this service "
                      "answers it; post a case only for an export's SHA-256 (answer.sha256, no client_id, no fields)")
    await _answer_matches_client(body, s)
    if body.client_id is not None:
        await s.repo.client(body.client_id)  # 404 for a client that does not exist
        version = await s.access_log.record(ctx.principal, body.client_id, list(body.fields) or [body.command],
                                            body.via, ctx.correlation_id)
        out["access"] = {"stream": f"access-{body.client_id}", "version": version}
    stream, version = await AuditLog(s.store).record(ctx.principal, dict(body.answer), subject=body.client_id,
                                                    correlation_id=ctx.correlation_id)
    out["audit"] = {"stream": stream, "version": version}
    digest = body.answer.get("sha256")
    if isinstance(digest, str) and SHA256.fullmatch(digest):  # an export: its hash signed with the audit key
        signer = request.app.state.runtime.anchorer.signer
        out["export_signature"] = {"sha256": digest, "key_id": signer.key_id,
                                   "signature": signer.sign_bytes(bytes.fromhex(digest))}
    return out


async def _answer_matches_client(body: AuditRecord, s: Services) -> None:
    """The read lands in the log of the client the answer shows, or is refused: an answer naming a client or a case
    names the client whose log it goes to (a case: the client it is the case of)."""
    named = body.answer.get("client_id")
    if named is not None and named != body.client_id:
        raise refused("body.client_id", f"the answer shows client {named}: record it in that client's log")
    case_id = body.answer.get("case_id")
    if isinstance(case_id, str) and body.client_id is not None:
        owner = (await s.repo.case(case_id)).client_id  # 404 for a case that does not exist
        if owner != body.client_id:
            raise refused("body.client_id", f"case {case_id} is not a case of client {body.client_id}")


Destination = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]


@router.get("/cases/{case_id}", summary="A case's trail in the cases store (or its state at a past moment) for an "
            "auditor, personal data opened by this service on request; the read is recorded before the answer")
async def case_trail(
        case_id: str, request: Request, ctx: CommandContext = Depends(caller("audit.case.read")),
        s: Services = Depends(services),
        personal: bool = Query(False, description="Open the client's personal data (recorded as a read of it in "
                               "the client's access log); an erased client's fields stay erased"),
        at: datetime | None = Query(None, description="The case's state at this moment instead of its trail (ISO "
                                    "8601; no zone: UTC)"),
        by: Literal["recorded", "business"] = Query("recorded", description="What `at` compares: the recording "
                                                    "time or the business date of each event"),
        export: bool = Query(False, description="Leave out the audit log's own records (reads and exports), so the "
                             "same trail exported twice gives the same bytes"),
        fmt: Literal["table", "json", "csv"] = Query("table", alias="format", description="How the CLI shows it "
                                                     "(recorded with the read)"),
        destination: Destination = Query("stdout", description="Where the CLI writes it (recorded with the read)"),
) -> dict:
    case = await s.repo.case(case_id)  # 404 for a case that does not exist
    client_id = case.client_id
    trail = await audit_trail.case_events(s.pool, case_id, client_id)
    trail = await audit_trail.unsealed(trail, client_id, s.repo.cases.sealing)  # dates and codes, to place events
    if export:
        trail = [e for e in trail if not audit_trail.is_audit_record(e)]
    opener = await audit_trail.opener_for(s.keys, client_id, reveal=personal)
    out: dict = {"case_id": case_id, "client_id": client_id, "client_erased": opener.erased}
    if at is not None:
        try:
            state = audit_trail.state_as_of(case_id, client_id, trail, at, opener, by)
        except audit_trail.NotYet as exc:
            raise refused("query.at", str(exc)) from None
        read = set(opener.read) | ({HEALTH} if mentions_health(state) else set())
        out["state"] = state
    else:
        out["events"], read = audit_trail.opened_trail(trail, opener)
    # recorded first (access log and audit stream, each sealed by a receipt); only then answered
    via = "kim audit case --show-personal" if personal else "kim audit case"
    access = await s.access_log.record(ctx.principal, client_id, sorted(read) or ["trail"], via, ctx.correlation_id)
    answer = ({"case_id": case_id, "client_id": client_id, "format": fmt,
               "as_of": at.isoformat() if at else None, "events": len(trail), "destination": destination}
              | ({"by": by} if at else {}))
    stream, version = await AuditLog(s.store).record(ctx.principal, answer, subject=client_id,
                                                    correlation_id=ctx.correlation_id)
    out["fields_read"] = sorted(read)
    out["recorded"] = {"access": {"stream": f"access-{client_id}", "version": access},
                       "audit": {"stream": stream, "version": version}}
    return out
