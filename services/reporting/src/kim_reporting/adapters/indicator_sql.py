"""SQL for every indicator: the facts of each cell, per period, then one aggregation with grouping sets.

Each facts query yields (label, municipality, baustein, dim, item, person, x, y) for the periods in CTE `p`;
`cp` gives every case's place and state as of each period's end. Definitions: domain/catalogue.py.
"""

from __future__ import annotations

from kim_reporting.domain.residence import B1_PLUS, NATURALISED, RANK

C, R, S = "reporting_cases", "reporting_referrals", "reporting_staffing"

PREAMBLE = f"""
WITH p AS (SELECT * FROM unnest($1::text[], $2::date[], $3::date[]) AS p(label, a, b)),
state AS (
    SELECT DISTINCT ON (p.label, t.case_id) p.label, t.case_id, t.kind
    FROM p JOIN {C}.case_timeline t ON t.on_date <= p.b AND t.kind <> 'transferred'
    ORDER BY p.label, t.case_id, t.on_date DESC, t.version DESC),
place AS (
    SELECT DISTINCT ON (p.label, t.case_id) p.label, t.case_id, t.municipality
    FROM p JOIN {C}.case_timeline t ON t.on_date <= p.b AND t.municipality IS NOT NULL
    ORDER BY p.label, t.case_id, t.on_date DESC, t.version DESC),
cp AS MATERIALIZED (
    SELECT p.label, p.a, p.b, c.case_id, coalesce(c.client_id, 'case:' || c.case_id) AS person,
           coalesce(c.baustein, 'unbekannt') AS baustein,
           coalesce(pl.municipality, c.municipality_at_open, 'unbekannt') AS municipality,
           st.kind IN ('opened', 'resumed') AS active
    FROM p CROSS JOIN {C}.cases c
    LEFT JOIN place pl ON pl.label = p.label AND pl.case_id = c.case_id
    LEFT JOIN state st ON st.label = p.label AND st.case_id = c.case_id),
ranks AS (SELECT * FROM (VALUES {", ".join(f"('{k}', {v})" for k, v in RANK.items())}) AS r(status, rank)),
f(indicator, label, municipality, baustein, dim, item, person, x, y) AS ({{facts}})
"""

_CASE_FACT = "cp.label, cp.municipality, cp.baustein"
_INTAKE = f"""p.label, coalesce(c.municipality_at_open, 'unbekannt'), coalesce(c.baustein, 'unbekannt')"""


def _milestone(where: str) -> str:
    return f"""SELECT {_CASE_FACT}, '' AS dim, cp.case_id AS item, cp.person, 0 AS x, 0 AS y
        FROM cp JOIN {C}.milestones m ON m.case_id = cp.case_id AND m.reached_on BETWEEN cp.a AND cp.b
        WHERE {where}"""


def _referral(where: str, x: str) -> str:
    return f"""SELECT p.label, coalesce(cp.municipality, 'unbekannt'), coalesce(cp.baustein, 'unbekannt'),
            r.partner AS dim, r.referral_id AS item, coalesce(cp.person, 'case:' || r.case_id) AS person,
            {x} AS x, 1 AS y
        FROM p JOIN {R}.referrals r ON r.requested_on BETWEEN p.a AND p.b
        LEFT JOIN cp ON cp.label = p.label AND cp.case_id = r.case_id
        WHERE {where}"""


def _time_weighted(start: str, end: str) -> str:
    """Share of the period covered by [start, end] (end may be NULL: open-ended)."""
    return f"(least(p.b, coalesce({end}, p.b)) - greatest(p.a, {start}) + 1)::numeric / (p.b - p.a + 1)"


