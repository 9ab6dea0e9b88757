"""The compose deployment hands the cases service its key-encryption key, and every service the audit signing key, as
file secrets, never inline, never a dev fallback; without a key file compose refuses to start."""

from __future__ import annotations

import pytest

from tests.unit.test_compose_file import (SERVICES, compose, environment, example_env, interpolate_tree,
                                          raw_compose)


def test_only_cases_gets_the_kek_and_only_as_a_file_secret():
    document = compose()
    cases = document["services"]["cases"]
    assert "kim_master_key" in cases["secrets"]
    assert environment(cases)["KIM_MASTER_KEY_FILE"] == "/run/secrets/kim_master_key"
    assert document["secrets"]["kim_master_key"]["file"] == example_env()["KIM_MASTER_KEY_HOST_FILE"]
    for name, service in document["services"].items():
        env = environment(service)
        assert "KIM_MASTER_KEY" not in env, f"{name}: a KEK written into the environment ends up in `docker inspect`"
        assert env.get("KIM_ENV", "production") != "dev", f"{name}: dev mode would allow the public dev-only KEK"
        if name != "cases":
            assert "kim_master_key" not in service.get("secrets", []), f"{name} has no use for the KEK"
    assert set(SERVICES) <= set(document["services"])


def test_every_service_signs_its_anchors_with_the_audit_key_from_a_file_secret():
    document = compose()
    assert document["secrets"]["kim_audit_signing_key"]["file"] == example_env()["KIM_AUDIT_SIGNING_KEY_HOST_FILE"]
    for name in SERVICES:
        service = document["services"][name]
        env = environment(service)
        assert "kim_audit_signing_key" in service["secrets"], name
        assert env["KIM_AUDIT_SIGNING_KEY_FILE"] == "/run/secrets/kim_audit_signing_key", name
        assert "KIM_AUDIT_SIGNING_KEY" not in env, f"{name}: a signing key in the environment is in `docker inspect`"
        assert f"kim-anchors:{env['KIM_AUDIT_ANCHOR_DIR']}" in service["volumes"], f"{name}: anchors on a volume"
    assert "kim-anchors" in document["volumes"]
    assert "kim_audit_signing_key" not in document["services"]["web"].get("secrets", [])


@pytest.mark.parametrize("setting", ["KIM_MASTER_KEY_HOST_FILE", "KIM_AUDIT_SIGNING_KEY_HOST_FILE"])
def test_without_a_key_file_setting_compose_stops_with_a_message(setting):
    with pytest.raises(KeyError, match=f"{setting}: set {setting} in .env"):
        interpolate_tree(raw_compose(), example_env() | {setting: ""})

