"""The police view of one report: everything about it, for the police who serve its
unit, with where a review may take it next. Each read is recorded in the access log."""

from __future__ import annotations

from typing import Any

import psycopg

from kmzb.domain import audit, report_rows, vocabulary
from kmzb.domain.caller import Caller
from kmzb.domain.lookup import public_answer
from kmzb.domain.police_reach import require_reach


def read(conn: psycopg.Connection, caller: Caller, reference: Any) -> dict[str, Any]:
    """Everything about a report, for the police who serve its unit. The read is
    recorded in the access log in the same transaction."""
    row = report_rows.find(conn, reference)
    require_reach(conn, caller, row["police_unit"])
    attachments = conn.execute(
        """SELECT id, filename, media_type, size_bytes FROM kmzb.report_attachments
           WHERE report_id = %s ORDER BY id""",
        (row["id"],),
    ).fetchall()
    answer = public_answer(conn, row)
    answer.update(
        {
            "version": row["version"],
            "description": row["description"],
            "source": row["source"],
            "gmina_teryt": row["gmina_teryt"],
            "lon": row["lon"],
            "lat": row["lat"],
            # as an Open311 client gave them: text for the police, never fetched
            "address_string": row["address_string"],
            "media_url": row["media_url"],
            "history": report_rows.history(conn, row["id"], internal=True),
            # where a review may take it now (kmzb.status_transitions), named for the panel
            "allowed_transitions": vocabulary.load(conn).allowed_transitions(row["status"]),
            "attachments": [
                {"id": a, "name": n, "media_type": t, "size_bytes": s} for a, n, t, s in attachments
            ],
        }
    )
    audit.record(conn, caller, "report", report_id=row["id"])
    conn.commit()
    return answer
