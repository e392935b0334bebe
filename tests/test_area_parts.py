"""Routing and the point-in-Poland check on subdivided polygons (sql/049): the same
answers as the whole polygons gave, on random points, on boundaries, on the cuts of
the subdivision, just past the border and in the gaps; the parts follow every write
of the polygons; the API reads them and writes none."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors as pg_errors

from kmzb.db import connection
from kmzb.settings import Settings

# The definitions before sql/049, for reference (is_inside_poland from sql/004,
# gmina_at and police_unit_at from sql/047): whole polygons, one statement each.
REFERENCE = """
SELECT
    EXISTS (SELECT 1 FROM kmzb.territorial_units
            WHERE teryt = 'PL' AND ST_Intersects(geom, ST_Transform(%(p)s::geometry, 2180))),
    (SELECT COALESCE(
        (SELECT min(teryt) FROM kmzb.territorial_units
         WHERE level = 'gmina' AND ST_Intersects(geom, q.point)),
        (SELECT teryt FROM kmzb.territorial_units
         WHERE level = 'gmina'
         ORDER BY geom <-> q.point, teryt
         LIMIT 1))
     FROM (SELECT ST_Transform(%(p)s::geometry, 2180) AS point) q),
    (SELECT COALESCE(
        (SELECT min(code) FROM kmzb.police_units
         WHERE area IS NOT NULL AND ST_Intersects(area, q.point)),
        (SELECT code FROM kmzb.police_units
         WHERE area IS NOT NULL
         ORDER BY area <-> q.point, code
         LIMIT 1))
     FROM (SELECT ST_Transform(%(p)s::geometry, 2180) AS point) q)
"""
FUNCTIONS = """
SELECT kmzb.is_inside_poland(%(p)s::geometry), kmzb.gmina_at(%(p)s::geometry),
       kmzb.police_unit_at(%(p)s::geometry)
