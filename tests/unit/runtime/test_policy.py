"""The one authorization policy: its table's invariants, every route of the four services naming an entry, and a
route without one refused at start-up (no I/O: the apps are built, not started)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.http import create_app
from kim_runtime.policy import (ALLOWED, FOREIGN, HIDDEN, OWN, POLICY, Owner, Reach, Resource, RouteWithoutRule,
                                authorize, expected, may, owner_resolvers, route_actions)

SECRET = "unit-test-secret-of-at-least-32-bytes!"
ROLES = (*Role, None)


def build_apps():
    from kim_cases.bootstrap import build_app as cases
    from kim_referrals.bootstrap import build_app as referrals
    from kim_reporting.bootstrap import build_app as reporting
    from kim_staffing.bootstrap import build_app as staffing

    return {"cases": cases(), "staffing": staffing(), "referrals": referrals(), "reporting": reporting()}


@pytest.fixture(scope="module")
def apps():
    return build_apps()


def test_every_route_of_every_service_names_an_entry_of_the_policy(apps):
    used = set()
    for name, app in apps.items():
        actions = route_actions(app)
        assert actions, name
        used |= set(actions.values())
        document = app.openapi()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                assert operation["x-kim-action"] == actions[(method.upper(), path)]
    assert used == set(POLICY), f"entries no route uses: {set(POLICY) - used}"


def test_auditors_never_write_and_partners_reach_only_the_partner_api():
    for action, rule in POLICY.items():
        assert not (rule.writes and Role.AUDITOR in rule.reach), action
        assert (Role.PARTNER in rule.reach) == action.startswith("partner."), action
        if Role.PARTNER in rule.reach:
            assert rule.reach[Role.PARTNER] is Reach.ORGANISATION


def test_the_expected_answers_as_a_whole_matrix():
    """401 without a token, 403 for a role the entry does not name, 404 for a foreign client/case/referral, else
    through; public routes for everybody."""
    for action, rule in POLICY.items():
        for role in ROLES:
            for ownership in (OWN, FOREIGN):
                got = expected(action, role, ownership)
                if rule.public:
                    want = ALLOWED
                elif role is None:
                    want = 401
                elif role not in rule.reach:
                    want = 403
                elif ownership == FOREIGN and rule.reach[role] is not Reach.ALL and rule.resource in HIDDEN:
                    want = 404
                else:
                    want = ALLOWED
                assert got == want, (action, role, ownership)


@pytest.mark.parametrize("role,team,municipality,reached", [
    (Role.CASE_MANAGER, "stadt-luenen", None, True),
    (Role.CASE_MANAGER, None, "05978024", True),
    (Role.CASE_MANAGER, "stadt-unna", "05978016", False),
    (Role.CASE_MANAGER, "stadt-kamen", "05978036", True),
    (Role.TEAM_LEAD, "kreis-unna", None, False),
    (Role.AUDITOR, None, None, True),
    (Role.ADMIN, None, None, True),
    (Role.PARTNER, None, None, False),
])
def test_a_client_is_reached_through_any_of_its_places(role, team, municipality, reached):
    owner = Owner(frozenset({("05978036", "stadt-unna-x"), ("05978024", "stadt-luenen")}))
    principal = Principal(sub="u", role=role, team=team, municipality=municipality, organisation="org")
    assert may(principal, POLICY["client.read"], owner) is (reached and role is not Role.PARTNER)


def test_a_partner_reaches_only_what_went_to_its_organisation():
    principal = Principal(sub="u", role=Role.PARTNER, organisation="jobcenter")
    rule = POLICY["partner.referral.read"]
    assert may(principal, rule, Owner(organisation="jobcenter"))
    assert not may(principal, rule, Owner(organisation="abh-unna"))
    assert not may(principal, rule, None)


def test_a_route_without_a_rule_stops_the_service_at_start_up_and_the_document():
    app = create_app("t", auth_secret=SECRET)
    router = APIRouter()

    @router.get("/open-secrets")
    async def leak():
        return {"secret": 1}

    app.include_router(router)
    with pytest.raises(RouteWithoutRule, match="GET /open-secrets declares no authorization rules"):
        app.openapi()

    async def start():
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(RouteWithoutRule):
        asyncio.run(start())


def test_two_different_rules_on_one_route_are_refused():
    app = create_app("t", auth_secret=SECRET)

    @app.get("/x", dependencies=[Depends(authorize("case.read")), Depends(authorize("client.read"))])
    async def x():
        return {}

    with pytest.raises(RouteWithoutRule, match="declares 2 authorization rules"):
        route_actions(app)


@pytest.mark.parametrize("sync", ["endpoint", "dependency", "nested dependency"])
def test_a_plain_def_endpoint_or_dependency_is_refused(sync):
    """A plain def runs in a worker thread on every request; the services await instead."""
    app = create_app("t", auth_secret=SECRET)

    def blocking() -> int:
        return 1

    async def nested(value: int = Depends(blocking)) -> int:
        return value

    if sync == "endpoint":
        @app.get("/x", dependencies=[Depends(authorize("case.list"))])
        def x():
            return {}
    else:
        dep = blocking if sync == "dependency" else nested

        @app.get("/x", dependencies=[Depends(authorize("case.list"))])
        async def x(value: int = Depends(dep)):
            return {}

    with pytest.raises(RouteWithoutRule, match="blocking must be async def|x must be async def"):
        route_actions(app)


def test_a_partner_action_lives_on_the_partner_api_only():
    app = create_app("t", auth_secret=SECRET)

    @app.get("/cases/{case_id}/inbox", dependencies=[Depends(authorize("partner.inbox"))])
    async def x(case_id: str):
        return {}

    with pytest.raises(RouteWithoutRule, match="belong on the partner API"):
        route_actions(app)


def test_an_unknown_action_fails_at_import():
    with pytest.raises(KeyError):
        authorize("case.read-everything")


def test_a_foreign_case_answers_404_like_a_missing_one_and_a_role_refusal_403():
    app = create_app("t", auth_secret=SECRET)
    owners = {"c-own": Owner(frozenset({("05978024", "stadt-luenen")})),
              "c-foreign": Owner(frozenset({("05978036", "stadt-unna")}))}

    async def case_owner(_request, _principal, case_id):
        return owners.get(case_id)

    owner_resolvers(app)[Resource.CASE] = case_owner

    @app.get("/cases/{case_id}")
    async def read(case_id: str, who: Principal = Depends(authorize("case.read"))):
        return {"case_id": case_id, "by": who.sub}

    client = TestClient(app)

    def get(case_id: str, role: Role, **kw):
        token = issue_token(SECRET, Principal(sub="u", role=role, **kw))
        return client.get(f"/cases/{case_id}", headers={"Authorization": f"Bearer {token}"})

    luenen = {"team": "stadt-luenen", "municipality": "05978024"}
    assert get("c-own", Role.CASE_MANAGER, **luenen).status_code == 200
    foreign, missing = get("c-foreign", Role.CASE_MANAGER, **luenen), get("c-none", Role.CASE_MANAGER, **luenen)
    assert (foreign.status_code, missing.status_code) == (404, 404)
    assert foreign.json()["detail"].replace("c-foreign", "X") == missing.json()["detail"].replace("c-none", "X")
    assert get("c-foreign", Role.AUDITOR).status_code == 200
    refused = get("c-own", Role.PARTNER, organisation="jobcenter")
    assert refused.status_code == 403 and "role partner may not" in refused.json()["detail"]
    assert client.get("/cases/c-own").status_code == 401


# what the README's "no token" row lists, per service: everything else needs a token
NO_TOKEN = {"/healthz", "/readyz", "/metrics"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
NO_TOKEN_OF = {"cases": NO_TOKEN | DOCS, "staffing": NO_TOKEN | DOCS, "referrals": NO_TOKEN | DOCS,
               "reporting": NO_TOKEN | DOCS | {"/dashboard", "/dashboard/static/{path}"}}


def test_what_answers_without_a_token_is_declared_in_the_policy_and_is_what_the_readme_lists(apps):
    for name, app in apps.items():
        actions = route_actions(app)
        public = {path for (_, path), action in actions.items() if POLICY[action].public}
        assert public == NO_TOKEN_OF[name], name
        assert {path for (_, path), action in actions.items() if action == "docs"} == DOCS, name
        client = TestClient(app)
        for path in sorted(DOCS):
            assert client.get(path).status_code == 200, (name, path)
        document = client.get("/openapi.json").json()
        for path, operations in document["paths"].items():  # every operation of the description: a token
            for method in operations:
                if path not in public and "{" not in path:
                    assert client.request(method.upper(), path).status_code == 401, (name, method, path)


def test_a_route_that_is_not_an_api_route_nor_the_description_is_refused():
    app = create_app("t", auth_secret=SECRET)

    async def raw(_request):
        return PlainTextResponse("secret")

    app.add_route("/raw", raw)
    with pytest.raises(RouteWithoutRule, match="GET,HEAD /raw is neither an API route"):
        route_actions(app)
    assert ("GET", "/docs") in route_actions(create_app("t", auth_secret=SECRET))
