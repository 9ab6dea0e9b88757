"""The `kim` command. Each command group lives in its own module; this file only wires them."""

from __future__ import annotations

import importlib
import signal

import typer

app = typer.Typer(help="KIM Hub: local stack, schemas, benchmarks, replay and audit.", no_args_is_help=True)

# (module, attribute, name, help) — a group whose module is missing is simply not offered.
_GROUPS = [
    ("kim_cli.stack_cmd", "app", "stack", "Start, stop and inspect the local Kafka + PostgreSQL stack."),
    ("kim_cli.schemas_cmd", "app", "schemas", "Generate and check the event contract in schemas/."),
    ("kim_cli.bench_cmd", "app", "bench", "Benchmarks that print figures."),
    ("kim_cli.replay_cmd", "app", "replay", "Rebuild projections from Kafka or the event store."),
    ("kim_cli.audit_cmd", "app", "audit", "Audit trails and hash-chain verification."),
    ("kim_cli.run_cmd", "app", "run", "Run the whole system (stack, services, demo)."),
    ("kim_cli.demo_cmd", "app", "demo", "Seed and inspect the demo data."),
    ("kim_cli.keys_cmd", "app", "keys", "Key-encryption keys of client data: generate, status, rotate."),
    ("kim_cli.partner_cmd", "app", "partner", "Partner organisations: onboard (sheet with secrets), rotate."),
]
for _module, _attr, _name, _help in _GROUPS:
    try:
        _sub = getattr(importlib.import_module(_module), _attr)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise
        continue
    if isinstance(_sub, typer.Typer):
        app.add_typer(_sub, name=_name, help=_help)
    else:
        app.command(name=_name, help=_help)(_sub)

def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """`kim`: a SIGTERM or SIGHUP (a terminal closed, `kill`, a CI timeout) stops a command as Ctrl-C does, so
    whatever it started (a benchmark's baseline server, a stack) is stopped by its own clean-up. SIGINT too, even
    when `kim` was started with it ignored (a shell script's background job inherits SIGINT ignored, and Python
    then never raises KeyboardInterrupt: `kill -INT` of a running `kim replay` did nothing)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    app()


if __name__ == "__main__":
    main()
