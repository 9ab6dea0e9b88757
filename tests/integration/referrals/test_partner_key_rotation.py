"""Rotating the KEK of the partner snapshot keys (`kim keys rotate --service referrals`), on the real PostgreSQL:
the referrals service wraps three referrals' keys under the old KEK; the rotation refuses a new KEK no service has
held yet (or another key under its id), and once the service was restarted with both KEKs, a wrong old KEK (another
key under its id, or the derived KEK of another id), each with nothing changed; an interrupted run leaves some keys under each KEK, which
the service given both KEKs (KIM_REFERRALS_PARTNER_KEK and _NEW) still answers alike; the command then re-wraps only
the rest (a key under the new KEK is skipped), after which every row opens under the new KEK and not the old one, a
second run has nothing to do, and the service holding only the new KEK answers the partner's key route with the same
keys as before."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from kim_runtime import crypto, db

from kim_referrals.adapters import key_rotation
from kim_referrals.adapters.referral_keys import unwrap_referral_key

from .support import (
    CASE_MANAGER, CasesStandIn, consented_case, ensure_topics, new_org, partner, referrals_service, register,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

BIN = Path(sys.executable).parent
OLD = crypto.Kek("partner-kek-2025", bytes(range(32)))
NEW = crypto.Kek("partner-kek-2026", bytes(range(32, 64)))
WRONG = crypto.Kek("partner-kek-2025", bytes(range(64, 96)))  # another key under the old one's id
WRONG_NEW = crypto.Kek("partner-kek-2026", bytes(range(96, 128)))  # another key under the new one's id


def entry(kek: crypto.Kek) -> str:
    return f"{kek.kek_id}:{base64.b64encode(kek.key).decode()}"


def operator_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any KEK, secret or database of its own; the stack dir an empty folder."""
    drop = ("KIM_ENV", "KIM_PSEUDONYM_SECRET", "KIM_REFERRALS_PARTNER_KEK", "KIM_REFERRALS_PARTNER_KEK_NEW")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_DATABASE_URL")}
    return env | {"KIM_STACK_DIR": str(tmp_path / "no-stack")} | settings


def kim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kim"), "keys", *args], env=env, capture_output=True, text=True, timeout=180)


async def rows(dsn: str) -> dict[str, tuple[str, str, bytes]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["partner_referral_id"]: (r["key_id"], r["kek_id"], bytes(r["wrapped"])) for r in await conn.fetch(
            "SELECT partner_referral_id, key_id, kek_id, wrapped FROM partner_referral_keys")}
    finally:
        await conn.close()


async def keys_answered(dsn: str, bootstrap: str, org: str, ids: list[str], *keks: crypto.Kek) -> dict[str, dict]:
    """What the partner's key route answers for each referral, the service holding `keks` (new first)."""
    over = {"partner_kek": entry(keks[-1])} | ({"partner_kek_new": entry(keks[0])} if len(keks) > 1 else {})
    async with referrals_service(dsn, bootstrap, **over) as client:
        answers = {i: await client.get(f"/partner/referrals/{i}/key", headers=partner(org)) for i in ids}
    assert all(a.status_code == 200 for a in answers.values()), {i: a.text for i, a in answers.items()}
    return {i: a.json() for i, a in answers.items()}


class Interrupted(Exception):
    pass


