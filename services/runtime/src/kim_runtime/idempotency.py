"""`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field") for every POST, PUT and PATCH of a service.

A client that sends a command with `Idempotency-Key: <unique key>` may send it again (after a timeout, a dropped
connection) and gets the first answer, without a second effect:

- keys are scoped to the caller (role, subject, organisation): two callers never see each other's keys;
- the first request claims the key (`in_flight`, with a lease of KIM_IDEMPOTENCY_LEASE_S); a route whose one effect
  is its append (`claimed_in_append`) claims it in the append's own statement instead (`applied` at once, no round
  trip of its own): the key is looked up only when that claim finds it taken, or when the route ends without an
  append (the request is then answered as a retry, or its answer kept, as below);
- the append that is the command's effect marks the claim `applied` in the same transaction
  (kim_runtime.store reads the claim of the request from a context variable), so after a crash between the append
  and the answer, a retry never applies the command again;
- the answer (status, the headers that matter, body) is stored once the request ends (`done`) and replayed to a
  retry with the same key and the same body (`Idempotent-Replayed: true`);
- the same key with another body (or another path) answers 422; the same key while the first request is still in
  flight answers 409 (retry after `Retry-After`);
- an answer that had no effect (a refused command: 4xx, or a 5xx) is not kept: the key is released, so the
  corrected request can use it again;
- keys (and answers) are kept KIM_IDEMPOTENCY_TTL_S (default 24 h) and then pruned;
- the fingerprint is an HMAC-SHA256 under a per-service key (HKDF of KIM_AUTH_SECRET with the service's name,
  `fingerprint_key`): a database dump cannot be searched for a guessed body (a client's name and birth date, say);
- a stored answer carries the subjects it concerns (every stream and subject the request's appends named, e.g. the
  client id, the referral id); `forget(conn, *subjects)`, called in the transaction of a client's erasure or a
  referral's revocation, replaces those answers by a 410 that holds nothing of them (a retry with the key gets that
  410 and runs nothing: a creating command is never applied twice, and no purged datum is replayed).

The middleware is installed once by kim_runtime.http.create_app; the store by ServiceRuntime (app.state.idempotency).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from fastapi import routing as fastapi_routing
from starlette.routing import Match

from . import crypto, problems
from .auth import remember_verified
from .clean_input import read_body, replay_body

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PUT", "PATCH"})
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft's sf-string allows, bounded
STORED_HEADERS = frozenset({b"content-type", b"location", b"etag", b"content-disposition"})
REPLAYED = (b"idempotent-replayed", b"true")


class KeyLost(Exception):
    """The claim this request held was taken over (its lease ran out) or pruned: its effect must not be applied."""


class KeyTaken(KeyLost):
    """A claim made in the append's statement (`Claim.deferred`) found the key held or used already: the append is
    undone, and the middleware answers as for a retry (the stored answer, 409 or 422)."""


@dataclass
class Claim:
    store: IdempotencyStore
    scope: str
    key: str
    claim_id: uuid.UUID
    applied: bool = False
    subjects: set[str] = field(default_factory=set)  # what the answer concerns (kim_runtime.store adds to it)
    # made by the append's own statement (`claimed_in_append` routes): no row yet; `taken` once that found the key used
    deferred: bool = False
    fingerprint: str = ""
    taken: bool = False

    def lost(self) -> KeyLost:
        """The command's effect and the claim's `applied` commit together: kim_runtime.store's append marks the claim
        in its own statement, which fails when the claim was taken over or pruned meanwhile (this error)."""
        if self.deferred:
            self.taken = True
            return KeyTaken(f"the Idempotency-Key {self.key!r} was used already: the request is answered as a retry")
        return KeyLost(f"the Idempotency-Key {self.key!r} is no longer held by this request")

    def in_statement(self, n: int) -> tuple[str, tuple]:
        """The claim's part of an append's statement, its parameters from ${n + 1}, returning one row when the
        claim holds: the `applied` mark of a held claim, or (deferred) the new claim itself, made `applied`."""
        if self.deferred:
            return (_CLAIM_IN_APPEND.format(*range(n + 1, n + 7)),
                    (self.scope, self.key, self.fingerprint, self.claim_id, self.store.lease, self.store.ttl))
        return _MARK_APPLIED.format(n + 1, n + 2, n + 3), (self.scope, self.key, self.claim_id)


# the held claim's `applied` mark, made by the append's own statement
_MARK_APPLIED = ("UPDATE idempotency_keys SET state = 'applied', applied_at = coalesce(applied_at, now()) "
                 "WHERE scope = ${} AND key = ${} AND claim = ${} AND state IN ('in_flight', 'applied') RETURNING 1")
# a deferred claim, made by the append's own statement: a new key, or one expired (not pruned yet); nothing (so the
# statement fails: kim_claim_held) when the key is held or used
_CLAIM_IN_APPEND = (
    "INSERT INTO idempotency_keys AS k (scope, key, fingerprint, claim, state, lease_until, expires_at, applied_at) "
    "VALUES (${}, ${}, ${}, ${}, 'applied', now() + ${}, now() + ${}, now()) ON CONFLICT (scope, key) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, claim = excluded.claim, state = 'applied', lease_until = excluded.lease_until, "
    "applied_at = now(), status = NULL, headers = NULL, body = NULL, subjects = NULL, created_at = now(), "
    "expires_at = excluded.expires_at WHERE k.expires_at < now() RETURNING 1")


CURRENT: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("kim_idempotency_claim", default=None)


def current() -> Claim | None:
    return CURRENT.get()


# -- the pure parts ---------------------------------------------------------------------------------------------------

FINGERPRINT_PREFIX = "hmac-sha256:"  # rows from before migration 012 (plain sha256) were retired by it


def fingerprint_key(secret: str, service: str) -> bytes:
    """The service's key for fingerprints: HKDF-SHA256 of its KIM_AUTH_SECRET, with its own purpose and the service's
    name (so it equals no other key, and two services' fingerprints of one body differ)."""
    return crypto.derive_key(secret.encode(), f"kim-idempotency-fingerprint:{service}".encode())


def fingerprint(method: str, path: str, body: bytes, *, key: bytes) -> str:
    """What a retry must repeat: method, path and body (JSON compared by meaning: key order and spacing aside), as an
    HMAC under the service's key: without the key, a guessed body cannot be matched against a stored row."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        canonical = body
    mac = hmac.new(key, method.encode() + b" " + path.encode() + b"\n" + canonical, hashlib.sha256)
    return FINGERPRINT_PREFIX + mac.hexdigest()


def concerns(*subjects: str | None) -> None:
    """Say that the current request's answer concerns these subjects (ids), so that `forget` finds it. The event store
    calls it for every append (its stream and subject); a route may add what its answer names besides."""
    claim = CURRENT.get()
    if claim is not None:
        claim.subjects.update(s for s in subjects if s)


def forgotten_body(instance: str | None = None) -> bytes:
    return json.dumps(problems.body(
        410, "what this request concerned was erased or revoked since: its answer is no longer kept (read the "
             "resource for its current state)", instance=instance,
        type_=problems.problem_type(410, "idempotency-answer-forgotten"))).encode()


async def forget(conn: asyncpg.Connection, *subjects: str) -> int:
    """In the caller's transaction (a client's erasure, a referral's revocation): every stored answer that concerns
    one of these subjects becomes a 410 Gone that names none of them (no body, no subjects, no headers but its type).
    The key stays claimed until it expires, so a retry gets the 410 and never runs its command a second time."""
    subjects_ = [s for s in subjects if s]
    if not subjects_:
        return 0
    if (in_memory := getattr(conn, "forget_idempotent_answers", None)) is not None:  # kim_runtime.memory's
        return await in_memory(subjects_)
    status = await conn.execute(
        "UPDATE idempotency_keys SET status = 410, headers = $2, body = $3, subjects = NULL, state = 'done' "
        "WHERE subjects && $1::text[]", subjects_,
        [["content-type", problems.MEDIA_TYPE]], forgotten_body())
    return int(status.split()[-1])


def scope_of(principal) -> str:
    return f"{principal.role.value}:{principal.sub}:{principal.organisation or ''}"


def keep(status: int, applied: bool) -> bool:
    """Whether an answer is stored for retries: every success, and anything that followed an applied effect."""
    return applied or 200 <= status < 300


@dataclass(frozen=True)
class Decision:
    """What a claim found: `claimed` (go on), `replay` (stored answer), or a problem to answer (409/422)."""

    kind: str  # claimed | replay | mismatch | in_flight | lost
    claim_id: uuid.UUID | None = None
    status: int | None = None
    headers: list = field(default_factory=list)
    body: bytes = b""


def decide(row: dict | None, fingerprint_: str, *, now, lease_over: bool) -> str:
    """Given the stored row for (scope, key) (None: none, or expired), what a new request with it gets."""
    if row is None:
        return "claimed"
    if row["fingerprint"] != fingerprint_:
        return "mismatch"
    if row["state"] == "done":
        return "replay"
    if row["state"] == "in_flight":
        return "claimed" if lease_over else "in_flight"
    return "in_flight" if not lease_over else "lost"  # applied, the answer never stored (its process died)


# -- the store -------------------------------------------------------------------------------------------------------

# A new key's claim (no row yet); RETURNING nothing means another request holds the key
_CLAIM_NEW = ("INSERT INTO idempotency_keys (scope, key, fingerprint, claim, state, lease_until, expires_at) "
              "VALUES ($1, $2, $3, $4, 'in_flight', now() + $5, now() + $6) ON CONFLICT (scope, key) DO NOTHING "
              "RETURNING claim")


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, *, ttl_s: float, lease_s: float, key: bytes | None = None):
        self.pool, self.ttl, self.lease = pool, timedelta(seconds=ttl_s), timedelta(seconds=lease_s)
        # the fingerprints' key (fingerprint_key; ServiceRuntime gives the service's). None: a random one, for tests
        # only (a retry after a restart would no longer match its key)
        self.key = key if key is not None else uuid.uuid4().bytes + uuid.uuid4().bytes

    def fingerprint(self, method: str, path: str, body: bytes) -> str:
        return fingerprint(method, path, body, key=self.key)

    async def claim(self, scope: str, key: str, fingerprint_: str) -> Decision:
        claim_id = uuid.uuid4()
        async with self.pool.acquire() as conn:
            # the usual case, a new key: one statement on its own (it commits by itself), one round trip
            row = await conn.fetchrow(_CLAIM_NEW, scope, key, fingerprint_, claim_id, self.lease, self.ttl)
            if row is not None:
                return Decision("claimed", claim_id)
            async with conn.transaction():
                return await self._claim_existing(conn, scope, key, fingerprint_, claim_id)

    async def _claim_existing(self, conn: asyncpg.Connection, scope: str, key: str, fingerprint_: str,
                              claim_id: uuid.UUID) -> Decision:
        """The key is there: decide under its row lock (replay, refuse, or take over an expired one)."""
        row = await conn.fetchrow(
            "SELECT *, expires_at < now() AS expired, lease_until < now() AS lease_over FROM idempotency_keys "
            "WHERE scope = $1 AND key = $2 FOR UPDATE", scope, key)
        if row is None:  # pruned meanwhile: insert it again, here under the transaction
            row = await conn.fetchrow(_CLAIM_NEW, scope, key, fingerprint_, claim_id, self.lease, self.ttl)
            return Decision("claimed", claim_id) if row is not None else Decision("in_flight")
        kind = decide(None if row["expired"] else dict(row), fingerprint_, now=None,
                      lease_over=row["lease_over"])
        if kind == "claimed":  # expired, or in flight past its lease with nothing applied: take it over
            await conn.execute(
                "UPDATE idempotency_keys SET fingerprint = $3, claim = $4, state = 'in_flight', "
                "lease_until = now() + $5, applied_at = NULL, status = NULL, headers = NULL, body = NULL, "
                "subjects = NULL, "
                "created_at = now(), expires_at = now() + $6 WHERE scope = $1 AND key = $2",
                scope, key, fingerprint_, claim_id, self.lease, self.ttl)
            return Decision("claimed", claim_id)
        if kind == "replay":
            return _replay(row)
        return Decision(kind)

    async def peek(self, scope: str, key: str, fingerprint_: str) -> Decision:
        """What a request with this key gets, claiming nothing (`claimed`: the key is free): for a deferred claim
        whose route ended without an effect."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT *, expires_at < now() AS expired, lease_until < now() AS lease_over FROM idempotency_keys "
                "WHERE scope = $1 AND key = $2", scope, key)
        if row is None or row["expired"]:
            return Decision("claimed")
        kind = decide(dict(row), fingerprint_, now=None, lease_over=row["lease_over"])
        return _replay(row) if kind == "replay" else Decision(kind)

    async def keep_new(self, claim: Claim, status: int, headers: list, body: bytes) -> bool:
        """A deferred claim's answer when its route succeeded without an append: the key and its answer (`done`) in
        one statement, if the key is new (False: it is not; look it up)."""
        async with self.pool.acquire() as conn:
            return await conn.fetchval(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, claim, state, lease_until, expires_at, status, "
                "headers, body, subjects) VALUES ($1, $2, $3, $4, 'done', now(), now() + $5, $6, $7, $8, $9) "
                "ON CONFLICT (scope, key) DO NOTHING RETURNING true", claim.scope, claim.key, claim.fingerprint,
                claim.claim_id, self.ttl, status, _kept(headers), body, sorted(claim.subjects) or None) or False

    async def complete(self, claim: Claim, status: int, headers: list, body: bytes) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE idempotency_keys SET state = 'done', status = $4, headers = $5, body = $6, subjects = $7 "
                "WHERE scope = $1 AND key = $2 AND claim = $3", claim.scope, claim.key, claim.claim_id, status,
                _kept(headers), body, sorted(claim.subjects) or None)

    async def release(self, claim: Claim) -> None:
        """Nothing was applied and the answer is not worth keeping: the key may be used again."""
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND claim = $3 "
                               "AND state = 'in_flight'", claim.scope, claim.key, claim.claim_id)

    async def prune(self) -> int:
        async with self.pool.acquire() as conn:
            status = await conn.execute("DELETE FROM idempotency_keys WHERE expires_at < now()")
        return int(status.split()[-1])


