"""Pure parts of kim audit: personal data opened by the cases service (kim_cases.application.audit_trail) and
withheld by the CLI, time parsing, rendering, value hashes, topic overrides."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from kim_cases.application import audit_trail
from kim_cases.application.audit_trail import ERASED, WITHHELD, NotYet, Opener, is_encrypted
from kim_cli.audit import personal as cli_personal
from kim_cli.audit.as_of import parse_time
from kim_cli.audit.connect import UserError, service_of_topic
from kim_cli.audit.render import trail_csv, trail_json, trail_table
from kim_cli.audit.trail import Entry
from kim_cli.audit.verify import value_hash
from kim_cli.audit_cmd import _topic_overrides

SEALED = {"key_id": "k1", "nonce": "AAAA", "ciphertext": "BBBB"}


def _entry(version: int, type_: str, data: dict, *, stream: str = "case-1", minute: int = 0) -> Entry:
    return Entry("cases", f"e{version}", stream, version, type_, datetime(2026, 3, 1, 10, minute, tzinfo=UTC),
                 "staff-1", "cmd-1", "corr-1", data, caused_by="command cmd-1")


def test_encrypted_fields_are_erased_without_a_key_and_withheld_unless_asked():
    data = {"client_id": "c1", "personal": SEALED, "birth_year": 1990}
    assert Opener("c1", None, reveal=True).data(data) == {"client_id": "c1", "personal": ERASED, "birth_year": 1990}
    opener = Opener("c1", b"k" * 32, reveal=False)
    assert opener.data(data)["personal"] == WITHHELD and not opener.read
    assert is_encrypted(SEALED) and not is_encrypted({"key_id": "k1"})


def test_the_cli_withholds_what_it_reads_itself_and_opens_nothing():
    data = {"client_id": "c1", "personal": SEALED, "informed_in": "ar"}
    assert cli_personal.Withholder(erased=False).data(data) == {**data, "personal": cli_personal.WITHHELD}
    assert cli_personal.Withholder(erased=True).data(data)["personal"] == cli_personal.ERASED
    assert cli_personal.Withholder(erased=False).quasi("ar") == cli_personal.WITHHELD
    assert not hasattr(cli_personal, "Opener") and not hasattr(cli_personal, "client_key")


def test_personal_data_opened_in_clear_is_remembered_for_the_audit_record():
    from kim_cases.adapters import crypto

    key = crypto.new_key()
    sealed = crypto.encrypt(key, "k1", "c1", {"name": "Amina Haddad"}).model_dump()
    opener = Opener("c1", key, reveal=True)
    assert opener.data({"personal": sealed})["personal"] == {"name": "Amina Haddad"}
    assert opener.read == {"personal"}
    other = Opener("c2", key, reveal=True)  # bound to another client: never opens
    assert other.data({"personal": sealed})["personal"] == "unreadable" and not other.read


@pytest.mark.parametrize("text, expected", [
    ("2026-03-01", datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2026-03-01T10:30:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
    ("2026-03-01T10:30:00Z", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
    ("2026-03-01T11:30:00+01:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
])
def test_as_of_times(text, expected):
    assert parse_time(text) == expected


def test_a_bad_time_says_how_to_write_one():
    with pytest.raises(UserError, match="write e.g. 2026-03-01"):
        parse_time("yesterday")


def _stored(version: int, type_: str, data: dict, minute: int) -> audit_trail.Entry:
    return audit_trail.Entry(f"e{version}", "case-1", version, type_, 1, datetime(2026, 3, 1, 10, minute, tzinfo=UTC),
                             version, {"actor": "staff-1"}, data)


def test_generic_fold_when_the_aggregate_cannot_read_the_events():
    trail = [_stored(1, "kim.test.Opened", {"phase": "intake", "personal": SEALED}, minute=0),
             _stored(2, "kim.test.Moved", {"phase": "consent"}, minute=5),
             _stored(3, "kim.test.Moved", {"phase": "closed"}, minute=9)]
    state = audit_trail.state_as_of("case-1", "c1", trail, datetime(2026, 3, 1, 10, 6, tzinfo=UTC),
                                    Opener("c1", None, reveal=False))
    assert state["folded_by"] == "generic fold of event data" and state["version"] == 2
    assert state["state"]["phase"] == "consent" and state["state"]["personal"] == ERASED
    with pytest.raises(NotYet, match="did not exist yet"):
        audit_trail.state_as_of("case-1", "c1", trail, datetime(2026, 3, 1, 9, tzinfo=UTC),
                                Opener("c1", None, reveal=False))


def test_the_three_formats_carry_the_same_trail():
    trail = [_entry(1, "kim.cases.CaseOpened", {"case_id": "case-1", "team": "stadt"}),
             _entry(2, "kim.cases.CaseClosed", {"case_id": "case-1", "reason": "ziele_erreicht"}, minute=3)]
    header = {"case_id": "case-1", "client_id": "c1", "client_erased": True, "services": ["cases"]}
    doc = json.loads(trail_json(header, trail))
    assert [e["type"] for e in doc["events"]] == ["kim.cases.CaseOpened", "kim.cases.CaseClosed"]
    rows = list(csv.DictReader(io.StringIO(trail_csv(trail))))
    assert [r["version"] for r in rows] == ["1", "2"] and json.loads(rows[1]["data"])["reason"] == "ziele_erreicht"
    table = trail_table(header, trail)
    assert "(client c1, erased): 2 events across cases" in table
    assert "CaseClosed" in table and "command cmd-1" in table and 'reason="ziele_erreicht"' in table


def test_value_hash_ignores_key_order_but_not_values():
    assert value_hash({"a": 1, "b": [1, 2]}) == value_hash(json.loads('{"b":[1,2],"a":1}'))
    assert value_hash({"a": 1}) != value_hash({"a": 2})


def test_topics_map_to_the_store_that_publishes_them():
    assert service_of_topic("kim.cases") == "cases"
    assert service_of_topic("kim.partner.abh-unna") == "referrals"
    assert service_of_topic("kim.dlq.cases") is None and service_of_topic("kim.test.x") is None


def test_topic_overrides_name_a_known_service():
    assert _topic_overrides(["cases=kim.test.1"]) == {"cases": "kim.test.1"}
    with pytest.raises(UserError, match="SERVICE=TOPIC"):
        _topic_overrides(["kim.test.1"])
