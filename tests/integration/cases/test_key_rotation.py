"""`kim keys rotate` underneath: every data key re-wrapped to the current KEK beside the running service (a client
registered or erased meanwhile included), resumable, and refused for a KEK no service holds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kim_runtime import db

from kim_cases.adapters import key_rotation, key_setup
from kim_cases.adapters.keyring import Keyring, MasterKeyError, MissingKek, generate, parse
from kim_cases.adapters.keys import KeyStore
from tests.polling import eventually

from .conftest import TEAM_LEAD
from .test_wrapped_keys import cases_service, register_all
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

OLD, NEW = generate("kek-2024"), generate("kek-2025")
RING = f"{NEW.entry()},{OLD.entry()}"  # after the switch: new KEK current, old one still held
STALE = f"{OLD.entry()},{NEW.entry()}"  # a replica not switched yet: holds both, still wraps under the old one


def keyring(text: str) -> Keyring:
    return Keyring(tuple(parse(text, "test")), "the test's keyring")


async def counts(pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return (await key_rotation.status(conn)).by_kek


async def test_rotation_beside_the_running_service_leaves_every_client_readable(fresh_db: str, kafka_bootstrap: str):
    async with cases_service(fresh_db, kafka_bootstrap, OLD.entry()) as api:
        before = await register_all(api, [f"Person {i:02d} Altbestand" for i in range(24)])
    pool = await db.create_pool(fresh_db, max_size=4)
    try:
        async with cases_service(fresh_db, kafka_bootstrap, RING) as api, \
                cases_service(fresh_db, kafka_bootstrap, STALE) as stale:
            first, last = min(before), max(before)
            async with pool.acquire() as blocker, blocker.transaction():
                # hold the last old row: the rotation stops at its final batch, so what follows happens mid-run
                await blocker.execute("SELECT 1 FROM client_keys WHERE client_id = $1 FOR UPDATE", last)
                rotation = asyncio.create_task(key_rotation.rotate(pool, keyring(RING), batch_size=5))

                async def waiting() -> bool:
                    if rotation.done():
                        rotation.result()  # it must not end (or fail) before the held row is let go
                    async with pool.acquire() as conn:  # not the blocker: in a transaction its view is a snapshot
                        return await conn.fetchval("SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = "
                                                   "current_database() AND wait_event_type = 'Lock'")

                await eventually(waiting)
                assert (await counts(pool)).get(NEW.kek_id, 0) >= 5 and not rotation.done()
                during = await register_all(api, ["Mitten Drin", "Auch Mitten"])
                during |= await register_all(stale, ["Alte Replik", "Noch Alte", "Dritte Alte"])
                r = await api.call("POST", f"/clients/{first}/erasure", headers=TEAM_LEAD, json=ERASURE)
                assert r.status_code == 200, r.text
            result = await rotation

            assert result.rewrapped == 24 + 3 and result.from_keks == {OLD.kek_id}  # incl. the stale replica's 3
            assert await counts(pool) == {NEW.kek_id: 24 - 1 + 5}
            for reader in (api, stale):
                for client_id, name in {**before, **during}.items():
                    shown = (await reader.get(f"/clients/{client_id}"))["personal"]["name"]
                    assert shown == ("erased" if client_id == first else name)
        # the old KEK can go: a service holding only the new one starts and reads everything
        async with cases_service(fresh_db, kafka_bootstrap, NEW.entry()) as api:
            assert (await api.get(f"/clients/{last}"))["personal"]["name"] == before[last]
    finally:
        await pool.close()


async def seeded(url: str, ring: Keyring, n: int) -> dict[str, bytes]:
    """n data keys wrapped under the ring's current KEK, as the service would store them: {client id: data key}."""
    conn = await db.connect(url)
    try:
        await db.migrate(conn, ["kim_cases"])
    finally:
        await conn.close()
    pool = await db.create_pool(url, max_size=2)
    try:
        await key_setup.prepare(pool, ring)
        store, keys = KeyStore(pool, ring), {}
        async with pool.acquire() as conn:
            for _ in range(n):
                client_id = str(uuid.uuid4())
                keys[client_id] = (await store.create(conn, client_id))[1]
    finally:
        await pool.close()
    return keys


class Interrupted(Exception):
    pass


async def test_an_interrupted_rotation_goes_on_where_it_stopped_and_keeps_every_data_key(fresh_db: str):
    keys = await seeded(fresh_db, keyring(OLD.entry()), 10)
    pool = await db.create_pool(fresh_db, max_size=2)
    try:
        async with pool.acquire() as conn:
            await key_setup.register(conn, keyring(RING))  # as a service started with the new keyring does

        def stop_after_first_batch(done: int, total: int) -> None:
            if done:
                raise Interrupted

        with pytest.raises(Interrupted):
            await key_rotation.rotate(pool, keyring(RING), batch_size=4, progress=stop_after_first_batch)
        assert await counts(pool) == {NEW.kek_id: 4, OLD.kek_id: 6}

        seen = []
        result = await key_rotation.rotate(pool, keyring(RING), batch_size=4, progress=lambda d, t: seen.append((d, t)))
        assert result.rewrapped == 6 and seen == [(0, 6), (4, 6), (6, 6)]
        assert await counts(pool) == {NEW.kek_id: 10}
        assert (await key_rotation.rotate(pool, keyring(RING))).rewrapped == 0
        only_new = KeyStore(pool, keyring(NEW.entry()))
        assert {c: (await only_new.get(c))[1] for c in keys} == keys  # the data keys themselves never changed
    finally:
        await pool.close()


async def test_rotation_refuses_a_kek_no_service_holds_and_a_keyring_missing_an_old_kek(fresh_db: str):
    await seeded(fresh_db, keyring(OLD.entry()), 3)
    pool = await db.create_pool(fresh_db, max_size=2)
    try:
        with pytest.raises(MasterKeyError, match="no cases service has held KEK 'kek-2025' yet"):
            await key_rotation.rotate(pool, keyring(RING))
        async with pool.acquire() as conn:
            await key_setup.register(conn, keyring(RING))
        impostor = generate("kek-2025")
        with pytest.raises(MasterKeyError, match="'kek-2025' here is not the key the cases service holds"):
            await key_rotation.rotate(pool, keyring(f"{impostor.entry()},{OLD.entry()}"))
        with pytest.raises(MissingKek, match=r"'kek-2024' \(3 data keys\)"):
            await key_rotation.rotate(pool, keyring(NEW.entry()))
        assert await counts(pool) == {OLD.kek_id: 3}  # nothing was touched
    finally:
        await pool.close()
