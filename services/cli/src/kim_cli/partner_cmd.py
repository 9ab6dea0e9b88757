"""`kim partner onboard ORG` and `kim partner rotate ORG`: bring a partner organisation live, or give it new secrets.

onboard: registers the partner in the referrals service if it is not yet (with --name and --kind), makes its
compacted topic, its SCRAM-SHA-512 user with a new password and exactly its ACLs (kim_cli.partner_kafka), issues its
partner API credential (POST /partners/{id}/credentials: a token carrying a new credential id), and prints the
onboarding sheet: the secrets are shown this once and stored nowhere. rotate: a new password and a new credential
for a registered partner; the old password and every earlier token are refused from then on.

Settings (options, else the environment compose's .env uses):
- the broker as the admin: KIM_KAFKA_BOOTSTRAP, KIM_KAFKA_ADMIN_USER, KIM_KAFKA_ADMIN_PASSWORD; SASL_SSL with
  --kafka-ca-file (KIM_KAFKA_CA_FILE), else SASL_PLAINTEXT;
- the referrals service: KIM_REFERRALS_URL (where this command reaches it), an admin token KIM_ADMIN_TOKEN or
  KIM_AUTH_SECRET to sign one;
- what the sheet tells the partner: KIM_PARTNER_KAFKA_BOOTSTRAP (the partners' listener), KIM_PARTNER_KAFKA_CA_FILE
  (the CA certificate of that listener: SASL_SSL; none: SASL_PLAINTEXT), KIM_REFERRALS_PUBLIC_URL (the partner API),
  KIM_PARTNER_DOCS_URL (where the partner reads PARTNERS.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import typer
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.topics import partner_group_prefix, partner_kafka_user, partner_topic

from kim_cli.partner_kafka import MECHANISM, PartnerKafka, PartnerKafkaError, new_password

app = typer.Typer(no_args_is_help=True)

DOCS_DEFAULT = "schemas/PARTNERS.md in the KIM Hub repository (the Kreis sends it with this sheet)"


@dataclass
class Sheet:
    """What a partner needs to go live; the two secrets are shown once."""

    organisation_id: str
    kafka_bootstrap: str
    security_protocol: str
    sasl_mechanism: str
    kafka_user: str
    kafka_password: str
    topic: str
    group_prefix: str
    group_example: str
    ca_certificate: str | None
    api_base_url: str
    api_token: str
    api_token_expires_at: str
    schema_url: str
    docs: str

    def env(self, ca_file: str = "kim-ca.pem") -> dict[str, str]:
        """The environment of examples/partner_consumer and the snippets of PARTNERS.md."""
        env = {"KIM_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "KIM_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
               "KIM_KAFKA_SASL_MECHANISM": self.sasl_mechanism, "KIM_KAFKA_USER": self.kafka_user,
               "KIM_KAFKA_PASSWORD": self.kafka_password, "KIM_PARTNER_TOPIC": self.topic,
               "KIM_PARTNER_GROUP": self.group_example, "KIM_PARTNER_API": self.api_base_url,
               "KIM_PARTNER_TOKEN": self.api_token}
        if self.ca_certificate:
            env["KIM_KAFKA_CA_FILE"] = ca_file
        return env

    def text(self, rotated: bool = False) -> str:
        what = "new secrets (the old password and token no longer work)" if rotated else "onboarding"
        lines = [
            f"KIM Hub partner sheet — {self.organisation_id} — {what}",
            "",
            "Keep this sheet secret: the Kafka password and the API token are shown only here.",
            "",
            "Kafka (your topic: the current state of each referral sent to you)",
            f"  bootstrap            {self.kafka_bootstrap}",
            f"  security protocol    {self.security_protocol}",
            f"  SASL mechanism       {self.sasl_mechanism}",
            f"  user                 {self.kafka_user}",
            f"  password             {self.kafka_password}",
            f"  topic                {self.topic}   (read only)",
            f"  consumer groups      {self.group_prefix}*   (e.g. {self.group_example})",
            "",
            "Partner API",
            f"  base URL             {self.api_base_url}",
            f"  token                {self.api_token}",
            f"  token expires        {self.api_token_expires_at}",
            f"  schemas              {self.schema_url}",
            "",
            f"Documentation: {self.docs}",
            "",
            "Rotation: ask the Kreis for new secrets (`kim partner rotate "
            f"{self.organisation_id}`); the old password and token are refused from that moment.",
            "",
            "Environment for examples/partner_consumer (save the CA certificate below as kim-ca.pem):",
            *(f"  {k}={v}" for k, v in self.env().items()),
        ]
        if self.ca_certificate:
            lines += ["", "CA certificate of the partner listener (kim-ca.pem):", self.ca_certificate.rstrip()]
        else:
            lines += ["", "No CA certificate: this broker's partner listener has no TLS (SASL_PLAINTEXT): for a "
                          "local or test broker only."]
        return "\n".join(lines) + "\n"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _need(value: str | None, what: str) -> str:
    if not value:
        typer.echo(f"error: {what}", err=True)
        raise typer.Exit(2)
    return value


def ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def admin_headers() -> dict[str, str]:
    token = _env("KIM_ADMIN_TOKEN")
    if not token:
        secret = _need(_env("KIM_AUTH_SECRET"), "set KIM_ADMIN_TOKEN (an admin's token) or KIM_AUTH_SECRET (as in "
                                                "compose's .env) so that this command may call the referrals service")
        token = issue_token(secret, Principal(sub="kim-cli-partner-onboarding", role=Role.ADMIN), ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


async def _registered(api: httpx.AsyncClient, org: str) -> bool:
    url: str | None = "/partners"
    while url:  # the registry, page by page (Link: rel="next")
        r = await api.get(url)
        r.raise_for_status()
        if any(p["organisation_id"] == org for p in r.json()):
            return True
        url = r.links.get("next", {}).get("url")
    return False


async def bring_live(org: str, *, rotate: bool, register: dict | None, kafka: dict, api_url: str,
                     partner_bootstrap: str, partner_ca_file: str | None, public_url: str, docs: str,
                     replication: int) -> Sheet:
    async with httpx.AsyncClient(base_url=api_url, headers=admin_headers(), timeout=30) as api:
        if not await _registered(api, org):
            if rotate or register is None:
                raise PartnerKafkaError(f"partner {org} is not registered: `kim partner onboard {org} --name ... "
                                        "--kind ...` registers it")
            r = await api.post("/partners", json={"organisation_id": org, **register})
            if r.status_code != 201:
                raise PartnerKafkaError(f"registering {org} failed: {r.status_code} {r.text}")
        password = new_password()
        async with PartnerKafka(**kafka) as broker:
            await broker.grant_partner(org, password, replication=replication)
        r = await api.post(f"/partners/{org}/credentials")
        if r.status_code != 201:
            raise PartnerKafkaError(f"issuing the API credential of {org} failed: {r.status_code} {r.text}")
        credential = r.json()
    ca = Path(partner_ca_file).read_text() if partner_ca_file else None
    api_base = public_url.rstrip("/")
    return Sheet(organisation_id=org, kafka_bootstrap=partner_bootstrap,
                 security_protocol="SASL_SSL" if ca else "SASL_PLAINTEXT", sasl_mechanism=MECHANISM,
                 kafka_user=partner_kafka_user(org), kafka_password=password, topic=partner_topic(org),
                 group_prefix=partner_group_prefix(org), group_example=f"{partner_group_prefix(org)}reader",
                 ca_certificate=ca, api_base_url=api_base, api_token=credential["token"],
                 api_token_expires_at=credential["expires_at"], schema_url=f"{api_base}/partner/schemas", docs=docs)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _run(org: str, *, rotate: bool, register: dict | None, sheet_file: Path | None, as_json: bool,
         kafka_bootstrap: str | None, kafka_ca_file: str | None, partner_bootstrap: str | None,
         partner_ca_file: str | None, referrals_url: str | None, public_url: str | None, docs: str | None) -> None:
    try:
        partner_topic(org)
    except ValueError as exc:
        _need(None, str(exc))
    bootstrap = _need(kafka_bootstrap or _env("KIM_KAFKA_BOOTSTRAP"), "set KIM_KAFKA_BOOTSTRAP (or "
                      "--kafka-bootstrap): the broker address this command reaches as the admin")
    admin_ca = kafka_ca_file or _env("KIM_KAFKA_CA_FILE")
    kafka = {"bootstrap": bootstrap, "admin_user": _env("KIM_KAFKA_ADMIN_USER", "kim-admin"),
             "admin_password": _need(_env("KIM_KAFKA_ADMIN_PASSWORD"), "set KIM_KAFKA_ADMIN_PASSWORD (compose's .env)")}
    if admin_ca:
        kafka |= {"security_protocol": "SASL_SSL", "ssl_context": ssl_context(admin_ca)}
    external = None
    if _env("KIM_KAFKA_EXTERNAL_HOST"):
        external = f"{_env('KIM_KAFKA_EXTERNAL_HOST')}:{_env('KIM_KAFKA_PARTNER_PORT') or _env('KIM_KAFKA_EXTERNAL_PORT', '9094')}"
    api_url = referrals_url or _env("KIM_REFERRALS_URL", "http://127.0.0.1:8003")
    if sheet_file is not None and sheet_file.exists():
        _need(None, f"{sheet_file} exists: the sheet holds secrets, it is never overwritten; choose another file")
    try:
        sheet = asyncio.run(bring_live(
            org, rotate=rotate, register=register, kafka=kafka, api_url=api_url,
            partner_bootstrap=partner_bootstrap or _env("KIM_PARTNER_KAFKA_BOOTSTRAP") or external or bootstrap,
            partner_ca_file=partner_ca_file or _env("KIM_PARTNER_KAFKA_CA_FILE"),
            public_url=public_url or _env("KIM_REFERRALS_PUBLIC_URL") or api_url,
            docs=docs or _env("KIM_PARTNER_DOCS_URL", DOCS_DEFAULT),
            replication=int(_env("KIM_KAFKA_REPLICATION_FACTOR", "1"))))
    except (PartnerKafkaError, httpx.HTTPError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - a Kafka error (authentication, unreachable): say which
        typer.echo(f"error: the broker at {bootstrap}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    out = json.dumps(asdict(sheet), indent=2) + "\n" if as_json else sheet.text(rotated=rotate)
    if sheet_file is None:
        typer.echo(out, nl=False)
    else:
        _write_private(sheet_file, out)
        typer.echo(f"{org}: {'rotated' if rotate else 'onboarded'}; the sheet with its secrets is {sheet_file} "
                   "(mode 600): hand it over securely, then delete it")


_KAFKA = typer.Option(None, "--kafka-bootstrap", help="Broker address as the admin (KIM_KAFKA_BOOTSTRAP)")
_KAFKA_CA = typer.Option(None, "--kafka-ca-file", help="CA certificate when the admin's listener is SASL_SSL")
_PARTNER_BOOTSTRAP = typer.Option(None, "--partner-bootstrap",
                                  help="The partners' listener, for the sheet (KIM_PARTNER_KAFKA_BOOTSTRAP)")
_PARTNER_CA = typer.Option(None, "--partner-ca-file",
                           help="CA certificate of the partners' SASL_SSL listener (KIM_PARTNER_KAFKA_CA_FILE)")
_REFERRALS = typer.Option(None, "--referrals-url", help="The referrals service for this command (KIM_REFERRALS_URL)")
_PUBLIC = typer.Option(None, "--public-url", help="The partner API as partners reach it (KIM_REFERRALS_PUBLIC_URL)")
_DOCS = typer.Option(None, "--docs-url", help="Where the partner reads PARTNERS.md (KIM_PARTNER_DOCS_URL)")
_SHEET = typer.Option(None, "--sheet", help="Write the sheet to this new file (mode 600) instead of printing it")
_JSON = typer.Option(False, "--json", help="The sheet as JSON")


@app.command()
def onboard(organisation_id: str = typer.Argument(..., help="The partner's organisation id"),
            name: str = typer.Option(None, "--name", help="Register it first under this name (if not registered)"),
            kind: str = typer.Option(None, "--kind", help="Its kind when registering (e.g. jobcenter)"),
            public_body: bool = typer.Option(False, "--public-body", help="A public body (Behörde)"),
            municipality: str = typer.Option(None, "--municipality", help="The AGS it serves, if local"),
            sheet: Path = _SHEET, as_json: bool = _JSON, kafka_bootstrap: str = _KAFKA, kafka_ca_file: str = _KAFKA_CA,
            partner_bootstrap: str = _PARTNER_BOOTSTRAP, partner_ca_file: str = _PARTNER_CA,
            referrals_url: str = _REFERRALS, public_url: str = _PUBLIC, docs_url: str = _DOCS) -> None:
    """Bring a partner live: registry, topic, SCRAM user, ACLs, API credential; prints its onboarding sheet."""
    register = None
    if name and kind:
        register = {"name": name, "kind": kind, "public_body": public_body,
                    **({"municipality": municipality} if municipality else {})}
    _run(organisation_id, rotate=False, register=register, sheet_file=sheet, as_json=as_json,
         kafka_bootstrap=kafka_bootstrap, kafka_ca_file=kafka_ca_file, partner_bootstrap=partner_bootstrap,
         partner_ca_file=partner_ca_file, referrals_url=referrals_url, public_url=public_url, docs=docs_url)


@app.command()
def rotate(organisation_id: str = typer.Argument(..., help="The partner's organisation id"),
           sheet: Path = _SHEET, as_json: bool = _JSON, kafka_bootstrap: str = _KAFKA, kafka_ca_file: str = _KAFKA_CA,
           partner_bootstrap: str = _PARTNER_BOOTSTRAP, partner_ca_file: str = _PARTNER_CA,
           referrals_url: str = _REFERRALS, public_url: str = _PUBLIC, docs_url: str = _DOCS) -> None:
    """New Kafka password and API token for a registered partner; the old ones are refused from now on."""
    _run(organisation_id, rotate=True, register=None, sheet_file=sheet, as_json=as_json,
         kafka_bootstrap=kafka_bootstrap, kafka_ca_file=kafka_ca_file, partner_bootstrap=partner_bootstrap,
         partner_ca_file=partner_ca_file, referrals_url=referrals_url, public_url=public_url, docs=docs_url)
