"""The one authorization policy of every HTTP route of the four services: role × scope × the resource's owner.

Every route declares an action (`Depends(authorize("case.read"))`); the action names one entry of `POLICY`. An
entry says what the route acts on (`Resource`) and how far each role reaches:
- `ALL`: every resource of the kind (admins; auditors for reading);
- `SCOPE`: resources of the caller's team or municipality (case managers, team leads). A case is owned by its
  team and municipality; a client by the places of their cases and by the team and municipality that registered
  them; a referral by its case;
- `ORGANISATION`: what was sent to the caller's partner organisation (partners, on the partner API only).
A role missing from an entry gets 403. A resource outside the caller's reach answers 404 where its mere existence is
personal data (clients, cases, referrals), exactly like one that does not exist; 403 otherwise. No token: 401.
Auditors read everything and write nothing; partners reach the partner API only (both checked below, at import).

`check_routes(app)` refuses an app with a route that declares no action, or two (at start-up and when the OpenAPI
document is built), and writes each operation's action into the document as `x-kim-action` (the isolation matrix
reads it there). The routes FastAPI adds itself are declared here too: the API's description (`/openapi.json`,
`/docs`, `/docs/oauth2-redirect`, `/redoc`: action `docs`, public, it holds no data) and static files (`public`);
any other route that is not an API route is refused like one without an action.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from .auth import Principal, Role, current_principal, in_scope
from .errors import NotFound, NotInScope


class Reach(StrEnum):
    ALL = "all"
    SCOPE = "scope"
    ORGANISATION = "organisation"


class Resource(StrEnum):
    """What a route acts on, named by a path parameter (or, for `in_body` rules, by a field of the body)."""

    NONE = "none"  # no owner: registries, county-wide staffing and indicators, lists filtered to the caller
    CLIENT = "client"
    CASE = "case"
    REFERRAL = "referral"
    PARTNER_REFERRAL = "partner_referral"


# Resources whose existence alone is personal data: out of reach they answer 404, like a resource that does not exist
HIDDEN = frozenset({Resource.CLIENT, Resource.CASE, Resource.REFERRAL, Resource.PARTNER_REFERRAL})
PATH_PARAM = {Resource.CLIENT: "client_id", Resource.CASE: "case_id", Resource.REFERRAL: "referral_id",
              Resource.PARTNER_REFERRAL: "referral_id"}


@dataclass(frozen=True)
class Owner:
    """Whose a resource is: the (municipality, team) places that own it, or the partner organisation it went to."""

    places: frozenset[tuple[str | None, str | None]] = frozenset()
    organisation: str | None = None


@dataclass(frozen=True)
class Rule:
    resource: Resource
    reach: Mapping[Role, Reach] = field(default_factory=dict)
    writes: bool = False
    in_body: bool = False  # the resource is named in the body: the handler calls `ensure` itself
    public: bool = False  # no token needed (health, metrics, the dashboard's static page)


CM, TL, PARTNER, AUDITOR, ADMIN = Role.CASE_MANAGER, Role.TEAM_LEAD, Role.PARTNER, Role.AUDITOR, Role.ADMIN
SERVICE = Role.SERVICE
A, S, O = Reach.ALL, Reach.SCOPE, Reach.ORGANISATION
STAFF_READ = {CM: S, TL: S, AUDITOR: A, ADMIN: A}  # casework readers
CASEWORK = {CM: S, TL: S, ADMIN: A}
INTERNAL_READ = {CM: A, TL: A, AUDITOR: A, ADMIN: A}  # the county's own staff, not partners

POLICY: dict[str, Rule] = {
    "public": Rule(Resource.NONE, public=True),
    "docs": Rule(Resource.NONE, public=True),  # the API's description (OpenAPI, Swagger UI, ReDoc): no data
    # cases
    "client.register": Rule(Resource.NONE, {CM: A, TL: A, ADMIN: A}, writes=True),
    "client.read": Rule(Resource.CLIENT, STAFF_READ),
    "client.erase": Rule(Resource.CLIENT, {TL: S, ADMIN: A}, writes=True),
    "client.reads": Rule(Resource.CLIENT, {AUDITOR: A, ADMIN: A}),
    # what `kim audit` showed an auditor, recorded (and sealed) by the cases service: the caller's own read in the
    # client's access log and the audit stream, like the trace GET /clients/{id} leaves; not a write of casework
    "audit.record": Rule(Resource.NONE, {AUDITOR: A, ADMIN: A}),
    # `kim audit case`: a case's trail (or its state at a past moment) from the cases store, personal data opened by
    # the cases service itself on request (the CLI holds no KEK); the read is recorded before it is answered
    "audit.case.read": Rule(Resource.CASE, {AUDITOR: A, ADMIN: A}),
    "client.legal_hold": Rule(Resource.CLIENT, {TL: S, ADMIN: A}, writes=True),  # place or lift (retention)
    "case.open": Rule(Resource.CLIENT, CASEWORK, writes=True, in_body=True),
    "case.list": Rule(Resource.NONE, STAFF_READ),
    "case.read": Rule(Resource.CASE, STAFF_READ),
    "case.work": Rule(Resource.CASE, CASEWORK, writes=True),
    "case.transfer": Rule(Resource.CASE, CASEWORK, writes=True),
    "worklist.read": Rule(Resource.NONE, CASEWORK),  # follow-ups of the cases in reach (Wiedervorlage)
    # the personal data a consent shares with a partner, opened for the referrals service only (its service token;
    # the handler also checks sub = kim-referrals), on a partner's request; recorded with the partner as reader
    "internal.consented_person.read": Rule(Resource.CASE, {SERVICE: A}),
    # the consent gate's decision on a referral request (the consents and their dates stay in the cases service);
    # the handler also checks sub = kim-referrals
    "internal.consent_decision.read": Rule(Resource.CASE, {SERVICE: A}),
    # a client's sealing key (HKDF of the data key, info kim-reporting): opens the sealed dates and codes of the
    # client's case events, never personal data; the handler also checks sub = kim-reporting
    "internal.sealing_key.read": Rule(Resource.CLIENT, {SERVICE: A}),
    # staffing
    "staffing.case.read": Rule(Resource.CASE, STAFF_READ),
    "staffing.case.assign": Rule(Resource.CASE, {TL: S, ADMIN: A}, writes=True),
    "staffing.read": Rule(Resource.NONE, INTERNAL_READ),
    "staffing.plan": Rule(Resource.NONE, {TL: A, ADMIN: A}, writes=True),
    # referrals, case side
    "registry.read": Rule(Resource.NONE, INTERNAL_READ),
    "registry.register": Rule(Resource.NONE, {ADMIN: A}, writes=True),
    # a partner's API credential (kim partner onboard / rotate): a new token, every earlier one refused from then on
    "registry.credentials": Rule(Resource.NONE, {ADMIN: A}, writes=True),
    "referral.request": Rule(Resource.CASE, {CM: S, TL: S}, writes=True, in_body=True),
    "referral.read": Rule(Resource.REFERRAL, STAFF_READ),
    "referral.close": Rule(Resource.REFERRAL, {CM: S, TL: S}, writes=True),
    "referral.case.read": Rule(Resource.CASE, STAFF_READ),
    # referrals, partner side: a partner token reaches nothing else
    "partner.inbox": Rule(Resource.NONE, {PARTNER: O}),
    "partner.referral.read": Rule(Resource.PARTNER_REFERRAL, {PARTNER: O}),
    "partner.referral.act": Rule(Resource.PARTNER_REFERRAL, {PARTNER: O}, writes=True),
    # the consented personal data of the client of one's own referral (decrypted by the cases service on request)
    "partner.referral.person": Rule(Resource.PARTNER_REFERRAL, {PARTNER: O}),
    # the key that opens one's own referral's sealed snapshots on one's topic (gone once the referral is revoked);
    # no staff role: the Kreis's services open them themselves, nobody else needs the key
    "partner.referral.key": Rule(Resource.PARTNER_REFERRAL, {PARTNER: O}),
    "partner.schemas.read": Rule(Resource.NONE, {PARTNER: O, ADMIN: A}),  # the contract's partner JSON Schemas
    "partner.feedback": Rule(Resource.NONE, {PARTNER: O}, writes=True),  # a record the partner could not read
    "feedback.read": Rule(Resource.NONE, {ADMIN: A, AUDITOR: A}),  # ops: what partners could not read
    # reporting
    "indicators.read": Rule(Resource.NONE, INTERNAL_READ),
    "report.generate": Rule(Resource.NONE, {TL: A, ADMIN: A}, writes=True),
    "report.approve": Rule(Resource.NONE, {TL: A, ADMIN: A}, writes=True),
    "exports.read": Rule(Resource.NONE, {AUDITOR: A, ADMIN: A}),  # who exported which figures, when (audit)
    "projections.rebuild": Rule(Resource.NONE, {ADMIN: A}, writes=True),
    "projections.status": Rule(Resource.NONE, {ADMIN: A}),
}


def _check_policy(policy: Mapping[str, Rule]) -> None:
    """The invariants no entry may break; checked at import, so a wrong entry stops every service from starting."""
    for action, rule in policy.items():
        if rule.writes and AUDITOR in rule.reach:
            raise AssertionError(f"policy {action}: auditors read, they never write")
        if (PARTNER in rule.reach) != action.startswith("partner."):
            raise AssertionError(f"policy {action}: partners reach the partner API (partner.*) and nothing else")
        if (SERVICE in rule.reach) != action.startswith("internal.") or (
                action.startswith("internal.") and set(rule.reach) != {SERVICE}):
            raise AssertionError(f"policy {action}: service tokens reach internal.* actions only, and only they do")


_check_policy(POLICY)

Resolver = Callable[[Request, Principal, str], Awaitable[Owner | None]]


class RouteWithoutRule(Exception):
    """Raised by `check_routes` for a route that declares no action, two, or a partner action off the partner API."""


def may(principal: Principal, rule: Rule, owner: Owner | None) -> bool:
    """Whether the principal's role reaches this resource (None: the resource does not exist)."""
    reach = rule.reach.get(principal.role)
    if reach is Reach.ALL:
        return True
    if owner is None or reach is None:
        return False
    if reach is Reach.ORGANISATION:
        return owner.organisation is not None and owner.organisation == principal.organisation
    return any(in_scope(principal, municipality, team) for municipality, team in owner.places)