"""

# Points as hex EWKB (exact coordinates: a vertex stays that vertex), with their kind.
POINTS = """
WITH whole AS (
    SELECT 'kraj' AS layer, teryt AS code, geom FROM kmzb.territorial_units WHERE teryt = 'PL'
    UNION ALL
    SELECT 'gmina', teryt, geom FROM kmzb.territorial_units WHERE level = 'gmina'
    UNION ALL
    SELECT 'police', code, area FROM kmzb.police_units WHERE area IS NOT NULL
), cut_polygons AS (
    -- polygons ST_Subdivide cut, a few of each layer
    SELECT layer, code FROM (
        SELECT layer, code, row_number() OVER (PARTITION BY layer ORDER BY code) AS n
        FROM kmzb.area_parts WHERE cuts IS NOT NULL GROUP BY layer, code) c
    WHERE n <= 4 AND layer <> 'kraj'
), cut_segments AS (
    SELECT a.layer, s.geom, row_number() OVER (ORDER BY a.layer, a.code, s.path) AS n
    FROM kmzb.area_parts a, ST_DumpSegments(a.cuts) s
), border_segments AS (
    SELECT s.geom, row_number() OVER (ORDER BY s.path) AS n
    FROM whole w, ST_DumpSegments(w.geom) s WHERE w.layer = 'kraj'
), normals AS (
    -- the midpoint of a segment and its unit normal
    SELECT kind, ST_LineInterpolatePoint(geom, 0.5) AS mid,
           (ST_Y(ST_StartPoint(geom)) - ST_Y(ST_EndPoint(geom))) / ST_Length(geom) AS nx,
           (ST_X(ST_EndPoint(geom)) - ST_X(ST_StartPoint(geom))) / ST_Length(geom) AS ny
    FROM (SELECT 'cut' AS kind, geom FROM cut_segments WHERE n % 8 = 0
          UNION ALL
          SELECT 'border', geom FROM border_segments WHERE n % 30 = 0) s
    WHERE ST_Length(geom) > 0
), gaps AS (
    SELECT (ST_Dump(ST_Difference(w.geom, (SELECT ST_Union(geom) FROM whole
                                            WHERE layer = 'gmina')))).geom AS geom
    FROM whole w WHERE w.layer = 'kraj'
    UNION ALL
    SELECT (ST_Dump(ST_Difference(w.geom, (SELECT ST_Union(geom) FROM whole
                                            WHERE layer = 'police')))).geom
    FROM whole w WHERE w.layer = 'kraj'
)
SELECT s.kind, ST_AsHEXEWKB(d.point) FROM (
    SELECT 'random' AS kind,
           ST_Transform(ST_SetSRID(ST_MakePoint(13.5 + random() * 11, 48.8 + random() * 6.2),
                                   4326), 2180) AS p
    FROM generate_series(1, 1200)
    UNION ALL
    -- every vertex of some gminy and police areas: on two polygons at once
    SELECT 'vertex ' || w.layer, (ST_DumpPoints(w.geom)).geom
    FROM whole w
    WHERE (w.layer, w.code) IN (SELECT layer, code FROM cut_polygons)
       OR w.code IN ('0201011', '1261011', '1465011', '2262011', 'KMP-1261', 'KSP')
    UNION ALL
    -- every fifth vertex of the border
    SELECT 'vertex kraj', v.geom
    FROM whole w, ST_DumpPoints(w.geom) v WHERE w.layer = 'kraj' AND v.path[3] % 5 = 0
    UNION ALL
    -- the vertices the cuts made (on the polygon's boundary, rounded) and their
    -- neighbours one nanometre and two millimetres (past the guard) away
    SELECT 'cut vertex', ST_Translate(v.geom, d.x, d.y)
    FROM (SELECT v.geom, row_number() OVER (ORDER BY ST_X(v.geom), ST_Y(v.geom)) AS n
          FROM (SELECT DISTINCT v.geom FROM kmzb.area_parts a, ST_DumpPoints(a.cuts) v) v) v,
         (VALUES (0.0, 0.0), (1e-9, 0.0), (0.0, -1e-9), (0.002, 0.0), (0.0, -0.002),
                 (-0.002, 0.002)) d(x, y)
    WHERE v.n % 4 = 0
    UNION ALL
    -- on, beside and past the cuts and the border: 1e-7 m, 1 cm and 1 m either side
    SELECT kind || ' side', ST_Translate(mid, nx * d, ny * d)
    FROM normals, unnest(ARRAY[0, 1e-7, -1e-7, 0.01, -0.01, 1, -1]) d
    UNION ALL
    -- in no gmina or in no police area: water, slivers between neighbours
    SELECT 'gap', ST_PointOnSurface(geom)
    FROM (SELECT geom FROM gaps ORDER BY ST_Area(geom) DESC LIMIT 150) g
    UNION ALL
    SELECT 'gap', ST_GeneratePoints(geom, 40)
    FROM (SELECT geom FROM gaps ORDER BY ST_Area(geom) DESC LIMIT 1) g
) s, ST_Dump(s.p) d(path, point)
"""


def _compare(conn: psycopg.Connection, points: list[tuple[str, str]]) -> list[str]:
    """The points where a function answers differently from its old definition."""
    differ = []
    for kind, point in points:
        got = conn.execute(FUNCTIONS, {"p": point}).fetchone()
        want = conn.execute(REFERENCE, {"p": point}).fetchone()
        if got != want:
            differ.append(f"{kind} {point}: {got} != {want}")
    return differ


def test_the_parts_answer_as_the_whole_polygons(conn: psycopg.Connection) -> None:
    points = conn.execute(POINTS).fetchall()
    kinds: dict[str, int] = {}
    for kind, _point in points:
        kinds[kind] = kinds.get(kind, 0) + 1
    assert len(points) > 5000, kinds
    for kind in (
        "random",
        "vertex gmina",
        "vertex police",
        "vertex kraj",
        "cut vertex",
        "cut side",
        "border side",
        "gap",
    ):
        assert kinds.get(kind, 0) >= 100, kinds
    assert _compare(conn, points) == []

    # the cases were asked: outside Poland, in no gmina, in no police area, and next
    # to a cut (answered by the whole polygons)
    asked = conn.execute(
        """
        SELECT count(*) FILTER (WHERE NOT kmzb.is_inside_poland(p)),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM kmzb.territorial_units
                   WHERE level = 'gmina' AND ST_Intersects(geom, p))),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM kmzb.police_units WHERE ST_Intersects(area, p))),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM kmzb.area_parts a
                   WHERE a.geom && ST_Expand(p, 0.001) AND ST_DWithin(a.cuts, p, 0.001)))
        FROM (SELECT ST_Transform(unnest(%s::text[])::geometry, 2180) AS p) s
        """,
        ([point for _kind, point in points],),
    ).fetchone()
    assert asked is not None and all(count >= 20 for count in asked), asked


def test_the_parts_cover_each_polygon_exactly(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        WITH whole AS (
            SELECT 'kraj' AS layer, teryt AS code, geom FROM kmzb.territorial_units
            WHERE teryt = 'PL'
            UNION ALL
            SELECT 'gmina', teryt, geom FROM kmzb.territorial_units WHERE level = 'gmina'
            UNION ALL
            SELECT 'police', code, area FROM kmzb.police_units WHERE area IS NOT NULL
        ), parts AS (
            SELECT layer, code, count(*) AS n, sum(ST_Area(geom)) AS area,
                   max(ST_NPoints(geom)) AS most, ST_Collect(geom) AS geom
            FROM kmzb.area_parts GROUP BY layer, code
        )
        SELECT w.layer, w.code, p.n, abs(ST_Area(w.geom) - p.area), p.most,
               -- a vertex of the polygon that no part has
               (SELECT count(*) FROM ST_DumpPoints(w.geom) v
                WHERE NOT EXISTS (SELECT 1 FROM ST_DumpPoints(p.geom) pv
                                  WHERE ST_X(pv.geom) = ST_X(v.geom)
                                    AND ST_Y(pv.geom) = ST_Y(v.geom)))
        FROM whole w FULL JOIN parts p USING (layer, code)
        """
    ).fetchall()
    counts = {layer: sum(1 for row in rows if row[0] == layer) for layer in ("kraj", "gmina")}
    assert counts == {"kraj": 1, "gmina": 2477}
    wrong = [row for row in rows if row[2] is None or row[3] > 0.01 or row[4] > 64 or row[5]]
    assert wrong == []


