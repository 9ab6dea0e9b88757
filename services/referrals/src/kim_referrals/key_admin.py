"""The partner snapshot keys' KEK, where only the referrals service is installed (its container).

With the service's own settings:

    python -m kim_referrals.key_admin status                 how many snapshot keys are wrapped under which KEK
    python -m kim_referrals.key_admin rotate [--batch-size N]   re-wrap them from KIM_REFERRALS_PARTNER_KEK to
                                                                KIM_REFERRALS_PARTNER_KEK_NEW

`kim keys status | rotate --service referrals` (services/cli) are the same with a progress bar; both render through
this module. The procedure: deploy/README.md, "Partner snapshot keys".
"""

from __future__ import annotations

import asyncio
import sys

from kim_runtime import crypto, db, key_admin

from kim_referrals.adapters import key_rotation
from kim_referrals.settings import ReferralSettings


class NotReady(RuntimeError):
    """The referrals database has no key table yet."""


class NoNewKek(ValueError):
    """rotate without KIM_REFERRALS_PARTNER_KEK_NEW."""


def keks(settings: ReferralSettings) -> tuple[crypto.Kek, crypto.Kek | None]:
    """(old, new) as the service reads them; ValueError for a malformed one."""
    return settings.partner_key_kek(), settings.partner_key_kek_new()


def status_lines(by_kek: dict[str, int], old: crypto.Kek, new: crypto.Kek | None) -> list[str]:
    lines = [f"{'KEK':24} {'snapshot keys':>13}  here"]
    for kek_id in sorted(set(by_kek) | {old.kek_id} | ({new.kek_id} if new else set())):
        role = "new" if new is not None and kek_id == new.kek_id else "current" if kek_id == old.kek_id else "-"
        lines.append(f"{kek_id:24} {by_kek.get(kek_id, 0):>13,}  {role}")
    target = new.kek_id if new is not None else old.kek_id
    behind = sum(n for k, n in by_kek.items() if k != target)
    if behind and new is not None:
        lines.append(f"{behind:,} snapshot keys are not under the new KEK {target!r}: rotate")
    elif behind:
        lines.append(f"{behind:,} snapshot keys are not under the service's KEK {target!r}: the service cannot open "
                     "them; give it the KEK they were wrapped under")
    return lines


def summary_line(result: key_rotation.RotationResult) -> str:
    if not result.rewrapped:
        return f"nothing to re-wrap: every partner snapshot key is under KEK {result.target!r}"
    return (f"re-wrapped {result.rewrapped:,} partner snapshot keys from {result.source!r} to {result.target!r} in "
            f"{result.seconds:.2f} s ({result.rate:,.0f} keys/s); none left under {result.source!r}. Now make "
            f"KIM_REFERRALS_PARTNER_KEK the new KEK, unset KIM_REFERRALS_PARTNER_KEK_NEW and restart the service")


async def run(command: str, database_url: str, old: crypto.Kek, new: crypto.Kek | None, batch_size: int = 500,
              progress: key_rotation.Progress | None = None) -> list[str]:
    """`status` or `rotate` on the referrals database; the lines to print. Rotation needs the new KEK."""
    if command == "rotate" and new is None:
        raise NoNewKek(f"rotate needs the new KEK in {key_rotation.NEW_SETTING} (ID:KEY; `kim keys generate` prints "
                       "one); the old one is the service's KIM_REFERRALS_PARTNER_KEK")
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT to_regclass('partner_referral_keys') IS NOT NULL"):
                raise NotReady("the referrals database has no partner_referral_keys table yet: start the referrals "
                               "service once (it applies its migrations), then try again")
            if command == "status":
                return status_lines(await key_rotation.status(conn), old, new)
        return [summary_line(await key_rotation.rotate(pool, old, new, batch_size=batch_size, progress=progress))]
    finally:
        await pool.close()


ERRORS = (ValueError, crypto.Undecryptable, NotReady)  # RotationRefused, NoNewKek and a malformed KEK among them


def main(argv: list[str] | None = None) -> int:
    def run_here(command: str, batch_size: int, progress: key_admin.Progress) -> list[str]:
        settings = ReferralSettings()
        old, new = keks(settings)
        return asyncio.run(run(command, settings.database_url, old, new, batch_size, progress))

    return key_admin.main(argv, prog="python -m kim_referrals.key_admin", description=__doc__.splitlines()[0],
                          keys="snapshot keys", errors=ERRORS, run=run_here)


if __name__ == "__main__":
    sys.exit(main())
