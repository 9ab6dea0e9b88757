"""The partner snapshots' per-referral keys: sealing, opening, the wrong key, and the wrap under the KEK."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest
from kim_runtime import crypto
from kim_schemas.partner import PartnerReferralSnapshot, PartnerState

from kim_referrals.adapters.referral_keys import InMemoryPartnerKeys, derived_kek, open_snapshot, seal

AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
SNAPSHOT = PartnerReferralSnapshot(
    referral_id="r-partner-1", organisation_id="jobcenter-kreis-unna", version=2, state=PartnerState.ACCEPTED,
    client_pseudonym="ps-0123456789abcdef0123456789abcdef", purpose="arbeitsmarktintegration",
    data_categories=["aufenthalt"], consent_id="c-partner-1", due_on=date(2025, 3, 20),
    residence_status="duldung_60a", rechtskreis=None, languages=None, appointment_on=None, outcome=None,
    decline_reason=None, offered_at=AT, changed_at=AT)


async def test_a_sealed_snapshot_shows_only_its_id_and_version_and_opens_to_the_snapshot():
    keys = InMemoryPartnerKeys(derived_kek("unit-secret"))
    key = await keys.ensure(None, "r-partner-1", "jobcenter-kreis-unna")
    sealed = seal(SNAPSHOT, key)
    data = sealed.model_dump(mode="json")
    assert (data["referral_id"], data["version"], data["sealed"]["key_id"]) == ("r-partner-1", 2, key.key_id)
    for clear in ("ps-0123456789abcdef", "duldung_60a", "arbeitsmarktintegration", "c-partner-1", "2025-03-20"):
        assert clear not in str(data) and clear.encode() not in base64.b64decode(data["sealed"]["ciphertext"])
    assert open_snapshot(sealed, key) == SNAPSHOT
    assert await keys.ensure(None, "r-partner-1", "jobcenter-kreis-unna") == key  # one key per referral


async def test_a_sealed_snapshot_does_not_open_with_another_referrals_key_nor_as_another_version():
    keys = InMemoryPartnerKeys(derived_kek("unit-secret"))
    mine, other = [await keys.ensure(None, r, "jobcenter-kreis-unna") for r in ("r-partner-1", "r-partner-2")]
    sealed = seal(SNAPSHOT, mine)
    with pytest.raises(crypto.Undecryptable):
        open_snapshot(sealed, other)
    with pytest.raises(crypto.Undecryptable):
        open_snapshot(sealed.model_copy(update={"version": 3}), mine)  # replayed as a newer version
    with pytest.raises(crypto.Undecryptable):
        open_snapshot(sealed.model_copy(update={"referral_id": "r-partner-2"}), other)  # moved onto another key


async def test_the_key_is_stored_only_wrapped_under_the_kek_and_destroyed_for_good():
    keys = InMemoryPartnerKeys(derived_kek("unit-secret"))
    key = await keys.ensure(None, "r-partner-1", "jobcenter-kreis-unna")
    [(_, key_id, kek_id, wrapped)] = keys.rows.values()
    assert (key_id, kek_id, len(wrapped)) == (key.key_id, "pseudonym-hkdf", 60) and key.key not in wrapped
    elsewhere = InMemoryPartnerKeys(derived_kek("another secret"))
    elsewhere.rows = dict(keys.rows)
    with pytest.raises(crypto.Undecryptable):  # another KEK under the same id does not unwrap it
        await elsewhere.of(None, ["r-partner-1"])
    assert await keys.destroy(None, "r-partner-1") is True
    assert await keys.of(None, ["r-partner-1"]) == {} and await keys.destroy(None, "r-partner-1") is False
    renewed = await keys.ensure(None, "r-partner-1", "jobcenter-kreis-unna")
    with pytest.raises(crypto.Undecryptable):  # a new key never opens what the destroyed one sealed
        open_snapshot(seal(SNAPSHOT, key), renewed)


def test_the_kek_is_the_configured_one_or_derived_from_the_pseudonym_secret(monkeypatch):
    from kim_referrals.settings import ReferralSettings

    entry = "partner-kek-1:" + base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK", entry)
    assert ReferralSettings().partner_key_kek() == crypto.Kek("partner-kek-1", bytes(range(32)))
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK", "")  # compose's empty default: derived
    assert ReferralSettings(pseudonym_secret="s" * 40).partner_key_kek() == derived_kek("s" * 40)
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK", "partner-kek-1:short")
    with pytest.raises(ValueError, match="KIM_REFERRALS_PARTNER_KEK"):
        ReferralSettings().partner_key_kek()


def test_during_a_rotation_the_service_wraps_under_the_new_kek_and_opens_under_both(monkeypatch):
    from kim_referrals.settings import ReferralSettings

    old, new = crypto.Kek("partner-kek-1", bytes(range(32))), crypto.Kek("partner-kek-2", bytes(range(32, 64)))
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK", f"{old.kek_id}:{base64.b64encode(old.key).decode()}")
    assert ReferralSettings().partner_key_keks() == (old,)  # no rotation under way
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK_NEW", f"{new.kek_id}:{base64.b64encode(new.key).decode()}")
    assert ReferralSettings().partner_key_keks() == (new, old)
    monkeypatch.setenv("KIM_REFERRALS_PARTNER_KEK_NEW", f"{old.kek_id}:{base64.b64encode(new.key).decode()}")
    with pytest.raises(ValueError, match="KIM_REFERRALS_PARTNER_KEK_NEW: its id 'partner-kek-1'"):
        ReferralSettings().partner_key_keks()  # another key under the old id: the rows could not tell them apart


async def test_a_service_holding_the_new_and_the_old_kek_opens_keys_under_either():
    old, new = crypto.Kek("partner-kek-1", bytes(range(32))), crypto.Kek("partner-kek-2", bytes(range(32, 64)))
    before = InMemoryPartnerKeys(old)
    first = await before.ensure(None, "r-partner-1", "jobcenter-kreis-unna")
    during = InMemoryPartnerKeys(new, old)
    during.rows = dict(before.rows)
    second = await during.ensure(None, "r-partner-2", "jobcenter-kreis-unna")
    assert [row[2] for row in during.rows.values()] == ["partner-kek-1", "partner-kek-2"]
    assert await during.of(None, ["r-partner-1", "r-partner-2"]) == {"r-partner-1": first, "r-partner-2": second}
    after = InMemoryPartnerKeys(new)
    after.rows = dict(during.rows)
    with pytest.raises(crypto.Undecryptable, match="wrapped under KEK 'partner-kek-1'"):
        await after.of(None, ["r-partner-1"])  # not re-wrapped yet: the new KEK alone does not open it
