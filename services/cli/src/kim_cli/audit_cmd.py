"""`kim audit`: a case's trail across all services (and its state at a past moment), and verification of every
store's hash chains and of each topic against its store."""

from __future__ import annotations

import asyncio
import logging
import sys
from enum import StrEnum
from pathlib import Path

import typer
from aiokafka.errors import KafkaConnectionError

from kim_runtime.topics import ANCHOR_TOPIC, SERVICES

from kim_cli.audit.connect import UserError, kafka_bootstrap

app = typer.Typer(no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class By(StrEnum):
    recorded = "recorded"
    business = "business"


EXPORT_HELP = ("Write to this file, with FILE.sig beside it (an Ed25519 signature over the file's SHA-256 with the "
               "audit key, made by the cases service as it records the export; `kim audit verify-export FILE` "
               "checks it); the same trail exported twice gives the same bytes")
TOKEN_HELP = ("Your bearer token, an auditor's or admin's, as the APIs take it (default KIM_TOKEN, else KIM_AUDIT_TOKEN); the policy kim_runtime.policy.COMMANDS says which commands need it")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2) from None


def _deliver(text: str, export: Path | None, signed: dict | None = None) -> None:
    from kim_cli.audit.exports import write_export

    if export is None:
        typer.echo(text, nl=False)
        return
    if signed is None:
        raise UserError("the cases service recorded the export but did not sign it; nothing was written")
    digest = write_export(export, text, signed)
    typer.echo(f"wrote {export} (SHA-256 {digest}) and its signature {export.name}.sig", err=True)


