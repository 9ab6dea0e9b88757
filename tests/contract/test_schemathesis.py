"""Schemathesis over the four services' OpenAPI documents, against the real services on the test stack.

Every operation gets bounded generated examples (valid and invalid), sent with a valid token (an admin's; the
partner API with a partner's). Asserted: no server error (5xx) and no answer that contradicts the document: its
status is documented for the operation, its content type is the documented one, its body matches the schema.
The figures (requests, server errors, nonconforming answers) are printed per service.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from kim_runtime.auth import Principal, Role, issue_token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("KIM_CONTRACT_EXAMPLES", "12"))  # per operation; bounded so the tier stays short
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SERVICES = ("cases", "staffing", "referrals", "reporting")


def _tokens(secret: str) -> dict[str, dict[str, str]]:
    admin = Principal(sub="contract-admin", role=Role.ADMIN)
    partner = Principal(sub="contract-partner", role=Role.PARTNER, organisation="contract-org")
    return {"staff": {"Authorization": f"Bearer {issue_token(secret, admin)}"},
            "partner": {"Authorization": f"Bearer {issue_token(secret, partner)}"}}


def _run_operation(operation, base_url: str, headers: dict, figures: Counter, failures: list) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        figures["requests"] += 1
        try:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises its failures (a
            # FailureGroup for several at once); collect them all
            text = str(exc)
            figures["server_errors" if "Server error" in text else "nonconforming"] += 1
            failures.append(f"{case.method} {case.path}: {text[:1500]}")
            return
        figures[f"{response.status_code // 100}xx"] += 1

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_conforms_to_the_document(services, service: str):
    base_url = services.urls[service]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    tokens = _tokens(services.auth_secret)
    figures, failures = Counter(), []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect", "/dashboard"):
            continue
        operations += 1
        headers = tokens["partner" if operation.path.startswith("/partner/") else "staff"]
        _run_operation(operation, base_url, headers, figures, failures)
    print(f"\nschemathesis {service}: {operations} operations, {figures['requests']} requests, "
          f"{figures['server_errors']} server errors, {figures['nonconforming']} nonconforming; "
          f"answers {dict(sorted((k, v) for k, v in figures.items() if k.endswith('xx')))}")
    assert operations and figures["requests"] >= operations
    assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:15])
