"""`kim run`: the local stack, the four services, the web app, the demo (seeded once), in the foreground; Ctrl-C
stops it all.

What this command started (service processes, and Kafka/PostgreSQL unless they were running already) is stopped by
pid; a second run reuses the stack's data, the secrets in <stack dir>/secrets.json and the seeded demo.

The broker is the one production runs (kim_cli.secure_kafka): SASL/SCRAM-SHA-512 and ACLs (deny by default) set
up by deploy/kafka-init/kafka-init.sh, each service logging in as its own user (compose's KIM_KAFKA_SASL_USERNAME
and _PASSWORD), and a SASL_SSL listener for partners; `kim partner onboard` works against it with the settings in
<stack dir>/partner-admin.env. `--insecure` starts the plaintext broker of the test stack instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Annotated

import asyncpg
import typer

from kim_cli import processes as procs
from kim_cli import stack
from kim_cli.demo.api import DemoError
from kim_cli.demo.data import JOBCENTER
from kim_cli.demo.plans import DEFAULT_CLIENTS
from kim_cli.demo.tokens import role_tokens, write_sign_ins
from kim_cli.demo_cmd import seed_demo
from kim_cli.stack_cmd import _config
from kim_cli.stack_procs import port_open

app = typer.Typer()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _fresh(handle: stack.StackHandle) -> list[str]:
    """Services whose database has never been used (no consumer checkpoints table yet)."""
    fresh = []
    for name in procs.SERVICES:
        conn = await asyncpg.connect(handle.database_url(f"kim_{name}"))
        try:
            if await conn.fetchval("SELECT to_regclass('public.checkpoints') IS NULL"):
                fresh.append(name)
        finally:
            await conn.close()
    return fresh


def start_all(handle: stack.StackHandle, base_port: int, secrets: dict[str, str]) -> list[procs.ServiceProcess]:
    """Start the four services on base_port.. base_port+3; on fresh databases their consumers skip old history."""
    taken = [base_port + i for i in range(len(procs.SERVICES) + 1) if port_open(base_port + i)]
    if taken:
        raise procs.ServiceError(f"port(s) {', '.join(map(str, taken))} are in use: stop what listens there, or "
                                 "choose other ports with --base-port (KIM_RUN_BASE_PORT)")
    fresh = asyncio.run(_fresh(handle))
    groups = {g: t for name in fresh for g, t in procs.consumer_groups(name).items()}
    if groups:  # the broker may hold events of earlier test runs; the demo starts from a clean slate
        asyncio.run(procs.skip_history(handle.kafka_bootstrap, groups, **handle.kafka_options))
    logs = handle.config.logs_dir
    started = []
    asyncio.run(procs.ensure_service_roles(handle.postgres_url, list(procs.SERVICES)))
    try:
        for i, name in enumerate(procs.SERVICES):
            service_url, migration = procs.database_urls(handle.database_url(f"kim_{name}"), name)
            env = procs.service_env(database_url=service_url, port=base_port + i,
                                    kafka_bootstrap=handle.kafka_bootstrap, auth_secret=secrets["auth_secret"],
                                    pseudonym_secret=secrets["pseudonym_secret"],
                                    service_token_secret=secrets["service_token_secret"],
                                    **procs.audit_env(secrets, handle.config.dir / "anchors"), **migration,
                                    **(procs.kek_env(secrets) if name == "cases" else {}),
                                    **procs.peer_env(name, {n: base_port + j for j, n in enumerate(procs.SERVICES)}),
                                    **(handle.secure.service_kafka_env(name) if handle.secure else {}))
            started.append(procs.start_service(name, base_port + i, env, logs))
            typer.echo(f"{name}: started (pid {started[-1].pid}) on {started[-1].url}, log {started[-1].log_path}")
        procs.wait_ready(started)
    except BaseException:
        procs.stop_services(started)
        raise
    return started


def start_web(services: list[procs.ServiceProcess], handle: stack.StackHandle, port: int,
              secrets: dict[str, str]) -> procs.ServiceProcess:
    """The web app on `port`, pointed at the services; it offers the demo roles (a dev-only file of tokens)."""
    sign_ins = write_sign_ins(handle.config.dir / "demo-sign-ins.json", secrets["auth_secret"])
    env = procs.web_env(urls={s.name: s.url for s in services}, port=port, demo_tokens_file=sign_ins)
    web = procs.start_service(procs.WEB, port, env, handle.config.logs_dir)
    typer.echo(f"web: started (pid {web.pid}) on {web.url}, log {web.log_path}")
    try:
        procs.wait_ready([web])
    except BaseException:
        procs.stop_services([web])
        raise
    return web


def _write_private(path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def partner_files(handle: stack.StackHandle, services: list[procs.ServiceProcess], secrets: dict[str, str]) -> dict:
    """On the secure broker: <stack dir>/partner-admin.env (what `kim partner onboard` needs against this run) and
    <stack dir>/kcat.conf (the admin's login for kcat -F), both mode 600."""
    broker, referrals = handle.secure, next(s for s in services if s.name == "referrals")
    env = {"KIM_KAFKA_BOOTSTRAP": broker.bootstrap, "KIM_KAFKA_ADMIN_USER": broker.admin_user,
           "KIM_KAFKA_ADMIN_PASSWORD": broker.admin_password, "KIM_AUTH_SECRET": secrets["auth_secret"],
           "KIM_REFERRALS_URL": referrals.url, "KIM_REFERRALS_PUBLIC_URL": referrals.url,
           "KIM_PARTNER_KAFKA_BOOTSTRAP": broker.partner_bootstrap, "KIM_PARTNER_KAFKA_CA_FILE": str(broker.ca_file)}
    files = {"env": handle.config.dir / "partner-admin.env", "kcat": handle.config.dir / "kcat.conf"}
    _write_private(files["env"], "".join(f"{k}={v}\n" for k, v in env.items()))
    _write_private(files["kcat"], f"bootstrap.servers={broker.bootstrap}\nsecurity.protocol=SASL_PLAINTEXT\n"
                   f"sasl.mechanisms=SCRAM-SHA-512\nsasl.username={broker.admin_user}\n"
                   f"sasl.password={broker.admin_password}\n")
    return files


def banner(services: list[procs.ServiceProcess], handle: stack.StackHandle, secrets: dict[str, str]) -> str:
    tokens = role_tokens(secrets["auth_secret"])
    lead = next(t for label, _, t in tokens if label == "team lead")
    reporting = next(s for s in services if s.name == "reporting")
    lines = ["", "KIM Hub is running. Ctrl-C stops the services and whatever this command started.", ""]
    lines += [f"  {s.name:10} {s.url:24} API docs {s.url}/docs" for s in services if s.name != procs.WEB]
    lines += [f"  {s.name:10} {s.url:24} the web app: sign in with a demo role" for s in services
              if s.name == procs.WEB]
    lines += ["", f"  dashboard  {reporting.url}/dashboard  (sign in with the team lead token, or open",
              f"             {reporting.url}/dashboard#token={lead} )",
              "             cells under 5 persons are suppressed: Jahr shows more than Quartal, Monat less", "",
              "Tokens (7 days; send 'Authorization: Bearer <token>'):"]
    lines += [f"  {label:13} ({who})\n    {token}" for label, who, token in tokens]
    cases = next(s for s in services if s.name == "cases")
    lines += ["", "Try:", f"  curl -H 'Authorization: Bearer <case manager token>' '{cases.url}/cases?limit=5'", "",
              f"The Jobcenter's partner topic (sealed snapshots: only ids and versions in clear; kcat from your package "
              "manager):"]
    if handle.secure:
        files = partner_files(handle, services, secrets)
        broker = handle.secure
        lines += [f"  kcat -F {files['kcat']} -C -t kim.partner.{JOBCENTER} -o beginning "
                  "-f 'key=%k headers=%h\\n%s\\n\\n'", "",
                  "Kafka as production runs it: SASL/SCRAM-SHA-512, ACLs (deny by default), each service its own user.",
                  f"  services   {broker.bootstrap}  (CLIENT, SASL_PLAINTEXT)",
                  f"  partners   {broker.partner_bootstrap}  (PARTNER, SASL_SSL, CA {broker.ca_file})",
                  f"             {broker.external_bootstrap}  (EXTERNAL, SASL_PLAINTEXT, this host only)",
                  "Onboard a partner against this run (its sheet: topic, user, password, API token, CA):",
                  f"  set -a; . {files['env']}; set +a",
                  "  kim partner onboard awo-kreis-unna --name 'AWO Unna' --kind wohlfahrtsverband --sheet awo-sheet.txt"]
    else:
        lines += [f"  kcat -b {handle.kafka_bootstrap} -C -t kim.partner.{JOBCENTER} -o beginning "
                  "-f 'key=%k headers=%h\\n%s\\n\\n'", "",
                  "Kafka without authentication (--insecure): every client may read and write every topic."]
    lines += ["", f"Logs: {handle.config.logs_dir}", ""]
    return "\n".join(lines)


@app.callback(invoke_without_command=True)
def run(
    base_port: Annotated[int, typer.Option(envvar="KIM_RUN_BASE_PORT", help="cases on it, staffing +1, referrals "
                                                                          "+2, reporting +3, web +4")] = 8001,
    clients: Annotated[int, typer.Option(envvar="KIM_DEMO_CLIENTS", min=0, help="Demo clients to seed")]
    = DEFAULT_CLIENTS,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Seed the demo once (when nothing is there)")] = True,
    insecure: Annotated[bool, typer.Option("--insecure", help="A plaintext broker without SASL and ACLs (as the test "
                                           "stack) instead of the one production runs")] = False,
) -> None:
    """Start the stack, the four services and the web app, seed the demo once, print URLs and tokens; Ctrl-C stops
    all."""
    cfg = _config().model_copy(update={"kafka_secure": not insecure})
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    handle, services, code = None, [], 0
    try:
        handle = stack.ensure_up(cfg, log=typer.echo)
        secrets = procs.secrets(cfg.dir)
        services = start_all(handle, base_port, secrets)
        services.append(start_web(services, handle, base_port + len(procs.SERVICES), secrets))
        if demo:
            try:
                seed_demo({s.name: s.url for s in services}, secrets["auth_secret"], clients=clients)
            except DemoError as exc:
                typer.echo(f"error: the demo could not be seeded ({exc}); the services keep running", err=True)
        typer.echo(banner(services, handle, secrets))
        while not (dead := [s for s in services if s.popen.poll() is not None]):
            time.sleep(0.5)
        typer.echo(f"error: {dead[0].name} exited (code {dead[0].popen.returncode}); its log: {dead[0].log_path}",
                   err=True)
        code = 1
    except KeyboardInterrupt:
        typer.echo("\nstopping ...")
    except (stack.StackError, procs.ServiceError) as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_services(services)
        if handle is not None:
            stack.stop(handle)
        typer.echo(f"stopped: services {[s.pid for s in services]}, stack {handle.started_pids if handle else []}")
    raise typer.Exit(code)
