"""The auditor's questions beyond a case: `kim audit referral` (the consent decision a referral rests on, that
consent as the cases store recorded it, and the referral's trail), `kim audit report` (who generated, who approved,
the content hash, recomputed from the figures) and `kim audit position` (a staffing position's trail).

Each answer is a dict (JSON as is) and a text rendering; both are deterministic (no time of asking in them), so an
export of the same answer gives the same bytes. Personal data is never shown in clear here: encrypted values read
"withheld" (or "erased"), a consent's language likewise; a referral or consent sharing health data (category
gesundheit, Art. 9 GDPR) is a special-category read, recorded in the client's access log under the token's identity.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
from kim_schemas import referrals as rev
from kim_schemas import reporting as pev
from kim_schemas import staffing as sev

from kim_cli.audit.connect import UserError, open_store
from kim_cli.audit.personal import Withholder, client_erased

HEALTH_CATEGORY = "gesundheit"
_COLUMNS = "event_id::text, stream_id, version, type, occurred_at, recorded_at, metadata, data"


def _row(service: str, r: asyncpg.Record, opener: Withholder | None = None) -> dict[str, Any]:
    meta = r["metadata"] or {}
    data = opener.data(r["data"]) if opener is not None else r["data"]
    if opener is not None and "informed_in" in data:
        data = {**data, "informed_in": opener.quasi(data["informed_in"])}
    return {"time": r["occurred_at"].isoformat(), "recorded_at": r["recorded_at"].isoformat(), "service": service,
            "stream_id": r["stream_id"], "version": r["version"], "type": r["type"], "actor": meta.get("actor"),
            "event_id": r["event_id"], "data": data}


async def _store(stack: AsyncExitStack, service: str, say) -> asyncpg.Pool:
    pool = await open_store(service, say)
    if pool is None:
        raise UserError(f"the {service} service has no event store to read from: start it (`make run`) or set "
                        f"KIM_{service.upper()}_DATABASE_URL")
    stack.push_async_callback(pool.close)
    return pool


# -- kim audit referral -------------------------------------------------------------------------------------------
_REFERRAL = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = ANY($1::text[])
   OR stream_id IN (SELECT stream_id FROM events WHERE version = 1 AND type = 'kim.referrals.PartnerViewOpened'
                    AND data->>'referral_id' = $2)
ORDER BY occurred_at, position
"""
_CONSENT = f"SELECT {_COLUMNS} FROM events WHERE data->>'consent_id' = $1 AND type LIKE 'kim.cases.%' ORDER BY position"


async def referral_answer(referral_id: str, say) -> tuple[dict[str, Any], set[str], str | None]:
    """The answer, the fields read that must be recorded (health), and the client it is about."""
    async with AsyncExitStack() as stack:
        referrals = await _store(stack, "referrals", say)
        async with referrals.acquire() as conn:
            rows = await conn.fetch(_REFERRAL, [referral_id, f"wv-{referral_id}"], referral_id)
        if not rows:
            raise UserError(f"no referral or consent check {referral_id} in the referrals store: check the id (GET "
                            "/cases/{id}/referrals lists a case's referrals)")
        subject = next(((r["metadata"] or {}).get("subject") for r in rows if (r["metadata"] or {}).get("subject")),
                       None)
        checked = [r for r in rows if r["type"] == rev.ConsentChecked.event_type and r["stream_id"] == referral_id]
        requested = next((r["data"] for r in rows if r["type"] == rev.ReferralRequested.event_type), None)
        decision = checked[-1]["data"] if checked else None
        consent_id = (decision or {}).get("consent_id") or (requested or {}).get("consent_id")
        consent: list[dict] = []
        opener = None
        cases = await open_store("cases", say)
        if cases is not None:
            stack.push_async_callback(cases.close)
            opener = Withholder(await client_erased(cases, subject))
            if consent_id:
                async with cases.acquire() as conn:
                    consent = [_row("cases", r, opener) for r in await conn.fetch(_CONSENT, consent_id)]
        trail = [_row("referrals", r, opener) for r in rows]
    categories = set((decision or {}).get("categories_required", []) + (requested or {}).get("data_categories", []))
    categories |= {c for e in consent if isinstance(e["data"].get("data_categories"), list)
                   for c in e["data"]["data_categories"]}
    read = {"gesundheit (Art. 9)"} if HEALTH_CATEGORY in categories else set()
    answer = {"referral_id": referral_id, "case_id": (decision or requested or {}).get("case_id"),
              "client_id": subject, "decision": decision,
              "decision_note": None if decision else (
                  f"no recorded decision: the referral was made before the gate recorded its decisions; it names "
                  f"consent {consent_id}" if requested else None),
              "consent_id": consent_id, "consent": consent, "trail": trail}
    return answer, read, subject


