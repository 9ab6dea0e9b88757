"""Facts from the staffing topic: grants, positions and every change of a position's filled VZÄ share."""

from __future__ import annotations

from decimal import Decimal

from kim_runtime.envelope import Envelope
from kim_schemas import staffing as sev

from .base import Batch, BatchProjection, Table, day

GRANTS = Table("grants", (
    ("grant_id", "text"), ("baustein", "text"), ("period_from", "date"), ("period_to", "date"), ("vza", "numeric"),
), key=("grant_id",))
POSITIONS = Table("positions", (
    ("position_id", "text"), ("baustein", "text"), ("municipality", "text"), ("vza", "numeric"),
    ("valid_from", "date"), ("valid_to", "date"),
), key=("position_id",))
FILLS = Table("fills", (("position_id", "text"), ("on_date", "date"), ("delta", "numeric")))
TABLES = (GRANTS, POSITIONS, FILLS)
INDEXES = ("CREATE INDEX IF NOT EXISTS fills_by_position ON {schema}.fills (position_id, on_date);",)


def _grant(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("grants", (d["grant_id"],), baustein=d["baustein"], period_from=day(d["period_from"]),
            period_to=day(d["period_to"]), vza=Decimal(d["vza"]))


def _position(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("positions", (d["position_id"],), baustein=d["baustein"], municipality=d["municipality"],
            vza=Decimal(d["vza"]), valid_from=day(d["valid_from"]), valid_to=day(d.get("valid_to")))


def _filled(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("fills", (d["position_id"], day(d["filled_on"]), Decimal(d["vza_share"])))


def _vacated(b: Batch, e: Envelope) -> None:
    d = e.data
    b.append("fills", (d["position_id"], day(d["vacated_on"]), -Decimal(d["vza_share"])))


class StaffingProjection(BatchProjection):
    name = "reporting_staffing"
    tables, indexes = TABLES, INDEXES
    collectors = {
        sev.GrantAwarded: _grant,
        sev.PositionEstablished: _position,
        sev.PositionFilled: _filled,
        sev.PositionVacated: _vacated,
    }
