"""Territorial units loaded from the real boundaries and the TERYT 2026 list."""

from __future__ import annotations

from pathlib import Path

import psycopg

from kmzb.loaders.common import open_text, resolve_input
from kmzb.loaders.territorial_units import TerritorialUnitInputs, load_territorial_units


def test_counts_per_level_match_the_data(conn: psycopg.Connection) -> None:
    counts = dict(
        conn.execute("SELECT level, count(*) FROM kmzb.territorial_units GROUP BY level").fetchall()
    )
    # 2,479 gminy in TERYT 2026, of which 2 created in 2025 have no boundary yet
    assert counts == {"kraj": 1, "wojewodztwo": 16, "powiat": 380, "gmina": 2477}


def test_codes_and_names_come_from_teryt_2026(conn: psycopg.Connection, data_dir: Path) -> None:
    register = {}
    with open_text(resolve_input(data_dir, None, "teryt/teryt_units_2026.csv")) as handle:
        lines = handle.read().splitlines()
    for line in lines[1:]:
        level, code, name = line.split(",", 2)
        register[code] = name
    rows = conn.execute(
        "SELECT teryt, name FROM kmzb.territorial_units WHERE level IN ('powiat', 'gmina')"
    ).fetchall()
    assert all(register.get(code) == name for code, name in rows)
    # Wałbrzych carries 0263 in the boundary file; its code is 0265
    assert conn.execute("SELECT name FROM kmzb.territorial_units WHERE teryt = '0265'").fetchone()
    assert not conn.execute("SELECT 1 FROM kmzb.territorial_units WHERE teryt = '0263'").fetchone()


def test_every_gmina_lies_in_exactly_one_powiat_and_wojewodztwo(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        SELECT g.teryt,
               array_agg(DISTINCT p.teryt) FILTER (WHERE p.teryt IS NOT NULL),
               array_agg(DISTINCT w.teryt) FILTER (WHERE w.teryt IS NOT NULL)
        FROM kmzb.territorial_units g
        LEFT JOIN kmzb.territorial_units p
               ON p.level = 'powiat' AND ST_Within(g.label_point, p.geom)
        LEFT JOIN kmzb.territorial_units w
               ON w.level = 'wojewodztwo' AND ST_Within(g.label_point, w.geom)
        WHERE g.level = 'gmina'
        GROUP BY g.teryt
        """
    ).fetchall()
    assert len(rows) == 2477
    wrong = [
        (code, powiaty, wojewodztwa)
        for code, powiaty, wojewodztwa in rows
        if powiaty != [code[:4]] or wojewodztwa != [code[:2]]
    ]
    assert wrong == []
    parents = conn.execute(
        """
        SELECT count(*) FROM kmzb.territorial_units g
        JOIN kmzb.territorial_units p ON p.teryt = g.parent_teryt
        JOIN kmzb.territorial_units w ON w.teryt = p.parent_teryt
        WHERE g.level = 'gmina' AND p.level = 'powiat' AND w.level = 'wojewodztwo'
        """
    ).fetchone()
    assert parents == (2477,)


def test_geometry_is_valid_in_puwg_1992(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)),
               count(DISTINCT ST_SRID(geom)), min(ST_SRID(geom))
        FROM kmzb.territorial_units
        """
    ).fetchone()
    assert row == (0, 1, 2180)


def test_second_load_changes_nothing(db_url: str, data_dir: Path) -> None:
    summaries = load_territorial_units(
        db_url, TerritorialUnitInputs.from_dir(data_dir), lambda _m: None
    )
    assert [(s.inserted, s.updated) for s in summaries] == [(0, 0)] * 4
    assert sum(s.unchanged for s in summaries) == 1 + 16 + 380 + 2477
