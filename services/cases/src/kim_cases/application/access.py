"""Who may see and change what: the owners of clients and cases, for the runtime's one policy (kim_runtime.policy).

A case is owned by its team and municipality. A client is owned by the places of their cases and by the team and
municipality that registered them: whoever may act for one of these may act for the client, but sees and acts on
only the client's cases in their own reach (`cases_of`). Taking over a client another team serves is a recorded
transfer of the case (POST /cases/{id}/transfer by its team), never a new case: `ensure_not_served_elsewhere`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kim_runtime.auth import Principal, Role
from kim_runtime.commands import request_memo
from kim_runtime.errors import NotFound, RuleViolation
from kim_runtime.policy import POLICY, Owner, Resource, may

from kim_cases.domain import Case, Client, Phase

# roles that may read personal data in clear; an auditor sees that it exists ("withheld"), not what it says
PERSONAL_DATA_READERS = frozenset({Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN})


def owner_of(case: Case) -> Owner:
    return Owner(frozenset({(case.municipality, case.team_organisation_id)}))


def reaches(principal: Principal, case: Case) -> bool:
    return may(principal, POLICY["case.read"], owner_of(case))


async def all_cases_of(s, client_id: str) -> list[Case]:
    return [await s.repo.case(case_id) for case_id in await s.registrations.case_ids_of(client_id)]


async def case_owner(s, case_id: str) -> Owner | None:
    """The case's owner (None: no such case); the case loaded for it is kept for the command of the same request
    (`loaded_case`), which then needs not load it again."""
    try:
        case = await s.repo.case(case_id)
    except NotFound:
        return None
    if (memo := request_memo()) is not None:
        memo[("kim_cases.case", case_id)] = case
    return owner_of(case)


def loaded_case(case_id: str) -> Case | None:
    """The case as this request's owner lookup loaded it, once (then gone: a second load reads the store)."""
    memo = request_memo()
    return None if memo is None else memo.pop(("kim_cases.case", case_id), None)


@dataclass(frozen=True)
class ClientFacts:
    """What a command about a client asks first, read once: the client, the places that own them (None: no such
    client) and all their cases."""

    client: Client
    owner: Owner | None
    cases: list[Case]


async def client_facts(s, client_id: str) -> ClientFacts:
    """The client's stream, then their registration and cases (one statement), each read once. An unknown id takes the same queries as a known
    one (its registration, its cases), so the answer takes about as long."""
    client, first = await s.repo.clients.load_with_envelopes(client_id)
    registered, case_ids = await s.registrations.place_and_case_ids(client_id)
    cases = [await s.repo.case_of(case_id, client) for case_id in case_ids]
    if not first:
        return ClientFacts(client, None, cases)
    places = {registered or (first[0].municipality, None)}
    return ClientFacts(client, Owner(frozenset(places | {(case.municipality, case.team_organisation_id)
                                                         for case in cases})), cases)


async def client_owner(s, client_id: str) -> Owner | None:
    """The registering place and the place of each of the client's cases (None: no such client)."""
    return (await client_facts(s, client_id)).owner


async def cases_of(s, principal: Principal, client_id: str) -> list[Case]:
    """The client's cases in the caller's reach: a team that registered a client, or serves one of their cases,
    does not thereby see the cases another team serves (their ids included)."""
    return [case for case in await all_cases_of(s, client_id) if reaches(principal, case)]


async def ensure_not_served_elsewhere(s, principal: Principal, client_id: str, cases: list[Case] | None = None
                                     ) -> None:
    """409 when the client has an open case outside the caller's reach: one client, one serving team at a time. The
    answer names no case, team or municipality the caller may not see. `cases`: the client's cases if already read."""
    if cases is None:
        cases = await all_cases_of(s, client_id)
    if any(case.phase is not Phase.CLOSED and not reaches(principal, case) for case in cases):
        raise RuleViolation(
            f"client {client_id} is served by another team or municipality (an open case outside your reach): "
            "a second case is not opened; ask that team to transfer its case to you (POST /cases/{id}/transfer "
            "by that team; your team lead or an admin can find it), or open one once it is closed")
