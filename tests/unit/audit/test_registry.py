"""Finding projections for kim replay: by name across services, per service, or from a module of one's own."""

from __future__ import annotations

import pytest

from kim_cli.audit.connect import UserError
from kim_cli.audit.registry import select

MODULE = "tests.integration.audit.projections"


def test_a_projection_from_a_module_of_ones_own():
    [found] = select("audit_counts", service=None, module=MODULE)
    assert found.service == "cases" and found.projection.topics


def test_the_services_projections_are_found_by_name():
    found = select("case_overview", service=None, module=None)
    assert [(r.service, r.projection.name) for r in found] == [("cases", "case_overview")]


def test_unknown_names_list_what_there_is():
    with pytest.raises(UserError, match="no projection 'nope'; known projections: .*case_overview"):
        select("nope", service=None, module=None)


def test_a_name_or_a_service_is_needed():
    with pytest.raises(UserError, match="name a projection, or --service"):
        select(None, service=None, module=None)
    with pytest.raises(UserError, match="unknown service 'nope'"):
        select(None, service="nope", module=None)


def test_all_of_one_service():
    names = {r.projection.name for r in select(None, service="cases", module=None)}
    assert "case_overview" in names
