"""`kim keys`: the key-encryption keys (KEKs) that wrap every client's data key in the cases database, and (with
`--service referrals`) every partner snapshot key in the referrals database.

cases: the KEK comes from KIM_MASTER_KEY or KIM_MASTER_KEY_FILE, as for the cases service, else from the local
stack's secrets.json (kim_cli.master_key); the database from KIM_CASES_DATABASE_URL, else the local stack's
kim_cases. Rotating: deploy/README.md, section "Client data keys".

referrals: the old KEK is the service's KIM_REFERRALS_PARTNER_KEK (unset: derived from KIM_PSEUDONYM_SECRET, else
from the local stack's pseudonym secret), the new one KIM_REFERRALS_PARTNER_KEK_NEW; the database
KIM_REFERRALS_DATABASE_URL, else the local stack's kim_referrals. Rotating: deploy/README.md, section "Partner
snapshot keys".
"""

from __future__ import annotations

import asyncio
import os
from enum import Enum

import asyncpg
import typer
from kim_referrals.public import ReferralSettings
from kim_referrals.public import key_admin as referral_key_admin
from kim_cases.public import MasterKeyError, Undecryptable, key_admin
from kim_cases.public import generate_kek as new_kek
from tqdm import tqdm

from kim_cli.audit.connect import database_url
from kim_cli.master_key import keyring, local_stack_secret
from kim_cli.stack_postgres import redact

app = typer.Typer(no_args_is_help=True)


class Service(str, Enum):
    cases = "cases"
    referrals = "referrals"


SERVICE = typer.Option(Service.cases, "--service",
                       help="cases: the client data keys (KIM_MASTER_KEY); referrals: the partner snapshot keys "
                            "(KIM_REFERRALS_PARTNER_KEK, to KIM_REFERRALS_PARTNER_KEK_NEW)")


def _referral_settings() -> ReferralSettings:
    """The referrals service's settings; without its KEK or pseudonym secret in the environment, the local stack's
    pseudonym secret (what `kim run` gives the service)."""
    settings = ReferralSettings()
    if not os.environ.get("KIM_REFERRALS_PARTNER_KEK", "").strip() and "KIM_PSEUDONYM_SECRET" not in os.environ:
        local = local_stack_secret("pseudonym_secret")
        if local is not None:
            settings = ReferralSettings(pseudonym_secret=local[1])
    return settings


def _run_referrals(command: str, batch_size: int = 500, progress=None) -> list[str]:
    url = database_url("referrals")
    try:
        old, new = referral_key_admin.keks(_referral_settings())
        return asyncio.run(referral_key_admin.run(command, url, old, new, batch_size, progress))
    except referral_key_admin.ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        typer.echo(f"error: cannot use the referrals database at {redact(url)} ({exc}); start the stack (`kim stack "
                   "up`) or set KIM_REFERRALS_DATABASE_URL", err=True)
    raise typer.Exit(2)


def _run(command: str, batch_size: int = 500, progress=None, *, need_key: bool) -> list[str]:
    url = database_url("cases")
    try:
        ring = keyring() if need_key else _keyring_if_any()
        return asyncio.run(key_admin.run(command, url, ring, batch_size, progress))
    except (MasterKeyError, Undecryptable, key_admin.NotReady) as exc:
        typer.echo(f"error: {exc}", err=True)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        typer.echo(f"error: cannot use the cases database at {redact(url)} ({exc}); start the stack (`kim stack up`) "
                   "or set KIM_CASES_DATABASE_URL", err=True)
    raise typer.Exit(2)


def _keyring_if_any():
    try:
        return keyring()
    except MasterKeyError:
        return None  # status still counts keys per KEK; it just cannot say which one is current here


@app.command()
def generate(kek_id: str = typer.Option(None, "--id", help="The new KEK's id (default kek-<date>-<random>)")) -> None:
    """Print a new KEK as ID:KEY, for KIM_MASTER_KEY or the key file (put it first, the old KEK after it), or for
    KIM_REFERRALS_PARTNER_KEK_NEW."""
    try:
        typer.echo(new_kek(kek_id).entry())
    except MasterKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def status(service: Service = SERVICE) -> None:
    """How many client data keys are wrapped under which KEK, and which KEKs the cases service has held (with
    --service referrals: how many partner snapshot keys under which KEK)."""
    lines = _run_referrals("status") if service is Service.referrals else _run("status", need_key=False)
    typer.echo("\n".join(lines))


@app.command()
def rotate(batch_size: int = typer.Option(500, min=1, help="Keys re-wrapped per transaction"),
           service: Service = SERVICE) -> None:
    """Re-wrap every client data key under the current KEK (the first of KIM_MASTER_KEY), while the service runs.

    Give the cases service the new keyring first (new KEK first, old ones after it) and restart it; rotate
    refuses a KEK no cases service holds. Safe to interrupt and run again: it goes on where it stopped.

    --service referrals: re-wrap every partner snapshot key from KIM_REFERRALS_PARTNER_KEK (the service's KEK) to
    KIM_REFERRALS_PARTNER_KEK_NEW; a wrong old KEK refuses before anything is changed. Resumable alike."""
    with tqdm(desc="re-wrapping", unit="key", total=0, dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if service is Service.referrals:
            lines = _run_referrals("rotate", batch_size, progress)
        else:
            lines = _run("rotate", batch_size, progress, need_key=True)
    typer.echo("\n".join(lines))
