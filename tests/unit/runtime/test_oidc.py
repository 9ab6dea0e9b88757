"""Tokens from an OpenID Connect provider, verified against a discovery document and JWKS that this test serves itself
on 127.0.0.1 (an ephemeral port, stopped by the fixture that started it): RS256 and ES256 signatures, issuer, audience,
expiry, key rotation, claim mapping, and the ways a forged token could try to pass."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends
from fastapi.testclient import TestClient

from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.http import create_app
from kim_runtime.oidc import JwksCache, OidcError, OidcSettings, OidcVerifier, ProviderUnavailable, TokenVerifier
from kim_runtime.policy import authorize

SECRET = "unit-test-secret-of-at-least-32-bytes!"
AUDIENCE = "kim-hub-test"


class Provider:
    """A tiny identity provider: signing keys by kid, a discovery document and the JWKS, served over HTTP."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.requests: list[str] = []
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                provider.requests.append(self.path)
                if provider.down:
                    self.send_error(503)
                    return
                body = provider.document(self.path)
                if body is None:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/kreis-unna"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def document(self, path: str) -> dict | None:
        if path == "/realms/kreis-unna/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs"}
        if path == "/realms/kreis-unna/protocol/openid-connect/certs":
            return {"keys": [self.public_jwk(kid) for kid in self.keys]}
        return None

    def public_jwk(self, kid: str) -> dict:
        alg, key = self.keys[kid]
        algorithm = jwt.get_algorithm_by_name(alg)
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        return jwk | {"kid": kid, "alg": alg, "use": "sig"}

    def add_key(self, kid: str, alg: str) -> None:
        key = rsa.generate_private_key(65537, 2048) if alg.startswith("RS") else ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = (alg, key)

    def token(self, kid: str, *, ttl: int = 300, **claims) -> str:
        alg, key = self.keys[kid]
        now = int(time.time())
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": "u-4711", "iat": now, "exp": now + ttl,
                "realm_access": {"roles": ["kim-case-manager", "offline_access"]}, "kim_team": "team-kamen",
                "kim_municipality": "05978016", "name": "Erika Muster"} | claims
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    p.add_key("rsa-1", "RS256")
    p.add_key("ec-1", "ES256")
    p.thread.start()
    try:
        yield p
    finally:
        p.server.shutdown()
        p.server.server_close()
        p.thread.join(timeout=5)


def settings(provider: Provider, **overrides) -> OidcSettings:
    return OidcSettings(issuer=provider.issuer, audience=AUDIENCE, role_claim="realm_access.roles",
                        role_map="kim-case-manager=case_manager,kim-team-lead=team_lead,kim-partner=partner,"
                                 "kim-auditor=auditor,kim-admin=admin",
                        **({"jwks_min_refresh_s": 0} | overrides))


async def test_rs256_and_es256_tokens_map_to_a_principal(provider):
    verifier = OidcVerifier(settings(provider))
    for kid in ("rsa-1", "ec-1"):
        who = await verifier.verify(provider.token(kid))
        assert who == Principal(sub="u-4711", role=Role.CASE_MANAGER, team="team-kamen", municipality="05978016",
                                name="Erika Muster")
    assert provider.requests[0].endswith("/.well-known/openid-configuration")  # discovery, then the keys
    assert verifier.keys.fetches == 1  # cached: the second token needed no fetch


@pytest.mark.parametrize(("provider_role", "role"), [
    ("kim-case-manager", Role.CASE_MANAGER), ("kim-team-lead", Role.TEAM_LEAD), ("kim-auditor", Role.AUDITOR),
    ("kim-admin", Role.ADMIN), ("admin", Role.ADMIN),  # a KIM role's own name passes unmapped
])
async def test_every_role_maps_by_configuration(provider, provider_role, role):
    token = provider.token("rsa-1", realm_access={"roles": [provider_role, "uma_authorization"]})
    assert (await OidcVerifier(settings(provider)).verify(token)).role is role


