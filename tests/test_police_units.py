"""Police units: the tree, areas from powiaty, and routing of any point to one unit."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kmzb.loaders.police_units import load_police_units


def test_units_per_kind(conn: psycopg.Connection) -> None:
    counts = dict(conn.execute("SELECT kind, count(*) FROM kmzb.police_units GROUP BY kind"))
    # the register's 360 units plus the KSP, which it shows only as a group label
    assert counts == {"KGP": 1, "KWP": 16, "KSP": 1, "KMP": 65, "KPP": 271, "KRP": 7}


def test_every_powiat_has_exactly_one_first_line_unit(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT count(*), count(a.unit_code)
        FROM kmzb.territorial_units p
        LEFT JOIN kmzb.police_unit_areas a ON a.powiat_teryt = p.teryt
        WHERE p.level = 'powiat'
        """
    ).fetchone()
    assert row == (380, 380)  # the key of police_unit_areas forbids a second unit


@pytest.mark.parametrize(
    ("lon", "lat", "unit"),
    [
        (21.0122, 52.2297, "KSP"),  # Warsaw, Śródmieście
        (19.9450, 50.0647, "KMP-1261"),  # Kraków, Rynek Główny
        (19.8200, 50.1500, "KPP-1206"),  # powiat krakowski, served by KPP Kraków
        (16.2840, 50.7830, "KMP-0265"),  # Wałbrzych
        (16.2250, 50.8500, "KMP-0265"),  # powiat wałbrzyski, served by KMP Wałbrzych
        (20.8200, 52.2400, "KPP-1432"),  # Stare Babice, powiat warszawski zachodni
        (22.9300, 54.1000, "KMP-2063"),  # city of Suwałki
    ],
)
def test_known_points_go_to_the_right_unit(
    conn: psycopg.Connection, lon: float, lat: float, unit: str
) -> None:
    found = conn.execute(
        "SELECT kmzb.police_unit_at(ST_SetSRID(ST_MakePoint(%s, %s), 4326))", (lon, lat)
    ).fetchone()
    assert found == (unit,)


def test_random_points_resolve_to_exactly_one_unit(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        WITH points AS (
            SELECT (ST_Dump(ST_GeneratePoints(geom, 1500, 20261125))).geom AS p
            FROM kmzb.territorial_units WHERE teryt = 'PL'
        ), land AS (
            SELECT ST_Union(geom) AS geom FROM kmzb.territorial_units WHERE level = 'powiat'
        )
        SELECT ST_Intersects(land.geom, p) AS on_land,
               (SELECT count(*) FROM kmzb.police_units u
                 WHERE u.area IS NOT NULL AND ST_Intersects(u.area, p)) AS containing,
               kmzb.police_unit_at(p) AS resolved
        FROM points, land
        """
    ).fetchall()
    assert len(rows) == 1500
    assert all(resolved is not None for _, _, resolved in rows)
    on_land = [containing for land, containing, _ in rows if land]
    # the country outline includes internal sea waters that no powiat covers;
    # those points go to the nearest unit, the rest lie in exactly one area
    assert len(on_land) >= 1400
    assert set(on_land) == {1}


def test_areas_cover_the_country(conn: psycopg.Connection) -> None:
    covered = conn.execute(
        """
        SELECT ST_Area(ST_Intersection(c.geom, u.geom)) / ST_Area(c.geom)
        FROM kmzb.territorial_units c,
             (SELECT ST_Union(area) AS geom FROM kmzb.police_units) u
        WHERE c.teryt = 'PL'
        """
    ).fetchone()[0]
    assert covered > 0.95  # the rest is internal sea water (Zatoka Gdańska, the lagoons)


def test_kwp_oversees_its_units(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT ST_Covers(ST_Buffer(k.jurisdiction, 1), u.area)
        FROM kmzb.police_units k, kmzb.police_units u
        WHERE k.code = 'KWP-12' AND u.code = 'KMP-1261'
        """
    ).fetchone()
    assert row == (True,)


def test_second_load_changes_nothing(db_url: str, data_dir: Path) -> None:
    units, areas = load_police_units(db_url, data_dir, None, lambda _m: None)
    assert (units.inserted, units.updated, units.unchanged) == (0, 0, 361)
    assert (areas.inserted, areas.updated, areas.unchanged) == (0, 0, 380)
