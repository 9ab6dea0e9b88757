"""Generate the committed contract files from the models: JSON Schema per (type, version) and asyncapi.yaml.

Output is deterministic (sorted keys, fixed indentation, trailing newline) so that ``kim schemas check`` can
compare it byte for byte with what is committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kim_runtime.topics import service_topic

from kim_schemas.base import REGISTRY, Event, EventRegistry

SCHEMAS_DIR = Path(__file__).resolve().parents[2]  # schemas/ in the repository (src layout, editable install)
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_FILE = "asyncapi.yaml"
PARTNER_TOPIC = "kim.partner.{organisationId}"  # kim_runtime.topics.partner_topic(organisation_id)


def topic_of(model: type[Event]) -> str:
    """The topic an event is published on; partner events go to each partner's own topic."""
    service = model.service()
    return PARTNER_TOPIC if service == "partner" else service_topic(service)


def source_of(model: type[Event]) -> str:
    """ce_source of the producer: partner views are published by the referrals service."""
    service = model.service()
    return "/kim/referrals" if service == "partner" else f"/kim/{service}"


def event_schema(model: type[Event]) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of one event version's data, with the KIM facts as x- keywords; a tombstone's
    data is null on the wire."""
    schema = tombstone_schema(model) if model.tombstone else model.model_json_schema()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["x-kim-event-type"] = model.event_type
    schema["x-kim-schema-version"] = model.schema_version
    schema["x-kim-stream-key"] = model.stream_key
    schema["x-kim-topic"] = topic_of(model)
    schema["x-kim-source"] = source_of(model)
    return schema


def tombstone_schema(model: type[Event]) -> dict[str, Any]:
    import inspect  # noqa: PLC0415

    return {"title": model.__name__, "type": "null", "description": inspect.cleandoc(model.__doc__ or "")}


def render_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(event_type: str, version: int) -> str:
    return f"json/{event_type}/v{version}.json"


def generated_files(registry: EventRegistry = REGISTRY) -> dict[str, str]:
    """Relative path under schemas/ -> file content, for every generated file."""
    from kim_schemas.asyncapi import render_asyncapi  # late: asyncapi imports this module

    files = {schema_path(t, v): render_json(event_schema(m)) for (t, v), m in sorted(registry.types.items())}
    files[ASYNCAPI_FILE] = render_asyncapi(registry)
    return files


def write_files(root: Path, files: dict[str, str]) -> list[str]:
    """Write files under root; returns the paths whose content changed."""
    changed = []
    for rel, content in files.items():
        path = root / rel
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        changed.append(rel)
    return changed
