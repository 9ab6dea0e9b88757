"""An auditor's view of a case (GET /audit/cases/{case_id}, which `kim audit case` calls): the cases store's part of
the case's trail, or the case's state at a past moment, with personal data opened here, in this service, and
nowhere else (issue 15).

Before, `kim audit case --show-personal` read the store itself and unwrapped the client's key with the KEK on the
auditor's machine; whoever held the database credentials and the KEK (or a changed CLI) could read personal data
without any record. Now the CLI holds no KEK: this service opens the client's fields with its own keyring for an
auditor's or admin's token, and the route records the read (the client's access log and the audit stream, both
sealed by a signed receipt) before it answers.

The other services' stores hold no data encrypted under a client's key, so the CLI still reads them itself and merges
their events with these by time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from kim_schemas import cases as ev
from kim_schemas import parse
from kim_schemas.types import Encrypted

from kim_cases.adapters import crypto
from kim_cases.adapters.keys import KeyStore
from kim_cases.application.personal import HEALTH, PERSONAL_FIELDS, mentions_health
from kim_cases.application.views import case_state
from kim_cases.domain import Case, Client

ERASED, WITHHELD, UNREADABLE = crypto.ERASED, "withheld", "unreadable"
BY = ("recorded", "business")


class NotYet(ValueError):
    """The case has no event up to the moment asked for (answered 422 naming query.as_of)."""


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and {"key_id", "nonce", "ciphertext"} <= value.keys()


class Opener:
    """Replaces each encrypted value in event data: in clear when `reveal` (remembering which fields it showed),
    "withheld" otherwise, "erased" once the client's key is gone, "unreadable" when it does not open. A
    kim_cases.application.views.StateReader for the state at a past moment."""

    def __init__(self, client_id: str | None, key: bytes | None, *, reveal: bool):
        self.client_id, self.key, self.reveal = client_id, key, reveal
        self.read: set[str] = set()

    @property
    def erased(self) -> bool:
        return self.key is None

    def _withheld(self) -> str | None:
        """What stands in a value's place when it may not be shown: ERASED (no key), WITHHELD (not asked for)."""
        if self.key is None:
            return ERASED
        return None if self.reveal else WITHHELD

    def open(self, value: Any, label: str) -> Any:
        if value is None:
            return None
        if (instead := self._withheld()) is not None:
            return instead
        try:
            opened = crypto.decrypt(self.key, self.client_id, Encrypted.model_validate(value))
        except (crypto.Undecryptable, ValueError):  # tampered, encrypted for another client, or not an Encrypted
            return UNREADABLE
        self.read.add(label)
        return opened

    def data(self, data: dict) -> dict:
        return {k: self.open(v, k) if is_encrypted(v) else v for k, v in data.items()}

    def personal(self, value) -> dict:
        opened = self.open(_plain(value), "personal")
        if isinstance(opened, dict):
            return {f: opened.get(f) for f in PERSONAL_FIELDS}
        return dict.fromkeys(PERSONAL_FIELDS, opened)

    def quasi(self, value: str | None, label: str = "informed_in") -> str | None:
        """A clear value that points at the person (a consent's language): like personal data in the trail."""
        if value is None:
            return None
        if (instead := self._withheld()) is not None:
            return instead
        self.read.add(label)
        return value

    def notes(self, value) -> Any:
        opened = self.open(_plain(value), "notes")
        return opened.get("notes") if isinstance(opened, dict) else opened


def _plain(value) -> dict | None:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


async def opener_for(keys: KeyStore, client_id: str, *, reveal: bool) -> Opener:
    """The client's key is unwrapped (with this service's keyring) only when personal data is to be shown."""
    if reveal:
        found = await keys.get(client_id)
        return Opener(client_id, found[1] if found else None, reveal=True)
    return Opener(client_id, b"" if await keys.exists(client_id) else None, reveal=False)


# -- the cases store's events of a case ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    time: datetime
    position: int
    metadata: dict
    data: dict
    service: str = "cases"

    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    def answer(self) -> dict[str, Any]:
        m = self.metadata
        return {"service": self.service, "event_id": self.event_id, "stream_id": self.stream_id,
                "version": self.version, "type": self.type, "schema_version": self.schema_version,
                "time": self.time.isoformat(), "position": self.position, "actor": m.get("actor"),
                "causation_id": m.get("causation_id"), "correlation_id": m.get("correlation_id"), "data": self.data}


_TRAIL = """
SELECT event_id::text, stream_id, version, type, schema_version, occurred_at, metadata, data, position FROM events
WHERE stream_id = ANY($1) OR data->>'case_id' = $2 OR data->>'client_id' = $3
ORDER BY occurred_at, position
"""


def is_audit_record(e: Entry) -> bool:
    """A record of reading or exporting the trail (the access log, kim audit's own): left out of an export, so
    exporting the same trail twice gives the same bytes."""
    return e.stream_id.startswith("access-") or e.type.startswith("kim.audit.")


