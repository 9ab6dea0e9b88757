"""The reference partner consumer (examples/partner_consumer) and the code of schemas/PARTNERS.md, run against the
real test broker and the real cases and referrals services (the partner API on a real port): a partner works a
referral (accept, read the consented person data once, appointment, outcome), keeps a local view, opens the sealed
snapshots with the referral's key, purges on revocation (the key too); right after the revocation, before any
compaction, a new consumer group reads the whole topic and can open nothing of the revoked referral (its key answers
410, no pseudonym or code in the raw bytes); and after compaction (forced on the test topic: one partition, segment.ms 1 s, min.cleanable.dirty.ratio
0.01) a consumer in a new group never receives the purged referral's data. The test broker has no SASL and no ACLs
(that is issue 16 item 3, onboarding)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from kim_runtime.topics import PARTNER_CLEANUP_POLICY, partner_group_prefix, partner_topic
from kim_schemas.generate import SCHEMAS_DIR

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings
from kim_referrals.bootstrap import build_app as build_referrals
from kim_referrals.settings import ReferralSettings

from .support import ADMIN, SECRET, ensure_topics, eventually, new_org, partner, register
from .with_cases import CASEWORKER, Kreis, ok
from tests.ports import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[3]
COMPACT_FAST = {"cleanup.policy": PARTNER_CLEANUP_POLICY, "retention.ms": "2592000000", "segment.ms": "1000",
                "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000", "min.compaction.lag.ms": "0"}


def reference_consumer():
    path = ROOT / "examples/partner_consumer/partner_consumer.py"
    spec = importlib.util.spec_from_file_location("partner_consumer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def snippets() -> dict[str, dict]:
    """The code blocks of PARTNERS.md, each run in a namespace of its own: name -> its globals."""
    text = (SCHEMAS_DIR / "PARTNERS.md").read_text(encoding="utf-8")
    found = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        name = re.match(r"# partner-snippet: (\w+)", block).group(1)
        namespace: dict = {"__name__": f"partner_snippet_{name}"}
        exec(compile(block, f"PARTNERS.md:{name}", "exec"), namespace)  # noqa: S102 - the doc's own code
        found[name] = namespace
    assert set(found) == {"consume", "work", "validate"}, found.keys()
    return found


@contextlib.asynccontextmanager
async def kreis_services(cases_db: str, referrals_db: str, bootstrap: str):
    """The cases service in-process, the referrals service on a real port (partners use HTTP), reaching the cases
    service's internal path in-process."""
    cases_app = build_cases(CasesSettings(database_url=cases_db, kafka_bootstrap=bootstrap, auth_secret=SECRET))
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    refs_app = build_referrals(ReferralSettings(database_url=referrals_db, kafka_bootstrap=bootstrap,
                                                auth_secret=SECRET, pseudonym_secret="test-pseudonym-secret",
                                                public_url=api))
    refs_app.state.cases.transport = httpx.ASGITransport(app=cases_app)
    async with cases_app.router.lifespan_context(cases_app), refs_app.router.lifespan_context(refs_app):
        server = uvicorn.Server(uvicorn.Config(refs_app, host="127.0.0.1", port=port, lifespan="off",
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cases_app), base_url="http://cases") as c, \
                    httpx.AsyncClient(base_url=api) as r:
                yield c, r, api
        finally:
            server.should_exit = True
            await task


async def compact_fast(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=COMPACT_FAST)])
    finally:
        await admin.close()


