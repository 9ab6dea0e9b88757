"""The partner's view: codes and pseudonyms only, facts only for shared categories, nothing after a purge."""

from __future__ import annotations

import uuid
from datetime import date

from kim_schemas.codes import OutcomeCode, RevocationReason
from kim_schemas.partner import PartnerReferralRevoked, PartnerReferralUpdated, ReferralState

from kim_referrals.adapters.partner_ids import PartnerIds, client_pseudonym
from kim_referrals.domain import partner_view
from kim_referrals.domain.partner_view import ClientFacts, PartnerRefs
from kim_referrals.domain.referral import Referral

from .factories import NOW, requested

FACTS = ClientFacts(residence_status="duldung_60a", rechtskreis="AsylbLG", languages=("ar", "de"))
REFS = PartnerRefs(referral_id="p-r-1", client_pseudonym="ps-1", consent_id="p-k-1")


def test_the_offer_carries_only_the_facts_of_shared_categories():
    offer = partner_view.offered(requested(data_categories=["aufenthalt"]), refs=REFS, facts=FACTS,
                                 consent_valid_until=date(2026, 1, 1))
    assert (offer.residence_status, offer.rechtskreis, offer.languages) == ("duldung_60a", None, None)
    assert offer.client_pseudonym == "ps-1" and offer.organisation_id == "jobcenter-unna"
    assert (offer.referral_id, offer.consent_id) == ("p-r-1", "p-k-1")  # the partner's ids, never the internal ones
    all_shared = partner_view.offered(requested(data_categories=["leistungsbezug", "sprache_bildung"]),
                                      refs=REFS, facts=FACTS, consent_valid_until=None)
    shown = (all_shared.residence_status, all_shared.rechtskreis, all_shared.languages)
    assert shown == (None, "AsylbLG", ["ar", "de"])


def test_updates_follow_the_lifecycle_and_stop_at_the_revocation():
    r = Referral.request(requested())[0]
    events = r.accept(NOW) + r.report_outcome(OutcomeCode.PLACED, NOW) + r.end_with_case(NOW)
    out = partner_view.updates("p-r-1", "jobcenter-unna", events)
    assert [type(e) for e in out] == [PartnerReferralUpdated, PartnerReferralUpdated, PartnerReferralRevoked]
    assert {e.referral_id for e in out} == {"p-r-1"}
    assert [out[0].state, out[1].state, out[1].outcome] == [ReferralState.ACCEPTED, ReferralState.OUTCOME, "vermittelt"]
    assert out[2].purge is True and out[2].reason is RevocationReason.CASE_CLOSED


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
