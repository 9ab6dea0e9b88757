"""Compare the committed contract files under schemas/ with what the code generates."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from kim_schemas.base import REGISTRY, EventRegistry
from kim_schemas.compat import breaking_changes
from kim_schemas.contract import strict_partner_changes
from kim_schemas.generate import generated_files

FIX_DRIFT = "run `kim schemas generate` and commit the result"
FIX_BREAK = "keep this version as it is; put the change into a new version with an upcaster (schemas/README.md)"


def breaking_against_committed(root: Path, files: dict[str, str]) -> list[str]:
    """Breaking changes of generated schemas against the committed files of the same (type, version)."""
    problems = []
    for rel, content in sorted(files.items()):
        committed = root / rel
        if rel.startswith("json/") and committed.exists():
            old, new = json.loads(committed.read_text(encoding="utf-8")), json.loads(content)
            problems += [f"{rel}: BREAKING: {p} — {FIX_BREAK}" for p in breaking_changes(old, new)]
            problems += strict_partner_changes(rel, old, new)
    return problems


def drift(root: Path, files: Mapping[str, str], *, differs: str = "differs from the generated file",
          fix: str = FIX_DRIFT) -> list[str]:
    """The generated files (path under ``root`` → content) that are not committed as generated; shared by the event
    contract's check and the OpenAPI contract's."""
    problems = []
    for rel, content in sorted(files.items()):
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: missing — {fix}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{rel}: {differs} — {fix}")
    return problems


def check(root: Path, registry: EventRegistry = REGISTRY) -> list[str]:
    """Every problem with the committed files under ``root``; an empty list means all is well."""
    files = generated_files(registry)
    problems = breaking_against_committed(root, files) + drift(root, files)
    for path in sorted((root / "json").glob("*/v*.json")):
        rel = path.relative_to(root).as_posix()
        if rel not in files:
            problems.append(f"{rel}: BREAKING: no model defines this version any more; stored events of it "
                            "could not be read — restore the model (old versions stay forever)")
    return problems