def referral_text(a: dict[str, Any]) -> str:
    lines = [f"referral {a['referral_id']} (case {a['case_id']}, client {a['client_id']})"]
    d = a["decision"]
    if d is None:
        lines.append(f"decision: {a['decision_note'] or 'none recorded'}")
    else:
        verdict = "MET" if d["met"] else "NOT MET (refused)"
        lines += [f"decision: {verdict} on {d['checked_on']} (checked at {d['checked_at']}), consent "
                  f"{d.get('consent_id') or '(none)'}",
                  f"  required: recipient {d['recipient']} x purpose {d['purpose']} x categories "
                  f"{', '.join(d['categories_required'])}",
                  f"  granted:  recipients {', '.join(d.get('recipients_granted') or []) or '-'}; purposes "
                  f"{', '.join(d.get('purposes_granted') or []) or '-'}; categories "
                  f"{', '.join(d.get('categories_granted') or []) or '-'}",
                  f"  valid:    {d.get('valid_from') or '-'} to {d.get('valid_until') or 'open'}"
                  f"{', withdrawn' if d.get('withdrawn') else ''}"]
        lines += [f"  failed:   {reason}" for reason in d.get("reasons") or []]
    lines.append(f"consent {a['consent_id'] or '-'} as the cases store recorded it: "
                 f"{len(a['consent'])} event(s)")
    lines += [_line(e) for e in a["consent"]]
    lines.append(f"trail: {len(a['trail'])} event(s)")
    lines += [_line(e) for e in a["trail"]]
    return "\n".join(lines) + "\n"


def _line(e: dict[str, Any]) -> str:
    data = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in e["data"].items())
    return (f"  {e['time'][:19]}  {e['service']:<9} {e['stream_id'][:40]:<40} v{e['version']:<3} "
            f"{e['type'].rsplit('.', 1)[-1]:<24} {e['actor'] or '-'}\n      {data}")


# -- kim audit report ---------------------------------------------------------------------------------------------
_BY_STREAM_OR_FIELD = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 OR data->>$2 = $1 ORDER BY position"


_REPORT = (f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 OR data->>'report_id' = $1 "
           "OR data->'parameters'->>'report_id' = $1 ORDER BY position")  # its CSV exports (kim.reporting.CsvExported)


