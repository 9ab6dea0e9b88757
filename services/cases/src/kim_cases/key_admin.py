"""Key administration where only the cases service is installed (its container), with the service's own settings:

    python -m kim_cases.key_admin status               how many data keys are wrapped under which KEK
    python -m kim_cases.key_admin rotate [--batch-size N]   re-wrap every data key under the current KEK

`kim keys status | rotate` (services/cli) are the same with a progress bar; both render through this module.
"""

from __future__ import annotations

import asyncio
import sys

from kim_runtime import db, key_admin

from kim_cases.adapters import key_rotation
from kim_cases.adapters.crypto import Undecryptable
from kim_cases.adapters.keyring import Keyring, MasterKeyError, from_settings
from kim_cases.settings import CasesSettings


def status_lines(status: key_rotation.KeyStatus, keyring: Keyring | None) -> list[str]:
    """The status as a table: one row per KEK the database knows, then what to do next."""
    held_here = keyring.ids if keyring is not None else []
    ids = sorted(set(status.by_kek) | set(status.held),
                 key=lambda i: (held_here.index(i) if i in held_here else len(held_here), i))
    lines = [f"{'KEK':24} {'data keys':>10}  {'here':8}  held by a service since"]
    for kek_id in ids:
        role = "-" if keyring is None or kek_id not in keyring.ids else (
            "current" if kek_id == keyring.current.kek_id else "previous")
        since = status.held[kek_id][0].strftime("%Y-%m-%d %H:%M %Z") if kek_id in status.held else "never"
        lines.append(f"{kek_id:24} {status.by_kek.get(kek_id, 0):>10,}  {role:8}  {since}")
    lines.append(f"raw (unwrapped) data keys: {status.unwrapped:,}")
    if keyring is not None:
        behind = sum(n for k, n in status.by_kek.items() if k != keyring.current.kek_id) + status.unwrapped
        if behind:
            lines.append(f"{behind:,} data keys are not under the current KEK {keyring.current.kek_id!r}: rotate")
        idle = [k for k in keyring.ids[1:] if not status.by_kek.get(k)]
        if idle:
            lines.append(f"no data key is wrapped under {', '.join(idle)} any more: drop it from the service's "
                         "keyring (keep it as long as you keep backups taken while it was in use)")
    return lines


def summary_line(result: key_rotation.RotationResult) -> str:
    if not result.rewrapped and not result.raw_keys_wrapped:
        return f"nothing to re-wrap: every data key is under KEK {result.target!r}"
    sources = ", ".join(sorted(result.from_keks)) or "-"
    raw = f"; {result.raw_keys_wrapped:,} raw keys wrapped" if result.raw_keys_wrapped else ""
    return (f"re-wrapped {result.rewrapped:,} data keys from {sources} to {result.target!r} in {result.seconds:.2f} s "
            f"({result.rate:,.0f} keys/s){raw}; none left under another KEK")


class NotReady(RuntimeError):
    """The cases database has no key tables yet."""


async def run(command: str, database_url: str, keyring: Keyring | None, batch_size: int = 500,
              progress: key_rotation.Progress | None = None) -> list[str]:
    """`status` or `rotate` on the cases database; the lines to print. Rotation needs the keyring."""
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT to_regclass('key_encryption_keys') IS NOT NULL"):
                raise NotReady("the cases database has no key tables yet: start the cases service once (it applies "
                               "its migrations and wraps any raw keys), then try again")
            if command == "status":
                return status_lines(await key_rotation.status(conn), keyring)
        result = await key_rotation.rotate(pool, keyring, batch_size=batch_size, progress=progress)
        return [summary_line(result)]
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    def run_here(command: str, batch_size: int, progress: key_rotation.Progress) -> list[str]:
        settings = CasesSettings()
        return asyncio.run(run(command, settings.database_url, from_settings(settings), batch_size, progress))

    return key_admin.main(argv, prog="python -m kim_cases.key_admin", description=__doc__.splitlines()[0],
                          keys="data keys", errors=(MasterKeyError, Undecryptable, NotReady), run=run_here)


if __name__ == "__main__":
    sys.exit(main())