def _kept(headers: list) -> list:
    return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers if k.lower() in STORED_HEADERS]


def _replay(row) -> Decision:
    return Decision("replay", status=row["status"],
                    headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in row["headers"]],
                    body=bytes(row["body"]))


# -- routes that claim in their append -------------------------------------------------------------------------------

IN_APPEND = "__kim_claim_in_append__"


def claimed_in_append(endpoint):
    """Marks a route (its endpoint) whose one effect is what it appends (kim_runtime.store: the events and the
    store.Write-s of the same statement), nothing before: its Idempotency-Key is claimed by that append's statement
    (no round trip of its own). A retry, or a concurrent twin, runs the route up to its append, which then fails on
    the key and is undone; the request is answered as a retry (stored answer, 409, 422). A route that writes or calls
    out before its append must not be marked: a retry would repeat that."""
    setattr(endpoint, IN_APPEND, True)
    return endpoint


def _claims_in_append(app, scope) -> bool:
    """Whether the request goes to a `claimed_in_append` route: the marked routes are found once per app (few), then
    matched per request (as the router will, on method and path)."""
    routes = getattr(app.state, "kim_routes_claimed_in_append", None)
    if routes is None:
        routes = [r for r in _routes_of(app) if getattr(getattr(r, "endpoint", None), IN_APPEND, False)]
        app.state.kim_routes_claimed_in_append = routes
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def _routes_of(app) -> list:
    """Every route of the app with its full path: FastAPI (0.165) keeps an included router as one entry, whose routes
    it lists with their prefixes for its own matching (and OpenAPI)."""
    routes = getattr(getattr(app, "router", None), "routes", ())
    flatten = getattr(fastapi_routing, "_iter_included_route_candidates", None)
    return list(flatten(routes)) if flatten is not None else list(routes)


