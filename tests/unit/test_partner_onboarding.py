"""kim partner onboard / rotate without a broker: the ACLs a partner gets, the SCRAM request, the sheet, the
reference consumer's security options from the sheet's environment. The real thing: tests/rehearsal/test_onboarding.py."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import sys
from pathlib import Path

import pytest
from kim_cli.partner_cmd import Sheet, app
from kim_cli.partner_kafka import (
    DESCRIBE, GROUP, LITERAL, PREFIXED, READ, TOPIC, Acl, AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsRequest_v0, new_password, partner_acls, salted_password,
)
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


def test_a_partner_may_read_and_describe_its_topic_and_read_its_groups_and_nothing_else():
    assert partner_acls("awo-unna") == {Acl(TOPIC, "kim.partner.awo-unna", LITERAL, READ),
                                        Acl(TOPIC, "kim.partner.awo-unna", LITERAL, DESCRIBE),
                                        Acl(GROUP, "partner.awo-unna.", PREFIXED, READ)}
    with pytest.raises(ValueError):
        partner_acls("Not An Id")


def test_the_scram_upsertion_carries_the_rfc5802_salted_password_never_the_password():
    password = new_password()
    assert len(password) >= 24 and all(c.isalnum() or c in "_-" for c in password)  # kafka-init.sh's alphabet
    request = AlterUserScramCredentialsRequest("partner-awo-unna", password).build(AlterUserScramCredentialsRequest_v0)
    (name, mechanism, iterations, salt, salted, _), = request.upsertions
    assert (name, mechanism, iterations) == ("partner-awo-unna", 2, 8192) and len(salt) == 32
    # RFC 5802 Hi(): PBKDF2 with HMAC-SHA-512, the first block written out
    u = hmac.new(password.encode(), salt + b"\x00\x00\x00\x01", hashlib.sha512).digest()
    result = bytearray(u)
    for _ in range(iterations - 1):
        u = hmac.new(password.encode(), u, hashlib.sha512).digest()
        result = bytearray(a ^ b for a, b in zip(result, u))
    assert salted == bytes(result) == salted_password(password, salt)
    assert password.encode() not in request.encode()


def sheet(ca: str | None) -> Sheet:
    return Sheet(organisation_id="awo-unna", kafka_bootstrap="kafka.example:9443",
                 security_protocol="SASL_SSL" if ca else "SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                 kafka_user="partner-awo-unna", kafka_password="pw-123456789012", topic="kim.partner.awo-unna",
                 group_prefix="partner.awo-unna.", group_example="partner.awo-unna.reader", ca_certificate=ca,
                 api_base_url="https://kim.example", api_token="a.b.c", api_token_expires_at="2027-12-03T00:00:00Z",
                 schema_url="https://kim.example/partner/schemas", docs="PARTNERS.md")


def test_the_sheet_shows_each_secret_and_the_environment_the_reference_consumer_reads():
    text = sheet("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").text()
    for line in ("password             pw-123456789012", "token                a.b.c", "KIM_KAFKA_CA_FILE=kim-ca.pem",
                 "KIM_KAFKA_SECURITY_PROTOCOL=SASL_SSL", "kim partner rotate awo-unna", "-----BEGIN CERTIFICATE-----"):
        assert line in text, line
    plain = sheet(None).text(rotated=True)
    assert "no longer work" in plain and "no TLS (SASL_PLAINTEXT)" in plain and "KIM_KAFKA_CA_FILE" not in plain


def test_the_reference_consumer_logs_in_as_the_sheet_says(monkeypatch):
    spec = importlib.util.spec_from_file_location("partner_consumer",
                                                  ROOT / "examples/partner_consumer/partner_consumer.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "partner_consumer", module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    env = sheet(None).env()
    options = module.kafka_options(env)
    assert options == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "partner-awo-unna", "sasl_plain_password": "pw-123456789012"}
    assert module.kafka_options({}) == {}  # a local test broker without SASL


def test_an_existing_sheet_file_is_never_overwritten(tmp_path, monkeypatch):
    kept = tmp_path / "awo.sheet"
    kept.write_text("the earlier sheet")
    monkeypatch.setenv("KIM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("KIM_KAFKA_ADMIN_PASSWORD", "x" * 16)
    result = CliRunner().invoke(app, ["onboard", "awo-unna", "--sheet", str(kept)])
    assert result.exit_code == 2 and "never overwritten" in result.output
    assert kept.read_text() == "the earlier sheet"