FACTS: dict[str, str] = {
    "active_cases": f"""SELECT {_CASE_FACT}, '' AS dim, cp.case_id AS item, cp.person, 0 AS x, 0 AS y
        FROM cp WHERE cp.active""",
    "intakes": f"""SELECT {_INTAKE}, c.access_channel AS dim, c.case_id AS item,
            coalesce(c.client_id, 'case:' || c.case_id), 0, 0
        FROM p JOIN {C}.cases c ON c.opened_on BETWEEN p.a AND p.b""",
    "closures": f"""SELECT {_CASE_FACT}, c.close_reason, cp.case_id, cp.person, 0, 0
        FROM cp JOIN {C}.cases c ON c.case_id = cp.case_id AND c.closed_on BETWEEN cp.a AND cp.b""",
    "residence_status_at_intake": f"""SELECT {_INTAKE}, coalesce(first.status, 'unbekannt'), c.case_id,
            coalesce(c.client_id, 'case:' || c.case_id), 0, 0
        FROM p JOIN {C}.cases c ON c.opened_on BETWEEN p.a AND p.b
        LEFT JOIN LATERAL (SELECT status FROM {C}.residence r WHERE r.case_id = c.case_id
                           ORDER BY r.recorded_on, r.version LIMIT 1) first ON true""",
    "residence_status_at_closure": f"""SELECT {_CASE_FACT}, coalesce(last.status, 'unbekannt'), cp.case_id,
            cp.person, 0, 0
        FROM cp JOIN {C}.cases c ON c.case_id = cp.case_id AND c.closed_on BETWEEN cp.a AND cp.b
        LEFT JOIN LATERAL (SELECT status FROM {C}.residence r WHERE r.case_id = c.case_id
                           AND r.recorded_on <= c.closed_on ORDER BY r.recorded_on DESC, r.version DESC LIMIT 1)
            last ON true""",
    "status_improvements": f"""SELECT {_CASE_FACT}, s.previous || '->' || s.status, cp.case_id, cp.person, 0, 0
        FROM (SELECT case_id, recorded_on, status,
                     lag(status) OVER (PARTITION BY case_id ORDER BY recorded_on, version) AS previous
              FROM {C}.residence) s
        JOIN ranks now ON now.status = s.status JOIN ranks before ON before.status = s.previous
        JOIN cp ON cp.case_id = s.case_id AND s.recorded_on BETWEEN cp.a AND cp.b
        WHERE now.rank > before.rank""",
    "naturalisations": f"""SELECT {_CASE_FACT}, '', cp.case_id, cp.person, 0, 0
        FROM (SELECT case_id, recorded_on AS on_date FROM {C}.residence WHERE status = '{NATURALISED}'
              UNION ALL SELECT case_id, reached_on FROM {C}.milestones WHERE milestone = '{NATURALISED}') n
        JOIN cp ON cp.case_id = n.case_id AND n.on_date BETWEEN cp.a AND cp.b""",
    "rechtskreis_mix": f"""SELECT {_CASE_FACT}, coalesce(rk.current, 'unbekannt'), cp.case_id, cp.person, 0, 0
        FROM cp LEFT JOIN LATERAL (SELECT current FROM {C}.rechtskreis k WHERE k.case_id = cp.case_id
                                   AND k.on_date <= cp.b ORDER BY k.on_date DESC, k.version DESC LIMIT 1) rk ON true
        WHERE cp.active""",
    "rechtskreis_changes": f"""SELECT {_CASE_FACT}, coalesce(k.previous, 'unbekannt') || '->' || k.current,
            k.case_id || ':' || k.version, cp.person, 0, 0
        FROM cp JOIN {C}.rechtskreis k ON k.case_id = cp.case_id AND k.kind = 'change'
                                    AND k.on_date BETWEEN cp.a AND cp.b""",
    "course_starts": _milestone("m.milestone = 'sprachkurs_beginn'"),
    "b1_plus_certificates": _milestone(
        "m.milestone = 'sprachzertifikat' AND m.level IN (" + ", ".join(f"'{v}'" for v in B1_PLUS) + ")"),
    "training_starts": _milestone("m.milestone = 'ausbildung_beginn'"),
    "job_starts": _milestone("m.milestone = 'beschaeftigung_beginn'"),
    "goal_rate": f"""SELECT {_CASE_FACT}, '', cp.case_id, cp.person, c.goals_achieved, c.goals_agreed
        FROM cp JOIN {C}.cases c ON c.case_id = cp.case_id AND c.closed_on BETWEEN cp.a AND cp.b""",
    "median_case_duration_days": f"""SELECT {_CASE_FACT}, '', cp.case_id, cp.person, c.duration_days, 0
        FROM cp JOIN {C}.cases c ON c.case_id = cp.case_id AND c.closed_on BETWEEN cp.a AND cp.b""",
    "referrals": _referral("true", "0"),
    "referral_acceptance_rate": _referral(
        "r.accepted_on IS NOT NULL OR r.declined_on IS NOT NULL", "(r.accepted_on IS NOT NULL)::int"),
    "median_days_to_appointment": _referral("r.appointment_on IS NOT NULL", "r.appointment_on - r.requested_on"),
    "consent_coverage": f"""SELECT {_CASE_FACT}, '', cp.case_id, cp.person, min(covered::int), 1
        FROM cp JOIN LATERAL (
            SELECT EXISTS (
                SELECT 1 FROM {C}.consents k WHERE k.case_id = cp.case_id AND k.recipient = r.partner
                  AND k.granted_on <= cp.b AND (k.valid_until IS NULL OR k.valid_until >= cp.b)
                  AND NOT EXISTS (SELECT 1 FROM {C}.consent_withdrawals w WHERE w.consent_id = k.consent_id
                                  AND w.effective_on <= cp.b
                                  AND (w.scope = 'alle' OR (w.scope = 'empfaenger' AND w.recipient = k.recipient)))
            ) AS covered
            FROM {R}.referrals r WHERE r.case_id = cp.case_id AND r.requested_on <= cp.b
              AND coalesce(least(r.closed_on, r.revoked_on, r.declined_on) > cp.b, true)) inv ON true
        WHERE cp.active GROUP BY cp.label, cp.municipality, cp.baustein, cp.case_id, cp.person""",
    "vza_granted": f"""SELECT p.label, '*', g.baustein, '', g.grant_id, NULL, g.vza * {_time_weighted(
        "g.period_from", "g.period_to")}, 0
        FROM p JOIN {S}.grants g ON g.period_from <= p.b AND g.period_to >= p.a""",
    "vza_positions": f"""SELECT p.label, s.municipality, s.baustein, '', s.position_id, NULL,
            s.vza * {_time_weighted("s.valid_from", "s.valid_to")}, 0
        FROM p JOIN {S}.positions s ON s.valid_from <= p.b AND coalesce(s.valid_to >= p.a, true)""",
    "vza_filled": f"""SELECT p.label, s.municipality, s.baustein, '', s.position_id, NULL,
            sum(x.delta * (p.b - greatest(p.a, x.on_date) + 1)::numeric / (p.b - p.a + 1)), 0
        FROM p JOIN {S}.fills x ON x.on_date <= p.b JOIN {S}.positions s ON s.position_id = x.position_id
        GROUP BY p.label, s.municipality, s.baustein, s.position_id""",
    "vza_filled_at_end": f"""SELECT p.label, s.municipality, s.baustein, '', s.position_id, NULL, sum(x.delta), 0
        FROM p JOIN {S}.fills x ON x.on_date <= p.b JOIN {S}.positions s ON s.position_id = x.position_id
        GROUP BY p.label, s.municipality, s.baustein, s.position_id""",
    "vza_vacant_at_end": f"""SELECT p.label, s.municipality, s.baustein, '', s.position_id, NULL,
            greatest(s.vza - coalesce((SELECT sum(x.delta) FROM {S}.fills x
                                       WHERE x.position_id = s.position_id AND x.on_date <= p.b), 0), 0), 0
        FROM p JOIN {S}.positions s ON s.valid_from <= p.b AND coalesce(s.valid_to >= p.b, true)""",
}

COLUMNS = "label, municipality, baustein, dim, item, person, x, y"


def query(names: list[str]) -> str:
    """One statement for the given indicators: rows (indicator, label, municipality, baustein, dim, items, sum_x,
    sum_y, median_x, persons); NULL municipality / baustein = all of them. The case-per-period rows (cp) are built
    once and shared by every indicator."""
    facts = "\nUNION ALL\n".join(
        f"SELECT '{name}'::text, label, municipality, baustein, dim, item::text, person::text, x::numeric, y::numeric"
        f" FROM ({FACTS[name]}) AS s_{name}({COLUMNS})" for name in names)
    return PREAMBLE.replace("{facts}", facts) + """
SELECT indicator, label, municipality, baustein, dim, count(DISTINCT item) AS items, sum(x) AS sum_x, sum(y) AS sum_y,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median_x, count(DISTINCT person) AS persons
FROM f
GROUP BY GROUPING SETS ((indicator, label, municipality, baustein, dim), (indicator, label, municipality, dim),
                        (indicator, label, baustein, dim), (indicator, label, dim))"""
