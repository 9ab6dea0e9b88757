"""The partner's view: codes and pseudonyms only, facts only for shared categories, nothing after a purge."""

from __future__ import annotations

import uuid
from datetime import date

from kim_schemas.codes import OutcomeCode, RevocationReason
from kim_schemas.partner import (
    PartnerReferralOffered,
    PartnerReferralRevoked,
    PartnerReferralSnapshot,
    PartnerReferralTombstone,
    PartnerReferralUpdated,
    PartnerState,
)

from kim_referrals.adapters.partner_ids import PartnerIds, client_pseudonym
from kim_referrals.domain import partner_view
from kim_referrals.domain.partner_view import ClientFacts, PartnerRefs
from kim_referrals.domain.referral import Referral, State

from .factories import NOW, requested

FACTS = ClientFacts(residence_status="duldung_60a", rechtskreis="AsylbLG", languages=("ar", "de"))
REFS = PartnerRefs(referral_id="p-r-1", client_pseudonym="ps-1", consent_id="p-k-1")


def test_the_offer_carries_only_the_facts_of_shared_categories():
    offer = partner_view.offered(requested(data_categories=["aufenthalt"]), refs=REFS, facts=FACTS)
    assert (offer.residence_status, offer.rechtskreis, offer.languages) == ("duldung_60a", None, None)
    assert offer.client_pseudonym == "ps-1" and offer.organisation_id == "jobcenter-unna"
    assert (offer.referral_id, offer.consent_id) == ("p-r-1", "p-k-1")  # the partner's ids, never the internal ones
    assert (offer.version, offer.state) == (1, PartnerState.REQUESTED)
    assert "consent_valid_until" not in offer.model_dump()  # v2: the consent's last day linked two partners
    all_shared = partner_view.offered(requested(data_categories=["leistungsbezug", "sprache_bildung"]),
                                      refs=REFS, facts=FACTS)
    shown = (all_shared.residence_status, all_shared.rechtskreis, all_shared.languages)
    assert shown == (None, "AsylbLG", ["ar", "de"])


def test_partner_times_are_whole_seconds_never_the_internal_microseconds():
    internal = NOW.replace(microsecond=123456)
    offer = partner_view.offered(requested(requested_at=internal), refs=REFS, facts=FACTS)
    assert offer.offered_at == offer.changed_at == NOW and offer.offered_at != internal
    r = Referral.request(requested())[0]
    [accepted] = partner_view.changes(offer, 1, r.accept(internal))
    assert accepted.changed_at == NOW


def test_every_change_is_a_full_snapshot_counted_per_referral_and_a_revocation_ends_in_a_tombstone():
    offer = partner_view.offered(requested(), refs=REFS, facts=FACTS)
    r = Referral.request(requested())[0]
    events = (r.accept(NOW) + r.schedule(date(2025, 3, 20), NOW) + r.report_outcome(OutcomeCode.PLACED, NOW)
              + r.end_with_case(NOW))
    out = partner_view.changes(offer, 1, events)
    assert [type(e) for e in out] == [PartnerReferralSnapshot] * 3 + [PartnerReferralRevoked, PartnerReferralTombstone]
    snapshots = out[:3]
    assert [s.version for s in snapshots] == [2, 3, 4]
    assert [s.state for s in snapshots] == ["accepted", "appointment_scheduled", "outcome_reported"]
    last = snapshots[-1]  # nothing "unchanged": the appointment stays in the snapshot that reports the outcome
    assert (last.appointment_on, last.outcome, last.residence_status) == (date(2025, 3, 20), "vermittelt", "duldung_60a")
    assert {e.referral_id for e in out} == {"p-r-1"}
    assert out[3].purge is True and out[3].reason is RevocationReason.CASE_CLOSED
    assert partner_view.changes(offer, 1, r.close(NOW) if r.is_open else []) == []  # nothing after revocation


def test_one_state_vocabulary_every_internal_state_but_revoked_has_the_partner_word():
    assert set(partner_view.PARTNER_STATE) == set(State) - {State.REVOKED}
    assert {s.value for s in partner_view.PARTNER_STATE.values()} == {s.value for s in PartnerState}


def test_stored_per_change_records_fold_into_the_same_snapshot():
    offer = PartnerReferralOffered(referral_id="p-r-1", organisation_id="jobcenter-unna", client_pseudonym="ps-1",
                                   purpose="arbeitsmarktintegration", data_categories=["aufenthalt"],
                                   consent_id="p-k-1", offered_at=NOW.replace(microsecond=5))
    moved = PartnerReferralUpdated(referral_id="p-r-1", organisation_id="jobcenter-unna", state="termin",
                                   appointment_on=date(2025, 3, 20), updated_at=NOW)
    reported = PartnerReferralUpdated(referral_id="p-r-1", organisation_id="jobcenter-unna", state="ergebnis",
                                      outcome="vermittelt", updated_at=NOW)  # appointment_on null: "unchanged"
    shown = partner_view.fold([(2, offer), (3, moved), (4, reported)])
    assert (shown.snapshot.version, shown.snapshot.state, shown.snapshot.appointment_on) == (
        4, "outcome_reported", date(2025, 3, 20))
    assert shown.revoked is None


def test_pseudonyms_differ_per_partner_and_are_stable():
    a = client_pseudonym("s", "client-1", "jobcenter-unna")
    assert a == client_pseudonym("s", "client-1", "jobcenter-unna")
    assert a != client_pseudonym("s", "client-1", "abh-unna")
    assert "client-1" not in a


def test_every_derived_id_differs_per_partner_and_per_kind_and_is_stable():
    jc, abh = PartnerIds("s", "jobcenter-unna"), PartnerIds("s", "abh-unna")
    kinds = ("referral", "consent", "correlation", "causation")
    values = {(ids.organisation_id, kind): getattr(ids, kind)("id-1") for ids in (jc, abh) for kind in kinds}
    assert len(set(values.values())) == len(values) == 8  # no two partners, no two kinds share a value
    assert values[("jobcenter-unna", "referral")] == jc.referral("id-1")  # deterministic: derivable again
    assert PartnerIds("other secret", "jobcenter-unna").referral("id-1") != jc.referral("id-1")
    assert all("id-1" not in v and uuid.UUID(v).version == 8 for v in values.values())
