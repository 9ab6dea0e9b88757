"""Sign-in and sign-out. Production: the token the county's identity provider issued (pasted, or added by its
authenticating proxy); development: a demo role, when `kim run` handed the app its demo tokens."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from ..adapters.transport import ApiError, Session
from ..application.forms import Form
from ..application.user import NotAToken, user_of
from ..application.messages import problem
from .web import SESSION_COOKIE, posted, render, set_cookie, Signed

router = APIRouter()
REASONS = {"abgelaufen": "Ihre Anmeldung ist abgelaufen oder wurde abgelehnt. Bitte erneut anmelden.",
           "ungueltig": "Das gespeicherte Token war ungültig. Bitte erneut anmelden."}


def demo_sign_ins(request: Request) -> list[dict]:
    path = request.app.state.settings.demo_tokens_file
    if path is None or not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def _page(request: Request, status: int = 200, error: str | None = None, reason: str = ""):
    return render(request, "signin.html", status, demos=demo_sign_ins(request), error=error,
                  notice=REASONS.get(reason or request.query_params.get("grund", "")))


@router.get("/anmelden")
async def sign_in_page(request: Request):
    return _page(request)


@router.post("/anmelden")
async def sign_in(request: Request, form: Form = Depends(posted)):
    token = form.get("token").strip()
    if form.get("demo"):
        demos = demo_sign_ins(request)
        index = form.get("demo")
        token = demos[int(index)]["token"] if index.isdecimal() and int(index) < len(demos) else ""
    try:
        user = user_of(token)
    except NotAToken:
        return _page(request, 422, "Das ist kein gültiges Token. Bitte das vollständige Token einfügen.")
    if user.expired:
        return _page(request, 422, "Dieses Token ist abgelaufen. Bitte ein neues beim Identitätsdienst holen.")
    signed = Signed(user, Session(request.app.state.transport, token))
    try:  # the services decide whether the token is good: one read the role may do
        await (signed.referrals.inbox() if user.is_partner else signed.cases.cases(limit=1))
    except ApiError as exc:
        return _page(request, 422 if exc.status in (401, 403) else 502,
                     "Das Token wurde nicht angenommen. " + problem(exc).message)
    response = RedirectResponse(f"{user.home}?ok=angemeldet", status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max(60, user.expires_at - int(time.time())))
    return response


@router.post("/abmelden")
async def sign_out(request: Request, form: Form = Depends(posted)):
    response = RedirectResponse("/anmelden?ok=abgemeldet", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
