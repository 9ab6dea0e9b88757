"""The shared input types (kim_runtime.types): each accepts what fits and refuses the rest, as a matrix."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from kim_runtime import types as t
from kim_runtime.settings import RuntimeSettings
from pydantic import TypeAdapter, ValidationError

TODAY = date.today()
CASES = [  # type, value, accepted
    (t.Id, "3f2c9a4e-1b7d-4c1e-9a65-2f8e5d7c1b20", True), (t.Id, "ma-002", True), (t.Id, "kim_2025.B2:x@y", True),
    (t.Id, "i" * 100, True), (t.Id, "i" * 101, False), (t.Id, "", False), (t.Id, "a\x00b", False),
    (t.Id, "stelle-€", False), (t.Id, "lünen", False), (t.Id, "a b", False), (t.Id, "a/b", False),
    (t.Id, "-a", False), (t.Id, "a\ud800", False),
    (t.Line(20), "Amina Haddad", True), (t.Line(20), "أمينة حداد", True), (t.Line(20), "Ünal Çelik", True),
    (t.Line(20), "زهرا\u200cی", True), (t.Line(20), "a\x00", False), (t.Line(20), "a\nb", False),
    (t.Line(20), "a\x1b[2J", False), (t.Line(20), "a\ud800", False), (t.Line(20), "a\u202eb", False),
    (t.Line(20), "a\ue000", False), (t.Line(20), "a\U000e0001", True), (t.Line(20), "x" * 21, False),
    (t.Line(5, min_length=1), "", False),
    (t.Text(50), "Zeile 1\r\nZeile 2\tEnde", True), (t.Text(50), "a\x07", False), (t.Text(50), "a\x00", False),
    (t.BirthDate, "1900-01-01", True), (t.BirthDate, "1899-12-31", False), (t.BirthDate, TODAY, True),
    (t.BirthDate, TODAY + timedelta(days=1), False), (t.BirthDate, "9999-12-31", False),
    (t.BirthDate, "0001-01-01", False),
    (t.Day, "1950-01-01", True), (t.Day, "2099-12-31", True), (t.Day, "1949-12-31", False),
    (t.Day, "2100-01-01", False), (t.Day, "9999-12-31", False),
    (t.PastYear, 1900, True), (t.PastYear, TODAY.year, True), (t.PastYear, TODAY.year + 1, False),
    (t.PastYear, 1899, False), (t.PastYear, -1, False), (t.PastYear, 10**20, False),
    (t.ReportPeriod, "2025-Q1", True), (t.ReportPeriod, "2025-H2", True), (t.ReportPeriod, "2025", True),
    (t.ReportPeriod, "0000-Q1", False), (t.ReportPeriod, "1999-Q1", False), (t.ReportPeriod, "2100", False),
    (t.ReportPeriod, "2025-Q5", False),
    (t.Municipality, "05978024", True), (t.Municipality, "05978000", True), (t.Municipality, "12345678", False),
    (t.Municipality, "0597802", False), (t.Municipality, "０５９７８０２４", False),
]


@pytest.mark.parametrize(("kind", "value", "accepted"), CASES)
def test_each_type_accepts_what_fits_and_refuses_the_rest(kind, value, accepted):
    adapter = TypeAdapter(kind)
    if accepted:
        adapter.validate_python(value)
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_municipalities_are_a_setting_with_kreis_unnas_codes_as_default(monkeypatch):
    assert RuntimeSettings().municipalities == t.KREIS_UNNA_MUNICIPALITIES
    assert len(t.KREIS_UNNA_MUNICIPALITIES) == 11 and all(c.startswith("05978") for c in t.KREIS_UNNA_MUNICIPALITIES)
    monkeypatch.setenv("KIM_MUNICIPALITIES", "05978024, 05978036")
    assert RuntimeSettings().municipalities == ("05978024", "05978036")
    monkeypatch.setenv("KIM_MUNICIPALITIES", "05978024,lünen")
    with pytest.raises(ValidationError, match="8-digit AGS"):
        RuntimeSettings()
    adapter = TypeAdapter(t.Municipality)
    with t.municipalities_served(["05111000"]):
        adapter.validate_python("05111000")
        with pytest.raises(ValidationError, match="unknown municipality 05978024"):
            adapter.validate_python("05978024")
    adapter.validate_python("05978024")
