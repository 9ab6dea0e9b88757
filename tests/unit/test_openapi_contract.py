"""The OpenAPI contract: the breaking-change rules, and the committed documents match the services."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from kim_cli import openapi_contract as oc

ROOT = Path(__file__).resolve().parents[2] / "schemas"

BASE = {
    "openapi": "3.1.0",
    "paths": {
        "/cases": {
            "post": {
                "parameters": [{"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/OpenCase"}}}},
                "responses": {"201": {"content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Opened"}}}},
                              "422": {"content": {"application/problem+json": {"schema": {"type": "object"}}}}},
            },
            "get": {"responses": {"200": {"content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Opened"}}}}}}},
        },
    },
    "components": {"schemas": {
        "OpenCase": {"type": "object", "required": ["client_id"], "properties": {
            "client_id": {"type": "string"}, "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
        "Opened": {"type": "object", "required": ["case_id"], "properties": {
            "case_id": {"type": "string"}, "version": {"type": "integer"}}},
    }},
}


def changed(edit) -> list[str]:
    new = copy.deepcopy(BASE)
    edit(new)
    return oc.breaking_changes(BASE, new)


def test_an_unchanged_document_and_additions_break_nothing():
    assert oc.breaking_changes(BASE, copy.deepcopy(BASE)) == []

    def additions(d):
        d["paths"]["/cases/{case_id}"] = {"get": {"responses": {"200": {}}}}
        d["paths"]["/cases"]["post"]["responses"]["409"] = {"description": "conflict"}
        d["paths"]["/cases"]["post"]["parameters"].append({"name": "Idempotency-Key", "in": "header",
                                                            "schema": {"type": "string"}})
        d["components"]["schemas"]["Opened"]["properties"]["phase"] = {"type": "string"}
        d["components"]["schemas"]["OpenCase"]["properties"]["team"] = {"type": "string"}

    assert changed(additions) == []


@pytest.mark.parametrize("edit,says", [
    (lambda d: d["paths"]["/cases"].pop("get"), "GET /cases: BREAKING: operation removed"),
    (lambda d: d["paths"]["/cases"]["post"]["responses"].pop("422"), "response status 422 removed"),
    (lambda d: d["components"]["schemas"]["Opened"]["properties"].pop("version"),
     "response 201 field version removed"),
    (lambda d: d["components"]["schemas"]["Opened"]["properties"].update(version={"type": "string"}),
     "response 201 field version changed type integer -> string"),
    (lambda d: d["components"]["schemas"]["OpenCase"]["required"].append("note"), "request body.note is required"),
    (lambda d: (d["components"]["schemas"]["OpenCase"]["properties"].update(team={"type": "string"}),
                d["components"]["schemas"]["OpenCase"]["required"].append("team")), "request body.team is required"),
    (lambda d: d["paths"]["/cases"]["post"]["parameters"][0].update(required=True),
     "request header.if-match is required now"),
    (lambda d: d["components"]["schemas"]["OpenCase"]["properties"].update(client_id={"type": "integer"}),
     "request body.client_id changed type string -> integer"),
])
def test_each_breaking_change_is_named(edit, says):
    problems = changed(edit)
    assert any(says in p for p in problems), problems


def test_a_field_removed_from_a_list_item_is_breaking_too():
    problems = changed(lambda d: d["components"]["schemas"]["Opened"]["properties"].pop("case_id"))
    assert "POST /cases: BREAKING: response 201 field case_id removed" in problems
    assert "GET /cases: BREAKING: response 200 field [].case_id removed" in problems


def test_the_committed_documents_are_the_services_documents():
    files = oc.generated_files()
    assert sorted(files) == [f"openapi/{s}.json" for s in sorted(oc.SERVICES)]
    assert oc.check(ROOT, files) == []
    cases = json.loads(files["openapi/cases.json"])
    assert "428" not in cases["paths"]["/cases"]["post"]["responses"]
    reporting = json.loads(files["openapi/reporting.json"])
    approve = reporting["paths"]["/reports/{report_id}/approve"]["post"]["responses"]
    assert {"412", "428", "409", "422"} <= set(approve)
    assert "text/csv" in reporting["paths"]["/reports/{report_id}/csv"]["get"]["responses"]["200"]["content"]


def test_check_reports_drift_and_a_breaking_edit(tmp_path):
    files = oc.generated_files()
    oc.write(tmp_path, files)
    committed = json.loads(files["openapi/staffing.json"])
    committed["paths"]["/positions/{position_id}/gone"] = {"get": {"responses": {"200": {"description": "x"}}}}
    (tmp_path / "openapi/staffing.json").write_text(oc.render(committed))
    problems = oc.check(tmp_path, files)
    assert any("GET /positions/{position_id}/gone: BREAKING: operation removed" in p for p in problems)
    assert any("openapi/staffing.json: differs" in p for p in problems)
