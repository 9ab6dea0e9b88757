"""`kim demo seed | plan | tokens`: the synthetic Kreis Unna demo (generator and seeder in kim_cli.demo)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import Annotated

import httpx
import typer
from tqdm import tqdm

from kim_cli import processes
from kim_cli.demo.api import Api, DemoError, default_urls
from kim_cli.demo.plans import DEFAULT_CLIENTS, plan_clients
from kim_cli.demo.seed import Seeded, commands, is_seeded, seed
from kim_cli.demo.tokens import role_tokens
from kim_cli.stack_cmd import _config

app = typer.Typer(no_args_is_help=True)

Clients = Annotated[int, typer.Option(envvar="KIM_DEMO_CLIENTS", min=0, help="How many clients")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same people and cases")]


def seed_demo(urls: dict[str, str], auth_secret: str, *, clients: int = DEFAULT_CLIENTS,
              seed_value: int = 2024) -> Seeded | None:
    """Seed unless the cases service holds data already (then None); progress bar, summary; DemoError on failure."""
    return asyncio.run(_seed(urls, auth_secret, clients, seed_value))


async def _seed(urls: dict[str, str], auth_secret: str, clients: int, seed_value: int) -> Seeded | None:
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        api = Api(urls, auth_secret, http)
        if await is_seeded(api):
            typer.echo("demo: the cases service holds data already, so it is not seeded again (for a fresh demo: "
                       "stop, `kim stack down`, remove the stack dir, e.g. .cache/stack, and start again)")
            return None
        today = date.today()
        plans = plan_clients(clients, seed_value, today)
        with tqdm(total=commands(plans, today), unit="cmd", desc="seeding the demo", dynamic_ncols=True) as bar:
            done = await seed(api, plans, today, tick=bar.update)
    typer.echo(f"demo: {len(done.case_ids)} clients and cases ({_counts(done.phases)}), "
               f"{sum(done.referrals.values())} referrals ({_counts(done.referrals)}) in {done.seconds:.0f} s")
    return done


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


@app.command("seed")
def seed_cmd(
    clients: Clients = DEFAULT_CLIENTS, seed_value: Seed = 2024,
    base_port: Annotated[int, typer.Option(envvar="KIM_RUN_BASE_PORT", help="Port of cases; +1..+3 the others")]
    = 8001,
) -> None:
    """Seed the demo into running services (as started by `kim run --no-demo`), unless they hold data already."""
    secrets = processes.secrets(_config().dir)
    try:
        seed_demo(default_urls(base_port=base_port), secrets["auth_secret"], clients=clients, seed_value=seed_value)
    except DemoError as exc:
        typer.echo(f"error: the demo could not be seeded: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("plan")
def plan_cmd(clients: Clients = DEFAULT_CLIENTS, seed_value: Seed = 2024) -> None:
    """Show what the seeder would create (nothing is sent)."""
    plans = plan_clients(clients, seed_value, date.today())
    typer.echo(f"{len(plans)} clients; phases: {_counts(Counter(p.phase for p in plans))}")
    typer.echo(f"municipalities: {_counts(Counter(p.municipality for p in plans))}")
    typer.echo(f"referrals: {_counts(Counter(r.fate for p in plans for r in p.referrals))}")
    typer.echo(f"commands: {commands(plans, date.today())}")


@app.command("tokens")
def tokens_cmd() -> None:
    """Print a fresh token per role, signed with this stack's secret."""
    for label, who, token in role_tokens(processes.secrets(_config().dir)["auth_secret"]):
        typer.echo(f"{label:13} ({who})\n    {token}")