def _forgeries(p: Provider) -> dict[str, str]:
    other = Provider()
    other.add_key("rsa-1", "RS256")  # same kid, another key: a signature the provider never made
    rsa_public_pem = p.keys["rsa-1"][1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other.server.server_close()
    claims = jwt.decode(p.token("rsa-1"), options={"verify_signature": False})
    return {
        "expired": p.token("rsa-1", ttl=-60),
        "wrong audience": p.token("rsa-1", aud="another-client"),
        "wrong issuer": p.token("rsa-1", iss="https://evil.example/realms/kreis-unna"),
        "unknown key id": p.token("rsa-1").replace(p.token("rsa-1").split(".")[0], jwt.api_jws.base64url_encode(
            json.dumps({"alg": "RS256", "kid": "nope", "typ": "JWT"}).encode()).decode()),
        "signed by another key": jwt.encode(claims, other.keys["rsa-1"][1], algorithm="RS256",
                                            headers={"kid": "rsa-1"}),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"}),
        "public key as HMAC secret": jwt.api_jws.base64url_encode(json.dumps(
            {"alg": "HS256", "kid": "rsa-1"}).encode()).decode() + "." + jwt.api_jws.base64url_encode(
            json.dumps(claims).encode()).decode() + "." + jwt.api_jws.base64url_encode(
            __import__("hmac").new(rsa_public_pem, b"x", "sha256").digest()).decode(),
        "no KIM role": p.token("rsa-1", realm_access={"roles": ["offline_access"]}),
        "two KIM roles": p.token("rsa-1", realm_access={"roles": ["kim-admin", "kim-auditor"]}),
        "partner without organisation": p.token("rsa-1", realm_access={"roles": ["kim-partner"]}),
        "no subject": p.token("rsa-1", sub=None),
        "not a JWT": "not-a-token",
    }


async def test_every_forgery_is_refused_with_its_reason(provider):
    verifier = TokenVerifier(SECRET, settings(provider))
    refused = {}
    for name, token in _forgeries(provider).items():
        with pytest.raises(OidcError) as caught:
            await verifier.verify(token)
        refused[name] = str(caught.value)
    assert "expired" in refused["expired"]
    assert "audience" in refused["wrong audience"].lower()
    assert "issuer" in refused["wrong issuer"].lower()
    assert "no signing key 'nope'" in refused["unknown key id"]
    assert "signature" in refused["signed by another key"].lower()
    assert "exactly one KIM role" in refused["no KIM role"] and "admin, auditor" in refused["two KIM roles"]
    assert "organisation" in refused["partner without organisation"]
    assert all(m.startswith("the token ") for m in refused.values()), refused


async def test_a_partner_token_carries_its_organisation(provider):
    token = provider.token("ec-1", realm_access={"roles": ["kim-partner"]}, kim_organisation="jobcenter-kreis-unna")
    who = await OidcVerifier(settings(provider)).verify(token)
    assert (who.role, who.organisation) == (Role.PARTNER, "jobcenter-kreis-unna")


async def test_a_rotated_key_is_fetched_once_and_a_removed_key_stops_working(provider):
    verifier = OidcVerifier(settings(provider))
    old = provider.token("rsa-1")
    await verifier.verify(old)
    provider.add_key("rsa-2", "RS256")
    del provider.keys["rsa-1"]
    new = provider.token("rsa-2")
    assert (await verifier.verify(new)).sub == "u-4711"  # unknown kid: the keys are fetched again
    assert verifier.keys.fetches == 2
    with pytest.raises(OidcError, match="no signing key 'rsa-1'"):
        await verifier.verify(old)


async def test_made_up_key_ids_cannot_make_the_service_hammer_the_provider(provider):
    now = [1000.0]
    config = settings(provider, jwks_min_refresh_s=30)
    verifier = OidcVerifier(config, keys=JwksCache(config, clock=lambda: now[0]))
    await verifier.verify(provider.token("rsa-1"))
    forged = _forgeries(provider)["unknown key id"]
    for _ in range(20):
        with pytest.raises(OidcError):
            await verifier.verify(forged)
    assert verifier.keys.fetches == 1
    now[0] += 31
    with pytest.raises(OidcError):
        await verifier.verify(forged)
    assert verifier.keys.fetches == 2  # once per min_refresh at most


async def test_an_unreachable_provider_is_a_503_reason_not_a_crash(provider):
    provider.down = True
    with pytest.raises(ProviderUnavailable, match="cannot be fetched"):
        await OidcVerifier(settings(provider)).verify(provider.token("rsa-1"))


def _client(verifier: TokenVerifier) -> TestClient:
    app = create_app("t", auth_secret=SECRET)
    app.state.token_verifier = verifier

    @app.get("/positions")
    async def positions(who: Principal = Depends(authorize("staffing.read"))):
        return {"sub": who.sub, "role": who.role}

    return TestClient(app)


def test_through_http_provider_and_local_tokens_both_pass_unless_local_is_off(provider):
    local = issue_token(SECRET, Principal(sub="dev", role=Role.ADMIN))
    both = _client(TokenVerifier(SECRET, settings(provider)))
    for token, sub in ((provider.token("rsa-1"), "u-4711"), (local, "dev")):
        r = both.get("/positions", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.json()["sub"]) == (200, sub)
    only_provider = _client(TokenVerifier(SECRET, settings(provider, local_tokens=False)))
    r = only_provider.get("/positions", headers={"Authorization": f"Bearer {local}"})
    assert r.status_code == 401 and "'HS256' is not accepted" in r.json()["detail"]
    r = only_provider.get("/positions", headers={"Authorization": f"Bearer {provider.token('ec-1', aud='x')}"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    provider.down, provider.keys["rsa-9"] = True, provider.keys["rsa-1"]
    r = only_provider.get("/positions", headers={"Authorization": f"Bearer {provider.token('rsa-9')}"})
    assert r.status_code == 503 and r.headers["retry-after"]


def test_without_a_provider_only_local_tokens_pass(provider):
    plain = _client(TokenVerifier(SECRET, OidcSettings()))
    r = plain.get("/positions", headers={"Authorization": f"Bearer {provider.token('rsa-1')}"})
    assert r.status_code == 401 and "'RS256' is not accepted here; accepted: HS256" in r.json()["detail"]


def test_configuration_refuses_symmetric_algorithms_and_unknown_roles():
    with pytest.raises(ValueError, match="only asymmetric"):
        OidcSettings(issuer="https://idp.example", algorithms="RS256,HS256")
    with pytest.raises(ValueError, match="roles KIM does not have: superuser"):
        OidcSettings(issuer="https://idp.example", role_map="kim-root=superuser")


def test_environment_configures_the_provider(monkeypatch):
    monkeypatch.setenv("KIM_OIDC_ISSUER", "https://sso.kreis-unna.de/realms/kim")
    monkeypatch.setenv("KIM_OIDC_ROLE_MAP", "KIM-Fallmanagement=case_manager, KIM-Revision=auditor")
    monkeypatch.setenv("KIM_OIDC_ALGORITHMS", "ES256")
    s = OidcSettings()
    assert s.enabled and s.algorithms == ("ES256",)
    assert s.role_map == {"KIM-Fallmanagement": "case_manager", "KIM-Revision": "auditor"}


# Which roles each token origin may carry: tokens signed with KIM_AUTH_SECRET (users, partners, `kim partner
# onboard`) every role but service; tokens signed with KIM_SERVICE_TOKEN_SECRET (only the services hold it) the
# service role only; the provider's tokens, by the role's own name or through the role map, every role but service.
SERVICE_SECRET = "unit-test-service-token-secret-0123456789"
ORIGINS = ("auth-secret", "service-secret", "provider-by-name", "provider-mapped")
ALLOWED = {"auth-secret": set(Role) - {Role.SERVICE}, "service-secret": {Role.SERVICE},
           "provider-by-name": set(Role) - {Role.SERVICE}, "provider-mapped": set(Role) - {Role.SERVICE}}


def mapping(provider: Provider, role_map: str) -> OidcSettings:
    return OidcSettings(issuer=provider.issuer, audience=AUDIENCE, role_claim="realm_access.roles",
                        role_map=role_map, jwks_min_refresh_s=0)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("role", list(Role))
async def test_which_roles_each_token_origin_may_carry(provider, role, origin):
    scope = {"organisation": "jobcenter-kreis-unna"} if role is Role.PARTNER else {}
    mapped = f"kim-{role.value}-group"
    if origin == "provider-mapped" and role is Role.SERVICE:
        with pytest.raises(ValueError, match="maps kim-service-group to service"):
            mapping(provider, f"{mapped}={role.value}")
        # the verifier cannot be configured so; were it given such a map anyway, principal() still refuses
        forced = mapping(provider, "").model_copy(update={"role_map": {mapped: role.value}})
        with pytest.raises(OidcError, match="never carry the service role"):
            OidcVerifier(forced).principal({"sub": "kim-reporting", "realm_access": {"roles": [mapped]}})
        return
    verifier = TokenVerifier(SECRET, mapping(provider, "" if role is Role.SERVICE else f"{mapped}={role.value}"),
                             service_secret=SERVICE_SECRET)
    if origin in ("auth-secret", "service-secret"):
        signer = SECRET if origin == "auth-secret" else SERVICE_SECRET
        token = issue_token(signer, Principal(sub="kim-reporting", role=role, **scope))
    else:
        name = role.value if origin == "provider-by-name" else mapped
        token = provider.token("rsa-1", sub="kim-reporting", realm_access={"roles": [name]},
                               kim_organisation=scope.get("organisation"))
    if role in ALLOWED[origin]:
        assert (await verifier.verify(token)).role is role
    else:
        with pytest.raises(OidcError, match="never carry the service role|Signature verification failed"):
            await verifier.verify(token)


async def test_without_a_service_secret_no_service_token_passes():
    """A verifier given no service secret (the CLI's, a bare app) takes no service token, whoever signed it."""
    for signer in (SECRET, SERVICE_SECRET):
        token = issue_token(signer, Principal(sub="kim-reporting", role=Role.SERVICE))
        with pytest.raises(OidcError, match="accepts no service tokens"):
            await TokenVerifier(SECRET).verify(token)


def test_the_probes_claims_get_no_service_principal(provider):
    """The probe's case: `principal({"sub": "kim-reporting", "roles": ["service"]})`, alone or beside a person's role."""
    verifier = OidcVerifier(OidcSettings(issuer=provider.issuer, audience=AUDIENCE))
    for roles in (["service"], ["service", "case_manager"], "service"):
        with pytest.raises(OidcError, match="never carry the service role"):
            verifier.principal({"sub": "kim-reporting", "roles": roles})
    assert verifier.principal({"sub": "kim-reporting", "roles": ["case_manager"]}).role is Role.CASE_MANAGER
