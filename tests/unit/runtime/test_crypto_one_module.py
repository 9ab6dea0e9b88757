"""One AES-GCM module: kim_runtime.crypto is the only module under services/ that imports AESGCM, and the
ciphertexts the three former callers produced before it was so still open byte for byte.

The literals below were produced by the code as it was on main at 860887f (kim_cases.adapters.crypto.encrypt and
wrap_key, kim_runtime.crypto.wrap_key with the partner referral key's label, kim_referrals' seal of a snapshot,
kim_runtime.sealing.seal_values, and the cases KEK verifier), each under the fixed key and KEK here. Each is opened by today's code, and today's
code, given the same nonce, produces the very same bytes: AAD, nonce size, base64 and the JSON's canonical form are
unchanged, so what is on disk and on the wire opens after the change."""

from __future__ import annotations

import ast
import base64
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from kim_cases.adapters import crypto as cases_crypto
from kim_runtime import crypto, sealing
from kim_schemas.partner import PartnerReferralSealedSnapshot, PartnerReferralSnapshot, PartnerState
from kim_schemas.types import Encrypted

from kim_referrals.adapters import referral_keys
from kim_referrals.adapters.referral_keys import ReferralKey, open_snapshot

ROOT = Path(__file__).resolve().parents[3]
KEY = bytes(range(32))  # the data key (a client's, a partner referral's)
KEK = bytes(range(100, 132))

CASE_VALUE = {"key_id": "ck-1", "nonce": "qji+WJik6X1faTw4",
              "ciphertext": "0nImyXy02E934YdDPF83e4l9cNaVwqNw85WN55dNp69HqU8ZoHZ6OBGQFcp8r4cJoBnYhnQAtlbKL8I="}
CASE_PLAIN = {"name": "Ağa Müller", "born": "1990-01-02"}
CASES_WRAPPED = "5Fc3eUZB/93BjrVFOIWFt+ErreEviw3FLWi/NBnzuFCCXBqNcplsVrAPW9zr79y8G6m1d+pTyq24eaHu"
PARTNER_WRAPPED = "431zS4qUdT710tDnWXcvMdgu/ogBTS77WcasLFstx+Po7JvDgM46xBCiBUDTfCZv/x5WWwF0VXARwzmw"
PARTNER_SNAPSHOT = {"referral_id": "r-fixture-1", "version": 2, "sealed": {
    "key_id": "prk-1", "nonce": "vmsyqK6rVHCWhIgI",
    "ciphertext": "QefTmDIpQaqcoVnlOBrDme/xG/QyP5rETAl/QA2Z5AxZrwDymKUqLxXaAyOtfaY8rxusJGNOgRmBTQeY7GIfOa1ktoaMtgh8ZBlQf"
                  "Var8TvrIuj+ljKoloVo52TnLpaL396KbzsDpuznpDGa+fnwd+bJ0oYUYSQlTk026REUJmYSExekS7o8+5jNvfMbw6fqm2+TRjEg"
                  "moBCQa31RfeoRj0xLWElVdMoNdCXqxc6U++XDheuxfHpQYwLELE5DaJoxXogvRUCOwNrfvgrhVgxgc4W9gElUxGyHAwT8agiUFsE"
                  "BgYNlLXW+isEFxBkTGyJH57iwMx3Lkhyd85qYsgH1l86tCv+gGAUfZseQ0yEFcumbqZTxc8NQ5wIC9HUYUWOmRMzYNaRnHOJWszX"
                  "asWmQxDb5fUl9InNP+WdbjnLgZ3uJltkQgp4QZChj6OeCJDIN74MOHtAoQbruuu5c6f45b7mXL/b3wyHLyEZzcnDqjNKGKHmIlsD"
                  "bR9aAJZelAWrIneWa2Dt9lLp58f56O/9BZwx+9xSXVn5PKAn+phAX73fHbxmbHNHEcQq+6bs0iutvieGTdCgEaGYyn4RIhslu/tc"
                  "hjkd4YVrbuvfmzzgB+7bFQb6Bq+ToOx47FoY1b945VIUXqb9KJ7OuAOn"}}
AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
SNAPSHOT = PartnerReferralSnapshot(
    referral_id="r-fixture-1", organisation_id="jobcenter-kreis-unna", version=2, state=PartnerState.ACCEPTED,
    client_pseudonym="ps-0123456789abcdef0123456789abcdef", purpose="arbeitsmarktintegration",
    data_categories=["aufenthalt"], consent_id="c-partner-1", due_on=date(2025, 3, 20),
    residence_status="duldung_60a", rechtskreis=None, languages=None, appointment_on=None, outcome=None,
    decline_reason=None, offered_at=AT, changed_at=AT)
