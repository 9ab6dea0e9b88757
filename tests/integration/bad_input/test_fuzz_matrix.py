"""Every operation of the four OpenAPI documents × every parameter and body field × a set of bad values: never a 5xx.

Each field gets every bad value in turn while the rest of the request stays valid (generated from the schema). The
values that are wrong anywhere (NUL, lone surrogate, control characters, an object where a scalar belongs) must be
refused with a 422 that names the field, and so must out-of-range dates in date fields and negative or huge ints in
int fields; the others (10k characters, non-Latin-1 text, a date or a number in a free-text field) may be fine for
some fields, but never a 5xx. After each refusal the service's database is unchanged (a digest of every table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from .conftest import ADMIN, MANAGER, PARTNER, TEAM_LEAD, Service, running, token
from kim_runtime.auth import REFERRALS_SERVICE, REPORTING_SERVICE, Principal, Role, issue_token
from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET

pytestmark = [pytest.mark.postgres]

ANYWHERE = {  # wrong in every field
    "nul": "a\x00b", "lone surrogate": "a\ud800b", "control characters": "a\x07\x1b\x7fb", "object": {"a": 1},
}
DATES = {"year 1": "0001-01-01", "before 1900": "1899-12-31", "year 9999": "9999-12-31"}
INTS = {"negative": -1, "huge": 10**20, "huge negative": -(10**20)}
ELSEWHERE = {"10k characters": "x" * 10_000, "non-Latin-1": "Ωμέγα 中文 أمينة", "list": ["x"]}
BAD = ANYWHERE | DATES | INTS | ELSEWHERE

# A valid value per pattern of the documents. The organisation is not PARTNER's: the matrix issues an API credential
# for the organisation it names (POST /partners/{id}/credentials), which refuses that partner's earlier tokens.
SAMPLES = {
    r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$": "fuzz-1", r"^[a-z0-9][a-z0-9-]{1,62}$": "fuzz-org",
    r"^[0-9]{8}$": "05978024", r"^[a-z]{2,3}$": "de", r"^20[0-9]{2}(-Q[1-4]|-H[12])?$": "2025-Q1",
    r"^[123]$": "1", r"^[0-9]+(\.[0-9]+)?$": "1.0", r"^[0-9a-f]{64}$": "0" * 64,
    r"^kim audit [a-z][a-z -]{0,60}$": "kim audit case", r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,39}$": "AZ-1/26",
    r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$": "x",
}
# service tokens are signed with the service token secret (the services' dev default here), never KIM_AUTH_SECRET;
# made with issue_token's long lifetime, since the matrix outlasts a service token's 5 minutes
SERVICE = {"Authorization": "Bearer " + issue_token(DEV_SERVICE_TOKEN_SECRET, Principal(
    sub=REFERRALS_SERVICE, role=Role.SERVICE))}  # the consent decision's internal path takes only this
REPORTING = {"Authorization": "Bearer " + issue_token(DEV_SERVICE_TOKEN_SECRET, Principal(
    sub=REPORTING_SERVICE, role=Role.SERVICE))}  # the sealing keys' internal path takes only this
TOKENS = (ADMIN, TEAM_LEAD, MANAGER, PARTNER, SERVICE, REPORTING)


@dataclass(frozen=True)
class Field:
    where: str  # path, query or body
    name: tuple  # the body path, or (parameter name,)
    schema: dict

    @property
    def label(self) -> str:
        return ".".join(str(p) for p in self.name)

    @property
    def kind(self) -> str:
        return self.schema.get("format") or self.schema.get("type") or "?"


class Document:
    def __init__(self, doc: dict):
        self.doc = doc

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
        return self.resolve(options[0]) if options else schema

    def sample(self, schema: dict):
        s = self.resolve(schema)
        if "enum" in s:
            return s["enum"][0]
        kind = s.get("type")
        if kind == "object":
            return {k: self.sample(v) for k, v in s.get("properties", {}).items() if k in s.get("required", ())}
        if kind == "array":
            return [self.sample(s["items"])] * max(1, s.get("minItems", 1))
        if s.get("format") == "date":
            return "2025-01-10"
        if kind == "string":
            return SAMPLES[s["pattern"]] if "pattern" in s else "x"
        return {"integer": max(s.get("minimum", 1990), 1990) if "minimum" in s else 10, "boolean": False}[kind]

    def leaves(self, schema: dict, name: tuple) -> list[Field]:
        s = self.resolve(schema)
        if s.get("type") == "object":
            return [f for k, v in s.get("properties", {}).items() for f in self.leaves(v, (*name, k))]
        if s.get("type") == "array":
            return [Field("body", name, s)] + self.leaves(s["items"], (*name, 0))
        return [Field("body", name, s)]


@dataclass
class Operation:
    method: str
    path: str
    doc: Document
    params: list[dict]
    body: dict | None
    needs_if_match: bool = False  # documents 428: sent with one, so a bad body field is what is refused

    def fields(self) -> list[Field]:
        found = [Field(p["in"], (p["name"],), self.doc.resolve(p["schema"])) for p in self.params
                 if p["in"] in ("path", "query")]
        return found + (self.doc.leaves(self.body, ()) if self.body else [])

    def request(self, field: Field | None = None, value=None) -> tuple[str, bytes | None]:
        """The URL and JSON body of a valid request, with `value` in `field`."""
        path, query = self.path, []
        for p in self.params:
            if p["in"] not in ("path", "query"):
                continue
            mine = field is not None and field.where == p["in"] and field.name == (p["name"],)
            if not mine and p["in"] == "query" and not p.get("required"):
                continue
            text = _text(value) if mine else str(self.doc.sample(p["schema"]))
            encoded = quote(text.encode("utf-8", "surrogatepass"), safe="")
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", encoded)
            else:
                query.append(f"{p['name']}={encoded}")
        body = None
        if self.body:
            document = self.doc.sample(self.body)
            if field is not None and field.where == "body":
                document = _put(document, field.name, value, self.doc, self.body)
            body = json.dumps(document).encode()  # ensure_ascii: a lone surrogate travels as \ud800
        return path + ("?" + "&".join(query) if query else ""), body


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _put(document, name: tuple, value, doc: Document, schema: dict):
    """The document with `value` at `name`, creating the (optional) containers on the way."""
    head, rest = name[0], name[1:]
    s = doc.resolve(schema)
    if isinstance(head, int):
        items = list(document or [doc.sample(s["items"])])
        items[0] = _put(items[0], rest, value, doc, s["items"]) if rest else value
        return items
    document = dict(document or {})
    sub = s["properties"][head]
    document[head] = _put(document.get(head) or doc.sample(sub), rest, value, doc, sub) if rest else value
    return document


def operations(svc: Service) -> list[Operation]:
    doc = Document(svc.app.openapi())
    ops = []
    for path, methods in doc.doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            ops.append(Operation(method.upper(), path, doc, op.get("parameters", []), body,
                                 "428" in op.get("responses", {})))
    return ops


def must_refuse(field: Field, label: str) -> bool:
    if label in ANYWHERE:
        return label != "object" or field.where == "body"  # in a URL an object is just its JSON text
    if label in DATES:
        return field.kind == "date"
    if label in INTS:
        return field.kind == "integer"
    return False


async def _send(svc: Service, op: Operation, headers: dict, field: Field | None = None, value=None):
    url, body = op.request(field, value)
    if op.needs_if_match:
        headers = headers | {"If-Match": '"1"'}
    extra = {"content": body, "headers": headers | {"content-type": "application/json"}} if body is not None else {
        "headers": headers}
    return await svc.http.request(op.method, url, **extra)


async def _token(svc: Service, op: Operation) -> dict:
    """The first role the operation lets through (so the fuzzed field, not the role, decides)."""
    for token in TOKENS:
        if (await _send(svc, op, token)).status_code not in (401, 403):
            return token
    raise AssertionError(f"{op.method} {op.path}: no role may call it")


def _names(response, field: Field) -> bool:
    fields = [e["field"] for e in response.json().get("errors", [])]
    prefix = field.label if field.where == "body" else f"{field.where}.{field.label}"
    return any(f == prefix or f.startswith(prefix + ".") or f == field.where for f in fields)


def _resolved_first(op, response) -> bool:
    """A partner route resolves the referral in the partner's reach before it reads the body: for the made-up id
    here, 404 (worded like any unknown id) is the refusal, and a partner learns nothing about a referral it cannot
    reach, not even how its body would be judged."""
    return op.path.startswith("/partner/referrals/{") and response.status_code == 404


@pytest.mark.parametrize("name", ["cases", "staffing", "referrals", "reporting"])
async def test_no_bad_value_reaches_a_5xx_and_refusals_write_nothing(name, service_db, capsys):
    async with running(name, await service_db()) as svc:
        failures, counts = [], {"cases": 0, "refused": 0, "accepted": 0}
        for op in operations(svc):
            fields = op.fields()
            if not fields:
                continue
            token = await _token(svc, op)
            before = await svc.state()
            for field in fields:
                for label, value in BAD.items():
                    r = await _send(svc, op, token, field, value)
                    counts["cases"] += 1
                    case = f"{op.method} {op.path} {field.where}.{field.label} = {label}: {r.status_code}"
                    if r.status_code >= 500:
                        failures.append(f"{case} {r.text[:200]}")
                    elif r.status_code < 400:
                        counts["accepted"] += 1
                        if must_refuse(field, label):
                            failures.append(f"{case} (accepted)")
                        before = await svc.state()
                    else:
                        counts["refused"] += 1
                        if must_refuse(field, label) and not _resolved_first(op, r) and (
                                r.status_code != 422 or not _names(r, field)):
                            failures.append(f"{case} does not name the field: {r.text[:200]}")
                        after = await svc.state()
                        if after != before:
                            changed = [t for t in after if after[t] != before.get(t)]
                            failures.append(f"{case} yet wrote to {', '.join(changed)}")
                            before = after
        with capsys.disabled():
            print(f"\nfuzz matrix {name}: {counts['cases']} cases, {counts['refused']} refused (4xx), "
                  f"{counts['accepted']} accepted as valid input")
        assert not failures, f"{len(failures)} of {counts['cases']} cases failed:\n" + "\n".join(failures[:60])
