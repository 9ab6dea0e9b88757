"""The contract's version, its fingerprint and its changelog (schemas/CHANGELOG.md).

`CONTRACT_VERSION` is AsyncAPI `info.version`. Every change of the generated contract (a JSON Schema, a header, a
topic's description or configuration) changes its fingerprint; `kim schemas check` then fails until the version is
bumped here and schemas/CHANGELOG.md has a top entry `## <version> — fingerprint <fingerprint>` saying what changed.
Semantic versioning: major when a partner must change its consumer (a new version of an event it reads, a record it
has not seen before), minor for additions others may ignore, patch for descriptions.

Partner events are validated strictly by partners (schemas/PARTNERS.md: `additionalProperties: false`, closed code
lists): any change of a partner event's schema other than its descriptions is a new version of that event.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

CONTRACT_VERSION = "6.0.0"
CHANGELOG = "CHANGELOG.md"
_ENTRY = re.compile(r"^## (\d+\.\d+\.\d+) — fingerprint ([0-9a-f]{12})\s*$", re.MULTILINE)
_WORDS = frozenset({"description", "title", "summary"})
PARTNER_PREFIX = "json/kim.partner."


def fingerprint(files: dict[str, str]) -> str:
    """12 hex digits over every generated contract file (the JSON Schemas, asyncapi.yaml without info.version)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        if rel.startswith("json/") or rel == "asyncapi.yaml":
            content = files[rel].replace(f"version: {CONTRACT_VERSION}\n", "version: X\n", 1)
            digest.update(rel.encode() + b"\0" + content.encode() + b"\0")
    return digest.hexdigest()[:12]


def changelog_entry(root: Path) -> tuple[str, str] | None:
    """(version, fingerprint) of the top entry of CHANGELOG.md, or None."""
    path = root / CHANGELOG
    if not path.exists():
        return None
    found = _ENTRY.search(path.read_text(encoding="utf-8"))
    return (found.group(1), found.group(2)) if found else None


def changelog_problems(root: Path, files: dict[str, str]) -> list[str]:
    now = fingerprint(files)
    top = changelog_entry(root)
    fix = (f"bump CONTRACT_VERSION in kim_schemas/contract.py and put `## <new version> — fingerprint {now}` with "
           f"what changed at the top of schemas/{CHANGELOG}")
    if top is None:
        return [f"{CHANGELOG}: missing or without an entry `## <version> — fingerprint <12 hex>` — {fix}"]
    version, recorded = top
    problems = []
    if version != CONTRACT_VERSION:
        problems.append(f"{CHANGELOG}: the top entry is {version}, the contract (info.version) {CONTRACT_VERSION} — "
                        "make them the same")
    if recorded != now:
        problems.append(f"{CHANGELOG}: the contract changed since {version} (fingerprint {recorded}, now {now}) — {fix}")
    return problems


def _without_words(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_words(v) for k, v in schema.items() if k not in _WORDS}
    if isinstance(schema, list):
        return [_without_words(v) for v in schema]
    return schema


def strict_partner_changes(rel: str, old: dict, new: dict) -> list[str]:
    """A committed partner event schema may change its descriptions only: partners validate strictly."""
    if not rel.startswith(PARTNER_PREFIX) or _without_words(old) == _without_words(new):
        return []
    return [f"{rel}: STRICT: partners validate this schema strictly, so any change but a description (a new optional "
            "field, a new code) is a new version of the event — add it as version N+1 (schemas/PARTNERS.md)"]