SEALED_VALUES = {"key_id": "ck-1", "nonce": "FhydFRZP9XG2Sggz",
                 "ciphertext": "snfucqhe6k8TZ3O8AXH+Vs4l3XGQBYxcYzUPq+5GrAIPl0nWAikl01ww0Vv6UBEAXNJz7Byd"}
SEALED_PLAIN = {"opened_on": "2025-03-01", "code": "ä"}
CASES_KEK_VERIFIER = "CTCB4VsbupSd9S2EVt1oQwhsuw8mpX1srImGBB//i3s="  # kek_verifier(KEK), as key_encryption_keys holds it


@pytest.fixture
def nonce_from(monkeypatch):
    """Make the next nonce the given base64 (or raw) bytes, to compare a fresh ciphertext with the literal."""
    def use(nonce: str | bytes) -> None:
        raw = base64.b64decode(nonce) if isinstance(nonce, str) else nonce
        monkeypatch.setattr(crypto.os, "urandom", lambda n: raw[:n])
    return use


def test_a_sealed_case_value_of_before_opens_and_is_sealed_alike(nonce_from):
    value = Encrypted(**CASE_VALUE)
    assert cases_crypto.decrypt(KEY, "c-fixture-1", value) == CASE_PLAIN
    with pytest.raises(cases_crypto.Undecryptable):
        cases_crypto.decrypt(KEY, "c-fixture-2", value)
    nonce_from(CASE_VALUE["nonce"])
    assert cases_crypto.encrypt(KEY, "ck-1", "c-fixture-1", CASE_PLAIN) == value


def test_a_wrapped_client_data_key_of_before_unwraps_and_is_wrapped_alike(nonce_from):
    wrapped = base64.b64decode(CASES_WRAPPED)
    assert cases_crypto.unwrap_key(KEK, "c-fixture-1", "ck-1", wrapped) == KEY
    with pytest.raises(cases_crypto.Undecryptable):
        cases_crypto.unwrap_key(KEK, "c-fixture-1", "ck-2", wrapped)  # moved onto another key id
    nonce_from(wrapped[:12])
    assert cases_crypto.wrap_key(KEK, "c-fixture-1", "ck-1", KEY) == wrapped


def test_a_wrapped_partner_referral_key_of_before_unwraps_and_is_wrapped_alike(nonce_from):
    wrapped, label = base64.b64decode(PARTNER_WRAPPED), referral_keys._label("r-fixture-1", "prk-1")
    assert crypto.unwrap_key(KEK, label, wrapped) == KEY
    nonce_from(wrapped[:12])
    assert crypto.wrap_key(KEK, label, KEY) == wrapped


def test_a_sealed_partner_snapshot_of_before_opens_and_is_sealed_alike(nonce_from):
    key, sealed = ReferralKey("r-fixture-1", "prk-1", KEY), PartnerReferralSealedSnapshot.model_validate(PARTNER_SNAPSHOT)
    assert open_snapshot(sealed, key) == SNAPSHOT
    with pytest.raises(crypto.Undecryptable):
        open_snapshot(sealed.model_copy(update={"version": 3}), key)
    nonce_from(PARTNER_SNAPSHOT["sealed"]["nonce"])
    assert referral_keys.seal(SNAPSHOT, key).model_dump(mode="json") == PARTNER_SNAPSHOT


def test_sealed_values_of_before_open_and_are_sealed_alike(nonce_from):
    key = sealing.derive(KEY)
    assert sealing.open_values(key, "c-fixture-1", "kim.cases.CaseOpened", SEALED_VALUES) == SEALED_PLAIN
    with pytest.raises(sealing.Unopenable):
        sealing.open_values(key, "c-fixture-1", "kim.cases.CaseClosed", SEALED_VALUES)
    nonce_from(SEALED_VALUES["nonce"])
    assert sealing.seal_values(key, "ck-1", "c-fixture-1", "kim.cases.CaseOpened", SEALED_PLAIN) == SEALED_VALUES


def test_the_cases_kek_verifier_of_before_is_unchanged():
    assert base64.b64encode(cases_crypto.kek_verifier(KEK)).decode() == CASES_KEK_VERIFIER


def _imports_aesgcm(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cryptography"):
            if any(a.name in ("AESGCM", "*") for a in node.names) or node.module.endswith(".aead"):
                return True
        if isinstance(node, ast.Import) and any(a.name.startswith("cryptography.hazmat.primitives.ciphers")
                                                for a in node.names):
            return True
    return False


def test_only_kim_runtime_crypto_imports_aesgcm_under_services():
    files = [p for p in (ROOT / "services").rglob("*.py") if ".venv" not in p.parts and "node_modules" not in p.parts]
    assert len(files) > 100  # the walk found the services' sources
    assert [str(p.relative_to(ROOT)) for p in files if _imports_aesgcm(p)] == ["services/runtime/src/kim_runtime/crypto.py"]
