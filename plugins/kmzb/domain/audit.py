"""The audit trail of police reads (migration 036): who opened which report or
attachment, or read a queue, and when. Rows are appended in the caller's open
transaction, so a read and its record commit together; only the admin role
reads the trail.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.caller import Caller
from kmzb.domain.errors import FieldError, forbidden, invalid_query, unauthorized

WARSAW = ZoneInfo("Europe/Warsaw")
ACTIONS = ("report", "attachment", "queue")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def record(
    conn: psycopg.Connection,
    caller: Caller,
    action: str,
    report_id: int | None = None,
    attachment_id: int | None = None,
) -> None:
    """Append one read to the trail, inside the caller's transaction (no commit here)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audited action {action!r}")
    conn.execute(
        """INSERT INTO kmzb.police_access_log
               (actor, actor_unit, action, report_id, attachment_id)
           VALUES (%s, %s, %s, %s, %s)""",
        (caller.actor, caller.unit if caller.is_police else None, action, report_id, attachment_id),
    )


def _instant(value: str | None, name: str, end: bool, errors: list[FieldError]) -> datetime | None:
    """An ISO date or date-time; a bare date is a whole day in Warsaw (`to` includes it)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime.combine(day, time(0), WARSAW)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.append(
            FieldError(
                name,
                "Data RRRR-MM-DD lub data i czas ISO 8601.",
                "A date YYYY-MM-DD or an ISO 8601 date-time.",
            )
        )
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=WARSAW)


READ_LOG = """
SELECT l.id, l.at, l.actor, l.actor_unit, l.action, r.public_ref AS reference, l.attachment_id
FROM kmzb.police_access_log l
LEFT JOIN kmzb.reports r ON r.id = l.report_id
WHERE (%(reference)s::text IS NULL OR r.public_ref = %(reference)s)
  AND (%(actor)s::text IS NULL OR l.actor = %(actor)s)
  AND (%(since)s::timestamptz IS NULL OR l.at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR l.at < %(until)s)
ORDER BY l.at DESC, l.id DESC
LIMIT %(limit)s
"""


def read_log(conn: psycopg.Connection, caller: Caller, filters: dict[str, str]) -> dict[str, Any]:
    """The trail, newest first, for the admin role: ?reference=&actor=&from=&to=&limit=."""
    if caller.anonymous:
        raise unauthorized("This needs an admin token.", "To wymaga tokenu administratora.")
    if caller.role != "admin":
        raise forbidden(
            "Only the admin role reads the access log.",
            "Dziennik dostępu może czytać tylko administrator.",
        )
    errors: list[FieldError] = []
    reference = (filters.get("reference") or "").strip().upper() or None
    since = _instant(filters.get("from"), "from", False, errors)
    until = _instant(filters.get("to"), "to", True, errors)
    if until is not None and filters.get("to") and len(filters["to"]) != 10:
        until += timedelta(microseconds=1)  # a date-time `to` is inclusive
    try:
        limit = int(filters.get("limit") or DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(
                "limit",
                f"limit to liczba od 1 do {MAX_LIMIT}.",
                f"limit is a whole number from 1 to {MAX_LIMIT}.",
            )
        )
        limit = DEFAULT_LIMIT
    if errors:
        raise invalid_query(errors)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            READ_LOG,
            {
                "reference": reference,
                "actor": (filters.get("actor") or "").strip() or None,
                "since": since,
                "until": until,
                "limit": limit,
            },
        ).fetchall()
    conn.rollback()
    entries = []
    for row in rows:
        row["at"] = row["at"].isoformat()
        entries.append(row)
    return {"numberReturned": len(entries), "entries": entries}
