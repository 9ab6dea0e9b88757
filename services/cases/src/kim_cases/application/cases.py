"""Case commands: load the case (the route's policy checked its scope), check the version the caller saw, let the
aggregate decide, append."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable

from kim_runtime.auth import ensure_in_scope
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.policy import ensure
from kim_schemas import cases as ev
from kim_schemas.base import Event
from kim_schemas.types import Encrypted

from kim_cases.adapters import crypto
from kim_cases.adapters.events import CommandContext
from kim_cases.application.access import client_facts, ensure_not_served_elsewhere, loaded_case
from kim_runtime.errors import check_expected
from kim_cases.application.services import Services
from kim_cases.domain import Case

Decide = Callable[[Case], list[Event] | Awaitable[list[Event]]]
UNPINNED_ATTEMPTS = 3


async def open_case(s: Services, ctx: CommandContext, **fields) -> tuple[Case, int]:
    """Only for a client the caller may act for (404 otherwise, as for no client), in the caller's own place (403).
    Serving a client another team serves is that team's transfer of the case (POST /cases/{id}/transfer): 409 while
    the client has an open case outside the caller's reach."""
    facts = await client_facts(s, fields["client_id"])  # the client's stream, registration and cases: read once
    ensure(ctx.principal, "case.open", facts.owner, fields["client_id"])
    ensure_in_scope(ctx.principal, fields["municipality"], fields["team_organisation_id"], "the new case")
    await ensure_not_served_elsewhere(s, ctx.principal, fields["client_id"], facts.cases)
    if not facts.client.exists:
        raise NotFound(f"no client {fields['client_id']}: register the client first (POST /clients)")
    facts.client.ensure_active("open a case for them")
    case = Case(str(uuid.uuid4()))
    return await _decide_and_append(s, ctx, case, lambda c: c.open(**fields))


async def execute(s: Services, ctx: CommandContext, case_id: str, expected: int | None, decide: Decide
                  ) -> tuple[Case, int]:
    """Run one command on a case (the route's policy let the caller reach it). `expected` is the version from
    If-Match (None: the version just loaded; an event appended meanwhile, e.g. by the scheduler, makes it load and
    decide once more instead of answering 409). The first attempt takes the case as the route's policy loaded it
    (`loaded_case`, microseconds earlier; the append checks its version all the same), a further one loads it."""
    for attempt in range(1, UNPINNED_ATTEMPTS + 1):
        case = (loaded_case(case_id) if attempt == 1 else None) or await s.repo.case(case_id)
        check_expected(case_id, expected, case.version)
        try:
            return await _decide_and_append(s, ctx, case, decide)
        except ConcurrencyConflict:
            if expected is not None or attempt == UNPINNED_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def seal(s: Services, case: Case, value: dict, what: str):
    """Personal data of a case (review notes, residence dates): encrypted with the client's key, refused once the
    client is erased."""
    found = await s.keys.get(case.client_id)
    if found is None:
        raise RuleViolation(f"client {case.client_id} was erased: {what} about them can no longer be recorded")
    key_id, key = found
    return crypto.encrypt(key, key_id, case.client_id, value)


# fields the domain decides in clear and the contract stores encrypted with the client's key (version 2 of these
# events): special categories (health needs and goals) and what singles a person out (the consent's language)
SEALED: dict[type[Event], str] = {ev.ConsentGranted: "informed_in", ev.AssessmentCompleted: "domains",
                                  ev.IntegrationPlanAgreed: "goals"}


async def seal_fields(s: Services, case: Case, events: list[Event]) -> list[Event]:
    """The events with each SEALED field encrypted ({field: value} under the client's key); refused (as for
    notes) once the client is erased."""
    sealed = []
    for e in events:
        name = SEALED.get(type(e))
        value = getattr(e, name) if name else None
        if name and not isinstance(value, Encrypted):
            plain = e.model_dump(mode="json", include={name})
            e = e.model_copy(update={name: await seal(s, case, plain, name)})
        sealed.append(e)
    return sealed


async def seal_notes(s: Services, case: Case, notes: str | None):
    return None if notes is None else await seal(s, case, {"notes": notes}, "notes")


async def _decide_and_append(s: Services, ctx: CommandContext, case: Case, decide: Decide) -> tuple[Case, int]:
    events = decide(case)
    if inspect.isawaitable(events):
        events = await events
    events = await seal_fields(s, case, events)
    subject = getattr(events[0], "client_id", None) or case.client_id
    new_version = await s.repo.append(case.case_id, case.version, events, ctx, subject=subject,
                                      municipality=case.municipality)
    for e in events:
        case.apply(e)
    return case, new_version