async def raw_records(bootstrap: str, topic: str) -> list:
    """Everything on the topic now, read by a new group from the beginning."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"partner.raw.{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            out += [r for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return out


async def test_the_reference_consumer_and_the_documented_code_work_a_referral_and_purge_for_good(
        fresh_db, cases_db, kafka_bootstrap, monkeypatch, tmp_path):
    org = new_org("jc")
    topic = partner_topic(org)
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)  # one partition: compaction can be forced
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    module = reference_consumer()
    async with kreis_services(cases_db, fresh_db, kafka_bootstrap) as (cases, refs, api):
        kreis = Kreis(cases, refs)
        await register(refs, org)
        token = partner(org)["Authorization"].removeprefix("Bearer ")
        env = {"KIM_KAFKA_BOOTSTRAP": kafka_bootstrap, "KIM_PARTNER_TOPIC": topic,
               "KIM_PARTNER_GROUP": f"{partner_group_prefix(org)}docs", "KIM_PARTNER_API": api,
               "KIM_PARTNER_TOKEN": token}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = snippets()

        purged_client, purged_case = await kreis.client_with_case("Oksana Melnyk")
        kept_client, kept_case = await kreis.client_with_case("Amina Haddad")
        withdrawn = await kreis.consent(purged_case, [org], categories=("stammdaten", "kontaktdaten", "aufenthalt"))
        await kreis.consent(kept_case, [org], categories=("aufenthalt",))
        made = {}
        for case_id, cats in ((purged_case, ["stammdaten", "kontaktdaten", "aufenthalt"]), (kept_case, ["aufenthalt"])):
            made[case_id] = (await ok(await refs.post("/referrals", headers=CASEWORKER, json={
                "case_id": case_id, "to_organisation_id": org, "purpose": "aufenthaltssicherung",
                "data_categories": cats}), 201))["partner_referral_id"]
        gone, kept = made[purged_case], made[kept_case]

        # the documented code: work the referral (reads the person data once), then read the topic
        reported, person = await code["work"]["work"](gone, "2025-04-02", "aufenthaltstitel_erteilt")
        assert (reported["state"], reported["version"], reported["appointment_on"]) == (
            "outcome_reported", 4, "2025-04-02")
        assert person["person"]["name"] == "Oksana Melnyk" and person["categories"] == ["kontaktdaten", "stammdaten"]
        reads = await ok(await cases.get(f"/clients/{purged_client}/reads", headers=ADMIN))
        assert [r["fields"] for r in reads if r["actor"] == f"partner:{org}"] == [
            ["address", "contact", "date_of_birth", "name"]]  # once, recorded with the partner as reader
        docs_view: dict[str, dict] = {}
        docs_keys: dict[str, bytes] = {}

        async def docs_caught_up():
            await code["consume"]["read_my_topic"](docs_view, docs_keys)
            return docs_view.get(gone, {}).get("version") == 4 and kept in docs_view
        await eventually(docs_caught_up, timeout=60)
        assert docs_view[gone]["outcome"] == "aufenthaltstitel_erteilt" and docs_view[kept]["state"] == "requested"
        assert set(docs_keys) == {gone, kept}
        pseudonym = docs_view[gone]["client_pseudonym"]
        [first] = [r for r in await raw_records(kafka_bootstrap, topic) if r.key.decode() == kept][:1]
        assert await code["validate"]["validate"]({k: v.decode() for k, v in first.headers}, first.value) == []

        # the reference consumer: validates, keeps its view in SQLite
        def consumer(group: str, db: Path):
            view = module.LocalView(str(db))
            return view, module.PartnerConsumer(bootstrap=kafka_bootstrap, topic=topic, group=group, api=api,
                                                token=token, view=view)
        first_db = tmp_path / "agency.sqlite"
        view, agency = consumer(f"{partner_group_prefix(org)}reference", first_db)
        try:
            stats = await agency.run_until_idle()
            assert stats.reported == 0 and stats.snapshots == 5  # 4 versions of one, the offer of the other
            assert set(view.referrals()) == {gone, kept} and view.referrals()[gone] == docs_view[gone]
            assert view.keys() == {gone, kept}

            # revoked: notice, then tombstone; the consumer purges, the documented code too, the API says 410
            await ok(await cases.post(f"/cases/{purged_case}/consents/{withdrawn}/withdrawal", headers=CASEWORKER,
                                      json={"scope": "alle"}))

            async def purged():
                await agency.run_until_idle(idle_ms=1000)
                return gone not in view.referrals() and stats.tombstones == 1
            await eventually(purged, timeout=60)
            assert view.purged() == [(gone, "einwilligung_widerrufen"), (gone, "tombstone")]
            assert view.keys() == {kept}  # the purge took the key too
            await code["consume"]["read_my_topic"](docs_view, docs_keys)
            assert gone not in docs_view and kept in docs_view and set(docs_keys) == {kept}
            key_answer = await refs.get(f"/partner/referrals/{gone}/key", headers=partner(org))
            assert key_answer.status_code == 410 and key_answer.json()["reason"] == "einwilligung_widerrufen"

            # before any compaction: a new group from offset 0 receives the sealed snapshots but opens none of them
            before_db = tmp_path / "before-compaction.sqlite"
            late_view, late = consumer(f"{partner_group_prefix(org)}late-{uuid.uuid4().hex[:6]}", before_db)
            try:
                late_stats = await late.run_until_idle()
                assert gone not in late_stats.keys_with_data and kept in late_stats.keys_with_data
                assert late_stats.sealed_for_good == 4 and late_stats.reported == 0
                assert set(late_view.referrals()) == {kept} and late_view.keys() == {kept}
                print(f"\nright after the revocation a new group read {late_stats.records} records: "
                      f"{late_stats.sealed_for_good} sealed snapshots of the revoked referral it could not open "
                      "(key 410), the other referral opened")
            finally:
                await late.close()
                late_view.close()
            raw = [r for r in await raw_records(kafka_bootstrap, topic) if r.key.decode() == gone]
            assert len([r for r in raw if r.value is not None]) == 5  # 4 sealed snapshots and the notice: not compacted
            raw_bytes = b" ".join(b"%r %r %r" % (r.key, r.headers, r.value) for r in raw)
            for clear in (pseudonym, "aufenthaltstitel_erteilt", "aufenthaltssicherung", "outcome_reported",
                          "2025-04-02", "stammdaten", "aufenthalt\"", "Oksana"):
                assert clear.encode() not in raw_bytes, clear
            everything = b" ".join(b"%r %r" % (r.headers, r.value) for r in await raw_records(kafka_bootstrap, topic))
            assert pseudonym.encode() not in everything and b"aufenthaltstitel_erteilt" not in everything
            answer = await refs.get(f"/partner/referrals/{gone}", headers=partner(org))
            assert answer.status_code == 410 and answer.json()["reason"] == "einwilligung_widerrufen"
            assert (await refs.get(f"/partner/referrals/{gone}/person", headers=partner(org))).status_code == 410

            on_topic = [r for r in await raw_records(kafka_bootstrap, topic) if r.key.decode() == gone]
            told = [(dict(r.headers)["ce_type"].decode().rsplit(".", 1)[1], dict(r.headers)["ce_streamversion"]
                     .decode(), r.value is None) for r in on_topic]
            assert told == [("PartnerReferralSealedSnapshot", "1", False), ("PartnerReferralSealedSnapshot", "2", False),
                            ("PartnerReferralSealedSnapshot", "3", False), ("PartnerReferralSealedSnapshot", "4", False),
                            ("PartnerReferralRevoked", "5", False), ("PartnerReferralTombstone", "6", True)]
            print("\none referral on the partner topic, offer to tombstone:")
            for r in on_topic:
                headers = {k: v.decode() for k, v in r.headers}
                print(f"  key={r.key.decode()} offset={r.offset} ce_type={headers['ce_type']} "
                      f"ce_streamversion={headers['ce_streamversion']} ce_schemaversion={headers['ce_schemaversion']}"
                      f" ce_time={headers['ce_time']} headers={sorted(headers)} value={'null' if r.value is None else r.value.decode()[:100]}")

            # now compaction, forced on this test topic (after the service set the partner configuration): a record
            # nobody can read, reported to the Kreis and skipped, rolls the segment for the cleaner every 1.2 s
            await compact_fast(kafka_bootstrap, topic)
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            started = time.monotonic()
            compacted_after = None
            try:
                while compacted_after is None and time.monotonic() - started < 120:
                    await asyncio.sleep(1.2)  # past segment.ms: the next record starts a new segment
                    await producer.send_and_wait(topic, b"not json", key=b"junk", headers=[
                        ("ce_type", b"kim.partner.PartnerReferralSnapshot"),
                        ("ce_id", str(uuid.uuid4()).encode()), ("ce_dataschema",
                                                                f"{api}/partner/schemas/{'kim.partner.PartnerReferralSnapshot'}/1".encode())])
                    left = [r for r in await raw_records(kafka_bootstrap, topic)
                            if r.key.decode() == gone and r.value is not None]
                    if not left:
                        compacted_after = time.monotonic() - started
            finally:
                await producer.stop()
            assert compacted_after is not None, "the log cleaner did not compact the test topic within 120 s"
            print(f"\ncompaction removed the purged referral's records {compacted_after:.1f} s after the first roll")

            await agency.run_until_idle(idle_ms=1000)
            assert agency.stats.reported >= 1
            feedback = await ok(await refs.get("/partner-feedback", headers=ADMIN))
            assert any(f["organisation_id"] == org and f["problem"] == "not-json" for f in feedback)
        finally:
            await agency.close()
            view.close()
            first_db.unlink(missing_ok=True)

        # a new consumer group after compaction never receives what was purged
        fresh_db_path = tmp_path / "fresh.sqlite"
        fresh_view, fresh = consumer(f"{partner_group_prefix(org)}fresh-{uuid.uuid4().hex[:6]}", fresh_db_path)
        try:
            seen = await fresh.run_until_idle()
            assert gone not in seen.keys_with_data and kept in seen.keys_with_data
            assert set(fresh_view.referrals()) == {kept}
            everything = " ".join(f"{r.key!r} {r.headers!r} {r.value!r}" for r in await raw_records(kafka_bootstrap, topic))
            assert "Oksana" not in everything and "aufenthaltstitel_erteilt" not in everything  # its outcome is gone
        finally:
            await fresh.close()
            fresh_view.close()
            fresh_db_path.unlink(missing_ok=True)
