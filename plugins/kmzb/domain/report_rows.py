"""One stored report as the reading concerns see it: found by its reference, its
status history, and the guaranteed row of a statement. Shared by lookup,
police_view, attachments and review."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain import vocabulary
from kmzb.domain.errors import FieldError, invalid_query, not_found


def one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row a statement that always answers one (RETURNING, a lookup by a key the
    schema guarantees) gave."""
    if row is None:
        raise RuntimeError("the database answered no row where one is guaranteed")
    return row


def history(conn: psycopg.Connection, report_id: int, internal: bool) -> list[dict[str, Any]]:
    """Status changes, oldest first. The public sees a note only when it was marked
    public; the police (`internal`) see every note, who wrote it and whether it is public."""
    rows = conn.execute(
        """
        SELECT h.changed_at, h.from_status, h.to_status, s.name_pl, s.name_en,
               CASE WHEN %(internal)s OR NOT h.note_internal THEN h.note END AS note,
               NOT h.note_internal AS note_public, h.actor, h.actor_unit
        FROM kmzb.report_status_history h JOIN kmzb.statuses s ON s.code = h.to_status
        WHERE h.report_id = %(id)s
        ORDER BY h.changed_at, h.id
        """,
        {"id": report_id, "internal": internal},
    ).fetchall()
    entries = []
    for changed, from_status, to_status, name_pl, name_en, note, is_public, actor, unit in rows:
        entry: dict[str, Any] = {
            "changed_at": changed.isoformat(),
            "from": from_status,
            "to": to_status,
            "to_name": {"pl": name_pl, "en": name_en},
        }
        if note is not None:
            entry["note"] = note
        if internal:
            entry.update({"actor": actor, "actor_unit": unit, "note_public": is_public})
        entries.append(entry)
    return entries


def parse_reference(value: Any, pattern: str) -> str:
    """A report reference, upper-cased, or a 400 (pl/en)."""
    # said of a read or before a review looks at the report: nothing to say about storing
    if not isinstance(value, str) or not re.match(pattern, value.strip().upper()):
        raise invalid_query(
            [
                FieldError(
                    "reference",
                    "Numer zgłoszenia ma postać XXXX-XXXX-XXXX.",
                    "A report reference looks like XXXX-XXXX-XXXX.",
                )
            ]
        )
    return value.strip().upper()


FIND = """
SELECT r.id, r.public_ref, r.category, c.name_pl AS category_pl, c.name_en AS category_en,
       r.status, s.name_pl AS status_pl, s.name_en AS status_en,
       r.police_unit, u.name AS police_unit_name, r.created_at, r.status_changed_at,
       r.event_date, r.time_of_day, r.forwarded_to, r.version, r.description, r.source,
       r.gmina_teryt, i.name_pl AS forwarded_to_pl, i.name_en AS forwarded_to_en,
       r.address_string, r.media_url,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat
FROM kmzb.reports r
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.police_units u ON u.code = r.police_unit
LEFT JOIN kmzb.institutions i ON i.code = r.forwarded_to
WHERE r.public_ref = %s
"""


def find(conn: psycopg.Connection, reference: Any) -> dict[str, Any]:
    """The report with this reference (every column a reader may need), or a 400 for a
    malformed reference, a 404 for an unknown one."""
    ref = parse_reference(reference, vocabulary.load(conn).limits.reference_pattern)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(FIND, (ref,)).fetchone()
    if row is None:
        conn.rollback()
        raise not_found(
            f"No report with the reference {ref}. Check the number in your confirmation.",
            f"Nie ma zgłoszenia o numerze {ref}. Sprawdź numer w potwierdzeniu zgłoszenia.",
        )
    return row