async def test_rotating_the_partner_kek_rewraps_every_key_and_the_key_route_answers_alike(
        fresh_db, kafka_bootstrap, tmp_path):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    org = new_org("mbe")
    async with referrals_service(fresh_db, kafka_bootstrap, partner_kek=entry(OLD)) as client, \
            CasesStandIn(kafka_bootstrap) as cases:
        await register(client, org, "migrationsberatung")
        ids = []
        for _ in range(3):
            case_id, _, _ = await consented_case(client, cases, org, purposes=["soziale_begleitung"],
                                                 categories=["sprache_bildung"])
            made = await client.post("/referrals", headers=CASE_MANAGER, json={
                "case_id": case_id, "to_organisation_id": org, "purpose": "soziale_begleitung",
                "data_categories": ["sprache_bildung"]})
            assert made.status_code == 201, made.text
            ids.append(made.json()["partner_referral_id"])
        before = {i: (await client.get(f"/partner/referrals/{i}/key", headers=partner(org))).json() for i in ids}
    stored = await rows(fresh_db)
    assert sorted(stored) == sorted(ids) and {kek for _, kek, _ in stored.values()} == {OLD.kek_id}

    env = operator_env(tmp_path, KIM_REFERRALS_DATABASE_URL=fresh_db, KIM_REFERRALS_PARTNER_KEK_NEW=entry(NEW))
    early = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(OLD)}, "rotate", "--service", "referrals")
    assert early.returncode == 2, early.stdout + early.stderr
    assert "no referrals service has held the new KEK 'partner-kek-2026' yet" in early.stderr
    # step 2 of the procedure: the service restarted with both KEKs records the new one; every key still answers
    assert await keys_answered(fresh_db, kafka_bootstrap, org, ids, NEW, OLD) == before
    other_new = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(OLD), "KIM_REFERRALS_PARTNER_KEK_NEW": entry(WRONG_NEW)},
                    "rotate", "--service", "referrals")
    assert other_new.returncode == 2 and "is not the key the referrals service holds" in other_new.stderr, \
        other_new.stderr
    wrong = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(WRONG)}, "rotate", "--service", "referrals")
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "the old KEK 'partner-kek-2025'" in wrong.stderr and "Nothing was changed" in wrong.stderr
    derived = kim(env | {"KIM_PSEUDONYM_SECRET": "test-pseudonym-secret"}, "rotate", "--service", "referrals")
    assert derived.returncode == 2 and "3 under 'partner-kek-2025'" in derived.stderr, derived.stderr
    assert await rows(fresh_db) == stored  # refused before touching anything

    def stop_after_the_first_batch(done: int, total: int) -> None:
        if done:
            raise Interrupted
    pool = await db.create_pool(fresh_db, max_size=2)
    try:
        with pytest.raises(Interrupted):
            await key_rotation.rotate(pool, OLD, NEW, batch_size=1, progress=stop_after_the_first_batch)
    finally:
        await pool.close()
    halfway = await rows(fresh_db)
    assert sorted(kek for _, kek, _ in halfway.values()) == [OLD.kek_id, OLD.kek_id, NEW.kek_id]
    [moved] = [i for i, (_, kek, _) in halfway.items() if kek == NEW.kek_id]
    # during the rotation the service holds both KEKs: every key, under either KEK, answers as before
    assert await keys_answered(fresh_db, kafka_bootstrap, org, ids, NEW, OLD) == before

    status = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(OLD)}, "status", "--service", "referrals")
    assert status.returncode == 0, status.stderr
    assert "2 snapshot keys are not under the new KEK 'partner-kek-2026': rotate" in status.stdout
    rotated = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(OLD)}, "rotate", "--service", "referrals",
                  "--batch-size", "1")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 2 partner snapshot keys from 'partner-kek-2025' to 'partner-kek-2026'" in rotated.stdout
    assert "re-wrapping" in rotated.stderr and "2/2" in rotated.stderr  # tqdm's bar
    after = await rows(fresh_db)
    assert after[moved] == halfway[moved]  # the key already under the new KEK was skipped
    for referral_id, (key_id, kek_id, wrapped) in after.items():
        assert kek_id == NEW.kek_id and wrapped != stored[referral_id][2]
        key = unwrap_referral_key(NEW, referral_id, key_id, wrapped)
        assert base64.b64encode(key).decode() == before[referral_id]["key"]
        with pytest.raises(crypto.Undecryptable):
            unwrap_referral_key(OLD, referral_id, key_id, wrapped)

    again = kim(env | {"KIM_REFERRALS_PARTNER_KEK": entry(OLD)}, "rotate", "--service", "referrals")
    assert again.returncode == 0 and "nothing to re-wrap" in again.stdout, again.stdout + again.stderr
    assert await rows(fresh_db) == after
    # the procedure's last step: the new KEK becomes the service's only one; the partner gets the same keys
    assert await keys_answered(fresh_db, kafka_bootstrap, org, ids, NEW) == before



@pytest.mark.postgres
async def test_a_rotation_beside_a_replica_still_wrapping_under_the_old_kek_leaves_none_behind(fresh_db):
    """2,000 keys in batches of 500 while a replica that holds only the old KEK keeps offering referrals: what it
    wrapped before the run's last pass is re-wrapped by the run, what came after by the next run, and then every key,
    old or offered meanwhile, opens under the new KEK to the same key. Prints the rate (a figure, not an assertion)."""
    from kim_referrals.adapters.referral_keys import PartnerKeys, wrap_referral_key

    pool = await db.create_pool(fresh_db, max_size=4)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, ["kim_referrals"])
            made = {f"pr-{n:05d}": (f"prk-{n:05d}", os.urandom(32)) for n in range(2000)}
            await conn.executemany(
                "INSERT INTO partner_referral_keys (partner_referral_id, organisation_id, key_id, kek_id, wrapped) "
                "VALUES ($1, 'jc-1', $2, $3, $4)",
                [(r, k, OLD.kek_id, wrap_referral_key(OLD, r, k, key)) for r, (k, key) in made.items()])
            await PartnerKeys(NEW, OLD).record_held(conn)  # the service restarted with both KEKs
        old_replica, offered, running = PartnerKeys(OLD), [], asyncio.Event()

        async def offer_while_rotating() -> None:
            while not running.is_set():
                async with pool.acquire() as conn:
                    offered.append(await old_replica.ensure(conn, f"pr-late-{len(offered):05d}", "jc-1"))
                await asyncio.sleep(0)

        async def rotate_then_stop() -> key_rotation.RotationResult:
            try:
                return await key_rotation.rotate(pool, OLD, NEW, batch_size=500)
            finally:
                running.set()

        first, _ = await asyncio.gather(rotate_then_stop(), offer_while_rotating())
        async with pool.acquire() as conn:
            left = (await key_rotation.status(conn)).get(OLD.kek_id, 0)
        second = await key_rotation.rotate(pool, OLD, NEW, batch_size=500)
        assert first.rewrapped >= 2000 and first.rewrapped + second.rewrapped == 2000 + len(offered)
        assert second.rewrapped == left  # only what the replica wrapped after the first run's last pass
        async with pool.acquire() as conn:
            assert await key_rotation.status(conn) == {NEW.kek_id: 2000 + len(offered)}
            keys = await PartnerKeys(NEW).of(conn, [*made, *(k.partner_referral_id for k in offered)])
        assert {r: k.key for r, k in keys.items()} == {r: key for r, (_, key) in made.items()} | {
            k.partner_referral_id: k.key for k in offered}
    finally:
        await pool.close()
    print(f"\npartner KEK rotation: {first.rewrapped:,} keys re-wrapped in {first.seconds:.2f} s "
          f"({first.rate:,.0f} keys/s, batches of 500) beside a replica that offered {len(offered):,} referrals "
          f"meanwhile; {second.rewrapped:,} left for the second run")
