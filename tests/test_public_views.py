"""Public views: no personal data, and the visibility policy applied from data."""

from __future__ import annotations

import psycopg
import pytest

PERSONAL = {"reporter_hash", "note", "note_internal", "actor", "actor_unit", "forwarded_to"}


def test_public_views_expose_no_personal_column(conn: psycopg.Connection) -> None:
    columns = conn.execute(  # pg_attribute: information_schema omits materialized views
        """
        SELECT c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'kmzb' AND c.relname LIKE 'public\\_%' AND c.relkind IN ('v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped
        """
    ).fetchall()
    views = {table for table, _ in columns}
    assert {"public_threats", "public_gminy", "public_police_units"} <= views
    assert [(t, c) for t, c in columns if c in PERSONAL] == []
    kinds = conn.execute(
        """
        SELECT DISTINCT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'kmzb' AND c.relname LIKE 'public\\_%'
        """
    ).fetchall()
    assert set(kinds) <= {("v",), ("m",), ("i",)}  # views, the map's grid and its indexes


def _new_report(conn: psycopg.Connection, ref: str, category: str = "vandalism") -> int:
    description = "Głośna impreza do rana" if category == "dangerous_entertainment" else None
    return conn.execute(
        """
        INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit, description,
                                  reporter_hash)
        VALUES (%s, %s, ST_Transform(ST_SetSRID(ST_MakePoint(19.94, 50.06), 4326), 2180),
                'new', 'KMP-1261', %s, repeat('a', 64))
        RETURNING id
        """,
        (ref, category, description),
    ).fetchone()[0]


def _move(conn: psycopg.Connection, report_id: int, *statuses: str) -> None:
    for status in statuses:
        forwarded = "ZDMK" if status == "forwarded" else None
        conn.execute(
            "UPDATE kmzb.reports SET status = %s, forwarded_to = coalesce(%s, forwarded_to) "
            "WHERE id = %s",
            (status, forwarded, report_id),
        )


def _age(conn: psycopg.Connection, report_id: int, interval: str) -> None:
    """Move the clock: the last status change happened `interval` ago."""
    conn.execute(
        "UPDATE kmzb.reports SET status_changed_at = now() - %s::interval WHERE id = %s",
        (interval, report_id),
    )


def _public(conn: psycopg.Connection, ref: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM kmzb.public_threats WHERE id = %s", (ref,)).fetchone()
        is not None
    )


@pytest.mark.parametrize(
    ("path", "age", "public"),
    [
        ((), "1 year", True),  # Nowe: always
        (("verification",), "1 year", True),
        (("verification", "confirmed"), "1 year", True),
        (("verification", "confirmed", "forwarded"), "1 year", True),
        (("verification", "unconfirmed"), "6 days", True),  # Niepotwierdzone: 7 days
        (("verification", "unconfirmed"), "8 days", False),
        (("verification", "confirmed", "eliminated"), "29 days", True),  # one month
        (("verification", "confirmed", "eliminated"), "32 days", False),
        (("verification", "joke_or_mistake"), "1 minute", False),  # never
    ],
)
def test_visibility_policy(conn: psycopg.Connection, path, age, public) -> None:
    report_id = _new_report(conn, "TEST-0000-0100")
    _move(conn, report_id, *path)
    _age(conn, report_id, age)
    assert _public(conn, "TEST-0000-0100") is public


def test_category_rules(conn: psycopg.Connection) -> None:
    hidden = _new_report(conn, "TEST-0000-0200", "animal_cruelty")
    _move(conn, hidden, "verification", "confirmed")
    assert not _public(conn, "TEST-0000-0200")
    party = _new_report(conn, "TEST-0000-0201", "dangerous_entertainment")
    assert not _public(conn, "TEST-0000-0201")
    _move(conn, party, "verification")
    assert not _public(conn, "TEST-0000-0201")
    _move(conn, party, "confirmed")
    assert _public(conn, "TEST-0000-0201")


def test_policy_lives_in_data(conn: psycopg.Connection) -> None:
    report_id = _new_report(conn, "TEST-0000-0300")
    _move(conn, report_id, "verification", "unconfirmed")
    _age(conn, report_id, "10 days")
    assert not _public(conn, "TEST-0000-0300")
    conn.execute(
        "UPDATE kmzb.visibility_policy SET public_for = '14 days' WHERE status = 'unconfirmed'"
    )
    assert _public(conn, "TEST-0000-0300")
