"""The four services' OpenAPI documents as a contract: committed under schemas/openapi/<service>.json.

`kim schemas generate` writes them from the apps (as each service serves /openapi.json); `kim schemas check` (run
by `make test`) fails when a committed document differs from the code (drift) and when the code's document breaks a
client of the committed one:
- an operation removed;
- a documented response status removed from an operation;
- a required request parameter or body field added (or an optional one made required);
- a field removed from a success response;
- a field's type changed (request or response).
Adding operations, statuses, optional parameters and response fields is not breaking.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from kim_schemas.check import drift

OPENAPI_DIR = "openapi"
SERVICES = ("cases", "staffing", "referrals", "reporting")
METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 12


def _builders() -> dict[str, Callable]:
    from kim_cases.bootstrap import build_app as cases
    from kim_referrals.bootstrap import build_app as referrals
    from kim_reporting.bootstrap import build_app as reporting
    from kim_staffing.bootstrap import build_app as staffing

    return {"cases": cases, "staffing": staffing, "referrals": referrals, "reporting": reporting}


def documents() -> dict[str, dict]:
    """Each service's OpenAPI document, as it serves it (built without starting the service)."""
    return {name: build().openapi() for name, build in _builders().items()}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    return {f"{OPENAPI_DIR}/{name}.json": render(doc) for name, doc in documents().items()}


# -- breaking changes -------------------------------------------------------------------------------------------------

def _resolve(schema: dict, document: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < MAX_DEPTH:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            return schema
        target = document
        for part in ref[2:].split("/"):
            target = target.get(part, {})
        schema, seen = target, seen + 1
    return schema


def _type(schema: dict, document: dict) -> str:
    schema = _resolve(schema, document)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return "|".join(sorted(kinds))
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return "|".join(sorted({_type(s, document) for s in schema[combinator]}))
    if "allOf" in schema:
        kinds = {_type(s, document) for s in schema["allOf"]} - {"any"}
        return "|".join(sorted(kinds)) or "any"
    if "properties" in schema:
        return "object"
    return "any"


def fields(schema: dict | None, document: dict, prefix: str = "", depth: int = 0) -> dict[str, tuple[str, bool]]:
    """{dotted field: (type, required)} of a schema, nested objects and array items (`[]`) included."""
    if schema is None or depth > MAX_DEPTH:
        return {}
    schema = _resolve(schema, document)
    found: dict[str, tuple[str, bool]] = {}
    parts = [schema, *schema.get("allOf", [])]
    variants = [v for c in ("anyOf", "oneOf") for v in schema.get(c, [])]
    if len(variants) == 2 and any(_resolve(v, document).get("type") == "null" for v in variants):
        parts += [v for v in variants if _resolve(v, document).get("type") != "null"]  # Optional[X]: X's fields
    for part in parts:
        part = _resolve(part, document)
        required = set(part.get("required", []))
        for name, sub in (part.get("properties") or {}).items():
            path = f"{prefix}{name}"
            found[path] = (_type(sub, document), name in required)
            found |= fields(sub, document, path + ".", depth + 1)
        if part.get("type") == "array" and "items" in part:
            found |= fields(part["items"], document, prefix + "[].", depth + 1)
    return found


def _operations(document: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op for path, item in document.get("paths", {}).items()
            for method, op in item.items() if method in METHODS and isinstance(op, dict)}


def _parameters(operation: dict, document: dict) -> dict[str, tuple[str, bool]]:
    return {f"{p.get('in')}.{p.get('name', '').lower()}": (_type(p.get("schema", {}), document),
                                                            bool(p.get("required")))
            for p in (_resolve(p, document) for p in operation.get("parameters", []))}


def _request(operation: dict, document: dict) -> dict[str, tuple[str, bool]]:
    body = _resolve(operation.get("requestBody") or {}, document)
    found = {}
    for media, content in (body.get("content") or {}).items():
        if "json" in media:
            found |= {"body": (_type(content.get("schema", {}), document), bool(body.get("required")))}
            found |= {f"body.{k}": v for k, v in fields(content.get("schema"), document).items()}
    return found


def _responses(operation: dict, document: dict) -> dict[str, dict[str, tuple[str, bool]]]:
    found = {}
    for status, response in (operation.get("responses") or {}).items():
        response = _resolve(response, document)
        schemas = [c.get("schema") for m, c in (response.get("content") or {}).items() if "json" in m]
        found[status] = {k: v for s in schemas for k, v in fields(s, document).items()}
    return found


def breaking_changes(old: Mapping, new: Mapping, service: str = "") -> list[str]:
    """What in `new` breaks a client written against `old` (empty: nothing)."""
    problems = []
    new_ops = _operations(new)
    for key, old_op in sorted(_operations(old).items()):
        where = f"{service + ': ' if service else ''}{key[0]} {key[1]}"
        new_op = new_ops.get(key)
        if new_op is None:
            problems.append(f"{where}: BREAKING: operation removed")
            continue
        old_statuses, new_statuses = _responses(old_op, old), _responses(new_op, new)
        for status in sorted(set(old_statuses) - set(new_statuses)):
            problems.append(f"{where}: BREAKING: response status {status} removed")
        for status, old_fields in sorted(old_statuses.items()):
            if not status.startswith("2") or status not in new_statuses:
                continue
            for name, (kind, _) in sorted(old_fields.items()):
                now = new_statuses[status].get(name)
                if now is None:
                    problems.append(f"{where}: BREAKING: response {status} field {name} removed")
                elif now[0] != kind and kind != "any":
                    problems.append(f"{where}: BREAKING: response {status} field {name} changed type {kind} -> "
                                    f"{now[0]}")
        old_in = _parameters(old_op, old) | _request(old_op, old)
        for name, (kind, required) in sorted((_parameters(new_op, new) | _request(new_op, new)).items()):
            before = old_in.get(name)
            if required and (before is None or not before[1]):
                if before is None and name.startswith("body.") and _parent_absent(name, old_in):
                    pass  # a field of a new optional object: required only when the client sends the object
                else:
                    problems.append(f"{where}: BREAKING: request {name} is required now")
            if before is not None and before[0] != kind and before[0] != "any":
                problems.append(f"{where}: BREAKING: request {name} changed type {before[0]} -> {kind}")
    return problems


def _parent_absent(name: str, old: Mapping) -> bool:
    parent = name.rsplit(".", 1)[0]
    return parent != "body" and parent not in old and parent.removesuffix(".[]") not in old


# -- generate and check -------------------------------------------------------------------------------------------

FIX_DRIFT = "run `kim schemas generate` and commit schemas/openapi/"


def _committed(root: Path, rel: str) -> dict | None:
    path = root / rel
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def breaking_against_committed(root: Path, files: Mapping[str, str]) -> list[str]:
    problems = []
    for rel, content in sorted(files.items()):
        committed = _committed(root, rel)
        if committed is not None:
            problems += breaking_changes(committed, json.loads(content), Path(rel).stem)
    return problems


def check(root: Path, files: Mapping[str, str] | None = None) -> list[str]:
    files = generated_files() if files is None else files
    return breaking_against_committed(root, files) + drift(root, files, differs="differs from the services' document",
                                                           fix=FIX_DRIFT)


def write(root: Path, files: Mapping[str, str]) -> list[str]:
    changed = []
    for rel, content in sorted(files.items()):
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            changed.append(rel)
    return changed