def recomputed_hash(generated: dict) -> str:
    """The SHA-256 of a report's content as kim_reporting.domain.report.content_hash computes it."""
    body = {k: generated.get(k) for k in ("period_from", "period_to", "municipality", "baustein", "cells")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def report_answer(report_id: str, say) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        reporting = await _store(stack, "reporting", say)
        async with reporting.acquire() as conn:
            rows = await conn.fetch(_REPORT, report_id)
    generated = next((r for r in rows if r["type"] == pev.ReportGenerated.event_type), None)
    if generated is None:
        raise UserError(f"no report {report_id} in the reporting store: check the id (GET /reports lists them)")
    g = generated["data"]
    approvals = [r for r in rows if r["type"] == pev.ReportApproved.event_type]
    again = recomputed_hash(g)
    return {
        "report_id": report_id, "kind": g.get("kind"), "period": [g.get("period_from"), g.get("period_to")],
        "municipality": g.get("municipality"), "baustein": g.get("baustein"), "cells": len(g.get("cells") or []),
        "generated": {"by": g.get("generated_by"), "at": g.get("generated_at"),
                      "recorded_by": (generated["metadata"] or {}).get("actor")},
        "content_hash": g.get("content_hash"), "content_hash_recomputed": again,
        "content_hash_holds": again == g.get("content_hash"),
        "approved": [{"by": r["data"].get("approved_by"), "at": r["data"].get("approved_at"),
                      "content_hash": r["data"].get("content_hash"),
                      "same_content": r["data"].get("content_hash") == g.get("content_hash"),
                      "four_eyes": r["data"].get("approved_by") != g.get("generated_by")} for r in approvals],
        "trail": [_row("reporting", r) for r in rows],
    }


def report_text(a: dict[str, Any]) -> str:
    holds = "holds" if a["content_hash_holds"] else f"DOES NOT HOLD (the figures give {a['content_hash_recomputed']})"
    lines = [f"report {a['report_id']} ({a['kind']}, {a['period'][0]} to {a['period'][1]}, municipality "
             f"{a['municipality'] or 'all'}, baustein {a['baustein'] or 'all'}): {a['cells']} cells",
             f"generated by {a['generated']['by']} at {a['generated']['at']}",
             f"content hash {a['content_hash']}: recomputed from its figures, it {holds}"]
    if not a["approved"]:
        lines.append("approved: not yet")
    for ap in a["approved"]:
        notes = [] if ap["same_content"] else ["a DIFFERENT content hash"]
        notes += [] if ap["four_eyes"] else ["by the person who generated it"]
        lines.append(f"approved by {ap['by']} at {ap['at']} (hash {ap['content_hash']})"
                     + (f": {'; '.join(notes)}" if notes else ""))
    lines.append(f"trail: {len(a['trail'])} event(s)")
    lines += [_line(e) for e in a["trail"]]
    return "\n".join(lines) + "\n"


# -- kim audit position -------------------------------------------------------------------------------------------
async def position_answer(position_id: str, say) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        staffing = await _store(stack, "staffing", say)
        async with staffing.acquire() as conn:
            rows = await conn.fetch(_BY_STREAM_OR_FIELD, position_id, "position_id")
            established = next((r for r in rows if r["type"] == sev.PositionEstablished.event_type), None)
            grant = []
            if established is not None and established["data"].get("grant_id"):
                grant = await conn.fetch(f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version",
                                         established["data"]["grant_id"])
    if not rows:
        raise UserError(f"no position {position_id} in the staffing store: check the id (GET /positions lists them)")
    staffed: dict[str, str] = {}
    for r in rows:
        d = r["data"]
        if r["type"] == sev.PositionFilled.event_type:
            staffed[d["staff_member_id"]] = str(d.get("vza_share"))
        elif r["type"] == sev.PositionVacated.event_type:
            staffed.pop(d["staff_member_id"], None)
    return {"position_id": position_id, "established": established["data"] if established else None,
            "grant": [_row("staffing", r) for r in grant], "staffed_now": staffed,
            "trail": [_row("staffing", r) for r in rows]}


def position_text(a: dict[str, Any]) -> str:
    e = a["established"] or {}
    lines = [f"position {a['position_id']}: {e.get('vza', '?')} VZÄ, baustein {e.get('baustein', '?')}, host "
             f"{e.get('host_organisation_id', '?')}, municipality {e.get('municipality', '?')}, funded by "
             f"{e.get('funding_source', '?')}{' (grant ' + e['grant_id'] + ')' if e.get('grant_id') else ''}, "
             f"from {e.get('valid_from', '?')} to {e.get('valid_to') or 'open'}",
             "staffed now: " + (", ".join(f"{s} ({v} VZÄ)" for s, v in sorted(a["staffed_now"].items())) or "nobody")]
    if a["grant"]:
        lines.append("grant:")
        lines += [_line(g) for g in a["grant"]]
    lines.append(f"trail: {len(a['trail'])} event(s)")
    lines += [_line(r) for r in a["trail"]]
    return "\n".join(lines) + "\n"
