"""HTTP: clients — register, read (audited), consent ledger, erase, history, reads of their personal data."""

from __future__ import annotations


from fastapi import APIRouter, Depends, Request, Response
from kim_runtime.http import claimed_in_append
from kim_runtime.pagination import Page, paged
from kim_runtime.scheduler import local_day

from kim_cases.adapters.events import CommandContext
from kim_cases.application import clients, views
from kim_cases.application.services import Services
from kim_cases.entrypoints.deps import caller, expected_version, services, tag
from kim_cases.entrypoints.requests import EraseClient, PlaceLegalHold, RegisterClient

router = APIRouter(prefix="/clients", tags=["clients"])
Reader = Depends(caller("client.read"))


@router.post("", status_code=201, summary="Register a client; personal data is encrypted with their own key")
@claimed_in_append  # one append (with the key and the registration): its Idempotency-Key is claimed by it
async def register(body: RegisterClient, response: Response, ctx: CommandContext = Depends(caller("client.register")),
                   s: Services = Depends(services)):
    client_id, version = await clients.register(
        s, ctx, name=body.name, date_of_birth=body.date_of_birth, address=body.address, contact=body.contact,
        birth_year=body.year_of_birth(), languages=body.languages, arrival_year=body.arrival_year)
    tag(response, version)
    response.headers["Location"] = f"/clients/{client_id}"
    return {"client_id": client_id, "version": version}


@router.get("/{client_id}", summary="A client with their personal data (each read is recorded)")
async def get_client(client_id: str, response: Response, ctx: CommandContext = Reader,
                     s: Services = Depends(services)):
    body, version = await clients.view(s, ctx, client_id, via=f"GET /clients/{client_id}")
    tag(response, version)
    return body


@router.get("/{client_id}/history", summary="The client's events, personal data opened per reader")
async def client_history(client_id: str, response: Response, ctx: CommandContext = Reader,
                         s: Services = Depends(services), page: Page = Depends(paged())):
    await s.repo.client(client_id)
    return page.answer(await views.history(s, ctx, client_id, client_id, via=f"GET /clients/{client_id}/history"),
                       response)


@router.get("/{client_id}/consents", summary="The client's consent ledger across their cases, status as of today (each read is recorded)")
async def consent_ledger(client_id: str, request: Request, response: Response, ctx: CommandContext = Reader,
                         s: Services = Depends(services), page: Page = Depends(paged())):
    today = local_day(request.app.state.runtime.clock.now())  # the service's clock, as its deadlines use it
    return page.answer(await clients.consents(s, ctx, client_id, today, via=f"GET /clients/{client_id}/consents"),
                       response)


@router.post("/{client_id}/erasure", summary="Right to erasure: destroy the client's key (events stay, unreadable)")
async def erase(client_id: str, body: EraseClient, response: Response,
                expected: int | None = Depends(expected_version),
                ctx: CommandContext = Depends(caller("client.erase")), s: Services = Depends(services)):
    client, version = await clients.erase(s, ctx, client_id, expected, ground=body.ground,
                                          request_reference=body.request_reference)
    tag(response, version)
    return {"client_id": client_id, "version": version, "erased_at": client.erased_at.isoformat(),
            "ground": body.ground, "request_reference": body.request_reference}


@router.post("/{client_id}/legal-holds", status_code=201,
             summary="Place a legal hold: the client's data is kept past its retention period until it is lifted")
async def place_legal_hold(client_id: str, body: PlaceLegalHold, request: Request, response: Response,
                           ctx: CommandContext = Depends(caller("client.legal_hold")),
                           s: Services = Depends(services)):
    hold_id, version = await clients.place_hold(s, ctx, client_id, reason=body.reason, reference=body.reference,
                                                now=request.app.state.runtime.clock.now())
    tag(response, version)
    response.headers["Location"] = f"/clients/{client_id}/legal-holds/{hold_id}"
    return {"client_id": client_id, "hold_id": hold_id, "version": version}


@router.post("/{client_id}/legal-holds/{hold_id}/lift",
             summary="Lift a legal hold; once none is in force, a passed retention period erases the client")
async def lift_legal_hold(client_id: str, hold_id: str, request: Request, response: Response,
                          expected: int | None = Depends(expected_version),
                          ctx: CommandContext = Depends(caller("client.legal_hold")),
                          s: Services = Depends(services)):
    version = await clients.lift_hold(s, ctx, client_id, hold_id, expected, request.app.state.runtime.clock.now())
    tag(response, version)
    return {"client_id": client_id, "hold_id": hold_id, "version": version}


@router.get("/{client_id}/reads", summary="Who read this client's personal data, when and through which view")
async def reads(client_id: str, response: Response, ctx: CommandContext = Depends(caller("client.reads")),
                s: Services = Depends(services), page: Page = Depends(paged())):
    await s.repo.client(client_id)
    return page.answer(await s.access_log.reads(client_id), response)
