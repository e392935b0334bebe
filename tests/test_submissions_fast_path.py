"""The write path of a submission (issue 16): routing through the spatial index
(sql/047), a submission in one autocommitted statement (kmzb.submit_report, sql/051:
the checks, the write), and the daily limit kept exact when one reporter submits many
times at once."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers import new_address
from kmzb.db import connection
from kmzb.domain import intake
from kmzb.domain.caller import Caller
from kmzb.domain.errors import DomainError
from kmzb.settings import Settings

# The routing before sql/047: every polygon ordered by (distance, code).
REFERENCE_GMINA = """
    SELECT teryt FROM kmzb.territorial_units WHERE level = 'gmina'
    ORDER BY geom <-> %(p)s::geometry, teryt LIMIT 1"""
REFERENCE_UNIT = """
    SELECT code FROM kmzb.police_units WHERE area IS NOT NULL
    ORDER BY area <-> %(p)s::geometry, code LIMIT 1"""


def _points(conn: psycopg.Connection) -> list[str]:
    """Points that test the rule: random ones over Poland and past its borders, and
    vertices of gmina and police area boundaries (on two polygons at once)."""
    rows = conn.execute(
        """
        SELECT ST_AsEWKT(p) FROM (
            SELECT ST_Transform(ST_SetSRID(ST_MakePoint(13.5 + random() * 11,
                                                        48.8 + random() * 6.2), 4326), 2180) p
            FROM generate_series(1, 400)
            UNION ALL
            SELECT (ST_DumpPoints(geom)).geom FROM (
                SELECT geom FROM kmzb.territorial_units WHERE level = 'gmina'
                ORDER BY teryt LIMIT 8) g
            UNION ALL
            SELECT (ST_DumpPoints(area)).geom FROM (
                SELECT area FROM kmzb.police_units WHERE area IS NOT NULL
                ORDER BY code LIMIT 4) u
        ) s"""
    ).fetchall()
    return [row[0] for row in rows]


def test_routing_answers_as_the_nearest_polygon_with_the_lowest_code(
    conn: psycopg.Connection,
) -> None:
    points = _points(conn)
    assert len(points) > 600
    outside = 0
    for point in points:
        got = conn.execute(
            "SELECT kmzb.gmina_at(%(p)s::geometry), kmzb.police_unit_at(%(p)s::geometry),"
            " kmzb.is_inside_poland(%(p)s::geometry)",
            {"p": point},
        ).fetchone()
        assert got is not None
        gmina = conn.execute(REFERENCE_GMINA, {"p": point}).fetchone()
        unit = conn.execute(REFERENCE_UNIT, {"p": point}).fetchone()
        assert (got[0], got[1]) == (gmina and gmina[0], unit and unit[0]), point
        outside += not got[2]
    assert outside > 0  # the fallback (a point in no polygon) was asked too


def test_routing_uses_the_spatial_index(conn: psycopg.Connection) -> None:
    plan = "\n".join(
        row[0]
        for row in conn.execute(
            "EXPLAIN SELECT min(teryt) FROM kmzb.territorial_units"
            " WHERE level = 'gmina' AND ST_Intersects(geom, ST_SetSRID("
            "ST_MakePoint(637000, 486000), 2180))"
        )
    )
    assert "territorial_units_geom_idx" in plan


def _api_conn(settings: Settings, db_url: str) -> psycopg.Connection:
    # as the service's role: kmzb.submit_report must be granted to it
    return psycopg.connect(connection.api_url(settings, connection.database_name(db_url)))


def _submit(settings: Settings, db_url: str, address: str, description: str) -> Any:
    with _api_conn(settings, db_url) as conn:
        try:
            return intake.submit(
                conn,
                settings,
                Caller(address=address),
                {
                    "lon": 19.9383,
                    "lat": 50.0614,
                    "category": "vandalism",
                    "description": description,
                },
            )
        except DomainError as error:
            return error


def test_one_reporter_submitting_at_once_gets_one_report_and_429s(
    settings: Settings, db_url: str
) -> None:
    address = new_address()
    answers: list[Any] = []
    start = threading.Barrier(6)

    def one(n: int) -> None:
        start.wait()
        answers.append(_submit(settings, db_url, address, f"at once {address} {n}"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert len(stored) == settings.daily_report_limit == 1
    assert len(refused) == 5
    assert {e.status for e in refused} == {HTTPStatus.TOO_MANY_REQUESTS}
    assert all(int(e.headers["Retry-After"]) >= 1 for e in refused)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM kmzb.reports WHERE description LIKE %s",
            (f"at once {address} %",),
        ).fetchone()
    assert rows == (1,)


def test_the_answer_names_the_routing_and_the_history_is_written(
    settings: Settings, db_url: str
) -> None:
    answer = _submit(settings, db_url, new_address(), "routed")
    assert isinstance(answer, dict), answer
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """SELECT r.police_unit, r.gmina_teryt, u.name, s.name_pl, s.name_en,
                      h.to_status, h.note, h.actor
               FROM kmzb.reports r
               JOIN kmzb.police_units u ON u.code = r.police_unit
               JOIN kmzb.statuses s ON s.code = r.status
               JOIN kmzb.report_status_history h ON h.report_id = r.id
               WHERE r.public_ref = %s""",
            (answer["reference"],),
        ).fetchone()
        expected = conn.execute(
            "SELECT kmzb.police_unit_at(ST_Transform(ST_SetSRID("
            "ST_MakePoint(19.9383, 50.0614), 4326), 2180)), kmzb.gmina_at(ST_Transform("
            "ST_SetSRID(ST_MakePoint(19.9383, 50.0614), 4326), 2180))"
        ).fetchone()
    assert row is not None and expected is not None
    assert (answer["police_unit"], answer["gmina_teryt"]) == expected == row[:2]
    assert answer["police_unit_name"] == row[2]
    assert answer["status_name"] == {"pl": row[3], "en": row[4]}
    assert row[5] == answer["status"]
    assert row[6] == "Zgłoszenie przyjęte / Report received"
    assert answer["gmina_teryt"].startswith("1261")  # Kraków


def test_a_reference_drawn_twice_stores_nothing_and_says_so(
    settings: Settings, db_url: str
) -> None:
    taken = _submit(settings, db_url, new_address(), "first with this reference")
    assert isinstance(taken, dict), taken
    with _api_conn(settings, db_url) as conn:
        sql = intake.SUBMIT_REPORT.replace("{point}", intake.POINT_FROM_CRS84)
        row = conn.execute(
            sql,
            {
                "ref": taken["reference"],
                "category": "vandalism",
                "event_date": None,
                "time_of_day": None,
                "description": "second with this reference",
                "source": "citizen",
                "reporter_hash": None,
                "daily_limit": 1,
                "address_string": None,
                "media_url": None,
                "actor": "citizen",
                "actor_unit": None,
                "note": "x",
                "attachment_names": [],
                "attachment_types": [],
                "attachment_sha256": [],
                "attachment_contents": [],
                "burst_radius_m": 250.0,
                "burst_window": "15 minutes",
                "burst_threshold": 0,
                "public_url": settings.public_url,
                "a": 19.94,
                "b": 50.06,
            },
        ).fetchone()
        assert row is not None and row[0] == "ref_taken" and row[2] is None
        count = conn.execute(
            "SELECT count(*) FROM kmzb.reports WHERE description = 'second with this reference'"
        ).fetchone()
        conn.rollback()
    assert count == (0,)


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        ({"lon": 19.94, "lat": 50.06, "category": "no-such"}, ["category"]),
        ({"lon": 2.35, "lat": 48.85, "category": "vandalism"}, ["location"]),
        ({"lon": 13.0, "lat": 52.5, "category": "no-such"}, ["category", "location"]),
        ({"x": 100.0, "y": 100.0, "crs": "EPSG:2180", "category": "vandalism"}, ["location"]),
        ({"lon": 19.94, "lat": 50.06}, ["category"]),
    ],
)
def test_the_checks_in_one_query_name_every_field(
    conn: psycopg.Connection, inputs: dict[str, Any], fields: list[str]
) -> None:
    _sub, errors = intake.parse_and_check(conn, inputs)
    assert [e.field for e in errors] == fields


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        ({"lon": 19.94, "lat": 50.06, "category": "no-such"}, ["category"]),
        ({"lon": 13.0, "lat": 52.5, "category": "no-such"}, ["category", "location"]),
        (
            {"lon": 13.0, "lat": 52.5, "category": "dangerous_entertainment"},
            ["description", "location"],
        ),
        ({"x": 100.0, "y": 100.0, "crs": "EPSG:2180", "category": "vandalism"}, ["location"]),
        ({"lon": 2.35, "lat": 48.85, "category": "vandalism"}, ["location"]),
    ],
)
def test_a_refused_submission_names_every_field_and_stores_nothing(
    settings: Settings, db_url: str, inputs: dict[str, Any], fields: list[str]
) -> None:
    description = f"refused {new_address()}"
    inputs = {**inputs, "description": description} if "description" not in fields else inputs
    with _api_conn(settings, db_url) as conn:
        with pytest.raises(DomainError) as refused:
            intake.submit(conn, settings, Caller(address=new_address()), inputs)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert not conn.autocommit
    assert refused.value.status == HTTPStatus.BAD_REQUEST
    assert [e.field for e in refused.value.errors] == fields
    with psycopg.connect(db_url) as conn:
        count = conn.execute(
            "SELECT count(*) FROM kmzb.reports WHERE description = %s", (description,)
        ).fetchone()
    assert count == (0,)


def test_a_submission_is_one_statement_committed_before_the_answer(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    description = f"one statement {new_address()}"
    inputs = {"lon": 19.94, "lat": 50.06, "category": "vandalism", "description": description}
    with _api_conn(settings, db_url) as conn:
        # warmed up: the vocabulary is read once per process, statements prepared
        intake.submit(conn, settings, Caller(address=new_address()), {**inputs, "description": "w"})
        trace = tmp_path / "libpq.trace"
        with trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            answer = intake.submit(conn, settings, Caller(address=new_address()), inputs)
            conn.pgconn.untrace()
        # given back as lent: idle, not autocommitting
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert not conn.autocommit
    sent = [line.split("\t")[2] for line in trace.read_text().splitlines() if line[:2] == "F\t"]
    # one extended-protocol round trip (Parse, Bind, Describe, Execute, Sync): no BEGIN,
    # no COMMIT, no checks query
    assert sent.count("Sync") == 1 and "Query" not in sent, sent
    # committed before the answer: another session reads it
    with psycopg.connect(db_url) as other:
        row = other.execute(
            "SELECT description FROM kmzb.reports WHERE public_ref = %s", (answer["reference"],)
        ).fetchone()
    assert row == (description,)


def test_a_report_that_makes_a_burst_is_stored_held_with_the_rest_of_it(
    settings: Settings, db_url: str
) -> None:
    two = replace(settings, burst_threshold=2)
    # a place of its own: no other test's report within the radius
    lon, lat = 22.40 + random.random() * 0.1, 49.20 + random.random() * 0.05
    refs = []
    for n in range(2):
        with _api_conn(two, db_url) as conn:
            answer = intake.submit(
                conn,
                two,
                Caller(address=new_address()),
                {"lon": lon, "lat": lat, "category": "vandalism", "description": f"burst {n}"},
            )
        refs.append(answer["reference"])
        with psycopg.connect(db_url) as conn:
            held = conn.execute(
                "SELECT public_ref, held_at IS NOT NULL, public_until = '-infinity'"
                " FROM kmzb.reports WHERE public_ref = ANY(%s) ORDER BY id",
                (refs,),
            ).fetchall()
        if n == 0:
            assert held == [(refs[0], False, False)]
        else:  # the second makes the burst: stored held, the first held with it
            assert held == [(refs[0], True, True), (refs[1], True, True)]