def ensure_role(principal: Principal, action: str) -> Rule:
    rule = POLICY[action]
    if principal.role not in rule.reach:
        names = ", ".join(sorted(r.value for r in rule.reach))
        raise NotInScope(f"role {principal.role.value} may not do this ({action}); needs one of: {names}")
    return rule


def ensure(principal: Principal, action: str, owner: Owner | None, ident: str) -> None:
    """404 (hidden resources: the same answer as for one that does not exist) or 403 when out of reach."""
    rule = ensure_role(principal, action)
    if may(principal, rule, owner):
        return
    if rule.resource in HIDDEN:
        kind = "referral" if rule.resource is Resource.PARTNER_REFERRAL else rule.resource.value
        raise NotFound(f"no {kind} {ident} that you may reach: check the id, or ask the team that serves it")
    raise NotInScope((
        f"{rule.resource.value} {ident} is outside your scope (team {principal.team or '-'}, municipality "
        f"{principal.municipality or '-'}): ask its team or an admin"))


def owner_resolvers(app: FastAPI) -> dict[Resource, Resolver]:
    """Where a service tells the policy how to find the owner of each kind of resource it serves."""
    if not hasattr(app.state, "owners"):
        app.state.owners = {}
    return app.state.owners


def authorize(action: str):
    """The dependency every route declares: 401 without a valid token, 403 for a role the action does not name,
    404/403 for a resource (named by a path parameter) outside the caller's reach. Returns the principal."""
    rule = POLICY[action]  # an unknown action fails at import of the route's module

    if rule.public:
        async def public() -> None:
            return None

        public.kim_action = action
        return public

    async def dependency(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
        ensure_role(principal, action)
        if rule.resource is not Resource.NONE and not rule.in_body and rule.reach[principal.role] is not Reach.ALL:
            ident = request.path_params[PATH_PARAM[rule.resource]]
            owner = await owner_resolvers(request.app)[rule.resource](request, principal, ident)
            ensure(principal, action, owner, ident)
        return principal

    dependency.kim_action = action
    return dependency


def documentation_paths(app: FastAPI) -> frozenset[str]:
    """Where FastAPI serves the API's description (None: turned off)."""
    return frozenset(p for p in (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
                     if p)


def route_actions(app: FastAPI) -> dict[tuple[str, str], str]:
    """Every operation's action, {(method, path): action}; refuses a route that declares none, or two."""
    actions = {}
    for route in iter_route_contexts(app.routes):
        name = f"{','.join(sorted(getattr(route, 'methods', None) or ['*']))} {route.path_format}"
        if not isinstance(route.original_route, APIRoute):
            actions[("GET", route.path_format)] = _framework_action(app, route.original_route, name)
            continue
        found = set(_actions(route.dependant.dependencies))
        if len(found) != 1:
            raise RouteWithoutRule(f"{name} declares {len(found) or 'no'} authorization rules ({', '.join(found)}): "
                               "add exactly one Depends(authorize('<action>')) naming an entry of "
                               "kim_runtime.policy.POLICY")
        _refuse_sync(name, route.dependant)
        action = next(iter(found))
        if action.startswith("partner.") != route.path_format.startswith("/partner/"):
            raise RouteWithoutRule(f"{name}: partner actions (partner.*) belong on the partner API (/partner/...) "
                                   f"and only there; this route declares {action}")
        if action.startswith("internal.") != route.path_format.startswith("/internal/"):
            raise RouteWithoutRule(f"{name}: internal actions (internal.*, service tokens) belong on /internal/... "
                                   f"and only there; this route declares {action}")
        for method in route.methods:
            actions[(method, route.path_format)] = action
    return actions


def _refuse_sync(name: str, dependant) -> None:
    """A plain `def` endpoint or dependency runs in a worker thread on every request (two thread hops), which a
    profile of the cases service under load showed as a cost of its own; everything here awaits instead."""
    calls = [dependant.call, *(d.call for d in _all(dependant.dependencies))]
    sync = sorted({getattr(c, "__qualname__", repr(c)) for c in calls if c is not None and not _is_async(c)})
    if sync:
        raise RouteWithoutRule(f"{name}: {', '.join(sync)} must be async def (a plain def runs in a worker "
                               "thread on every request)")


def _all(dependencies: Iterable) -> Iterable:
    for dep in dependencies:
        yield dep
        yield from _all(dep.dependencies)


def _is_async(call) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__call__", None))


def _framework_action(app: FastAPI, route, name: str) -> str:
    """The action of a route that is not an API route: the API's description or static files, else refused."""
    if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
        return "public"
    if getattr(route, "path", None) in documentation_paths(app):
        return "docs"
    raise RouteWithoutRule(f"{name} is neither an API route, the API's description nor static files: serve it "
                           "from an APIRouter with exactly one Depends(authorize('<action>'))")


def _actions(dependencies: Iterable) -> Iterable[str]:
    for dep in dependencies:
        action = getattr(dep.call, "kim_action", None)
        if action is not None:
            yield action
        yield from _actions(dep.dependencies)


def check_routes(app: FastAPI, document: dict | None = None) -> dict[tuple[str, str], str]:
    """Refuse an app with a route without a rule; name each operation's action in its OpenAPI document."""
    actions = route_actions(app)
    for (method, path), action in actions.items():
        operation = (document or {}).get("paths", {}).get(path, {}).get(method.lower())
        if operation is not None:
            operation["x-kim-action"] = action
    return actions


# What the isolation matrix expects, read off the same table the policy enforces: for an action, a role (None: no
# token) and whether the resource is the caller's own or another's, the answer. ALLOWED: the policy lets the call
# through (what follows is the command's own business: 2xx, or 409/422 for a rule or the input).
ALLOWED = "allowed"
OWN, FOREIGN = "own", "foreign"


def expected(action: str, role: Role | None, ownership: str) -> int | str:
    rule = POLICY[action]
    if rule.public:
        return ALLOWED
    if role is None:
        return 401
    reach = rule.reach.get(role)
    if reach is None:
        return 403
    if reach is Reach.ALL or rule.resource is Resource.NONE or ownership == OWN:
        return ALLOWED
    return 404 if rule.resource in HIDDEN else 403


# The `kim audit` commands, under the same rule as the routes: one entry per command, a token verified like the APIs'
# (kim_runtime.auth / kim_runtime.oidc), a role the entry names. The rule for what may run without a token, stated
# once here: a command may be token-less only when nothing it prints or writes holds a client's data, in clear or
# withheld, nor the content of any event — at most ids (stream, event, case, client), versions, hashes, times, the
# staff member named as an event's actor and a finding's class. Every other command needs an auditor's or an
# admin's token (auditors read everything and write nothing; there is no separate DPO role: the data protection
# officer is issued an auditor token); its actor is the token's subject, never free text, and a read of a client's
# data is recorded in that client's access log (GET /clients/{id}/reads) under it.
AUDIT_READERS = {AUDITOR: A, ADMIN: A}

COMMANDS: dict[str, Rule] = {
    # a case's trail across all stores (and its state --as-of): the client's casework, personal data withheld or
    # (--show-personal) in clear
    "audit.case": Rule(Resource.CASE, AUDIT_READERS),
    # the consent a referral rests on: recipients, purposes and data categories of one client (health: Art. 9)
    "audit.referral": Rule(Resource.REFERRAL, AUDIT_READERS),
    # who generated and approved a report (staff) and its figures: no client, but read like the exports API
    "audit.report": Rule(Resource.NONE, AUDIT_READERS),
    # who holds a position (staff members' employment): personal data of staff
    "audit.position": Rule(Resource.NONE, AUDIT_READERS),
    # which client was erased, on which Art. 17 ground and request
    "audit.erasures": Rule(Resource.NONE, AUDIT_READERS),
    # token-less: ids, versions, hashes, times, actors and finding classes; never an event's data
    "audit.verify": Rule(Resource.NONE, public=True),
    # token-less: seals the stores with a signed anchor (stream heads and counts); the signing key is its gate
    "audit.anchor": Rule(Resource.NONE, public=True),
    # token-less: checks a file the caller already holds against its signature; prints two hashes
    "audit.verify-export": Rule(Resource.NONE, public=True),
    # token-less: prints a new key pair, reads no store
    "audit.keygen": Rule(Resource.NONE, public=True),
}
_check_policy(COMMANDS)


class CommandRefused(Exception):
    """A `kim audit` command refused for the caller: `status` 401 (no token) or 403 (a role the command does not
    name), like the APIs' answers; the message says what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def command_expected(command: str, role: Role | None) -> int | str:
    """What a command answers a caller with this role (None: no token): ALLOWED, 401 or 403."""
    return _command_expected(COMMANDS[command], role)


def _command_expected(rule: Rule, role: Role | None) -> int | str:
    if rule.public:
        return ALLOWED
    if role is None:
        return 401
    return ALLOWED if role in rule.reach else 403


def ensure_command(command: str, principal: Principal | None) -> None:
    """Refuse a `kim audit` command to a caller its entry does not name (CommandRefused, 401 or 403)."""
    rule = COMMANDS[command]
    answer = _command_expected(rule, principal.role if principal else None)
    if answer == 401:
        raise CommandRefused(401, f"kim {command.replace('.', ' ')} reads a client's or staff member's data: give "
                                  "your token (--token or KIM_TOKEN), an auditor's or admin's, as the APIs take it")
    if answer == 403:
        names = ", ".join(sorted(r.value for r in rule.reach))
        raise CommandRefused(403, f"role {principal.role.value} may not run kim {command.replace('.', ' ')}; needs "
                                  f"one of: {names}")
