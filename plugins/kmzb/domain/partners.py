"""What a partner institution (pillar 2) reads: the reports the police forwarded to it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain import institutions
from kmzb.domain.caller import Caller
from kmzb.domain.errors import forbidden, unauthorized


def forwarded_reports(conn: psycopg.Connection, caller: Caller) -> dict[str, Any]:
    """Reports forwarded to the partner's institution (pillar 2), matched by its code."""
    if caller.anonymous:
        raise unauthorized("This needs a partner token.", "To wymaga tokenu partnera.")
    if caller.role != "partner" or not caller.institution:
        raise forbidden(
            "Only a partner's token (with an institution code) reads what was forwarded.",
            "Przekazane zgłoszenia czyta tylko token partnera (z kodem instytucji).",
        )
    name = institutions.name_of(conn, caller.institution)
    if name is None:
        conn.rollback()
        raise forbidden(
            f"The token names an unknown institution code {caller.institution}.",
            f"Token wskazuje nieznany kod instytucji {caller.institution}.",
        )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT r.public_ref AS reference, r.category, c.name_pl AS category_name,
                      r.status_changed_at, r.event_date, r.description,
                      ST_X(ST_Transform(r.geom, 4326)) AS lon,
                      ST_Y(ST_Transform(r.geom, 4326)) AS lat
               FROM kmzb.reports r JOIN kmzb.threat_categories c ON c.code = r.category
               WHERE r.status = 'forwarded' AND r.forwarded_to = %s
               ORDER BY r.status_changed_at DESC LIMIT 1000""",
            (caller.institution,),
        ).fetchall()
    conn.rollback()
    for row in rows:
        row["status_changed_at"] = row["status_changed_at"].isoformat()
        row["event_date"] = row["event_date"].isoformat() if row["event_date"] else None
    return {"institution": caller.institution, "institution_name": name, "reports": rows}
