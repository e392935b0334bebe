"""A report's attachments, for the police who serve its unit; each download is
recorded in the access log. (They are stored with the report by kmzb.domain.intake.)"""

from __future__ import annotations

from typing import Any

import psycopg

from kmzb.domain import audit, report_rows
from kmzb.domain.caller import Caller
from kmzb.domain.errors import not_found
from kmzb.domain.police_reach import require_reach


def download(
    conn: psycopg.Connection, caller: Caller, reference: Any, attachment_id: int
) -> tuple[str, str, bytes]:
    """An attachment's name, media type and bytes, for the police who serve the report's
    unit; the download is recorded in the access log in the same transaction."""
    row = report_rows.find(conn, reference)
    require_reach(conn, caller, row["police_unit"])
    found = conn.execute(
        """SELECT id, filename, media_type, content FROM kmzb.report_attachments
           WHERE report_id = %s AND id = %s""",
        (row["id"], attachment_id),
    ).fetchone()
    if found is None:
        conn.rollback()
        raise not_found("No such attachment.", "Nie ma takiego załącznika.")
    audit.record(conn, caller, "attachment", report_id=row["id"], attachment_id=found[0])
    conn.commit()
    return found[1], found[2], bytes(found[3])
