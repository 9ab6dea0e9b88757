"""Facts from the referrals topic: partners and one row per referral with the day of each step."""

from __future__ import annotations

from kim_runtime.envelope import Envelope
from kim_schemas import referrals as rev

from .base import Batch, BatchProjection, Table, day, day_of

PARTNERS = Table("partners", (("organisation_id", "text"), ("name", "text"), ("kind", "text")),
                 key=("organisation_id",))
REFERRALS = Table("referrals", (
    ("referral_id", "text"), ("case_id", "text"), ("partner", "text"), ("requested_on", "date"),
    ("accepted_on", "date"), ("declined_on", "date"), ("appointment_on", "date"), ("closed_on", "date"),
    ("revoked_on", "date"),
), key=("referral_id",))
TABLES = (PARTNERS, REFERRALS)
INDEXES = ("CREATE INDEX IF NOT EXISTS referrals_by_case ON {schema}.referrals (case_id);",)


def _partner(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("partners", (d["organisation_id"],), name=d["name"], kind=d["kind"])


def _requested(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("referrals", (d["referral_id"],), case_id=d["case_id"], partner=d["to_organisation_id"],
            requested_on=day_of(d["requested_at"]))


def _step(column: str, field: str, parse=day_of):
    def collect(b: Batch, e: Envelope) -> None:
        b.merge("referrals", (e.data["referral_id"],), **{column: parse(e.data[field])})
    return collect


class ReferralsProjection(BatchProjection):
    name = "reporting_referrals"
    tables, indexes = TABLES, INDEXES
    collectors = {
        rev.PartnerRegistered: _partner,
        rev.ReferralRequested: _requested,
        rev.ReferralAccepted: _step("accepted_on", "accepted_at"),
        rev.ReferralDeclined: _step("declined_on", "declined_at"),
        rev.AppointmentScheduled: _step("appointment_on", "appointment_on", day),
        rev.ReferralClosed: _step("closed_on", "closed_at"),
        rev.ReferralRevoked: _step("revoked_on", "revoked_at"),
    }
