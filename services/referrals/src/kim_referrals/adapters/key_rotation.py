"""Re-wrapping every partner snapshot key under a new KEK (`kim keys rotate --service referrals`), and counting keys
per KEK (`kim keys status --service referrals`).

The old KEK is the service's (KIM_REFERRALS_PARTNER_KEK, else the one derived from KIM_PSEUDONYM_SECRET), the new
one KIM_REFERRALS_PARTNER_KEK_NEW. Before anything is written: the new KEK must be one a referrals service has held
(recorded at its start in partner_key_encryption_keys by id and verifier), both are tried on a key the table holds
under their id, and every key must be under one of the two: a wrong old KEK (another key under the same id, or another id)
refuses the run with nothing changed. Each batch locks its rows (FOR UPDATE) and commits on its own, so a revocation
waits at most one batch. Resumable: rows already under the new KEK are never selected again, so an interrupted run
simply goes on; the run ends only when a pass finds nothing left under the old KEK (a referral offered meanwhile by
a service that still wraps under the old one is picked up by the next pass).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from kim_runtime import crypto
from kim_runtime.key_admin import Progress  # (re-wrapped so far, total known so far)

from .referral_keys import kek_verifier, unwrap_referral_key, wrap_referral_key

OLD_SETTING = "KIM_REFERRALS_PARTNER_KEK (unset: derived from KIM_PSEUDONYM_SECRET)"
NEW_SETTING = "KIM_REFERRALS_PARTNER_KEK_NEW"


class RotationRefused(ValueError):
    """The KEKs given do not fit the table; nothing was changed. The message says what to fix."""


@dataclass
class RotationResult:
    source: str
    target: str
    rewrapped: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rewrapped / self.seconds if self.seconds else 0.0


async def status(conn: asyncpg.Connection) -> dict[str, int]:
    """Partner snapshot keys per KEK id."""
    return {r["kek_id"]: r["n"] for r in await conn.fetch(
        "SELECT kek_id, count(*) AS n FROM partner_referral_keys GROUP BY kek_id ORDER BY kek_id")}


async def check(conn: asyncpg.Connection, old: crypto.Kek, new: crypto.Kek) -> dict[str, int]:
    """The keys per KEK, once the two KEKs are shown to fit the table; RotationRefused otherwise."""
    if old.kek_id == new.kek_id:
        raise RotationRefused(f"{NEW_SETTING} has the id of the old KEK ({old.kek_id!r}): give the new KEK an id of its "
                              "own (`kim keys generate`)")
    held = await conn.fetchval("SELECT verifier FROM partner_key_encryption_keys WHERE kek_id = $1", new.kek_id)
    if held is None:
        raise RotationRefused(f"no referrals service has held the new KEK {new.kek_id!r} yet, so it could not open keys "
                              f"re-wrapped to it: give the service {NEW_SETTING} (keeping KIM_REFERRALS_PARTNER_KEK) and "
                              "restart it, then rotate. Nothing was changed")
    if bytes(held) != kek_verifier(new):
        raise RotationRefused(f"the new KEK {new.kek_id!r} here is not the key the referrals service holds under that "
                              f"id: use the same {NEW_SETTING} as the service. Nothing was changed")
    by_kek = await status(conn)
    stray = {k: n for k, n in by_kek.items() if k not in (old.kek_id, new.kek_id)}
    if stray:
        held = ", ".join(f"{n:,} under {k!r}" for k, n in sorted(stray.items()))
        raise RotationRefused(f"partner snapshot keys are wrapped under a KEK that is neither the old one "
                              f"({old.kek_id!r}, {OLD_SETTING}) nor the new one ({new.kek_id!r}): {held}. Give "
                              f"{OLD_SETTING} the KEK the referrals service runs with; nothing was changed")
    for kek, setting, role in ((old, OLD_SETTING, "old"), (new, NEW_SETTING, "new")):
        row = await conn.fetchrow("SELECT partner_referral_id, key_id, wrapped FROM partner_referral_keys "
                                  "WHERE kek_id = $1 ORDER BY partner_referral_id LIMIT 1", kek.kek_id)
        if row is None:
            continue
        try:
            unwrap_referral_key(kek, row["partner_referral_id"], row["key_id"], bytes(row["wrapped"]))
        except crypto.Undecryptable:
            raise RotationRefused(
                f"the {role} KEK {kek.kek_id!r} ({setting}) does not open the keys wrapped under that id: it is "
                "another key under the same id than the one they were wrapped with; use the service's own "
                f"{'setting' if role == 'old' else 'new KEK of the interrupted run'}. Nothing was changed") from None
    return by_kek


async def rotate(pool: asyncpg.Pool, old: crypto.Kek, new: crypto.Kek, *, batch_size: int = 500,
                 progress: Progress | None = None) -> RotationResult:
    """Every key under `old` re-wrapped under `new`, `batch_size` per transaction."""
    result = RotationResult(old.kek_id, new.kek_id)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        total = (await check(conn, old, new)).get(old.kek_id, 0)
    if progress:
        progress(0, total)
    while done := await _rewrap_batch(pool, old, new, batch_size):
        result.rewrapped += done
        if progress:
            progress(result.rewrapped, max(total, result.rewrapped))
    result.seconds = time.perf_counter() - started
    return result


async def _rewrap_batch(pool: asyncpg.Pool, old: crypto.Kek, new: crypto.Kek, batch_size: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT partner_referral_id, key_id, wrapped FROM partner_referral_keys "
                                "WHERE kek_id = $1 ORDER BY partner_referral_id LIMIT $2 FOR UPDATE",
                                old.kek_id, batch_size)
        ids, wrapped = [], []
        for r in rows:  # one that does not open raises: the batch rolls back, what earlier batches did stands
            key = unwrap_referral_key(old, r["partner_referral_id"], r["key_id"], bytes(r["wrapped"]))
            ids.append(r["partner_referral_id"])
            wrapped.append(wrap_referral_key(new, r["partner_referral_id"], r["key_id"], key))
        if ids:
            await conn.execute(
                "UPDATE partner_referral_keys AS k SET kek_id = $1, wrapped = u.wrapped "
                "FROM unnest($2::text[], $3::bytea[]) AS u(id, wrapped) "
                "WHERE k.partner_referral_id = u.id AND k.kek_id = $4", new.kek_id, ids, wrapped, old.kek_id)
        return len(ids)
