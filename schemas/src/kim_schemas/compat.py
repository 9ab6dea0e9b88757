"""Would a reader of the committed schema break? A pure comparison of two JSON Schemas of one event version.

The rule: every document valid under the committed (old) schema must stay valid under the new one, because
stored events of that version are read again on every replay. Breaking: a field removed or renamed, a type
changed or narrowed, an optional field made required (or a new required field), an enum value removed.
Adding an optional field or an enum value, and changing descriptions, are fine."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Human-readable list of what in ``new`` breaks readers of ``old``; empty when compatible."""
    return _compare(old, new, old, new, "(event)")


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    union = schema.get("anyOf") or schema.get("oneOf")
    if union is None:
        return [schema]
    return [b for branch in union for b in _branches(branch, root)]


def _kind(schema: Schema) -> str:
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = "|".join(sorted(kind))
    return f"{kind}({schema['format']})" if "format" in schema else str(kind)


def _accepts(new: Schema, old: Schema) -> bool:
    new_type, old_type = new.get("type"), old.get("type")
    if new_type is None and "enum" not in new and "const" not in new:
        return True  # an unconstrained schema accepts anything
    if new_type != old_type and not (new_type == "number" and old_type == "integer"):
        return False
    return "format" not in new or new.get("format") == old.get("format")


def _describe(branches: list[Schema]) -> str:
    return " | ".join(_kind(b) for b in branches)


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    old_branches, new_branches = _branches(old, old_root), _branches(new, new_root)
    problems: list[str] = []
    for ob in old_branches:
        match = next((nb for nb in new_branches if _accepts(nb, ob)), None)
        if match is None:
            return [f"{path}: type changed from {_describe(old_branches)} to {_describe(new_branches)}"]
        problems += _compare_values(ob, match, path)
        if ob.get("type") == "object":
            problems += _compare_objects(ob, match, old_root, new_root, path)
        if ob.get("type") == "array" and "items" in ob and "items" in match:
            problems += _compare(ob["items"], match["items"], old_root, new_root, f"{path}[]")
    return problems


def _compare_values(old: Schema, new: Schema, path: str) -> list[str]:
    problems = []
    if "enum" in old and "enum" in new:
        removed = [v for v in old["enum"] if v not in new["enum"]]
        if removed:
            problems.append(f"{path}: enum value(s) removed: {', '.join(map(str, removed))}")
    if "enum" in new and "enum" not in old and "const" not in old:
        problems.append(f"{path}: values restricted to an enum: {', '.join(map(str, new['enum']))}")
    if "const" in new:
        allowed_before = [old["const"]] if "const" in old else old.get("enum")
        if allowed_before != [new["const"]]:
            problems.append(f"{path}: value fixed to {new['const']!r}")
    return problems


def _compare_objects(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    prefix = "" if path == "(event)" else f"{path}."
    problems = []
    added = [name for name in new_props if name not in old_props]
    closed = new.get("additionalProperties") is False
    for name, schema in old_props.items():
        if name in new_props:
            problems += _compare(schema, new_props[name], old_root, new_root, f"{prefix}{name}")
        elif closed:
            hint = next((a for a in added if _describe(_branches(new_props[a], new_root))
                         == _describe(_branches(schema, old_root))), None)
            renamed = f" (renamed to '{prefix}{hint}'?)" if hint else ""
            problems.append(f"{prefix}{name}: field removed{renamed}")
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{prefix}{name}: optional field made required")
        else:
            problems.append(f"{prefix}{name}: new required field (stored events do not have it)")
    if isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
        problems += _compare(old["additionalProperties"], new["additionalProperties"], old_root, new_root,
                             f"{prefix}*")
    return problems
