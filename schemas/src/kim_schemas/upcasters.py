"""Upcasters: one small function per version step, registered with the runtime's chain on import.

When a breaking change needs a new version, add the new model (the old one stays), then a step here."""

from __future__ import annotations

from kim_runtime.upcasting import Data, register

import re

from kim_schemas.cases import ARRIVAL_BAND_YEARS, BIRTH_BAND_YEARS, year_band


def residence_status_recorded_v1_to_v2(data: Data) -> Data:
    """v2 adds status_since; v1 only knew the recording date, which is the best estimate."""
    return {**data, "status_since": data["recorded_on"]}


def residence_status_recorded_v2_to_v3(data: Data) -> Data:
    """v3 encrypts status_since and valid_until; an upcaster holds no key, so v2 data is read without them."""
    return {k: data[k] for k in ("case_id", "status", "perspective", "recorded_on")} | {"dates": None}


def client_registered_v1_to_v2(data: Data) -> Data:
    """v2 encrypts birth year, languages and arrival year; an upcaster holds no key, so v1 data gets no profile,
    only the bands v2 carries in clear (the v1 record itself stays as it was stored)."""
    return {"client_id": data["client_id"], "personal": data["personal"], "profile": None,
            "birth_band": year_band(data.get("birth_year"), BIRTH_BAND_YEARS),
            "arrival_band": year_band(data.get("arrival_year"), ARRIVAL_BAND_YEARS)}


def client_registered_v2_to_v3(data: Data) -> Data:
    """v3 drops the bands v2 carried in clear (the profile, encrypted, still holds the years)."""
    return {k: v for k, v in data.items() if k not in ("birth_band", "arrival_band")}


def client_erased_v1_to_v2(data: Data) -> Data:
    """v2 no longer carries the request's reference (the cases service keeps it in its store)."""
    return {k: v for k, v in data.items() if k != "request_reference"}


def legal_hold_placed_v1_to_v2(data: Data) -> Data:
    """v2 seals the reference and takes a file number only: v1's free text is reduced to one (every other character
    becomes "_", at most 40); the v1 record itself stays as it was stored."""
    reference = re.sub(r"[^A-Za-z0-9/._-]", "_", data["reference"])[:40]
    return {**data, "reference": reference if reference[:1].isalnum() else f"X{reference[:39]}"}


def partner_feedback_received_v1_to_v2(data: Data) -> Data:
    """v2 no longer carries the partner's words (the referrals service keeps them in its store)."""
    return {k: v for k, v in data.items() if k != "detail"}


def integration_plan_agreed_v1_to_v2(data: Data) -> Data:
    """v2 encrypts the goals and names their ids in clear; v1's goals stay the plain list they were stored as."""
    return {**data, "goal_ids": [g["goal_id"] for g in data["goals"]]}


def partner_referral_snapshot_v1_to_v2(data: Data) -> Data:
    """v2 drops the consent's last day, which two partners named in one consent could link their pseudonyms by."""
    return {k: v for k, v in data.items() if k != "consent_valid_until"}


def same_fields(data: Data) -> Data:
    """v2 encrypts a field v1 held in clear, under the same name: v1 data is valid v2 data (the plain form)."""
    return data


register("kim.cases.ConsentGranted", 1, same_fields)
register("kim.cases.AssessmentCompleted", 1, same_fields)
register("kim.cases.IntegrationPlanAgreed", 1, integration_plan_agreed_v1_to_v2)
register("kim.cases.ResidenceStatusRecorded", 1, residence_status_recorded_v1_to_v2)
register("kim.cases.ResidenceStatusRecorded", 2, residence_status_recorded_v2_to_v3)
register("kim.cases.ClientRegistered", 1, client_registered_v1_to_v2)
register("kim.cases.ClientRegistered", 2, client_registered_v2_to_v3)
register("kim.cases.ClientErased", 1, client_erased_v1_to_v2)
register("kim.cases.LegalHoldPlaced", 1, legal_hold_placed_v1_to_v2)
register("kim.referrals.PartnerFeedbackReceived", 1, partner_feedback_received_v1_to_v2)
# the sealed versions: the clear form of the version before is valid data of the next (kim_schemas.sealing)
for _type, _from in (("CaseOpened", 1), ("CaseTransferred", 1), ("CasePaused", 1), ("CaseResumed", 1),
                     ("CaseClosed", 1), ("ConsentGranted", 2), ("ConsentWithdrawn", 1), ("AssessmentCompleted", 2),
                     ("ResidenceStatusRecorded", 3), ("RechtskreisChanged", 1), ("IntegrationPlanAgreed", 2),
                     ("ReviewHeld", 1), ("GoalAchieved", 1), ("GoalDropped", 1), ("MilestoneRecorded", 1),
                     ("ConsentExpired", 1), ("ReviewDue", 1), ("PauseEndDue", 1)):
    register(f"kim.cases.{_type}", _from, same_fields)
register("kim.partner.PartnerReferralSnapshot", 1, partner_referral_snapshot_v1_to_v2)