# -- the middleware --------------------------------------------------------------------------------------------------

def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _principal(app, scope):
    """The caller, if its token is valid (else the route answers 401 itself, and no key is claimed)."""
    authorization = _header(scope, b"authorization") or ""
    kind, _, token = authorization.partition(" ")
    verifier = getattr(getattr(app, "state", None), "token_verifier", None)
    if kind.lower() != "bearer" or not token or verifier is None:
        return None
    try:
        principal = await verifier.verify(token := token.strip())
    except Exception:  # noqa: BLE001 - invalid, expired, provider down: the route's own check answers
        return None
    remember_verified(scope, token, principal)  # the route's current_principal takes it instead of verifying again
    return principal


async def _send_problem(send, status: int, detail: str, **extensions) -> None:
    answer = problems.response(status, detail, **extensions)
    await send({"type": "http.response.start", "status": status, "headers": answer.raw_headers})
    await send({"type": "http.response.body", "body": answer.body})


class Idempotent:
    """ASGI middleware (inside CleanInput, which has already checked and buffered the body)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in METHODS:
            return await self.app(scope, receive, send)
        key = _header(scope, HEADER)
        app = scope.get("app")
        store: IdempotencyStore | None = getattr(getattr(app, "state", None), "idempotency", None)
        if key is None or store is None:
            return await self.app(scope, receive, send)
        if not KEY_PATTERN.match(key):
            return await _send_problem(send, 422, "invalid input: header.Idempotency-Key", instance=scope["path"],
                                       errors=[{"field": "header.Idempotency-Key", "type": "string_pattern_mismatch",
                                                "message": "must be 1 to 255 visible ASCII characters"}])
        principal = await _principal(app, scope)
        if principal is None:
            return await self.app(scope, receive, send)
        body, disconnected = await read_body(receive)  # CleanInput, outside, refused an oversized one already
        body = body or b""
        fingerprint_ = store.fingerprint(scope["method"], scope["path"], body)
        if app is not None and _claims_in_append(app, scope):
            claim = Claim(store, scope_of(principal), key, uuid.uuid4(), deferred=True, fingerprint=fingerprint_)
            return await self._deferred(scope, body, disconnected, receive, send, claim)
        decision = await store.claim(scope_of(principal), key, fingerprint_)
        if await self._decided(scope, send, decision):
            return
        claim = Claim(store, scope_of(principal), key, decision.claim_id)
        await self._run(scope, replay_body(body, disconnected, receive), send, claim)

    async def _decided(self, scope, send, decision: Decision) -> bool:
        """Answer a request whose key was found (the stored answer, 409, 422); False: claimed, go on."""
        if decision.kind == "replay":
            await send({"type": "http.response.start", "status": decision.status,
                        "headers": [*decision.headers, REPLAYED]})
            await send({"type": "http.response.body", "body": decision.body})
            return True
        if decision.kind == "mismatch":
            await _send_problem(
                send, 422, "this Idempotency-Key was used for another request (another body or path): use a new "
                           "key for a new request", instance=scope["path"],
                type_=problems.problem_type(422, "idempotency-key-reused"),
                errors=[{"field": "header.Idempotency-Key", "type": "idempotency_key_reused",
                         "message": "was sent before with another request"}])
            return True
        if decision.kind == "in_flight":
            await _send_problem(
                send, 409, "a request with this Idempotency-Key is still being processed: retry after a moment",
                instance=scope["path"], type_=problems.problem_type(409, "idempotency-key-in-flight"),
                headers={"Retry-After": "1"})
            return True
        if decision.kind == "lost":
            await _send_problem(
                send, 409, "the request with this Idempotency-Key was applied, but its answer was lost (the service "
                           "stopped before sending it): read the resource to see its effect",
                instance=scope["path"], type_=problems.problem_type(409, "idempotency-key-answer-lost"))
            return True
        return False

    async def _deferred(self, scope, body: bytes, disconnected: bool, receive, send, claim: Claim) -> None:
        """A `claimed_in_append` route: run it with a deferred claim (its append makes it), its answer held back;
        then keep the answer (an append was made), or answer as a retry (the append found the key used), or, when
        it ended without an append, look the key up (an error: answered as a retry if the key is in use; a success:
        kept with a new key in one statement)."""
        start: dict | None = None
        chunks: list[bytes] = []

        async def capture(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            else:
                await send(message)

        token = CURRENT.set(claim)
        try:
            await self.app(scope, replay_body(body, disconnected, receive), capture)
        except BaseException:
            if not claim.taken:  # an error of the route's own (with or without its append): as without a key
                raise
        finally:
            CURRENT.reset(token)
        answer = b"".join(chunks)
        store = claim.store
        if claim.applied:  # the append made the claim: keep the answer for a retry, as for a held claim
            await self._finish(claim, start, answer)
            return await _send_held(send, start, answer)
        if claim.taken:
            decision = await store.claim(claim.scope, claim.key, claim.fingerprint)
        elif start is not None and 200 <= start["status"] < 300:
            if await store.keep_new(claim, start["status"], start.get("headers", []), answer):
                return await _send_held(send, start, answer)
            decision = await store.claim(claim.scope, claim.key, claim.fingerprint)
            if decision.kind == "claimed":  # an expired key, taken over: this answer is its answer now
                held = Claim(store, claim.scope, claim.key, decision.claim_id)
                await self._finish(held, start, answer)
                return await _send_held(send, start, answer)
        else:  # refused, no effect: a retry of a request that was applied gets that request's answer
            decision = await store.peek(claim.scope, claim.key, claim.fingerprint)
            if decision.kind == "claimed":
                return await _send_held(send, start, answer)
        if await self._decided(scope, send, decision):
            return
        # the key was free again (expired, or its holder died before applying): run the route once more, holding it
        await self._run(scope, replay_body(body, disconnected, receive), send,
                        Claim(store, claim.scope, claim.key, decision.claim_id))

    async def _run(self, scope, receive, send, claim: Claim) -> None:
        start: dict | None = None
        chunks: list[bytes] = []

        async def capture(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._finish(claim, start, b"".join(chunks))
                    await send(start)
                    await send({"type": "http.response.body", "body": b"".join(chunks)})
            else:
                await send(message)

        token = CURRENT.set(claim)
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if not claim.applied:
                await asyncio.shield(_quietly(store_release(claim)))
            raise
        finally:
            CURRENT.reset(token)

    async def _finish(self, claim: Claim, start: dict, body: bytes) -> None:
        try:
            if keep(start["status"], claim.applied):
                await claim.store.complete(claim, start["status"], start.get("headers", []), body)
            else:
                await claim.store.release(claim)
        except Exception as exc:  # noqa: BLE001 - the answer still goes out; the key stays in flight until its lease
            log.warning("could not store the answer for an Idempotency-Key: %r", exc)


async def _send_held(send, start: dict | None, body: bytes) -> None:
    if start is None:
        raise RuntimeError("the route ended without an answer")
    await send(start)
    await send({"type": "http.response.body", "body": body})


def store_release(claim: Claim):
    return claim.store.release(claim)


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception as exc:  # noqa: BLE001
        log.warning("could not release an Idempotency-Key: %r", exc)
