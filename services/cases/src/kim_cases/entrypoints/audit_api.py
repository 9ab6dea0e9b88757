"""HTTP: the records `kim audit` makes of itself, written by this service so that they carry its writer seal.

`kim audit case|referral|report|position|erasures` read the stores directly (an auditor's tool), but they do not
record what they showed themselves: the CLI holds no audit signing key, and a record it appended unsealed would be
one an insider could forge or leave out unnoticed. So before it shows anything the CLI posts what it is about to
show here, with the auditor's token; this service appends the read to the client's access log (GET
/clients/{id}/reads) and the answer to the audit-<date> stream, both sealed with the service's key, under the
token's subject and role. `kim audit verify` then requires a valid seal on them like on any other event. An
export's SHA-256 (answer.sha256) is signed here too, with the same audit key, and the signature answered for the
CLI's FILE.sig (`kim audit verify-export`): the signature says the service recorded that export under that token.

Action `audit.record` (kim_runtime.policy): auditors and admins. It is not a write of casework: like GET
/clients/{id}, which also appends the reader to the access log, it records the caller's own read and nothing else.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, status
from kim_runtime.problems import refused
from kim_runtime.types import Id
from pydantic import Field, StringConstraints

from kim_cases.adapters.access_log import AuditLog
from kim_cases.adapters.events import CommandContext
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
    await _answer_matches_client(body, s)
    if body.client_id is not None:
        await s.repo.client(body.client_id)  # 404 for a client that does not exist
        version = await s.access_log.record(ctx.principal, body.client_id, list(body.fields) or [body.command],
                                            body.via, ctx.correlation_id)
        out["access"] = {"stream": f"access-{body.client_id}", "version": version}
    stream, version = await AuditLog(s.pool).record(ctx.principal, dict(body.answer), subject=body.client_id,
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
