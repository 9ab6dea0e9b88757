"""`kim stack up | down | status`: the local Kafka + PostgreSQL stack (logic in kim_cli.stack)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Annotated

import typer
from pydantic import ValidationError

from kim_cli import stack
from kim_cli.stack_procs import is_alive

app = typer.Typer(no_args_is_help=True)


def _config() -> stack.StackConfig:
    """The stack's settings; without KIM_KAFKA_BROKERS, as many brokers as the stack dir was last started with, and
    without KIM_KAFKA_SECURE the secure broker if `kim run` started it there (its pid file)."""
    try:
        cfg = stack.StackConfig.from_env()
        if "kafka_brokers" not in cfg.model_fields_set and (on_disk := stack.brokers_on_disk(cfg)):
            cfg = cfg.model_copy(update={"kafka_brokers": max(on_disk)})
        if "kafka_secure" not in cfg.model_fields_set and cfg.secure_pid_file.exists():  # `kim run`'s broker runs
            cfg = cfg.model_copy(update={"kafka_secure": True})
        return cfg
    except ValidationError as exc:
        fields = ", ".join(f"KIM_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        typer.echo(f"invalid stack setting ({fields}); fix the environment variable and retry", err=True)
        raise typer.Exit(2) from exc


def _fail(exc: stack.StackError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def up(
    foreground: Annotated[bool, typer.Option("--foreground", "-f", help="Stay running; Ctrl-C stops what was started.")]
    = False,
    brokers: Annotated[int | None, typer.Option(
        "--brokers", min=1, max=5, help="Kafka nodes (KRaft, each broker and controller) on loopback; 3: topics with "
        "3 replicas and min.insync.replicas 2. Node n listens on KIM_KAFKA_PORT + 10*(n-1). Default KIM_KAFKA_BROKERS "
        "or 1.")] = None,
) -> None:
    """Start Kafka and PostgreSQL unless already running; return when both answer."""
    cfg = _config()
    if brokers is not None:
        cfg = cfg.model_copy(update={"kafka_brokers": brokers})
    try:
        handle = stack.ensure_up(cfg, log=typer.echo)
    except stack.StackError as exc:
        raise _fail(exc) from exc
    typer.echo(f"up in {handle.seconds:.1f} s (started pids: {handle.started_pids or 'none, reused'})")
    if not foreground:
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # also when started with SIGINT ignored (e.g. `&`)
        signal.signal(sig, _raise_interrupt)
    typer.echo("running in the foreground; Ctrl-C stops what this command started")
    try:
        while all(is_alive(pid) for pid in handle.started_pids):
            time.sleep(0.5)
        typer.echo("error: a stack process exited; see the logs in " + str(cfg.logs_dir), err=True)
        code = 1
    except KeyboardInterrupt:
        code = 0
    typer.echo(f"stopping {handle.started_pids or 'nothing (the stack was already running)'}")
    stack.stop(handle)
    raise typer.Exit(code)


@app.command(name="exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(ctx: typer.Context) -> None:
    """Run a command against the stack (`kim stack exec -- CMD ...`), then stop what was started for it.

    The command sees KIM_KAFKA_BOOTSTRAP and KIM_POSTGRES_URL, so it uses this stack rather than starting one.
    """
    if not ctx.args:
        typer.echo("usage: kim stack exec -- COMMAND [ARGS...]", err=True)
        raise typer.Exit(2)
    cfg = _config()
    try:
        handle = stack.ensure_up(cfg, log=typer.echo)
    except stack.StackError as exc:
        raise _fail(exc) from exc
    env = {**os.environ, "KIM_KAFKA_BOOTSTRAP": handle.kafka_bootstrap, "KIM_POSTGRES_URL": handle.postgres_url}
    try:
        code = subprocess.call(ctx.args, env=env)
    except FileNotFoundError:
        typer.echo(f"error: command not found: {ctx.args[0]}", err=True)
        code = 127
    except KeyboardInterrupt:
        code = 130
    finally:
        stack.stop(handle)
    raise typer.Exit(code)


@app.command()
def down() -> None:
    """Stop the processes `kim stack up` started (by the pids in the stack dir)."""
    cfg = _config()
    pids = stack.down(cfg, log=typer.echo)
    typer.echo(f"stopped {pids}" if pids else "nothing to stop")


@app.command()
def status() -> None:
    """Print the Kafka bootstrap address and the PostgreSQL URL, and whether each answers."""
    cfg = _config()
    for name, info in stack.status(cfg).items():
        state = "up" if info["up"] else "down"
        pid = f" (pid {', '.join(map(str, info['pids']))})" if info["pids"] else ""
        typer.echo(f"{name:9} {state:5} {info['address']}{pid}")
    typer.echo(f"stack dir {cfg.dir}")
