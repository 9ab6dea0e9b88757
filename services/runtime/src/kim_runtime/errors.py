"""The domain errors the runtime and the services raise, and what each answers over HTTP.

Application and domain code raise these and import no web framework; `kim_runtime.http` maps every `KimError` to
an RFC 9457 problem in one handler, from the class's `status`, `slug` (the problem type; None: the status's own),
`title` (None: the status's own) and `extensions()` (members a client needs to recover). A service's own error
subclasses one of them and sets what differs (e.g. referrals' ConsentMissing: 409, `consent-missing`, `missing`).

| error | status |
|---|---|
| RuleViolation: a command breaks a domain rule | 409 |
| ConcurrencyConflict: the stream moved on | 409 (412 when the request sent If-Match) |
| NotFound: an unknown id, or one out of reach where the policy hides it | 404 |
| NotInScope: the caller's role or scope does not reach it | 403 |
| Gone: existed, no longer available | 410 (or the status given) |
| NotRecorded: a decision could not be recorded (database failed) | 503 with Retry-After |
| NotSealed: a read was recorded but its signed receipt could not be written (anchor file/topic down) | 503 with Retry-After |
| Unavailable: a service this one asks is down (502 when it answered with an error) | 503 |
"""

from __future__ import annotations

from typing import Any, ClassVar

RETRY_AFTER_S = 2  # what a 503 asks the client to wait: a database restart or a relay failover takes seconds


class KimError(Exception):
    """Base class: carries a message meant for the user (the problem's `detail`)."""

    status: ClassVar[int] = 409
    slug: ClassVar[str | None] = None
    title: ClassVar[str | None] = None
    headers: ClassVar[dict[str, str]] = {}

    def extensions(self) -> dict[str, Any]:
        return {}


class ConcurrencyConflict(KimError):
    """The stream moved on since the caller read it (HTTP 409; 412 when the caller stated the version it saw)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None):
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(
            f"stream {stream_id} is at version {actual if actual is not None else 0}, not {expected}: "
            "someone changed it meanwhile; reload it and try again"
        )

    def extensions(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "current_version": self.actual}


def check_expected(stream_id: str, expected: int | None, actual: int) -> None:
    """The version the caller last saw (If-Match; None: not given) must still be the stream's version: the one
    expected-version check of every service's command handlers."""
    if expected is not None and expected != actual:
        raise ConcurrencyConflict(stream_id, expected, actual)


class RuleViolation(KimError):
    """A command breaks a domain rule (HTTP 409: it conflicts with the resource's current state)."""


class NotFound(KimError):
    """An unknown id (HTTP 404)."""

    status = 404


class NotInScope(KimError):
    """The caller's role or scope (team, municipality, organisation) does not reach the resource (HTTP 403)."""

    status = 403


class Gone(KimError):
    """A resource that existed and is no longer available, with the reason (HTTP 410, a problem detail, RFC 9457):
    e.g. a partner's referral after revocation. `extra` adds members to the problem detail."""

    title = "Gone"

    def __init__(self, detail: str, *, reason: str, status: int = 410, **extra):
        super().__init__(detail)
        self.reason, self.status, self.extra = reason, status, extra
        self.slug = f"gone-{reason}"

    def extensions(self) -> dict[str, Any]:
        return {"reason": self.reason, **self.extra}


class NotRecorded(KimError):
    """A decision that must be recorded before it is answered could not be, because the database failed (HTTP 503
    with Retry-After, a problem detail): nothing was written, the same request may be sent again."""

    status = 503
    headers = {"Retry-After": str(RETRY_AFTER_S)}


class NotSealed(KimError):
    """A read of personal data was appended to its log (the access log, kim audit's records) but the signed receipt
    that seals it at once (kim_runtime.anchor.Receipts) could not be written to the anchor file or topic (HTTP 503
    with Retry-After): the read is not answered, so nothing is shown unsealed. The recorded read stays in the store
    (the next anchor seals it); the same request may be sent again."""

    status = 503
    slug = "not-sealed"
    title = "The read could not be sealed; retry after Retry-After"
    headers = {"Retry-After": str(RETRY_AFTER_S)}


class Unavailable(KimError):
    """A service this one asks could not be reached (HTTP 503, with Retry-After when `retry_after_s` is given) or
    answered with an error (`status=502`)."""

    def __init__(self, detail: str, *, status: int = 503, retry_after_s: int | None = None):
        super().__init__(detail)
        self.status = status
        self.headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
