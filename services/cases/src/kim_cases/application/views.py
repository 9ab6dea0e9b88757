"""What a reader sees of a case: its current state and its history, personal fields opened per reader."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol, runtime_checkable

from kim_schemas.types import Encrypted

from kim_cases.adapters.events import CommandContext, from_envelope
from kim_cases.application.cases import SEALED
from kim_cases.application.personal import PersonalReader
from kim_cases.application.services import Services
from kim_cases.domain import Case
from kim_cases.domain.consent import ERASED, sealed_view
from kim_cases.projections import CaseReferrals


@runtime_checkable
class StateReader(Protocol):
    """What `case_state` needs of a reader: each encrypted field (or clear value that points at the person) opened,
    or "erased" / "withheld" in its place. PersonalReader is one; `kim audit case --as-of` brings its own."""

    def open(self, value, label: str) -> Any: ...

    def personal(self, value) -> dict: ...

    def quasi(self, value: str | None, label: str) -> str | None: ...

    def notes(self, value) -> Any: ...


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def case_state(case: Case, reader: StateReader, client_personal, today: date, *,
               erased: bool = False) -> dict[str, Any]:
    o = case.opened
    plans = [plan(p, reader) for p in case.plans]
    return {
        "case_id": case.case_id, "version": case.version, "phase": case.phase.value,
        "paused": _dump(case.paused),
        "client": {"client_id": o.client_id, **reader.personal(client_personal)},
        "municipality": case.municipality, "team": case.team, "team_organisation_id": case.team_organisation_id,
        "case_manager_id": case.case_manager_id, "baustein": o.baustein,
        "access_channel": ERASED if o.is_sealed else o.access_channel,
        "opened_on": ERASED if o.is_sealed else _d(o.opened_on),
        "consents": [consent_view(c, reader, today, erased) for c in case.consents.values()],
        "has_valid_consent": not erased and case.valid_consent_on(today),
        "assessment": assessment(case.assessment, reader), "rechtskreis": case.rechtskreis,
        "residence_status": residence(case.residence[-1], reader) if case.residence else None,
        "residence_history": [residence(r, reader) for r in case.residence],
        "rechtskreis_changes": [_dump(r) for r in case.rechtskreis_changes],
        "plans": plans,
        "goals": [{**goal_details(plans, g.goal_id), "plan_id": g.plan_id, "status": g.status,
                   "on": _d(g.on) if g.on or g.status == "agreed" else ERASED}
                  for g in case.goals.values()],
        "milestones": [_dump(m) for m in case.milestones],
        "reviews": [{**_dump(r), "notes": reader.notes(r.notes)} for r in case.reviews],
        "transfers": [_dump(t) for t in case.transfers],
        "closure": _dump(case.closure),
    }


def consent_view(consent, reader: StateReader, today: date, erased: bool) -> dict:
    """The consent; the language it was explained in opened like personal data (encrypted since ConsentGranted v2;
    a version 1 consent's plain code is shown to the same readers)."""
    language = consent.granted.informed_in
    shown = (unsealed(language, "informed_in", reader) if isinstance(language, Encrypted)
             else reader.quasi(language, "informed_in"))
    return consent.view(today, erased=erased) | {"informed_in": shown}


def unsealed(value: Encrypted, name: str, reader) -> Any:
    """A field version 2 of its event encrypts as {name: value}: the value, or "erased" / "withheld"."""
    opened = reader.open(value, name)
    return opened.get(name) if isinstance(opened, dict) else opened


def assessment(event, reader) -> dict | None:
    """Needs and resources per life domain (health among them) opened like personal data; a version 1
    assessment's plain list as it was stored."""
    view = _dump(event)
    if view is not None and isinstance(event.domains, Encrypted):
        view["domains"] = unsealed(event.domains, "domains", reader)
    return view


def plan(event, reader) -> dict:
    """A plan with its goals opened like personal data (a version 1 plan's plain goals as they were stored)."""
    view = _dump(event)
    if isinstance(event.goals, Encrypted):
        view["goals"] = unsealed(event.goals, "goals", reader)
    return view


GOAL_FIELDS = ("domain", "target_date", "responsible_organisation_id")


def goal_details(plans: list[dict], goal_id: str) -> dict:
    """A goal as its plan holds it; "erased" / "withheld" in each field where the plan's goals are."""
    for p in plans:
        if isinstance(p["goals"], list):
            found = next((g for g in p["goals"] if g["goal_id"] == goal_id), None)
            if found is not None:
                return found
        elif goal_id in p["goal_ids"]:
            return {"goal_id": goal_id, **dict.fromkeys(GOAL_FIELDS, p["goals"])}
    return {"goal_id": goal_id, **dict.fromkeys(GOAL_FIELDS)}


RESIDENCE_DATES = ("status_since", "valid_until")
SEALED_FIELDS = frozenset(SEALED.values())


def residence(event, reader) -> dict:
    """A residence status with its dates opened for the reader (in clear, "erased" or "withheld"; none on data
    recorded before ResidenceStatusRecorded v3)."""
    opened = reader.open(event.dates, "residence dates")
    dates = {f: opened.get(f) for f in RESIDENCE_DATES} if isinstance(opened, dict) else dict.fromkeys(
        RESIDENCE_DATES, opened)
    return {**{k: v for k, v in _dump(event).items() if k != "dates"}, **dates}


def _dump(event) -> dict | None:
    return sealed_view(event) if event is not None else None


async def load_visible(s: Services, ctx: CommandContext, case_id: str) -> Case:
    """The case; the route's policy (case.read) let the caller reach it."""
    return await s.repo.case(case_id)


async def state(s: Services, ctx: CommandContext, case: Case, today: date, via: str) -> dict[str, Any]:
    client = await s.repo.client(case.client_id)
    reader = await s.reader(ctx.principal, case.client_id)
    body = reader.shown(case_state(case, reader, client.registered.personal, today, erased=client.erased))
    body["referrals"] = await CaseReferrals.of_case(s.pool, case.case_id)
    await reader.finish(via, ctx.correlation_id)
    return body


async def history(s: Services, ctx: CommandContext, stream_id: str, client_id: str, via: str) -> list[dict]:
    """Every event of a stream with its metadata; encrypted fields opened (or shown erased/withheld)."""
    reader = await s.reader(ctx.principal, client_id)
    out = []
    for env in await s.store.read_stream(stream_id):
        event = from_envelope(env)  # as the newest version: a v1 or v2 registration shows no clear years or bands
        if getattr(event, "is_sealed", False):  # dates and codes: opened with the client's key while it exists
            opened = await s.repo.cases.sealing.unsealer.open(env.model_copy(update={"event": event}))
            event = opened.event if opened is not None else event
        data = sealed_view(event, frozenset())
        if "personal" in data:
            data["personal"] = reader.personal(event.personal)
        if "profile" in data:
            data["profile"] = reader.profile(event)
        if data.get("dates") is not None:
            data["dates"] = reader.open(event.dates, "residence dates")
        if data.get("notes") is not None:
            data["notes"] = reader.notes(event.notes)
        for name in SEALED_FIELDS:
            if isinstance(getattr(event, name, None), Encrypted):
                data[name] = unsealed(getattr(event, name), name, reader)
        out.append({"version": env.stream_version, "type": env.type, "time": env.time.isoformat(),
                    "actor": env.actor, "correlation_id": env.correlation_id, "causation_id": env.causation_id,
                    "data": reader.shown(data)})
    await reader.finish(via, ctx.correlation_id)
    return out
