"""Dates, times and numbers as people in Germany write them (de-DE), times in Europe/Berlin."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from .labels import SEALED

BERLIN = ZoneInfo("Europe/Berlin")
_GERMAN_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")


def de_date(value: str | date | None) -> str:
    """2025-03-01 -> 01.03.2025 (an unparseable value is shown as it is)."""
    if value in (None, ""):
        return "–"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return SEALED.get(value, value)
    return value.strftime("%d.%m.%Y")


def de_datetime(value: str | datetime | None) -> str:
    """An instant as Berlin wall-clock time: 01.03.2025, 09:30 Uhr."""
    if value in (None, ""):
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(BERLIN)
    return value.strftime("%d.%m.%Y, %H:%M Uhr")


def de_number(value: int | float | str | Decimal | None, decimals: int | None = None) -> str:
    """1234.5 -> 1.234,5; decimals fixes the places (rounded half up), else as many as the value has."""
    if value in (None, ""):
        return "–"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if decimals is not None:
        number = number.quantize(Decimal(1).scaleb(-decimals), rounding="ROUND_HALF_UP")
    elif number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    else:
        number = number.normalize()
    sign, text = ("-" if number < 0 else ""), f"{abs(number):f}"
    whole, _, frac = text.partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return sign + groups + ("," + frac if frac else "")


def de_percent(ratio: float | str | None, decimals: int = 1) -> str:
    if ratio in (None, ""):
        return "–"
    return de_number(Decimal(str(ratio)) * 100, decimals) + " %"


def iso_date(text: str | None) -> str | None:
    """A date field as the API wants it: ISO (from <input type=date>) or TT.MM.JJJJ typed by hand; empty -> None.
    Anything else is passed on unchanged, so the API's 422 names the field."""
    if text is None or not text.strip():
        return None
    match = _GERMAN_DATE.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return text.strip()
    return text.strip()
