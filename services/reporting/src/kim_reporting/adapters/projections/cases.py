"""Facts from the cases topic: cases, their timeline (open, transfer, pause, resume, close), residence statuses,
Rechtskreis, milestones and consents. Aggregates are computed when asked (adapters/indicator_sql.py)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from kim_runtime.sealing import Unsealer
from kim_runtime.envelope import Envelope
from kim_schemas import cases as cev

from .base import Batch, BatchProjection, Table, day, day_of

CASES = Table("cases", (
    ("case_id", "text"), ("client_id", "text"), ("baustein", "text"), ("municipality_at_open", "text"),
    ("access_channel", "text"), ("opened_on", "date"), ("closed_on", "date"), ("close_reason", "text"),
    ("goals_agreed", "int"), ("goals_achieved", "int"), ("duration_days", "int"),
), key=("case_id",))
TIMELINE = Table("case_timeline", (
    ("case_id", "text"), ("version", "int"), ("on_date", "date"), ("kind", "text"), ("municipality", "text")))
RESIDENCE = Table("residence", (("case_id", "text"), ("version", "int"), ("recorded_on", "date"), ("status", "text")))
RECHTSKREIS = Table("rechtskreis", (
    ("case_id", "text"), ("version", "int"), ("on_date", "date"), ("kind", "text"), ("previous", "text"),
    ("current", "text")))
MILESTONES = Table("milestones", (
    ("case_id", "text"), ("version", "int"), ("reached_on", "date"), ("milestone", "text"), ("level", "text")))
CONSENTS = Table("consents", (
    ("consent_id", "text"), ("recipient", "text"), ("case_id", "text"), ("granted_on", "date"),
    ("valid_until", "date")))
WITHDRAWALS = Table("consent_withdrawals", (
    ("consent_id", "text"), ("case_id", "text"), ("scope", "text"), ("recipient", "text"), ("effective_on", "date")))

TABLES = (CASES, TIMELINE, RESIDENCE, RECHTSKREIS, MILESTONES, CONSENTS, WITHDRAWALS)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS timeline_by_case ON {schema}.case_timeline (case_id, on_date, version);",
    "CREATE INDEX IF NOT EXISTS residence_by_case ON {schema}.residence (case_id, recorded_on, version);",
    "CREATE INDEX IF NOT EXISTS rechtskreis_by_case ON {schema}.rechtskreis (case_id, on_date, version);",
    "CREATE INDEX IF NOT EXISTS milestones_by_day ON {schema}.milestones (reached_on);",
    "CREATE INDEX IF NOT EXISTS consents_by_case ON {schema}.consents (case_id, recipient);",
    "CREATE INDEX IF NOT EXISTS withdrawals_by_consent ON {schema}.consent_withdrawals (consent_id);",
)


async def erase_client(conn: asyncpg.Connection, schema: str, client_id: str) -> None:
    """Every per-case row of the client's cases, then the cases themselves."""
    for table in TABLES:
        if table.name != "cases":
            await conn.execute(f"DELETE FROM {schema}.{table.name} WHERE case_id IN "
                               f"(SELECT case_id FROM {schema}.cases WHERE client_id = $1)", client_id)
    await conn.execute(f"DELETE FROM {schema}.cases WHERE client_id = $1", client_id)


def _opened(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("cases", (d["case_id"],), client_id=d["client_id"], baustein=d["baustein"],
            municipality_at_open=d["municipality"], access_channel=d["access_channel"], opened_on=day(d["opened_on"]))
    b.append("case_timeline", (d["case_id"], e.stream_version, day(d["opened_on"]), "opened", d["municipality"]))


def _transferred(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("case_timeline", (d["case_id"], e.stream_version, day(d["transferred_on"]), "transferred",
                               d["municipality"]))


def _state(kind: str, field: str):
    def collect(b: Batch, e: Envelope) -> None:
        b.append("case_timeline", (e.data["case_id"], e.stream_version, day(e.data[field]), kind, None))
    return collect


def _closed(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("cases", (d["case_id"],), closed_on=day(d["closed_on"]), close_reason=d["reason"],
            goals_agreed=d["goals_agreed"], goals_achieved=d["goals_achieved"], duration_days=d["duration_days"])
    b.append("case_timeline", (d["case_id"], e.stream_version, day(d["closed_on"]), "closed", None))


def _residence(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("residence", (d["case_id"], e.stream_version, day(d["recorded_on"]), d["status"]))


def _assessed(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("rechtskreis", (d["case_id"], e.stream_version, day(d["assessed_on"]), "assessment", None,
                             d["rechtskreis"]))


def _rechtskreis_changed(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("rechtskreis", (d["case_id"], e.stream_version, day(d["changed_on"]), "change", d.get("previous"),
                             d["current"]))


def _milestone(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("milestones", (d["case_id"], e.stream_version, day(d["reached_on"]), d["milestone"],
                            d.get("language_level")))


def _consent(b: Batch, e: Envelope) -> None:
    d = e.data
    for recipient in dict.fromkeys(d["recipients"]):
        b.append("consents", (d["consent_id"], recipient, d["case_id"], day(d["granted_on"]),
                              day(d.get("valid_until"))))


def _withdrawn(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("consent_withdrawals", (d["consent_id"], d["case_id"], d["scope"], d.get("recipient"),
                                     day_of(d["effective_at"])))


class CasesProjection(BatchProjection):
    """The dates and codes come sealed (kim_schemas.sealing): opened with the client's sealing key (`use_keys`);
    an erased client's events are skipped and counted (`skipped_erased`), and ClientErased deletes every row of the
    client's cases."""

    name = "reporting_cases"
    tables, indexes = TABLES, INDEXES
    collectors = {
        cev.CaseOpened: _opened,
        cev.CaseTransferred: _transferred,
        cev.CasePaused: _state("paused", "paused_on"),
        cev.CaseResumed: _state("resumed", "resumed_on"),
        cev.CaseClosed: _closed,
        cev.ResidenceStatusRecorded: _residence,
        cev.AssessmentCompleted: _assessed,
        cev.RechtskreisChanged: _rechtskreis_changed,
        cev.MilestoneRecorded: _milestone,
        cev.ConsentGranted: _consent,
        cev.ConsentWithdrawn: _withdrawn,
        cev.ClientErased: lambda b, e: None,  # handled after the batch's rows (apply_batch)
    }
    keys = None  # adapters.sealing_keys.SealingKeys
    skipped_erased = 0

    def use_keys(self, keys) -> None:
        self.keys = keys
        self.unsealer = Unsealer(keys)

    async def apply_batch(self, conn: asyncpg.Connection, schema: str, events: Sequence[Envelope]) -> None:
        opened = await self.opened(events)
        readable = [e for e in opened if not getattr(e.event, "is_sealed", False)]
        self.skipped_erased += len(opened) - len(readable)
        erased = [e.data["client_id"] for e in readable if e.type == cev.ClientErased.event_type]
        await super().apply_batch(conn, schema, [e for e in readable if e.type != cev.ClientErased.event_type])
        for client_id in erased:
            if self.keys is not None:
                self.keys.forget(client_id)
            await erase_client(conn, schema, client_id)
