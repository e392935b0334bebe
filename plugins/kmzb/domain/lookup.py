"""The public status of a report, for anyone holding its reference: no reporter data,
no internal notes."""

from __future__ import annotations

from typing import Any

import psycopg

from kmzb.domain import report_rows
from kmzb.domain.notices import EMERGENCY_NOTICE


def public_answer(conn: psycopg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    """The public part of a report found by kmzb.domain.report_rows.find."""
    return {
        "reference": row["public_ref"],
        "category": row["category"],
        "category_name": {"pl": row["category_pl"], "en": row["category_en"]},
        "status": row["status"],
        "status_name": {"pl": row["status_pl"], "en": row["status_en"]},
        "police_unit": row["police_unit"],
        "police_unit_name": row["police_unit_name"],
        "reported_at": row["created_at"].isoformat(),
        "status_changed_at": row["status_changed_at"].isoformat(),
        "event_date": row["event_date"].isoformat() if row["event_date"] else None,
        "time_of_day": row["time_of_day"],
        "forwarded_to": row["forwarded_to"],
        "forwarded_to_name": (
            {"pl": row["forwarded_to_pl"], "en": row["forwarded_to_en"]}
            if row["forwarded_to_pl"]
            else None
        ),
        "history": report_rows.history(conn, row["id"], internal=False),
        "notice": EMERGENCY_NOTICE,
    }


def by_reference(conn: psycopg.Connection, reference: Any) -> dict[str, Any]:
    """What anyone holding the reference may see: no reporter data, no internal notes."""
    answer = public_answer(conn, report_rows.find(conn, reference))
    conn.rollback()
    return answer
