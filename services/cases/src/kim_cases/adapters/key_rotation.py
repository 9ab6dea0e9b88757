"""Re-wrapping every client data key under the current KEK (`kim keys rotate`), and counting keys per KEK.

Safe beside the running service: each batch locks its rows (FOR UPDATE) and commits on its own, so an erasure
waits at most one batch, and a reader sees a row wrapped under either KEK, both of which the service holds.
Resumable: rows already under the target are never selected again, so an interrupted run simply goes on.
A client registered meanwhile is wrapped under whatever KEK its service holds as current; if that is still an
old one, the next pass picks it up, and the run ends only when a pass finds nothing left to re-wrap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg
from kim_runtime.key_admin import Progress  # (re-wrapped so far, total known so far)

from kim_cases.adapters.key_setup import check_coverage, unwrapped_count, wrap_unwrapped
from kim_cases.adapters.keyring import Keyring, MasterKey, MasterKeyError


@dataclass
class RotationResult:
    target: str
    rewrapped: int = 0
    from_keks: set[str] = field(default_factory=set)
    raw_keys_wrapped: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rewrapped / self.seconds if self.seconds else 0.0


@dataclass
class KeyStatus:
    by_kek: dict[str, int]  # data keys per KEK id
    held: dict[str, tuple]  # KEK id -> (first_held_at, last_held_at), as recorded by services at start-up
    unwrapped: int  # raw keys not yet wrapped


async def status(conn: asyncpg.Connection) -> KeyStatus:
    by_kek = {r["kek_id"]: r["n"] for r in await conn.fetch(
        "SELECT kek_id, count(*) AS n FROM client_keys GROUP BY kek_id ORDER BY kek_id")}
    held = {r["kek_id"]: (r["first_held_at"], r["last_held_at"]) for r in await conn.fetch(
        "SELECT kek_id, first_held_at, last_held_at FROM key_encryption_keys ORDER BY first_held_at")}
    return KeyStatus(by_kek, held, await unwrapped_count(conn))


async def ensure_held_by_service(conn: asyncpg.Connection, kek: MasterKey) -> None:
    """Refuse to re-wrap to a KEK no cases service has started with: it could not read what we write."""
    verifier = await conn.fetchval("SELECT verifier FROM key_encryption_keys WHERE kek_id = $1", kek.kek_id)
    if verifier is None:
        raise MasterKeyError(
            f"no cases service has held KEK {kek.kek_id!r} yet, so it could not read keys re-wrapped to it: give "
            f"every cases instance the new keyring ({kek.kek_id!r} first, the old KEKs after it) and restart them, "
            "then rotate")
    if verifier != kek.verifier:
        raise MasterKeyError(f"KEK {kek.kek_id!r} here is not the key the cases service holds under that id: use "
                             "the same KIM_MASTER_KEY (or key file) as the service")


async def rotate(pool: asyncpg.Pool, keyring: Keyring, *, batch_size: int = 500,
                 progress: Progress | None = None) -> RotationResult:
    target = keyring.current
    result = RotationResult(target.kek_id)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await ensure_held_by_service(conn, target)
        result.raw_keys_wrapped = await wrap_unwrapped(conn, keyring)
        await check_coverage(conn, keyring)
        total = await conn.fetchval("SELECT count(*) FROM client_keys WHERE kek_id <> $1", target.kek_id)
    if progress:
        progress(0, total)
    while sources := await _other_keks(pool, target.kek_id):
        for kek_id in sources:
            while done := await _rewrap_batch(pool, keyring, kek_id, batch_size):
                result.rewrapped += done
                result.from_keks.add(kek_id)
                if progress:
                    progress(result.rewrapped, max(total, result.rewrapped))
    result.seconds = time.perf_counter() - started
    return result


async def _other_keks(pool: asyncpg.Pool, target: str) -> list[str]:
    async with pool.acquire() as conn:
        return [r["kek_id"] for r in await conn.fetch(
            "SELECT DISTINCT kek_id FROM client_keys WHERE kek_id <> $1 ORDER BY kek_id", target)]


async def _rewrap_batch(pool: asyncpg.Pool, keyring: Keyring, kek_id: str, batch_size: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT client_id, key_id::text, wrapped_key FROM client_keys WHERE kek_id = $1 "
                                "ORDER BY client_id LIMIT $2 FOR UPDATE", kek_id, batch_size)
        ids, sealed = [], []
        for r in rows:
            data_key = keyring.unwrap(r["client_id"], r["key_id"], kek_id, r["wrapped_key"])
            ids.append(r["client_id"])
            sealed.append(keyring.wrap(r["client_id"], r["key_id"], data_key)[1])
        if ids:
            await conn.execute(
                "UPDATE client_keys AS c SET kek_id = $1, wrapped_key = u.wrapped, wrapped_at = now() "
                "FROM unnest($2::text[], $3::bytea[]) AS u(client_id, wrapped) WHERE c.client_id = u.client_id",
                keyring.current.kek_id, ids, sealed)
        return len(ids)
