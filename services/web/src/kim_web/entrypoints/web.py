"""What every page shares: the session cookie, CSRF on every form, rendering, redirects after a post.

The session is the user's bearer token in an HttpOnly, SameSite=Strict cookie (Secure over https): the web app
keeps nothing on its side and never puts a token into a URL. Every form carries a CSRF token that must equal the
one in the `kim_csrf` cookie (double submit), checked before a form reaches a handler.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..adapters.cases_api import CasesApi
from ..adapters.referrals_api import ReferralsApi
from ..adapters.reporting_api import ReportingApi
from ..adapters.staffing_api import StaffingApi
from ..adapters.transport import Session
from ..application.forms import Form
from ..application.user import NotAToken, User, user_of
from .form_state import FormState, states

SESSION_COOKIE, CSRF_COOKIE = "kim_session", "kim_csrf"
FLASH = {  # ?ok=<code> after a redirect: fixed German sentences, never text taken from the URL
    "angemeldet": "Sie sind angemeldet.", "aufnahme": "Klientin oder Klient registriert und Fall eröffnet.",
    "consent": "Einwilligung erfasst.", "assessment": "Clearing abgeschlossen.",
    "residence": "Aufenthaltsstatus erfasst.", "rechtskreis": "Rechtskreis geändert.",
    "plan": "Hilfeplan vereinbart.", "milestone": "Meilenstein erfasst.", "review": "Fallbesprechung erfasst.",
    "goal": "Ziel aktualisiert.", "closure": "Fall abgeschlossen.", "withdrawal": "Einwilligung widerrufen.",
    "referral": "Vermittlung gesendet.", "referral_closed": "Vermittlung abgeschlossen.",
    "erased": "Die personenbezogenen Daten wurden gelöscht (Schlüssel vernichtet).",
    "accept": "Vermittlung angenommen.", "decline": "Vermittlung abgelehnt.", "appointment": "Termin eingetragen.",
    "outcome": "Ergebnis gemeldet.", "abgemeldet": "Sie sind abgemeldet.",
}


class SignInRequired(Exception):
    """No (valid) session: the app answers with a redirect to the sign-in page."""

    def __init__(self, reason: str = ""):
        self.reason = reason


class CsrfRejected(Exception):
    """A form arrived without the CSRF token of this browser (403)."""


@dataclass
class Signed:
    """The signed-in user and the services as they see them."""

    user: User
    session: Session

    @property
    def cases(self) -> CasesApi:
        return CasesApi(self.session)

    @property
    def referrals(self) -> ReferralsApi:
        return ReferralsApi(self.session)

    @property
    def staffing(self) -> StaffingApi:
        return StaffingApi(self.session)

    @property
    def reporting(self) -> ReportingApi:
        return ReportingApi(self.session)


def signed_in(request: Request) -> Signed:
    """Dependency of every page behind the sign-in."""
    token = request.cookies.get(SESSION_COOKIE) or _proxy_token(request)
    if not token:
        raise SignInRequired()
    try:
        user = user_of(token)
    except NotAToken:
        raise SignInRequired("ungueltig") from None
    if user.expired:
        raise SignInRequired("abgelaufen")
    return Signed(user, Session(request.app.state.transport, token))


def _proxy_token(request: Request) -> str | None:
    """Behind the identity provider's authenticating proxy (KIM_WEB_PROXY_SIGN_IN) its bearer token is the session."""
    header = request.headers.get("authorization", "")
    if request.app.state.settings.proxy_sign_in and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (a new one is set as a cookie by `render` when there is none yet)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return token


async def posted(request: Request) -> Form:
    """Dependency of every form handler: the parsed form, once its CSRF token matched the cookie's."""
    form = Form.parse(await request.body())
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form.get("csrf").encode()):
        raise CsrfRejected()
    return form


def secure(request: Request) -> bool:
    configured = request.app.state.settings.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def set_cookie(request: Request, response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure(request),
                        path="/")


def unknown_action(request: Request, signed: Signed) -> HTMLResponse:
    return render(request, "error.html", 404, title="Unbekannte Aktion", problem=None, user=signed.user,
                  message="Diese Aktion gibt es nicht.")


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    context.setdefault("user", None)
    values, errors = context.get("values") or {}, context.get("errors") or {}
    # pages with several forms pass `section` (the form that was posted) and get form(key); the others one form
    context.setdefault("form", states(context["section"], values, errors) if "section" in context
                       else FormState("main", values, errors))
    ok = request.query_params.get("ok")
    response = request.app.state.templates.TemplateResponse(
        request, template, {"csrf": csrf_token(request), "flash": FLASH.get(ok or ""), **context},
        status_code=status_code)
    if getattr(request.state, "new_csrf", None):
        set_cookie(request, response, CSRF_COOKIE, request.state.new_csrf)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(path: str, ok: str | None = None, anchor: str = "", **params: str) -> RedirectResponse:
    """After a successful post: 303 to the page to show (Post/Redirect/Get), with a fixed message code."""
    query = urlencode(params | ({"ok": ok} if ok else {}))
    return RedirectResponse(f"{path}{'?' + query if query else ''}{('#' + anchor) if anchor else ''}",
                            status_code=303)
