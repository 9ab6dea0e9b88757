"""The compose deployment hands the cases service its key-encryption key as a file secret, never inline, never a
dev fallback; without the key file compose refuses to start."""

from __future__ import annotations

import pytest

from tests.unit.test_compose_file import (SERVICES, compose, environment, example_env, interpolate_tree,
                                          raw_compose)


def test_only_cases_gets_the_kek_and_only_as_a_file_secret():
    document = compose()
    cases = document["services"]["cases"]
    assert cases["secrets"] == ["kim_master_key"]
    assert environment(cases)["KIM_MASTER_KEY_FILE"] == "/run/secrets/kim_master_key"
    assert document["secrets"]["kim_master_key"]["file"] == example_env()["KIM_MASTER_KEY_HOST_FILE"]
    for name, service in document["services"].items():
        env = environment(service)
        assert "KIM_MASTER_KEY" not in env, f"{name}: a KEK written into the environment ends up in `docker inspect`"
        assert env.get("KIM_ENV", "production") != "dev", f"{name}: dev mode would allow the public dev-only KEK"
        if name != "cases":
            assert "kim_master_key" not in service.get("secrets", []), f"{name} has no use for the KEK"
    assert set(SERVICES) <= set(document["services"])


def test_without_the_key_file_setting_compose_stops_with_a_message():
    with pytest.raises(KeyError, match="KIM_MASTER_KEY_HOST_FILE: set KIM_MASTER_KEY_HOST_FILE in .env"):
        interpolate_tree(raw_compose(), example_env() | {"KIM_MASTER_KEY_HOST_FILE": ""})
