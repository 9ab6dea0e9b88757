"""Test data for the referrals domain."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kim_schemas.referrals import ReferralRequested

NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def requested(**overrides) -> ReferralRequested:
    fields = dict(
        referral_id="r-1", case_id="c-1", from_organisation_id="kreis-unna", to_organisation_id="jobcenter-unna",
        purpose="arbeitsmarktintegration", data_categories=["arbeit_qualifikation", "aufenthalt"],
        consent_id="k-1", due_on=date(2025, 3, 31), requested_at=NOW,
    )
    return ReferralRequested(**(fields | overrides))
