"""Which shown data counts as a special category (health, Art. 9 GDPR) for the access log."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Principal, Role

from kim_cases.application.personal import HEALTH, PersonalReader, mentions_health


@pytest.mark.parametrize(("data", "health"), [
    ({"assessment": {"domains": [{"domain": "gesundheit", "need": "hoch"}]}}, True),
    ({"goals": [{"goal_id": "g1", "domain": "familie"}, {"goal_id": "g2", "domain": "gesundheit"}]}, True),
    ([{"data": {"domains": [{"domain": "gesundheit"}]}}], True),
    ({"assessment": {"domains": [{"domain": "sprache"}, {"domain": "arbeit"}]}}, False),
    ({"data_categories": ["gesundheit"], "note": "gesundheit"}, False),  # a consent naming the category shows none
    ({}, False), (None, False),
])
def test_health_is_what_a_domain_of_gesundheit_shows(data, health):
    assert mentions_health(data) is health


@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.AUDITOR])
def test_a_view_showing_health_is_a_read_for_every_role(role):
    reader = PersonalReader(Principal(sub="x", role=role), "c-1", None, access_log=None)
    assert reader.shown({"domain": "gesundheit"}) == {"domain": "gesundheit"} and reader.read == [HEALTH]
    reader = PersonalReader(Principal(sub="x", role=role), "c-1", None, access_log=None)
    reader.shown({"domain": "wohnen"})
    assert reader.read == []
