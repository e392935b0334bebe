"""The database refuses rows that break the rules, whoever writes them."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

WARSAW = (21.0122, 52.2297)
BERLIN = (13.4050, 52.5200)

INSERT_REPORT = """
INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit, gmina_teryt,
                          description, event_date, source)
VALUES (%(ref)s, %(category)s, ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180),
        %(status)s, 'KSP', '1465011', %(description)s, %(event_date)s, %(source)s)
RETURNING id
"""


def report(**overrides) -> dict:
    values = {
        "ref": "TEST-0000-0001",
        "category": "vandalism",
        "lon": WARSAW[0],
        "lat": WARSAW[1],
        "status": "new",
        "description": None,
        "event_date": None,
        "source": "citizen",
    }
    values.update(overrides)
    return values


def refused(conn: psycopg.Connection, sql: str, params=None) -> str:
    """Run a statement that must fail; return the error text; keep the transaction usable."""
    with pytest.raises(psycopg.Error) as caught:
        with conn.transaction():
            conn.execute(sql, params)
    assert isinstance(
        caught.value,
        errors.CheckViolation
        | errors.ForeignKeyViolation
        | errors.InsufficientPrivilege
        | errors.RaiseException
        | errors.NotNullViolation
        | errors.UniqueViolation,
    ), caught.value
    return str(caught.value)


def test_a_valid_report_is_accepted_and_starts_at_version_1(conn: psycopg.Connection) -> None:
    report_id = conn.execute(INSERT_REPORT, report()).fetchone()[0]
    row = conn.execute(
        "SELECT status, version, ST_SRID(geom) FROM kmzb.reports WHERE id = %s", (report_id,)
    ).fetchone()
    assert row == ("new", 1, 2180)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"category": "other"}, "threat_categories"),
        ({"lon": BERLIN[0], "lat": BERLIN[1]}, "outside Poland"),
        ({"description": "x" * 501}, "description_check"),
        ({"description": "   "}, "description_not_blank"),
        ({"category": "dangerous_entertainment"}, "requires a description"),
        ({"status": "confirmed"}, "initial status"),
        ({"event_date": "2999-01-01"}, "event_not_after_report"),
        ({"source": "anonymous"}, "source_check"),
        ({"ref": "not a reference"}, "public_ref_check"),
    ],
)
def test_bad_reports_are_refused(conn: psycopg.Connection, overrides: dict, message: str) -> None:
    before = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()
    assert message in refused(conn, INSERT_REPORT, report(**overrides))
    assert conn.execute("SELECT count(*) FROM kmzb.reports").fetchone() == before


def test_status_follows_only_allowed_transitions(conn: psycopg.Connection) -> None:
    report_id = conn.execute(INSERT_REPORT, report()).fetchone()[0]
    change = "UPDATE kmzb.reports SET status = %s WHERE id = %s"
    assert "not allowed" in refused(conn, change, ("confirmed", report_id))
    for status in ("verification", "confirmed"):
        conn.execute(change, (status, report_id))
    assert "forwarded_names_institution" in refused(conn, change, ("forwarded", report_id))
    conn.execute(
        "UPDATE kmzb.reports SET status = 'forwarded', forwarded_to = 'SM-KRAKOW' WHERE id = %s",
        (report_id,),
    )
    assert "not allowed" in refused(conn, change, ("new", report_id))
    version = conn.execute("SELECT version FROM kmzb.reports WHERE id = %s", (report_id,))
    assert version.fetchone() == (4,)


def test_reference_and_reporter_hash_never_change(conn: psycopg.Connection) -> None:
    report_id = conn.execute(INSERT_REPORT, report()).fetchone()[0]
    message = refused(
        conn, "UPDATE kmzb.reports SET public_ref = 'TEST-0000-0002' WHERE id = %s", (report_id,)
    )
    assert "never change" in message


def test_history_is_append_only(conn: psycopg.Connection) -> None:
    report_id = conn.execute(INSERT_REPORT, report()).fetchone()[0]
    conn.execute(
        """INSERT INTO kmzb.report_status_history (report_id, to_status, actor)
           VALUES (%s, 'new', 'citizen')""",
        (report_id,),
    )
    assert "append-only" in refused(conn, "UPDATE kmzb.report_status_history SET note = 'x'")
    assert "append-only" in refused(conn, "DELETE FROM kmzb.report_status_history")
    assert "append-only" in refused(conn, "TRUNCATE kmzb.report_status_history")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "INSERT INTO kmzb.territorial_units (teryt, level, name, parent_teryt, geom) "
            "VALUES ('123', 'powiat', 'x', '12', "
            "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(500000, 500000), 2180), 10)))",
            "teryt_matches_level",
        ),
        (
            "INSERT INTO kmzb.territorial_units (teryt, level, name, parent_teryt, geom) "
            "VALUES ('1299', 'powiat', 'bow-tie', '12', ST_Multi(ST_GeomFromText("
            "'POLYGON((0 0, 10 10, 10 0, 0 10, 0 0))', 2180)))",
            "territorial_units_geom_check",
        ),
        (
            "INSERT INTO kmzb.police_unit_areas (powiat_teryt, unit_code) "
            "VALUES ('1465', 'KWP-12')",
            "police_unit_areas_pkey",
        ),
        (
            "INSERT INTO kmzb.crime_statistics (teryt, year, category, count) "
            "VALUES ('1465', 2020, 'total', -1)",
            "crime_statistics_count_check",
        ),
        (
            "INSERT INTO kmzb.police_units (code, kind, name) VALUES ('KPP-9999', 'KPP', 'x')",
            "only_kgp_is_root",
        ),
    ],
)
def test_reference_data_constraints(conn: psycopg.Connection, sql: str, message: str) -> None:
    assert message in refused(conn, sql)
