"""The police queue: the reports of the caller's units, oldest first, filtered by status,
category, dates, overdue and held bursts."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.caller import Caller
from kmzb.domain.errors import FieldError, forbidden, invalid_query
from kmzb.domain.police_reach import reachable_units

QUEUE = """
SELECT r.public_ref, r.category, c.name_pl AS category_name, r.status, s.name_pl AS status_name,
       r.police_unit, r.created_at, r.event_date, r.time_of_day, r.description, r.version,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       (s.overdue_after IS NOT NULL AND r.created_at + s.overdue_after < now()) AS overdue,
       (SELECT count(*) FROM kmzb.report_attachments a WHERE a.report_id = r.id) AS attachments,
       r.held_at IS NOT NULL AS burst, r.held_at,
       count(*) OVER () AS matched
FROM kmzb.reports r
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.threat_categories c ON c.code = r.category
WHERE (%(units)s::text[] IS NULL OR r.police_unit = ANY(%(units)s))
  AND (%(statuses)s::text[] IS NULL AND s.is_open OR r.status = ANY(%(statuses)s))
  AND (%(category)s::text IS NULL OR r.category = %(category)s)
  AND (%(since)s::date IS NULL OR r.created_at >= %(since)s::date)
  AND (%(until)s::date IS NULL OR r.created_at < %(until)s::date + 1)
  AND (NOT %(overdue_only)s OR (s.overdue_after IS NOT NULL
                                AND r.created_at + s.overdue_after < now()))
  AND (%(held)s::boolean IS NULL OR (r.held_at IS NOT NULL) = %(held)s::boolean)
ORDER BY r.created_at, r.id
LIMIT %(limit)s OFFSET %(offset)s
"""
# the queue's `held` filter: none, only bursts held from the public view, or only the others
HELD_FILTER: dict[str, bool | None] = {
    "": None,
    "true": True,
    "1": True,
    "false": False,
    "0": False,
}


def _date_filter(value: str | None, name: str, errors: list[FieldError]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "Data w formacie RRRR-MM-DD.", "A date as YYYY-MM-DD."))
        return None


def read(conn: psycopg.Connection, caller: Caller, filters: dict[str, str]) -> dict[str, Any]:
    """Open reports of the caller's units, oldest first; overdue ones and bursts held from
    the public view flagged (`held=true` lists only those, `held=false` the others)."""
    reach = reachable_units(conn, caller)
    errors: list[FieldError] = []
    unit = filters.get("unit")
    units = sorted(reach) if reach is not None else None
    if unit:
        if reach is not None and unit not in reach:
            raise forbidden("You do not serve this unit.", "Nie obsługujesz tej jednostki.")
        units = [unit]
    statuses = [s for s in (filters.get("status") or "").split(",") if s] or None
    if statuses:
        known = {r[0] for r in conn.execute("SELECT code FROM kmzb.statuses")}
        if set(statuses) - known:
            errors.append(FieldError("status", "Nieznany status.", "Unknown status."))
    since = _date_filter(filters.get("from"), "from", errors)
    until = _date_filter(filters.get("to"), "to", errors)
    held_filter = (filters.get("held") or "").strip().lower()
    if held_filter not in HELD_FILTER:
        errors.append(
            FieldError(
                "held",
                "held: true (tylko wstrzymane fale zgłoszeń) lub false.",
                "held: true (only held bursts) or false.",
            )
        )
    held = HELD_FILTER.get(held_filter)
    try:
        limit = min(int(filters.get("limit", 100)), 1000)
        offset = max(int(filters.get("offset", 0)), 0)
        if limit < 1:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(
                "limit",
                "limit i offset to liczby całkowite.",
                "limit and offset are whole numbers.",
            )
        )
        limit, offset = 100, 0
    if errors:
        raise invalid_query(errors)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            QUEUE,
            {
                "units": units,
                "statuses": statuses,
                "category": filters.get("category") or None,
                "since": since,
                "until": until,
                "limit": limit,
                "offset": offset,
                "overdue_only": filters.get("overdue") in ("1", "true"),
                "held": held,
            },
        ).fetchall()
    conn.rollback()
    items = []
    for row in rows:
        row = dict(row)
        del row["matched"]
        row["reference"] = row.pop("public_ref")
        row["created_at"] = row["created_at"].isoformat()
        row["event_date"] = row["event_date"].isoformat() if row["event_date"] else None
        row["held_at"] = row["held_at"].isoformat() if row["held_at"] else None
        items.append(row)
    return {
        "units": units,
        "numberMatched": rows[0]["matched"] if rows else 0,
        "numberReturned": len(items),
        "reports": items,
    }
