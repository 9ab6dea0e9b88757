"""Client commands and queries: register (encrypting personal data), erase (destroying the key), read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from kim_cases.adapters import crypto
from kim_cases.adapters.events import CommandContext
from kim_cases.application.access import cases_of
from kim_runtime import idempotency
from kim_runtime.commands import UnitOfWork
from kim_runtime.errors import check_expected
from kim_cases.application.services import Services
from kim_cases.application.views import consent_view
from kim_cases.domain import Client


async def register(s: Services, ctx: CommandContext, *, name: str, date_of_birth: date | None, address: str | None,
                   contact: str | None, birth_year: int | None, languages: list[str],
                   arrival_year: int | None) -> tuple[str, int]:
    client_id = str(uuid.uuid4())
    key_id, key, key_written = s.keys.new(client_id)
    personal = crypto.encrypt(key, key_id, client_id, {
        "name": name, "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
        "address": address, "contact": contact})
    profile = crypto.encrypt(key, key_id, client_id, {
        "birth_year": birth_year, "languages": languages, "arrival_year": arrival_year})
    events = Client(client_id).register(personal, profile)
    # the wrapped key, the registering place and ClientRegistered in one statement: all three or none, in one round
    # trip (was BEGIN, two INSERTs, the append, COMMIT)
    version = await s.repo.append(client_id, 0, events, ctx, subject=client_id,
                                  municipality=ctx.principal.municipality,
                                  writes=[key_written, s.registrations.recording(client_id, ctx.principal)])
    return client_id, version


async def erase(s: Services, ctx: CommandContext, client_id: str, expected: int | None, *, ground: str,
                request_reference: str) -> tuple[Client, int]:
    """Right to erasure: ClientErased, the request's reference and the key's deletion commit together; the events
    stay, unreadable. The reference is kept in the store only (erasure_requests), never on kim.cases."""
    async with UnitOfWork(s.store) as uow:
        conn = uow.conn
        client = await s.repo.client(client_id, conn)
        check_expected(client_id, expected, client.version)
        version = await destroy_key(s, conn, ctx, client, client.erase(datetime.now(UTC), ground=ground))
        await s.registrations.record_erasure_request(conn, client_id, request_reference)
    return client, version


async def destroy_key(s: Services, conn, ctx: CommandContext, client: Client, events: list) -> int:
    """Append the client's ClientErased and delete their key in the caller's transaction (on request or when the
    retention period passed: the same shredding)."""
    version = await s.repo.append(client.client_id, client.version, events, ctx, subject=client.client_id,
                                  municipality=ctx.principal.municipality, conn=conn)
    await s.keys.destroy(conn, client.client_id)
    await idempotency.forget(conn, client.client_id)  # no stored answer about them stays (POST /clients's, say)
    for e in events:
        client.apply(e)
    return version


async def place_hold(s: Services, ctx: CommandContext, client_id: str, *, reason, reference: str,
                     now: datetime) -> tuple[str, int]:
    client = await s.repo.client(client_id)
    hold_id = str(uuid.uuid4())
    events = client.place_hold(hold_id, reason=reason, reference=reference, by=ctx.principal.sub, at=now)
    version = await s.repo.append(client_id, client.version, events, ctx, subject=client_id,
                                  municipality=ctx.principal.municipality)
    return hold_id, version


async def lift_hold(s: Services, ctx: CommandContext, client_id: str, hold_id: str, expected: int | None,
                    now: datetime) -> int:
    client = await s.repo.client(client_id)
    check_expected(client_id, expected, client.version)
    events = client.lift_hold(hold_id, by=ctx.principal.sub, at=now)
    return await s.repo.append(client_id, client.version, events, ctx, subject=client_id,
                               municipality=ctx.principal.municipality)


async def view(s: Services, ctx: CommandContext, client_id: str, via: str) -> tuple[dict, int]:
    client = await s.repo.client(client_id)
    case_ids = [case.case_id for case in await cases_of(s, ctx.principal, client_id)]
    reader = await s.reader(ctx.principal, client_id)
    reg = client.registered
    body = {"client_id": client_id, "version": client.version, "erased": client.erased,
            "erased_at": client.erased_at.isoformat() if client.erased_at else None,
            "personal": reader.personal(reg.personal), **reader.profile(reg), "case_ids": case_ids,
            "legal_holds": client.hold_views()}
    await reader.finish(via, ctx.correlation_id)
    return body, client.version


async def consents(s: Services, ctx: CommandContext, client_id: str, today: date, via: str) -> list[dict]:
    """The client's consent ledger: every consent of every case of theirs in the caller's reach, status today. The
    language each was explained in is personal: opened (or withheld) for this reader and recorded in the client's
    access log like every other read of their data."""
    client = await s.repo.client(client_id)
    reader = await s.reader(ctx.principal, client_id)
    ledger = [consent_view(c, reader, today, client.erased) for case in await cases_of(s, ctx.principal, client_id)
              for c in case.consents.values()]
    await reader.finish(via, ctx.correlation_id)
    return ledger