@app.command()
def case(
    case_id: str = typer.Argument(..., help="The case id"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv"),
    as_of: str = typer.Option(None, "--as-of", help="Show the case's state at this time instead (ISO 8601; a date "
                              "means the end of that day; no zone means UTC)"),
    by: By = typer.Option(By.recorded, "--by", help="What --as-of compares: recorded (when each event was "
                          "recorded) or business (the date the casework happened: opened_on, held_on, granted_on, "
                          "...; events without one count from when they were recorded)"),
    show_personal: bool = typer.Option(False, "--show-personal", help="Show personal data in clear, opened by the "
                                       "cases service (this command holds no KEK) and recorded there as a read of "
                                       "it; erased clients stay erased"),
    token: str = typer.Option(None, "--token", help=TOKEN_HELP),
    output: Path = typer.Option(None, "--export", "--output", "-o", help=EXPORT_HELP),
) -> None:
    """The case's trail across all services in time order: what, who, when, caused by what. Needs an auditor's or
    admin's token. The cases service (KIM_CASES_URL; GET /audit/cases/{id}) answers its part, opening personal
    data itself with --show-personal, and records the read, sealed, before it answers: in the client's own access
    log, which GET /clients/{id}/reads shows, under the token's identity (with the fields shown in clear, or "trail"
    when all personal data stayed withheld), and in stream audit-<date>; an export's SHA-256 is recorded and signed
    there too (POST /audit/records). An export leaves out the audit log's own records (reads and exports), so
    exporting the same trail twice gives the same bytes."""
    from kim_cli.audit.as_of import parse_time
    from kim_cli.audit.case_report import case_report
    from kim_cli.audit.identity import authenticate, given_token

    try:
        authenticate("audit.case", token)
        moment = parse_time(as_of) if as_of else None
        text, signed = asyncio.run(case_report(case_id, fmt=fmt.value, as_of=moment, reveal=show_personal,
                                               token=given_token(token),
                                               destination=str(output) if output else "stdout",
                                               say=lambda m: typer.echo(m, err=True), by=by.value,
                                               export=output is not None))
        _deliver(text, output, signed)
    except UserError as exc:
        _fail(exc)


def _answer(kind: str, ident: str, fmt: Format, token: str | None, export: Path | None, fetch, render) -> None:
    """Run one of the auditor's questions for the token's holder: fetch (answer, fields read, client), record the
    read in the client's access log (a client's answer) and the read or export in the audit stream, then print or
    export the answer. Nothing is shown unless both are recorded."""
    import json

    from kim_cli.audit import audit_log
    from kim_cli.audit.identity import authenticate, given_token

    if fmt is Format.csv:
        _fail(UserError(f"kim audit {kind} answers as table or json"))
    try:
        authenticate(f"audit.{kind}", token)

        async def run() -> tuple[str, dict | None]:
            from kim_cli.audit.exports import export_hash

            answer, read, client = await fetch()
            text = (json.dumps(answer, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"
                    if fmt is Format.json else render(answer))
            recorded = await audit_log.record(given_token(token), kind, f"kim audit {kind}",
                                              {f"{kind}_id": ident, "format": fmt.value,
                                               "destination": str(export) if export is not None else "stdout"}
                                              | ({"sha256": export_hash(text)} if export is not None else {}),
                                              client_id=client, fields=sorted(read) or [kind])
            return text, recorded.get("export_signature")

        text, signed = asyncio.run(run())
        _deliver(text, export, signed)
    except UserError as exc:
        _fail(exc)


@app.command()
def referral(
    referral_id: str = typer.Argument(..., help="The referral id (or a refused request's consent-check-... id)"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json"),
    token: str = typer.Option(None, "--token", help=TOKEN_HELP),
    export: Path = typer.Option(None, "--export", "-o", help=EXPORT_HELP),
) -> None:
    """The consent decision a referral rests on (kim.referrals.ConsentChecked: which consent, recipient x purpose x
    categories required and granted, validity, met or not and why), that consent as the cases store recorded it
    (granted, withdrawn, expired), and the referral's trail (its events, follow-ups, what its partner was told)."""
    from kim_cli.audit.questions import referral_answer, referral_text

    _answer("referral", referral_id, fmt, token, export,
            lambda: referral_answer(referral_id, lambda m: typer.echo(m, err=True)), referral_text)


@app.command()
def report(
    report_id: str = typer.Argument(..., help="The report id"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json"),
    token: str = typer.Option(None, "--token", help=TOKEN_HELP),
    export: Path = typer.Option(None, "--export", "-o", help=EXPORT_HELP),
) -> None:
    """Who generated a report and when, who approved it (four eyes), its content hash, recomputed from its figures,
    and its trail in the reporting store."""
    from kim_cli.audit.questions import report_answer, report_text

    async def fetch():
        return await report_answer(report_id, lambda m: typer.echo(m, err=True)), set(), None

    _answer("report", report_id, fmt, token, export, fetch, report_text)


@app.command()
def position(
    position_id: str = typer.Argument(..., help="The staffing position id"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json"),
    token: str = typer.Option(None, "--token", help=TOKEN_HELP),
    export: Path = typer.Option(None, "--export", "-o", help=EXPORT_HELP),
) -> None:
    """A staffing position's trail: established (funding, grant), transferred, filled and vacated, who is on it now."""
    from kim_cli.audit.questions import position_answer, position_text

    async def fetch():
        return await position_answer(position_id, lambda m: typer.echo(m, err=True)), set(), None

    _answer("position", position_id, fmt, token, export, fetch, position_text)


@app.command("verify-export")
def verify_export(
    file: Path = typer.Argument(..., help="An exported file (FILE.sig must lie beside it)"),
    signature: Path = typer.Option(None, "--signature", help="The signature file (default FILE.sig)"),
    public_key: list[str] = typer.Option(None, "--public-key", help="A trusted audit public key (base64; default "
                                         "KIM_AUDIT_PUBLIC_KEYS or this shell's signing key)"),
) -> None:
    """Check an export against its signature: its SHA-256 must be the signed one and the signature a trusted audit
    key's; exit 1 when the file was changed or the signature does not hold. Token-less (kim_runtime.policy.COMMANDS:
    it prints two hashes of a file you already hold)."""
    from kim_cli.audit.exports import verify_export as check
    from kim_cli.audit.identity import authenticate

    try:
        authenticate("audit.verify-export", None)
        result = check(file, signature, list(public_key or ()))
    except UserError as exc:
        _fail(exc)
    typer.echo(result.message, err=not result.ok)
    if not result.ok:
        raise typer.Exit(1)


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
    anchors: Path = typer.Option(None, "--anchors", help="Read the signed anchors from this file (a copy of a "
                                 "service's anchor file, KIM_AUDIT_ANCHOR_DIR) instead of the anchor topic"),
    anchor_topic: str = typer.Option(ANCHOR_TOPIC, "--anchor-topic", help="The topic the anchors are on"),
    public_key: list[str] = typer.Option(None, "--public-key", help="A trusted audit public key (base64; repeat "
                                         "for several; default KIM_AUDIT_PUBLIC_KEYS or this shell's signing key)"),
    show_all: bool = typer.Option(False, "--all", help="List every finding (default: 10 per class, then a count)"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (text) or json (every finding, with "
                               "class, stream/version or topic/partition/offset, time, actor, producer)"),
) -> None:
    """Check every stream's hash chain in every service store, the store against its signed anchors (an edited
    and re-chained, truncated, deleted or back-dated stream is named with the anchor that proves it), and that
    Kafka holds the same events; exit 1 on any finding. Token-less (kim_runtime.policy.COMMANDS): it prints ids,
    versions, times, actors and finding classes, never an event's data."""
    from kim_cli.audit.identity import authenticate
    from kim_cli.audit.verify_report import SHOWN, AnchorSource, as_json, verify_all

    text = fmt is not Format.json
    say = typer.echo if text else (lambda _line: None)
    if not text:  # stdout carries the JSON document alone; warnings go to stderr
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                            force=True)

    try:
        authenticate("audit.verify", None)
        unknown = [s for s in service or [] if s not in SERVICES]
        if unknown:
            raise UserError(f"unknown service(s) {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
        source = AnchorSource(anchor_topic, anchors, tuple(public_key or ()))
        findings = asyncio.run(verify_all(service or list(SERVICES), _topic_overrides(topic),
                                          kafka_bootstrap() if kafka else None, say, source,
                                          shown=None if show_all else SHOWN))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KafkaConnectionError as exc:
        typer.echo(f"error: cannot reach Kafka at {kafka_bootstrap()} ({exc}); start the stack (`kim stack up`), "
                   f"set KIM_KAFKA_BOOTSTRAP, or check the stores alone with --no-kafka", err=True)
        raise typer.Exit(2) from None
    if not text:
        typer.echo(as_json(findings))
    elif findings:
        typer.echo(f"{len(findings)} finding(s): the history was changed or Kafka and the stores disagree")
    else:
        typer.echo("verified: no findings")
    if findings:
        raise typer.Exit(1)


@app.command()
def anchor(
    service: list[str] = typer.Option(None, "--service", "-s", help="Only these services (default: all four)"),
    anchor_topic: str = typer.Option(ANCHOR_TOPIC, "--anchor-topic", help="The topic to write the anchors to"),
    file: Path = typer.Option(None, "--file", help="Also append them to this file (default <service>.jsonl in "
                              "KIM_AUDIT_ANCHOR_DIR)"),
) -> None:
    """Seal every service store now with a signed anchor (the services also do so every
    KIM_AUDIT_ANCHOR_INTERVAL_S); needs the audit signing key, as the services have it. Token-less
    (kim_runtime.policy.COMMANDS): it writes stream heads and counts, no event's data."""
    from kim_runtime.settings import RuntimeSettings

    from kim_cli.audit.identity import authenticate

    from kim_cli.audit.anchors import anchor_now
    from kim_cli.audit.connect import open_store

    async def write_all() -> None:
        for name in service or SERVICES:
            target = file or RuntimeSettings(service=name).audit_anchor_file()
            pool = await open_store(name, typer.echo)
            if pool is not None:
                try:
                    typer.echo(await anchor_now(name, pool, kafka_bootstrap(), anchor_topic, target))
                finally:
                    await pool.close()

    try:
        authenticate("audit.anchor", None)
        asyncio.run(write_all())
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KafkaConnectionError as exc:
        typer.echo(f"error: cannot reach Kafka at {kafka_bootstrap()} ({exc}); start the stack or set "
                   "KIM_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2) from None


@app.command()
def keygen() -> None:
    """Print a new audit signing key (for KIM_AUDIT_SIGNING_KEY, kept by ops like the KEK) and its public key
    (KIM_AUDIT_PUBLIC_KEYS, handed to auditors). Token-less: it reads no store."""
    from kim_runtime.anchor import Signer, public_text

    from kim_cli.audit.identity import authenticate

    authenticate("audit.keygen", None)

    signer, secret = Signer.generate()
    typer.echo(f"KIM_AUDIT_SIGNING_KEY={secret}")
    typer.echo(f"KIM_AUDIT_PUBLIC_KEYS={public_text(signer.public)}  # key id {signer.key_id}")


@app.command()
def erasures(fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv"),
              token: str = typer.Option(None, "--token", help=TOKEN_HELP)) -> None:
    """Every erasure in the cases store: when, by whom, on which Art. 17 ground and request, which key was destroyed
    (from the hash-chained ClientErased events, so the list is as trustworthy as `kim audit verify` says; the
    request's file number since contract 6.0.0 from the store's erasure_requests, not from the event). Needs an
    auditor's or admin's token; the read is recorded in the audit stream under it."""
    from kim_cli.audit.erasures import erasure_rows, render_erasures
    from kim_cli.audit.identity import authenticate, given_token

    try:
        authenticate("audit.erasures", token)
        rows = asyncio.run(erasure_rows(lambda m: typer.echo(m, err=True), given_token(token)))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(render_erasures(rows, fmt.value), nl=False)
