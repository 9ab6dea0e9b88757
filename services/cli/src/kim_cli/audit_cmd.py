"""`kim audit`: a case's trail across all services (and its state at a past moment), and verification of every
store's hash chains and of each topic against its store."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer
from aiokafka.errors import KafkaConnectionError

from kim_runtime.topics import SERVICES

from kim_cli.audit.connect import UserError, kafka_bootstrap

app = typer.Typer(no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
def case(
    case_id: str = typer.Argument(..., help="The case id"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv"),
    as_of: str = typer.Option(None, "--as-of", help="Show the case's state at this time instead (ISO 8601; a date "
                              "means the end of that day; no zone means UTC)"),
    show_personal: bool = typer.Option(False, "--show-personal", help="Decrypt personal data (recorded as a read "
                                       "of personal data); erased clients stay erased"),
    actor: str = typer.Option(None, help="Who is auditing (default KIM_AUDIT_ACTOR or cli:<login>)"),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal"),
) -> None:
    """The case's trail across all services in time order: what, who, when, caused by what. Every export (and
    every read of personal data) is itself recorded in the cases store (stream audit-<date>)."""
    from kim_cli.audit import audit_log
    from kim_cli.audit.as_of import parse_time
    from kim_cli.audit.case_report import case_report

    try:
        moment = parse_time(as_of) if as_of else None
        text = asyncio.run(case_report(case_id, fmt=fmt.value, as_of=moment, reveal=show_personal,
                                       actor=actor or audit_log.default_actor(),
                                       destination=str(output) if output else "stdout",
                                       say=lambda m: typer.echo(m, err=True)))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if output:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)


def _topic_overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        service, _, topic = pair.partition("=")
        if service not in SERVICES or not topic:
            raise UserError(f"--topic {pair!r}: write SERVICE=TOPIC with SERVICE one of {', '.join(SERVICES)}")
        out[service] = topic
    return out


@app.command()
def verify(
    service: list[str] = typer.Option(None, "--service", "-s", help="Only these services (default: all four)"),
    kafka: bool = typer.Option(True, "--kafka/--no-kafka", help="Also compare each topic with its store"),
    topic: list[str] = typer.Option(None, help="SERVICE=TOPIC: the topic to compare for a service "
                                    "(default kim.<service>)"),
) -> None:
    """Check every stream's hash chain in every service store and that Kafka holds the same events; exit 1 on any
    finding (the first broken link is named with its stream and version)."""
    from kim_cli.audit.verify_report import verify_all

    try:
        unknown = [s for s in service or [] if s not in SERVICES]
        if unknown:
            raise UserError(f"unknown service(s) {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
        findings = asyncio.run(verify_all(service or list(SERVICES), _topic_overrides(topic),
                                          kafka_bootstrap() if kafka else None, typer.echo))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KafkaConnectionError as exc:
        typer.echo(f"error: cannot reach Kafka at {kafka_bootstrap()} ({exc}); start the stack (`kim stack up`), "
                   f"set KIM_KAFKA_BOOTSTRAP, or check the stores alone with --no-kafka", err=True)
        raise typer.Exit(2) from None
    if findings:
        typer.echo(f"{findings} finding(s): the history was changed or Kafka and the stores disagree")
        raise typer.Exit(1)
    typer.echo("verified: no findings")