def _parts(conn: psycopg.Connection, layer: str, code: str) -> list[tuple[str, ...]]:
    return conn.execute(
        "SELECT ctid::text, ST_AsEWKT(geom) FROM kmzb.area_parts"
        " WHERE layer = %s AND code = %s ORDER BY ctid",
        (layer, code),
    ).fetchall()


def _around(conn: psycopg.Connection, geom_sql: str, code: str) -> list[tuple[str, str]]:
    """The vertices of a polygon and random points over and around its box."""
    rows = conn.execute(
        f"""
        WITH g AS ({geom_sql})
        SELECT 'around', ST_AsHEXEWKB((ST_Dump(p)).geom) FROM (
            SELECT (ST_DumpPoints(geom)).geom AS p FROM g
            UNION ALL
            SELECT ST_GeneratePoints(ST_Expand(ST_Envelope(geom), 2000), 150) FROM g
        ) s
        """,  # noqa: S608 (the tests' own SQL)
        {"code": code},
    ).fetchall()
    return [(kind, point) for kind, point in rows]


def test_a_moved_gmina_takes_its_parts_along(conn: psycopg.Connection) -> None:
    code = "1261011"  # Kraków
    before = _parts(conn, "gmina", code)
    neighbour = _parts(conn, "gmina", "1206072")
    conn.execute(
        "UPDATE kmzb.territorial_units SET geom = ST_Translate(geom, 1500, -700) WHERE teryt = %s",
        (code,),
    )
    after = _parts(conn, "gmina", code)
    assert after and after != before
    assert _parts(conn, "gmina", "1206072") == neighbour  # only the changed code
    points = _around(conn, "SELECT geom FROM kmzb.territorial_units WHERE teryt = %(code)s", code)
    assert _compare(conn, points) == []


