"""The web app: templates, static files, the pages, and one place that turns refusals into German pages."""

from __future__ import annotations

import contextlib
import logging
import time
from importlib import resources

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..adapters.transport import ApiError, Transport
from ..application import formats, labels
from ..application.messages import problem
from ..settings import WebSettings
from . import case_actions, case_page, partner, referral_new, reports, signin, staffing, worklist
from .web import SESSION_COOKIE, CsrfRejected, SignInRequired, render, signed_in

PACKAGE = resources.files("kim_web")
PAGES = (signin, worklist, case_page, case_actions, referral_new, partner, reports, staffing)
# One line per request with the route's template, never the path: paths carry case, consent and referral ids
# (uvicorn's own access log is off, kim_web.__main__).
ACCESS = logging.getLogger("kim_web.access")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
}


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(PACKAGE / "templates"))
    t.env.filters |= {"de_date": formats.de_date, "de_datetime": formats.de_datetime,
                      "de_number": formats.de_number, "de_percent": formats.de_percent}
    t.env.globals |= {"labels": labels, "label": labels.label, "pairs": labels.pairs,
                      "field_label": labels.field_label}
    return t


def create_app(settings: WebSettings, client: httpx.AsyncClient | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with contextlib.AsyncExitStack() as stack:
            http = client or await stack.enter_async_context(httpx.AsyncClient(timeout=settings.api_timeout_s))
            app.state.transport = Transport(settings.service_urls(), http)
            yield

    app = FastAPI(title="KIM Hub: Web", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.templates = settings, templates()
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    for module in PAGES:
        app.include_router(module.router)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        route = request.scope.get("route")
        ACCESS.info("%s %s %d %.1f ms", request.method, getattr(route, "path", "(no route)"), response.status_code,
                    (time.perf_counter() - started) * 1000)
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):
        reason = f"?grund={exc.reason}" if exc.reason else ""
        response = RedirectResponse(f"/anmelden{reason}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected):
        return render(request, "error.html", 403, title="Formular abgelehnt", problem=None,
                      message="Das Formular war veraltet oder kam nicht von dieser Seite. Bitte die Seite neu laden "
                              "und noch einmal absenden.")

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        if exc.status == 401:
            return await _sign_in(request, SignInRequired("abgelaufen"))
        p = problem(exc, what="Der Aufruf")
        return render(request, "error.html", exc.status if exc.status in (403, 404, 409) else 502,
                      title="Nicht möglich", problem=p, message=p.message, user=_user(request))

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        return {"ready": True}

    @app.exception_handler(404)
    async def _not_found(request: Request, exc):
        return render(request, "error.html", 404, title="Seite nicht gefunden", problem=None, user=_user(request),
                      message="Diese Seite gibt es nicht. Über das Menü geht es weiter.")

    return app


def _user(request: Request):
    try:
        return signed_in(request).user
    except SignInRequired:
        return None

