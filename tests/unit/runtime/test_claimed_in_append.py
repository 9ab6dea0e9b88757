"""Which requests claim their Idempotency-Key in their append (kim_runtime.idempotency.claimed_in_append): the marked
routes of the app, found through included routers (with their prefixes), on method and full path only."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from kim_runtime.idempotency import _claims_in_append, claimed_in_append


def _app() -> FastAPI:
    things = APIRouter(prefix="/things")

    @things.post("")
    @claimed_in_append
    async def make():
        return {}

    @things.post("/{thing_id}/change")
    async def change(thing_id: str):
        return {}

    @things.get("")
    async def list_things():
        return []

    app = FastAPI()
    app.include_router(things)
    return app


def _scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def test_only_the_marked_route_claims_in_its_append():
    app = _app()
    assert _claims_in_append(app, _scope("POST", "/things"))
    assert not _claims_in_append(app, _scope("POST", "/things/1/change"))  # not marked: claimed before it runs
    assert not _claims_in_append(app, _scope("GET", "/things"))
    assert not _claims_in_append(app, _scope("POST", "/things/"))
    assert not _claims_in_append(app, _scope("POST", "/other"))


def test_the_cases_service_marks_registration_and_intake_only():
    from kim_cases.bootstrap import build_app
    from kim_cases.settings import CasesSettings

    app = build_app(CasesSettings(database_url="postgresql://x/y", kafka_bootstrap="x:1", auth_secret="s" * 32))
    assert _claims_in_append(app, _scope("POST", "/clients")) and _claims_in_append(app, _scope("POST", "/cases"))
    for path in ("/cases/c-1/consents", "/cases/c-1/closure", "/clients/c-1/erasure", "/clients/c-1/legal-holds"):
        assert not _claims_in_append(app, _scope("POST", path)), path
