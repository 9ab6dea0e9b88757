"""Tokens from the county's identity provider (OpenID Connect): RS256/ES256 JWTs verified against the provider's keys.

Configured by KIM_OIDC_* variables (off while KIM_OIDC_ISSUER is unset). The provider's signing keys come from its
JWKS (KIM_OIDC_JWKS_URL, or the `jwks_uri` of `<issuer>/.well-known/openid-configuration`), are cached for
KIM_OIDC_JWKS_CACHE_S and fetched again when a token names a key id the cache does not hold (a rotated key), at most
once per KIM_OIDC_JWKS_MIN_REFRESH_S so that made-up key ids cannot make the service hammer the provider.

A token is accepted only when its signature verifies with one of those keys under an asymmetric algorithm, its
issuer and audience match, and it has not expired; its claims are then mapped to a Principal by configuration: which
claim holds the role (a dotted path such as `realm_access.roles` for Keycloak, `roles` for ADFS), how the provider's
role names translate into KIM roles, and which claims hold the team, the municipality (AGS) and the partner
organisation. A token whose roles map to no KIM role, or to several, is refused: a person acts in one role at a time.

The provider issues tokens for people: case managers, team leads, auditors, admins and partner agencies (a partner
organisation's staff sign in through the same provider, deploy/README). The `service` role (another KIM service on
an internal path: sealing keys, consented person data) comes only from a KIM-signed service token; a provider token
carrying it, by name or through the role map, is refused, and a role map naming it refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Annotated, Any

import jwt
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .auth import Principal, Role, decode_token

# The KIM roles a provider token may carry: every role but `service`, which only KIM's own service tokens carry.
PROVIDER_ROLES = frozenset(Role) - {Role.SERVICE}
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256")


class OidcError(ValueError):
    """The token cannot be accepted: the message says why (it reaches the client in the 401)."""


class ProviderUnavailable(OidcError):
    """The provider's keys cannot be fetched: no provider token can be checked until it answers (503)."""


def refused(exc: Exception) -> OidcError:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return OidcError("the token has expired: ask for a new one")
    return OidcError(f"the token is not valid: {exc}")


class OidcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_OIDC_", extra="ignore")

    issuer: str | None = Field(default=None, description="The provider's issuer URL (`iss`); unset: OIDC is off")
    jwks_url: str | None = Field(default=None, description="The provider's JWKS URL (default: from discovery)")
    audience: str = Field(default="kim-hub", description="The audience (`aud`) a token must name, the client id")
    algorithms: Annotated[tuple[str, ...], NoDecode] = Field(default=("RS256", "ES256"),
                                                             description="Accepted signature algorithms")
    role_claim: str = Field(default="roles", description="Dotted path of the claim holding the role(s)")
    role_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="provider-role=kim-role pairs, comma-separated (unmapped names that are "
                                          "KIM roles themselves pass as they are)")
    team_claim: str = Field(default="kim_team", description="Claim holding the team's organisation id")
    municipality_claim: str = Field(default="kim_municipality", description="Claim holding the AGS")
    organisation_claim: str = Field(default="kim_organisation", description="Claim holding a partner's org id")
    name_claim: str = Field(default="name", description="Claim holding the display name")
    jwks_cache_s: float = Field(default=3600, gt=0, description="How long fetched keys are used")
    jwks_min_refresh_s: float = Field(default=30, ge=0, description="Least time between two fetches for an unknown kid")
    timeout_s: float = Field(default=5, gt=0, description="Timeout of a discovery or JWKS request")
    local_tokens: bool = Field(default=True, description="Also accept the HS256 tokens signed with KIM_AUTH_SECRET "
                                                         "(`make run`'s sign-ins, the CLI); false: the provider only")

    @field_validator("issuer", "jwks_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value

    @field_validator("algorithms", mode="before")
    @classmethod
    def _algorithms(cls, value):
        algorithms = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value
        weak = [a for a in algorithms if a not in ASYMMETRIC]
        if weak:
            raise ValueError(f"only asymmetric algorithms are accepted from a provider ({', '.join(ASYMMETRIC)}); "
                             f"got {', '.join(weak)}")
        return algorithms

    @field_validator("role_map", mode="before")
    @classmethod
    def _pairs(cls, value):
        if not isinstance(value, str):
            return value
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("role_map is provider-role=kim-role pairs separated by commas")
        return {k.strip(): v.strip() for k, v in pairs}

    @field_validator("role_map")
    @classmethod
    def _kim_roles(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(v for v in value.values() if v not in Role.__members__.values())
        if unknown:
            raise ValueError(f"role_map names roles KIM does not have: {', '.join(unknown)}; "
                             f"KIM roles: {', '.join(r.value for r in Role)}")
        service = sorted(k for k, v in value.items() if v == Role.SERVICE)
        if service:
            raise ValueError(f"role_map maps {', '.join(service)} to service: a provider's token never acts as a KIM "
                             "service (only KIM-signed service tokens do); map it to a person's role or drop it")
        return value

    @property
    def enabled(self) -> bool:
        return self.issuer is not None


Fetch = Callable[[str, float], dict]


def fetch_json(url: str, timeout: float) -> dict:
    """A blocking GET of a JSON document (run in a thread: discovery and keys are fetched rarely)."""
    if not url.startswith(("https://", "http://")):
        raise OidcError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return json.loads(response.read())


class JwksCache:
    """The provider's signing keys by key id; fetched again when they are old or a token names an unknown kid."""

    def __init__(self, settings: OidcSettings, *, fetch: Fetch = fetch_json,
                 clock: Callable[[], float] = time.monotonic):
        self.settings, self._fetch, self._clock = settings, fetch, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._stale() or (kid not in self._keys and self._may_refresh()):
            async with self._lock:
                if self._stale() or (kid not in self._keys and self._may_refresh()):
                    await self._refresh()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            raise OidcError(f"the token is not valid: the provider has no signing key {kid!r}")
        return self._keys[kid]

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self.settings.jwks_cache_s

    def _may_refresh(self) -> bool:
        return self._clock() - (self._fetched_at or float("-inf")) >= self.settings.jwks_min_refresh_s

    async def _refresh(self) -> None:
        try:
            url = self.settings.jwks_url or await self._discover()
            document = await asyncio.to_thread(self._fetch, url, self.settings.timeout_s)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except OidcError:
            raise
        except Exception as exc:  # the provider unreachable or its answer unreadable: no token can be checked
            self._fetched_at = self._clock()  # wait min_refresh before the next try, keep the old keys
            raise ProviderUnavailable("the token cannot be checked: the identity provider's keys cannot be fetched "
                                      f"({type(exc).__name__})") from None
        self.fetches += 1
        self._keys = {k.key_id: k for k in keys if getattr(k, "public_key_use", "sig") in (None, "sig")}
        self._fetched_at = self._clock()

    async def _discover(self) -> str:
        issuer = str(self.settings.issuer).rstrip("/")
        document = await asyncio.to_thread(self._fetch, f"{issuer}/.well-known/openid-configuration",
                                           self.settings.timeout_s)
        if document.get("issuer", "").rstrip("/") != issuer or not document.get("jwks_uri"):
            raise ProviderUnavailable("the token cannot be checked: the provider's discovery document names another "
                                      "issuer or no jwks_uri")
        return document["jwks_uri"]


def claim(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), None when any step is missing."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


class OidcVerifier:
    def __init__(self, settings: OidcSettings, keys: JwksCache | None = None):
        self.settings = settings
        self.keys = keys or JwksCache(settings)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise refused(exc) from None
        if header.get("alg") not in self.settings.algorithms:
            raise OidcError(f"the token is not valid: algorithm {header.get('alg')!r} is not accepted; "
                            f"accepted: {', '.join(self.settings.algorithms)}")
        key = await self.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(token, key, algorithms=list(self.settings.algorithms), issuer=self.settings.issuer,
                                audience=self.settings.audience, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.InvalidTokenError as exc:
            raise refused(exc) from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        names = claim(claims, s.role_claim)
        names = [names] if isinstance(names, str) else list(names or [])
        roles = {s.role_map.get(n, n) for n in names} & set(Role.__members__.values())
        if Role.SERVICE in roles:
            raise OidcError("the token is not valid: the provider's tokens never carry the service role (only "
                            "KIM-signed service tokens do)")
        if len(roles) != 1:
            found = ", ".join(sorted(roles)) or "none"
            raise OidcError(f"the token is not valid: it must carry exactly one KIM role in {s.role_claim!r}; "
                            f"found {found}")
        fields = {"sub": claims["sub"], "role": roles.pop(), "team": claim(claims, s.team_claim),
                  "municipality": claim(claims, s.municipality_claim),
                  "organisation": claim(claims, s.organisation_claim), "name": claim(claims, s.name_claim)}
        try:
            who = Principal.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise OidcError(f"the token is not valid: its claims do not make a KIM identity: {reason}") from None
        if who.role is Role.PARTNER and not who.organisation:
            raise OidcError("the token is not valid: a partner's token must name its organisation in "
                            f"{s.organisation_claim!r}")
        return who


class TokenVerifier:
    """Every bearer token a service accepts: HS256 tokens signed with KIM_AUTH_SECRET (minted by `make run` and the
    CLI) and, when KIM_OIDC_ISSUER is set, the identity provider's RS256/ES256 tokens. The header's algorithm picks
    the path, and each path verifies only with its own kind of key, so a token signed with a provider's public key
    as an HMAC secret is refused.

    Service tokens (role service) are HS256 tokens signed with KIM_SERVICE_TOKEN_SECRET (`service_secret`), which
    only the four services hold: a token claiming the service role verifies with that secret alone, every other
    token with KIM_AUTH_SECRET alone, so neither secret signs the other's tokens. Without a service secret no
    service token is accepted."""

    def __init__(self, secret: str, oidc: OidcSettings | None = None, *, service_secret: str | None = None):
        self.secret, self.service_secret = secret, service_secret
        self.oidc = OidcVerifier(oidc) if oidc and oidc.enabled else None
        self.local = self.oidc is None or self.oidc.settings.local_tokens

    async def verify(self, token: str) -> Principal:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise refused(exc) from None
        if alg == "HS256" and self.local:
            return self._local(token)
        if alg in ASYMMETRIC and self.oidc is not None:
            return await self.oidc.verify(token)
        accepted = (["HS256"] if self.local else []) + (list(self.oidc.settings.algorithms) if self.oidc else [])
        raise OidcError(f"the token is not valid: algorithm {alg!r} is not accepted here; "
                        f"accepted: {', '.join(accepted)}")

    def _local(self, token: str) -> Principal:
        try:
            claimed = jwt.decode(token, options={"verify_signature": False}).get("role")
        except jwt.InvalidTokenError as exc:
            raise refused(exc) from None
        service = claimed == Role.SERVICE
        if service and self.service_secret is None:
            raise OidcError("the token is not valid: this service accepts no service tokens")
        try:
            who = decode_token(self.service_secret if service else self.secret, token)
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise refused(exc) from None
        if (who.role is Role.SERVICE) != service:  # cannot happen (the same claims); kept as the rule itself
            raise OidcError("the token is not valid: a service token is signed with the service token secret only")
        return who
