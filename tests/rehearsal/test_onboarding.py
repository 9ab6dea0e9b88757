"""Onboarding a partner on the broker compose runs (SCRAM-SHA-512, StandardAuthorizer, kafka-init's ACLs), as ops
do it: `kim partner onboard ORG` (a process, with only the settings of compose's .env), the reference consumer
(examples/partner_consumer, a process) configured from the sheet alone reads its offer over the partners' listener;
after `kim partner rotate ORG` the old password and the old API token are refused and the new ones work; the partner
never reaches another partner's topic or a group outside its prefix.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import errors as kafka_errors
from kim_cli.partner_cmd import Sheet
from kim_cli.partner_kafka import scram
from kim_runtime.auth import Principal, Role
from kim_runtime.topics import partner_group_prefix, partner_kafka_user, partner_topic

from tests.e2e.support import Caller, eventually
from tests.rehearsal import acl
from tests.rehearsal.topology import PARTNERS, ROOT, Rehearsal

ORG = "awo-kreis-unna"  # in no KIM_PARTNERS entry: kafka-init made nothing for it
OTHER = PARTNERS[0]  # a partner kafka-init set up (its topic exists)
LUENEN, TEAM = "05978024", "stadt-luenen"


def kim(rehearsal: Rehearsal, *args: str) -> dict:
    """`kim partner ...` with what an operator's shell has from compose's .env, on the host."""
    kafka = rehearsal.service_env("kafka")
    env = {"PATH": os.environ["PATH"], "HOME": str(rehearsal.work), "LANG": "C.UTF-8",
           "KIM_KAFKA_BOOTSTRAP": rehearsal.bootstrap, "KIM_KAFKA_ADMIN_USER": kafka["KIM_KAFKA_ADMIN_USER"],
           "KIM_KAFKA_ADMIN_PASSWORD": kafka["KIM_KAFKA_ADMIN_PASSWORD"],
           "KIM_PARTNER_KAFKA_BOOTSTRAP": rehearsal.partner_bootstrap,
           "KIM_PARTNER_KAFKA_CA_FILE": str(rehearsal.tls / "ca.pem"),
           "KIM_REFERRALS_URL": rehearsal.url("referrals"), "KIM_AUTH_SECRET": rehearsal.env["KIM_AUTH_SECRET"],
           "KIM_REFERRALS_PUBLIC_URL": rehearsal.url("referrals")}
    out = subprocess.run([str(Path(sys.executable).parent / "kim"), "partner", *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"kim partner {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


def consume(sheet: dict, tmp: Path, group: str) -> tuple[dict, dict[str, str]]:
    """examples/partner_consumer as a partner runs it, its environment from the sheet; (stats, view by key)."""
    db = tmp / f"{group}.sqlite"
    (tmp / "kim-ca.pem").write_text(sheet["ca_certificate"])  # as the sheet says: save the CA certificate
    env = Sheet(**sheet).env(str(tmp / "kim-ca.pem")) | {"KIM_PARTNER_GROUP": group, "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    out = subprocess.run([sys.executable, str(ROOT / "examples/partner_consumer/partner_consumer.py"), "--db", str(db)],
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"the reference consumer failed:\n{out.stdout}\n{out.stderr[-3000:]}"
    with sqlite3.connect(db) as conn:
        view = {referral_id: state for referral_id, state in conn.execute("SELECT referral_id, state FROM referrals")}
    return json.loads(out.stdout.strip().splitlines()[-1]), view


def tls(rehearsal: Rehearsal) -> ssl.SSLContext:
    """What a partner checks the broker with: the CA certificate of its sheet (make-certs.sh's ca.pem)."""
    return ssl.create_default_context(cafile=str(rehearsal.tls / "ca.pem"))


async def refused_login(bootstrap: str, user: str, password: str, context: ssl.SSLContext | None) -> str:
    """How a login ends: "LOGGED IN", or the error's name. No context: SASL without TLS."""
    tls_options = {} if context is None else {"security_protocol": "SASL_SSL", "ssl_context": context}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                                **scram(user, password, **tls_options))
    try:
        await asyncio.wait_for(consumer.start(), 30)
    except (kafka_errors.KafkaError, OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__
    else:
        return "LOGGED IN"
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def onboarded(rehearsal: Rehearsal, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("partner")
    sheet = kim(rehearsal, "onboard", ORG, "--name", "AWO Kreis Unna", "--kind", "wohlfahrtsverband")
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=30) as http:
        urls = {s: rehearsal.url(s) for s in ("cases", "referrals")}
        manager = Caller(http, urls, rehearsal.env["KIM_AUTH_SECRET"],
                         Principal(sub=f"cm-{tag}", role=Role.CASE_MANAGER, team=TEAM, municipality=LUENEN))
        client = await manager.expect(201, "POST", "cases", "/clients", {
            "name": f"Onboarding Client {tag}", "date_of_birth": "1990-01-02", "address": "Markt 1, 59423 Unna",
            "contact": "+49 157 7654321", "languages": ["ar", "de"], "arrival_year": 2019})
        case = await manager.expect(201, "POST", "cases", "/cases", {
            "client_id": client["client_id"], "municipality": LUENEN, "team": "stadt", "team_organisation_id": TEAM,
            "access_channel": "jobcenter"})
        await manager.expect(201, "POST", "cases", f"/cases/{case['case_id']}/consents", {
            "recipients": [ORG], "purposes": ["soziale_begleitung"], "data_categories": ["sprache_bildung"],
            "form": "schriftlich", "informed_in": "ar"})

        async def referred():
            r = await http.post(f"{urls['referrals']}/referrals", headers=manager.headers, json={
                "case_id": case["case_id"], "to_organisation_id": ORG, "purpose": "soziale_begleitung",
                "data_categories": ["sprache_bildung"]})
            return r.json() if r.status_code == 201 else None

        referral = await eventually(referred, what="the referrals service knows the consent and takes the referral")
    key = referral["partner_referral_id"]

    async def offered():
        stats, view = consume(sheet, tmp, f"{partner_group_prefix(ORG)}first-{tag}")
        return (stats, view) if key in view else None

    stats, view = await eventually(offered, timeout_s=90, what="the reference consumer reads the offer")
    return {"sheet": sheet, "key": key, "stats": stats, "tmp": tmp, "tag": tag}


async def test_the_sheet_names_what_partners_md_names_and_a_fresh_password_and_token(rehearsal, onboarded):
    sheet = onboarded["sheet"]
    assert (sheet["kafka_user"], sheet["topic"], sheet["group_prefix"]) == (
        partner_kafka_user(ORG), partner_topic(ORG), partner_group_prefix(ORG))
    assert sheet["sasl_mechanism"] == "SCRAM-SHA-512" and len(sheet["kafka_password"]) >= 24
    assert (sheet["security_protocol"], sheet["kafka_bootstrap"]) == ("SASL_SSL", rehearsal.partner_bootstrap)
    assert sheet["ca_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert sheet["schema_url"].endswith("/partner/schemas") and sheet["api_token"].count(".") == 2
    partners_md = (ROOT / "schemas" / "PARTNERS.md").read_text()
    assert "## Getting access: your onboarding sheet" in partners_md
    for name in Sheet(**sheet).env():  # the sheet's environment is what PARTNERS.md's code and the consumer read
        assert f"`{name}`" in partners_md, name


async def test_the_reference_consumer_reads_its_offer_with_the_sheets_settings(onboarded):
    stats = onboarded["stats"]
    assert stats["snapshots"] >= 1 and stats["reported"] == 0, stats  # validated against its ce_dataschema


async def test_the_partner_reaches_its_topic_and_groups_only(rehearsal, onboarded):
    sheet = onboarded["sheet"]
    user, password, where, context = sheet["kafka_user"], sheet["kafka_password"], rehearsal.partner_bootstrap, tls(rehearsal)
    outcome, _ = await acl.read(where, user, password, partner_topic(OTHER), f"{partner_group_prefix(ORG)}peek",
                                tls=context)
    assert outcome.startswith("refused"), outcome
    outcome, _ = await acl.read(where, user, password, partner_topic(ORG), f"{partner_group_prefix(OTHER)}borrowed",
                                tls=context)
    assert outcome.startswith("refused"), outcome
    assert (await acl.write(where, user, password, partner_topic(ORG), tls=context)).startswith("refused")
    outcome, _ = await acl.read(where, user, password, partner_topic(ORG), f"{partner_group_prefix(ORG)}probe",
                                tls=context)
    assert outcome == "allowed"


async def test_the_partners_listener_is_tls_only(rehearsal, onboarded):
    """No partner login without TLS on the partners' listener, and none with a CA other than the sheet's."""
    sheet = onboarded["sheet"]
    plain = await refused_login(rehearsal.partner_bootstrap, sheet["kafka_user"], sheet["kafka_password"], None)
    assert plain != "LOGGED IN"
    stranger = await refused_login(rehearsal.partner_bootstrap, sheet["kafka_user"], sheet["kafka_password"],
                                   ssl.create_default_context())  # the system's CAs: the broker is not trusted
    assert stranger != "LOGGED IN"


async def test_after_rotate_the_old_password_and_token_are_refused_and_the_new_ones_work(rehearsal, onboarded):
    old = onboarded["sheet"]
    new = kim(rehearsal, "rotate", ORG)
    assert new["kafka_password"] != old["kafka_password"] and new["api_token"] != old["api_token"]

    refusal = await refused_login(rehearsal.partner_bootstrap, old["kafka_user"], old["kafka_password"], tls(rehearsal))
    assert refusal != "LOGGED IN", "the old Kafka password still works"
    # the same login with the new password gets in: the refusal was the password's, not the connection's
    assert await refused_login(rehearsal.partner_bootstrap, new["kafka_user"], new["kafka_password"],
                               tls(rehearsal)) == "LOGGED IN"
    api = rehearsal.url("referrals")
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        gone = await http.get("/partner/referrals", headers={"Authorization": f"Bearer {old['api_token']}"})
        assert gone.status_code == 401, gone.text
        mine = await http.get("/partner/referrals", headers={"Authorization": f"Bearer {new['api_token']}"})
        assert mine.status_code == 200 and onboarded["key"] in [r["referral_id"] for r in mine.json()]

    stats, view = consume(new, onboarded["tmp"], f"{partner_group_prefix(ORG)}after-rotate-{onboarded['tag']}")
    assert onboarded["key"] in view, stats
    print(f"\nONBOARDING: old password refused with {refusal}; old token 401; new consumer read "
          f"{stats['records']} record(s)")
