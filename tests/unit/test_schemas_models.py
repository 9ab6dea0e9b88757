"""The event models and their registry (kim_schemas)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

import kim_schemas
from kim_schemas import EVENT_TYPES, Encrypted, UnknownEventType, latest, parse
from kim_schemas.cases import ClientRegistered, ReviewHeld
from kim_schemas.staffing import GrantAwarded

TYPE_NAME = re.compile(r"^kim\.(cases|staffing|referrals|reporting|partner)\.[A-Z][A-Za-z]+$")
CATALOGUE = {
    "cases": "ClientRegistered CaseOpened ConsentGranted ConsentWithdrawn AssessmentCompleted "
    "ResidenceStatusRecorded RechtskreisChanged IntegrationPlanAgreed ReviewHeld GoalAchieved GoalDropped "
    "MilestoneRecorded CaseTransferred CasePaused CaseResumed CaseClosed ClientErased ConsentExpired ReviewDue "
    "PauseEndDue LegalHoldPlaced LegalHoldLifted",
    "staffing": "GrantAwarded PositionEstablished PositionTransferred PositionFilled PositionVacated "
    "CaseManagerAssigned CaseloadLimitExceeded CaseloadBackWithinLimit",
    "referrals": "PartnerRegistered ReferralRequested ReferralAccepted ReferralDeclined AppointmentScheduled "
    "ReferralOutcomeReported ReferralClosed ReferralRevoked ReferralOverdue AppointmentOutcomeMissing ConsentChecked "
    "PartnerFeedbackReceived PartnerCredentialIssued",
    "reporting": "ReportGenerated ReportApproved",
    "partner": "PartnerReferralSealedSnapshot PartnerReferralSnapshot PartnerReferralRevoked PartnerReferralTombstone "
               "PartnerReferralOffered "
               "PartnerReferralUpdated",
}


def test_every_event_of_the_catalogue_is_registered():
    expected = {f"kim.{service}.{name}" for service, names in CATALOGUE.items() for name in names.split()}
    assert {t for t, _ in EVENT_TYPES} == expected


@pytest.mark.parametrize("key", sorted(EVENT_TYPES), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_each_model_names_itself_and_carries_its_stream_id(key):
    model = EVENT_TYPES[key]
    assert TYPE_NAME.match(model.event_type) and (model.event_type, model.schema_version) == key
    assert model.stream_key in model.model_fields and model.stream_key.endswith("_id")
    assert model.model_config["extra"] == "forbid" and model.model_config["frozen"]
    assert all(f.description for f in model.model_fields.values()), "every field needs a description"


def test_versions_are_contiguous_and_each_old_one_has_an_upcaster():
    steps = set(kim_schemas.REGISTRY.upcasters.steps())
    for event_type in {t for t, _ in EVENT_TYPES}:
        newest = latest(event_type).schema_version
        assert all((event_type, v) in EVENT_TYPES for v in range(1, newest + 1))
        assert all((event_type, v) in steps for v in range(1, newest))


def test_decimals_travel_as_strings_and_dates_as_iso():
    grant = GrantAwarded(grant_id="g-1", baustein="2", period_from=date(2025, 1, 1), period_to=date(2025, 12, 31),
                         vza=Decimal("19.5"), rate_per_vza=Decimal("56000.00"))
    data = grant.model_dump(mode="json")
    assert data["vza"] == "19.5" and data["rate_per_vza"] == "56000.00" and data["period_from"] == "2025-01-01"
    assert grant.stream_id() == "g-1"


def test_personal_fields_are_encrypted_only():
    assert ClientRegistered.model_fields["personal"].annotation is Encrypted
    with pytest.raises(ValidationError):
        ClientRegistered(client_id="c-1", personal={"name": "Amina K."})  # clear text is rejected
    assert "Encrypted" in str(ReviewHeld.model_fields["notes"].annotation)


def test_unknown_fields_are_rejected_and_events_are_immutable():
    with pytest.raises(ValidationError, match="extra"):
        parse("kim.cases.CaseResumed", 1, {"case_id": "c", "resumed_on": "2025-01-01", "name": "x"})
    resumed = parse("kim.cases.CaseResumed", 1, {"case_id": "c", "resumed_on": "2025-01-01"})
    with pytest.raises(ValidationError):
        resumed.case_id = "other"


def test_parse_upcasts_an_old_version_to_the_newest():
    stored_v1 = {"case_id": "c-1", "status": "duldung_60a", "perspective": "rot", "recorded_on": "2024-03-01"}
    event = parse("kim.cases.ResidenceStatusRecorded", 1, stored_v1)
    assert event.schema_version == 4 and event.recorded_on == date(2024, 3, 1) and event.dates is None


def test_unknown_types_and_versions_say_so():
    with pytest.raises(UnknownEventType, match="kim.cases.Nope"):
        parse("kim.cases.Nope", 1, {})
    with pytest.raises(UnknownEventType, match="version 9"):
        parse("kim.cases.CaseOpened", 9, {})
