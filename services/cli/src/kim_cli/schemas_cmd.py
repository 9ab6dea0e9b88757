"""`kim schemas generate | check`: the event contract files and the services' OpenAPI documents under schemas/
(see schemas/README.md; kim_cli.openapi_contract)."""

from __future__ import annotations

from pathlib import Path

import typer
from kim_schemas import REGISTRY
from kim_schemas.check import breaking_against_committed, check
from kim_schemas.contract import CONTRACT_VERSION, changelog_problems, fingerprint
from kim_schemas.generate import SCHEMAS_DIR, generated_files, write_files
from kim_schemas.clear_fields import README_FILE, with_clear_fields
from kim_schemas.partner_docs import PARTNERS_FILE, render_partner_guide

from kim_cli import openapi_contract

app = typer.Typer(no_args_is_help=True)

DirOption = typer.Option(SCHEMAS_DIR, "--dir", help="The schemas/ folder to write or check.")


@app.command()
def generate(
    schemas_dir: Path = DirOption,
    allow_breaking: bool = typer.Option(
        False, "--allow-breaking", help="Overwrite committed schemas even if the change breaks their readers."
    ),
) -> None:
    """Write schemas/json/<type>/v<N>.json, schemas/asyncapi.yaml, schemas/PARTNERS.md (from the event models and
    the partner registry), the table of fields in clear in schemas/README.md and the OpenAPI documents."""
    files = all_files(schemas_dir)
    api_files = openapi_contract.generated_files()
    breaking = [] if allow_breaking else (breaking_against_committed(schemas_dir, files)
                                          + openapi_contract.breaking_against_committed(schemas_dir, api_files))
    if breaking:
        for line in breaking:
            typer.echo(line, err=True)
        typer.echo(f"{len(breaking)} breaking change(s); nothing written. Add a new version instead "
                   "(or pass --allow-breaking for a version never published).", err=True)
        raise typer.Exit(1)
    changed = write_files(schemas_dir, files) + openapi_contract.write(schemas_dir, api_files)
    for rel in changed:
        typer.echo(f"wrote {schemas_dir / rel}")
    typer.echo(f"{len(files) + len(api_files)} files generated, {len(changed)} changed.")
    for line in changelog_problems(schemas_dir, files):
        typer.echo(f"to do: {line}", err=True)
    typer.echo(f"contract {CONTRACT_VERSION}, fingerprint {fingerprint(files)}")


def partner_registry() -> list[tuple[str, str]]:
    """The registered partner organisations (id, name): the registry `kim demo` and the local stack register."""
    from kim_cli.demo.data import PARTNERS  # noqa: PLC0415

    return sorted((p.organisation_id, p.name) for p in PARTNERS)


def all_files(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, str]:
    files = generated_files(REGISTRY)
    files[PARTNERS_FILE] = render_partner_guide(REGISTRY, partner_registry())
    readme = schemas_dir / README_FILE  # written by hand but for its table of the fields in clear
    if readme.exists():
        files[README_FILE] = with_clear_fields(readme.read_text(encoding="utf-8"), REGISTRY)
    return files


@app.command("check")
def check_cmd(schemas_dir: Path = DirOption) -> None:
    """Fail (exit 1) if the committed files differ from the code or a change breaks readers of them."""
    problems = check(schemas_dir, REGISTRY) + openapi_contract.check(schemas_dir)
    files = all_files(schemas_dir)
    guide = schemas_dir / PARTNERS_FILE
    if not guide.exists() or guide.read_text(encoding="utf-8") != files[PARTNERS_FILE]:
        problems.append(f"{PARTNERS_FILE}: missing or differs from the generated guide — run `kim schemas generate`")
    readme = schemas_dir / README_FILE  # hand-written (a bare --dir has none); its table must match the models
    if readme.exists() and readme.read_text(encoding="utf-8") != files.get(README_FILE):
        problems.append(f"{README_FILE}: its table of the fields in clear differs from the models — run `kim schemas "
                        "generate`")
    problems += changelog_problems(schemas_dir, files)
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        typer.echo(f"schemas check FAILED: {len(problems)} problem(s) in {schemas_dir}", err=True)
        raise typer.Exit(1)
    typer.echo(f"schemas check passed: {len(REGISTRY.types)} event versions, asyncapi.yaml, PARTNERS.md and the "
               f"{len(openapi_contract.SERVICES)} OpenAPI documents up to date, no breaking change, contract "
               f"{CONTRACT_VERSION} in CHANGELOG.md.")