async def case_events(pool: asyncpg.Pool, case_id: str, client_id: str) -> list[Entry]:
    """The case's stream, its client's stream, the client's access log and every event naming the case or client."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_TRAIL, [case_id, client_id, f"access-{client_id}"], case_id, client_id)
    return [Entry(r["event_id"], r["stream_id"], r["version"], r["type"], r["schema_version"], r["occurred_at"],
                  r["position"], r["metadata"] or {}, r["data"]) for r in rows]


async def unsealed(trail: list[Entry], client_id: str, sealing) -> list[Entry]:
    """The trail with the sealed dates and codes of the client's events opened (kim_schemas.sealing; they are no
    personal data, so opened for every reader of the trail); an erased client's stay sealed."""
    from kim_runtime.sealing import SHREDDED_KEY_ID, Unopenable

    key = await sealing.sealing_key(client_id)
    if key is None:
        return trail
    out = []
    for e in trail:
        part = e.data.get("sealed") if isinstance(e.data, dict) else None
        if isinstance(part, dict) and part.get("key_id") != SHREDDED_KEY_ID:
            try:
                event = parse(e.type, e.schema_version, e.data).unseal(key, client_id)
                e = Entry(**{**e.__dict__, "schema_version": event.schema_version,
                             "data": event.model_dump(mode="json")})
            except (Unopenable, LookupError, ValueError):
                pass  # shown as stored
        out.append(e)
    return out


def opened_trail(trail: list[Entry], opener: Opener) -> tuple[list[dict], set[str]]:
    """Each event as answered (encrypted fields opened or withheld) and what of the client's data was shown in
    clear (health named when an assessment or goal in the domain gesundheit is shown)."""
    out = [Entry(**{**e.__dict__, "data": opener.data(e.data)}).answer() for e in trail]
    read = set(opener.read)
    if mentions_health([e["data"] for e in out]):
        read.add(HEALTH)
    return out, read


# -- the state at a past moment -----------------------------------------------------------------------------------
# The business date of an event: the day the casework it records happened (may lie before it was recorded, when work
# is entered later). Events without one (registration, follow-ups, erasure, ...) count from their occurred_at.
BUSINESS_DATE = {cls.event_type: field for cls, field in (
    (ev.CaseOpened, "opened_on"), (ev.ConsentGranted, "granted_on"), (ev.ConsentWithdrawn, "effective_at"),
    (ev.ConsentExpired, "expired_at"), (ev.AssessmentCompleted, "assessed_on"),
    (ev.ResidenceStatusRecorded, "recorded_on"), (ev.RechtskreisChanged, "changed_on"),
    (ev.IntegrationPlanAgreed, "agreed_on"), (ev.ReviewHeld, "held_on"), (ev.GoalAchieved, "achieved_on"),
    (ev.GoalDropped, "dropped_on"), (ev.MilestoneRecorded, "reached_on"), (ev.CaseTransferred, "transferred_on"),
    (ev.CasePaused, "paused_on"), (ev.CaseResumed, "resumed_on"), (ev.CaseClosed, "closed_on"),
    (ev.ReviewDue, "due_on"), (ev.PauseEndDue, "due_on"))}


def business_date(e: Entry) -> date | None:
    value = e.data.get(BUSINESS_DATE.get(e.type, ""), None) if isinstance(e.data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def happened_by(e: Entry, moment: datetime, by: str) -> bool:
    """Recorded: occurred_at (the recording time) up to the moment. Business: the business date up to the moment's
    day, or occurred_at for an event that has none."""
    if by == "business":
        day = business_date(e)
        if day is not None:
            return day <= moment.date()
    return e.time <= moment


def state_as_of(case_id: str, client_id: str, trail: list[Entry], moment: datetime, opener: Opener,
                by: str = "recorded") -> dict[str, Any]:
    """The case's state at `moment`, folded by the service's own aggregates (or, if they cannot read the events,
    by a generic merge of their data); NotYet when the case has no event by then."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    case_evs = [e for e in trail if e.stream_id == case_id and happened_by(e, moment, by)]
    if not case_evs:
        first = "business date" if by == "business" else "recording time"
        raise NotYet(f"case {case_id} did not exist yet at {moment.isoformat()} by {first}: its first event is "
                     f"later{'' if by == 'business' else ' (for the date the casework happened: --by business)'}")
    # the client's registration precedes their case: by business date it counts whenever the case does
    client_evs = [e for e in trail if e.stream_id == client_id
                  and (happened_by(e, moment, by) or (by == "business" and business_date(e) is None
                                                      and e.type == ev.ClientRegistered.event_type))]
    try:
        case = Case.from_events(case_id, [parse(e.type, e.schema_version, e.data) for e in case_evs])
        client = Client.from_events(client_id, [parse(e.type, e.schema_version, e.data) for e in client_evs])
    except (LookupError, ValueError):  # an event the aggregate cannot take (unknown type or version, schema drift)
        state, folded_by = _generic(case_evs, client_evs, opener), "generic fold of event data"
    else:
        personal = client.registered.personal if client.registered else None
        state, folded_by = case_state(case, opener, personal, moment.date()), "kim_cases aggregate"
    return {"case_id": case_id, "as_of": moment.isoformat(), "by": by, "version": case_evs[-1].version,
            "last_event": case_evs[-1].type, "last_event_at": case_evs[-1].time.isoformat(),
            "client_erased_now": opener.erased, "folded_by": folded_by, "state": state}


def _generic(case_evs: list[Entry], client_evs: list[Entry], opener: Opener) -> dict:
    state: dict[str, Any] = {}
    for e in client_evs + case_evs:
        state |= opener.data(dict(e.data))
    state["events"] = [f"{e.short_type()} v{e.version}" for e in case_evs]
    return state
