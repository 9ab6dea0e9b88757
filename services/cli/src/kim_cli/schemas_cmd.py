"""`kim schemas generate | check`: the event contract files and the services' OpenAPI documents under schemas/
(see schemas/README.md; kim_cli.openapi_contract)."""

from __future__ import annotations

from pathlib import Path

import typer
from kim_schemas import REGISTRY
from kim_schemas.check import breaking_against_committed, check
from kim_schemas.generate import SCHEMAS_DIR, generated_files, write_files

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
    """Write schemas/json/<type>/v<N>.json and schemas/asyncapi.yaml from the event models."""
    files = generated_files(REGISTRY)
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


@app.command("check")
def check_cmd(schemas_dir: Path = DirOption) -> None:
    """Fail (exit 1) if the committed files differ from the code or a change breaks readers of them."""
    problems = check(schemas_dir, REGISTRY) + openapi_contract.check(schemas_dir)
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        typer.echo(f"schemas check FAILED: {len(problems)} problem(s) in {schemas_dir}", err=True)
        raise typer.Exit(1)
    typer.echo(f"schemas check passed: {len(REGISTRY.types)} event versions, asyncapi.yaml and the "
               f"{len(openapi_contract.SERVICES)} OpenAPI documents up to date, no breaking change.")
