"""The partner registry: organisations that receive referrals, each reading its own topic."""

from __future__ import annotations

from kim_runtime.errors import RuleViolation
from kim_runtime.topics import partner_topic
from kim_schemas.referrals import PartnerRegistered


def register(already_registered: bool, registered: PartnerRegistered) -> list[PartnerRegistered]:
    """Register an organisation once; its id must be usable as a topic suffix."""
    if already_registered:
        raise RuleViolation(f"partner {registered.organisation_id} is already registered")
    partner_topic(registered.organisation_id)  # raises ValueError on an id that cannot name a topic
    return [registered]
