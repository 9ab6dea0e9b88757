"""The runtime's upcaster chain and the contract's registered steps."""

from __future__ import annotations

from datetime import date

import pytest
from kim_runtime import upcasting
from kim_runtime.upcasting import UpcasterChain

import kim_schemas  # noqa: F401  (registers its upcasters on import)
import kim_schemas.upcasters


def test_steps_apply_in_order_until_the_newest_version():
    chain = UpcasterChain()
    chain.register("kim.x.Thing", 1, lambda d: {**d, "b": d["a"] * 2})
    chain.register("kim.x.Thing", 2, lambda d: {k: v for k, v in d.items() if k != "a"} | {"c": d["b"] + 1})
    assert chain.upcast("kim.x.Thing", 1, {"a": 1}) == (3, {"b": 2, "c": 3})
    assert chain.upcast("kim.x.Thing", 2, {"b": 5}) == (3, {"b": 5, "c": 6})
    assert chain.upcast("kim.x.Thing", 3, {"b": 5, "c": 6}) == (3, {"b": 5, "c": 6})
    assert chain.upcast("kim.x.Other", 1, {"z": 0}) == (1, {"z": 0})


def test_steps_do_not_mutate_the_stored_data():
    chain = UpcasterChain()
    chain.register("kim.x.Thing", 1, lambda d: d | {"b": 1})
    stored = {"a": 1}
    chain.upcast("kim.x.Thing", 1, stored)
    assert stored == {"a": 1}


def test_a_second_step_for_the_same_version_is_refused():
    chain = UpcasterChain()
    chain.register("kim.x.Thing", 1, lambda d: d)
    with pytest.raises(ValueError, match="has an upcaster already"):
        chain.register("kim.x.Thing", 1, lambda d: d)
    with pytest.raises(ValueError, match="from_schema_version must be >= 1"):
        chain.register("kim.x.Thing", 0, lambda d: d)


def test_the_contract_registers_residence_status_v1_to_v2_on_import():
    v1 = {"case_id": "c-1", "status": "ae_104c", "perspective": "gelb", "recorded_on": "2023-11-05"}
    from kim_schemas.upcasters import residence_status_recorded_v1_to_v2
    assert residence_status_recorded_v1_to_v2(v1)["status_since"] == "2023-11-05"
    version, data = upcasting.upcast("kim.cases.ResidenceStatusRecorded", 1, v1)
    assert version == 4 and "status_since" not in data and data["dates"] is None
    event = kim_schemas.parse("kim.cases.ResidenceStatusRecorded", 1, v1)
    assert event.recorded_on == date(2023, 11, 5) and type(event) is kim_schemas.latest(event.event_type)


def test_residence_status_v2_upcasts_to_v3_without_its_clear_dates():
    v2 = {"case_id": "c-1", "status": "ae_104c", "status_since": "2023-01-02", "valid_until": "2026-07-08",
          "perspective": "gelb", "recorded_on": "2023-11-05"}
    event = kim_schemas.parse("kim.cases.ResidenceStatusRecorded", 2, v2)
    assert event.schema_version == 4 and (event.status, event.dates) == ("ae_104c", None)
    assert "2023-01-02" not in event.model_dump_json() and "2026-07-08" not in event.model_dump_json()


SEALED = {"key_id": "k-1", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "c2VhbGVk"}


@pytest.mark.parametrize(("birth_year", "arrival_year", "bands"), [
    (1987, 2016, ("1980-1989", "2015-2019")), (2000, 2020, ("2000-2009", "2020-2024")),
    (1999, 2014, ("1990-1999", "2010-2014")), (None, None, (None, None))])
def test_client_registered_v1_upcasts_to_bands_and_no_clear_years_or_languages(birth_year, arrival_year, bands):
    v1 = {"client_id": "c-1", "personal": SEALED, "birth_year": birth_year, "languages": ["prs", "ti"],
          "arrival_year": arrival_year}
    v2 = kim_schemas.upcasters.client_registered_v1_to_v2(v1)
    assert (v2["birth_band"], v2["arrival_band"], v2["profile"]) == (*bands, None)
    event = kim_schemas.parse("kim.cases.ClientRegistered", 1, v1)
    assert type(event) is kim_schemas.latest("kim.cases.ClientRegistered") and event.schema_version == 3
    assert event.profile is None and "band" not in event.model_dump_json()  # v3 drops the bands too
    dumped = event.model_dump_json()
    assert not any(word in dumped for word in ("prs", "languages", "birth_year", "arrival_year"))
    assert event.personal.key_id == "k-1"
