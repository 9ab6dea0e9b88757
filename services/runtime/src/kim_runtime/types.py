"""Input types every service's API shares: one place that says what an id, a text, a date or a municipality may be.

The event contract (kim_schemas.types) stays as published; these types are stricter and apply where data enters a
service over HTTP, so bad input is refused with a 422 naming the field before anything is written:
- ids: ASCII letters, digits and `_ . : @ -`, at most 100 characters (they end up in URLs, headers and keys);
- texts: no NUL, no other control character (tab and line breaks only in multi-line texts), no lone surrogate,
  no private-use, unassigned or bidi-override character; bounded length;
- dates: within a plausible range per kind (birth dates from 1900 and not in the future, other days 1950-2099);
- municipalities: one of the county's configured AGS codes (setting KIM_MUNICIPALITIES, default Kreis Unna's).
Path and query parameters are checked by name with `PATH_PARAMETER` and `QUERY_PARAMETERS` (see kim_runtime.http).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, TypeAdapter

__all__ = [
    "BirthDate", "Day", "Id", "LanguageCode", "Line", "Municipality", "OrganisationId", "PastYear",
    "ReportPeriod", "Text", "KREIS_UNNA_MUNICIPALITIES", "municipalities", "municipalities_served",
]

# The same patterns as the event contract's (kim_schemas.types; a unit test holds them equal): the runtime is the lower
# package and imports nothing of the contract.
OrganisationId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
"""A partner organisation's id; it is also the suffix of its topic kim.partner.<organisation id>."""
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
"""ISO 639-1 (two letters) or ISO 639-3 (three letters) language code, e.g. de, ar, uk, prs."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An opaque id (UUID or similar): ASCII letters, digits, `_ . : @ -`, starting with a letter or digit, ≤ 100."""

# -- text -----------------------------------------------------------------------------------------------------------
_LINE_BREAKS = frozenset("\t\n\r")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cs": "a lone surrogate", "Co": "a private-use character",
                       "Cn": "an unassigned code point"}


def odd_character(value: str, *, multi_line: bool = False) -> str | None:
    """What is wrong with the first character a text must not hold, or None."""
    for i, ch in enumerate(value):
        if ch == "\x00":
            return f"a NUL byte at position {i}"
        if multi_line and ch in _LINE_BREAKS:
            continue
        if ch in _BIDI_CONTROLS:
            return f"a bidi override (U+{ord(ch):04X}) at position {i}"
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if kind:
            return f"{kind} (U+{ord(ch):04X}) at position {i}"
    return None


def _checked(multi_line: bool):
    def check(value: str) -> str:
        problem = odd_character(value, multi_line=multi_line)
        if problem:
            raise ValueError(f"must be plain text; it contains {problem}")
        return value

    return AfterValidator(check)


def Line(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802 (a type factory)
    """One line of text (a name, a reference): no line breaks or other control characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), _checked(False)]


def Text(max_length: int) -> Any:  # noqa: N802 (a type factory)
    """Free text (notes, an address) that may span lines."""
    return Annotated[str, StringConstraints(max_length=max_length), _checked(True)]


# -- dates ----------------------------------------------------------------------------------------------------------
BIRTH_MIN = date(1900, 1, 1)
DAY_MIN, DAY_MAX = date(1950, 1, 1), date(2099, 12, 31)


def _not_future(value: date) -> date:
    if value > date.today():
        raise ValueError(f"must not be in the future (today is {date.today().isoformat()})")
    return value


def _year_not_future(value: int) -> int:
    if value > date.today().year:
        raise ValueError(f"must not be after this year ({date.today().year})")
    return value


BirthDate = Annotated[date, Field(ge=BIRTH_MIN, description="From 1900-01-01, not in the future"),
                      AfterValidator(_not_future)]
Day = Annotated[date, Field(ge=DAY_MIN, le=DAY_MAX, description="A day between 1950-01-01 and 2099-12-31")]
"""Any other day the services record or plan (opened, granted, valid until, target date, period bounds)."""
PastYear = Annotated[int, Field(ge=BIRTH_MIN.year), AfterValidator(_year_not_future)]
"""A year that has happened, from 1900 (year of birth, of arrival in Germany)."""

REPORT_PERIOD_PATTERN = r"^20[0-9]{2}(-Q[1-4]|-H[12])?$"
ReportPeriod = Annotated[str, StringConstraints(pattern=REPORT_PERIOD_PATTERN)]
"""A reporting period of the years 2000-2099: 2025-Q1, 2025-H2 or 2025."""

# -- municipalities -------------------------------------------------------------------------------------------------
KREIS_UNNA_MUNICIPALITIES = (
    "05978000",  # Kreis Unna itself (the county's own teams)
    "05978004",  # Bergkamen
    "05978008",  # Bönen
    "05978012",  # Fröndenberg/Ruhr
    "05978016",  # Holzwickede
    "05978020",  # Kamen
    "05978024",  # Lünen
    "05978028",  # Schwerte
    "05978032",  # Selm
    "05978036",  # Unna
    "05978040",  # Werne
)
_MUNICIPALITIES: ContextVar[frozenset[str]] = ContextVar("municipalities",
                                                         default=frozenset(KREIS_UNNA_MUNICIPALITIES))


@contextmanager
def municipalities_served(codes: Iterable[str]) -> Iterator[None]:
    """Validate against these AGS codes meanwhile: the runtime's middleware wraps each request of a service in the
    codes of its setting KIM_MUNICIPALITIES (so two services in one process may serve different ones)."""
    token = _MUNICIPALITIES.set(frozenset(codes))
    try:
        yield
    finally:
        _MUNICIPALITIES.reset(token)


def municipalities() -> frozenset[str]:
    return _MUNICIPALITIES.get()


def _known_municipality(value: str) -> str:
    known = _MUNICIPALITIES.get()
    if value not in known:
        raise ValueError(f"unknown municipality {value}: one of {', '.join(sorted(known))}")
    return value


Municipality = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$"), AfterValidator(_known_municipality)]
"""The AGS (8 digits) of one of the county's municipalities, e.g. 05978024 for Lünen; 05978000 is the county."""

# -- path and query parameters, checked by name (kim_runtime.http) ---------------------------------------------------
PATH_PARAMETER = TypeAdapter(Id)
"""Every path parameter of the four services is an id."""
QUERY_PARAMETERS: dict[str, TypeAdapter] = {
    "municipality": TypeAdapter(Municipality),
    "baustein": TypeAdapter(Annotated[str, StringConstraints(pattern=r"^[123]$")]),
    "grant_id": TypeAdapter(Id),
    "as_of": TypeAdapter(Day), "from": TypeAdapter(Day), "to": TypeAdapter(Day),
    "period_from": TypeAdapter(Day), "period_to": TypeAdapter(Day),
}
OTHER_QUERY_PARAMETER = TypeAdapter(Line(200))
"""Any other query parameter: one line of at most 200 characters (its own type is checked by the route)."""
