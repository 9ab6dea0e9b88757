"""Errors the runtime and the services raise; the HTTP layer maps each to one status code."""

from __future__ import annotations


class KimError(Exception):
    """Base class: carries a message meant for the user."""


class ConcurrencyConflict(KimError):
    """The stream moved on since the caller read it (HTTP 409)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None):
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(
            f"stream {stream_id} is at version {actual if actual is not None else 0}, not {expected}: "
            "someone changed it meanwhile; reload it and try again"
        )


def check_expected(stream_id: str, expected: int | None, actual: int) -> None:
    """The version the caller last saw (If-Match; None: not given) must still be the stream's version: the one
    expected-version check of every service's command handlers."""
    if expected is not None and expected != actual:
        raise ConcurrencyConflict(stream_id, expected, actual)


class RuleViolation(KimError):
    """A command breaks a domain rule (HTTP 409 for state conflicts, mapped by the service)."""


class NotFound(KimError):
    """An unknown id (HTTP 404)."""


class Gone(KimError):
    """A resource that existed and is no longer available, with the reason (HTTP 410, a problem detail, RFC 9457):
    e.g. a partner's referral after revocation. `extra` adds members to the problem detail."""

    def __init__(self, detail: str, *, reason: str, status: int = 410, **extra):
        super().__init__(detail)
        self.reason, self.status, self.extra = reason, status, extra


class NotRecorded(KimError):
    """A decision that must be recorded before it is answered could not be, because the database failed (HTTP 503
    with Retry-After, a problem detail): nothing was written, the same request may be sent again."""
