"""`kim schemas generate | check`: the event contract files under schemas/ (see schemas/README.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from kim_schemas import REGISTRY
from kim_schemas.check import breaking_against_committed, check
from kim_schemas.generate import SCHEMAS_DIR, generated_files, write_files

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
    breaking = [] if allow_breaking else breaking_against_committed(schemas_dir, files)
    if breaking:
        for line in breaking:
            typer.echo(line, err=True)
        typer.echo(f"{len(breaking)} breaking change(s); nothing written. Add a new version instead "
                   "(or pass --allow-breaking for a version never published).", err=True)
        raise typer.Exit(1)
    changed = write_files(schemas_dir, files)
    for rel in changed:
        typer.echo(f"wrote {schemas_dir / rel}")
    typer.echo(f"{len(files)} files generated, {len(changed)} changed.")


@app.command("check")
def check_cmd(schemas_dir: Path = DirOption) -> None:
    """Fail (exit 1) if the committed files differ from the code or a change breaks readers of them."""
    problems = check(schemas_dir, REGISTRY)
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        typer.echo(f"schemas check FAILED: {len(problems)} problem(s) in {schemas_dir}", err=True)
        raise typer.Exit(1)
    typer.echo(f"schemas check passed: {len(REGISTRY.types)} event versions, asyncapi.yaml up to date.")
