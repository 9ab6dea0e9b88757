"""Outside KIM_ENV=dev no service starts with a secret left at its public default (found by a stranger's probe: a
production referrals service computed every partner pseudonym with the repository's default secret)."""

from __future__ import annotations

import itertools

import pytest
from kim_referrals.settings import ReferralSettings
from kim_runtime.settings import InsecureSettings, RuntimeSettings

OWN = "x" * 48
CASES = [  # (settings class, the secrets it must not run with at their defaults)
    (RuntimeSettings, ("auth_secret", "service_token_secret")),
    (ReferralSettings, ("auth_secret", "service_token_secret", "pseudonym_secret")),
]


@pytest.mark.parametrize(("settings_class", "secrets"), CASES)
@pytest.mark.parametrize("env", ["production", "dev"])
def test_every_combination_of_default_and_own_secrets(settings_class, secrets, env):
    for own in itertools.product([False, True], repeat=len(secrets)):
        given = {name: f"{name}-{OWN}" for name, mine in zip(secrets, own, strict=True) if mine}
        settings = settings_class(env=env, **given)
        left = [n for n, mine in zip(secrets, own, strict=True) if not mine]
        if env == "dev" or not left:
            settings.refuse_public_defaults()
            continue
        with pytest.raises(InsecureSettings) as refused:
            settings.refuse_public_defaults()
        for name in secrets:
            assert (f"KIM_{name.upper()}" in str(refused.value)) == (name in left)


@pytest.mark.parametrize("env", ["production", "dev"])
def test_the_service_token_secret_must_differ_from_the_auth_secret(env):
    """Whoever holds KIM_AUTH_SECRET (it signs users' and partners' tokens, `kim partner onboard` needs it) must not
    be able to sign a service's token: the same value in both refuses to start, in dev too."""
    with pytest.raises(InsecureSettings, match="KIM_SERVICE_TOKEN_SECRET equals KIM_AUTH_SECRET"):
        RuntimeSettings(env=env, auth_secret=OWN, service_token_secret=OWN).refuse_public_defaults()