def test_a_write_that_changes_no_polygon_leaves_the_parts(conn: psycopg.Connection) -> None:
    gmina = _parts(conn, "gmina", "1261011")
    unit = _parts(conn, "police", "KMP-1261")
    conn.execute("UPDATE kmzb.territorial_units SET name = name || ' ', population = 1")
    conn.execute("UPDATE kmzb.police_units SET name = name || ' '")
    assert _parts(conn, "gmina", "1261011") == gmina
    assert _parts(conn, "police", "KMP-1261") == unit


def test_a_police_area_taken_away_and_given_back(conn: psycopg.Connection) -> None:
    code = "KMP-1261"
    area = conn.execute("SELECT area FROM kmzb.police_units WHERE code = %s", (code,)).fetchone()
    assert area is not None
    conn.execute("UPDATE kmzb.police_units SET area = NULL WHERE code = %s", (code,))
    assert _parts(conn, "police", code) == []
    points = _around(
        conn, "SELECT jurisdiction AS geom FROM kmzb.police_units WHERE code = %(code)s", code
    )
    assert _compare(conn, points) == []
    conn.execute("UPDATE kmzb.police_units SET area = %s WHERE code = %s", (area[0], code))
    assert _parts(conn, "police", code)
    assert _compare(conn, points) == []


def test_a_new_gmina_and_its_removal(conn: psycopg.Connection) -> None:
    # a square in the Baltic inside Poland's waters, where no gmina lies
    square = conn.execute(
        """SELECT ST_Multi(ST_Buffer(ST_Transform(ST_SetSRID(ST_MakePoint(18.0, 54.9), 4326),
                                                  2180), 3000, 'quad_segs=2'))"""
    ).fetchone()
    assert square is not None
    conn.execute(
        """INSERT INTO kmzb.territorial_units (teryt, level, name, parent_teryt, gmina_type, geom)
           VALUES ('2215991', 'gmina', 'Test', '2215', 1, %s)""",
        (square[0],),
    )
    assert len(_parts(conn, "gmina", "2215991")) == 1
    inside = "SELECT kmzb.gmina_at(ST_Transform(ST_SetSRID(ST_MakePoint(18.0, 54.9), 4326), 2180))"
    assert conn.execute(inside).fetchone() == ("2215991",)
    points = _around(conn, "SELECT %(code)s::geometry AS geom", square[0])
    assert _compare(conn, points) == []
    conn.execute("DELETE FROM kmzb.territorial_units WHERE teryt = '2215991'")
    assert _parts(conn, "gmina", "2215991") == []
    assert conn.execute(inside).fetchone() != ("2215991",)
    assert _compare(conn, points) == []


@pytest.fixture()
def as_api(db_url: str, settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(connection.api_url(settings, connection.database_name(db_url))) as conn:
        yield conn
        conn.rollback()


def test_the_api_reads_the_parts_and_writes_none(as_api: psycopg.Connection) -> None:
    krakow = "ST_Transform(ST_SetSRID(ST_MakePoint(19.9383, 50.0614), 4326), 2180)"
    row = as_api.execute(
        f"SELECT kmzb.is_inside_poland({krakow}), kmzb.gmina_at({krakow}),"
        f" kmzb.police_unit_at({krakow})"
    ).fetchone()
    assert row == (True, "1261011", "KMP-1261")
    for statement in (
        "INSERT INTO kmzb.area_parts SELECT * FROM kmzb.area_parts LIMIT 1",
        "UPDATE kmzb.area_parts SET cuts = NULL",
        "DELETE FROM kmzb.area_parts",
        "SELECT kmzb.refresh_area_parts('gmina', NULL)",
    ):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            with as_api.transaction():
                as_api.execute(statement)


def test_a_lookup_walks_its_layers_index(conn: psycopg.Connection) -> None:
    for layer in ("kraj", "gmina", "police"):
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                f"EXPLAIN SELECT code FROM kmzb.area_parts a WHERE a.layer = '{layer}'"
                " AND a.geom && ST_Expand(ST_SetSRID(ST_MakePoint(637000, 486000), 2180), 0.001)"
            )
        )
        assert f"area_parts_{layer}_idx" in plan
