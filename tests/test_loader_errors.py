"""A broken input file gets a clear error and leaves the database as it was."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from kmzb.errors import LoadError
from kmzb.loaders.police_units import load_police_units
from kmzb.loaders.statistics import load_statistics
from kmzb.loaders.territorial_units import TerritorialUnitInputs, load_territorial_units

# One row per table, in a fixed order: a UNION ALL alone may come back in any
# order (a parallel append), which made two equal fingerprints look different.
FINGERPRINT = """
SELECT t, md5(string_agg(r, '|' ORDER BY r)) FROM (
    SELECT 1 AS t, u::text AS r FROM (
        SELECT teryt, name, parent_teryt, ST_AsEWKB(geom)::text AS g FROM kmzb.territorial_units
    ) u
    UNION ALL
    SELECT 2, p::text FROM (
        SELECT code, name, parent_code, ST_AsEWKB(area)::text FROM kmzb.police_units
    ) p
    UNION ALL
    SELECT 3, a::text FROM kmzb.police_unit_areas a
    UNION ALL
    SELECT 4, s::text FROM kmzb.crime_statistics s
    UNION ALL
    SELECT 5, n::text FROM kmzb.population n
) rows
GROUP BY t
ORDER BY t
"""


def fingerprint(url: str) -> list:
    with psycopg.connect(url) as conn:
        return conn.execute(FINGERPRINT).fetchall()


@pytest.fixture()
def broken_data(data_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the real data folder, for breaking one file per test."""
    target = tmp_path / "data"
    shutil.copytree(data_dir, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    # the shipped copy is gzipped: unpack it, so each test edits plain text
    for path in list(target.rglob("*.gz")):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    return target


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _drop_property(document: dict) -> None:
    del document["features"][100]["properties"]["terytid"]


def _projected(document: dict) -> None:
    document["features"][5]["geometry"]["coordinates"][0][0] = [500000.0, 300000.0]


def _declared_crs(document: dict) -> None:
    document["crs"] = {"type": "name", "properties": {"name": "EPSG:2180"}}


def _point(document: dict) -> None:
    document["features"][0]["geometry"] = {"type": "Point", "coordinates": [19.0, 52.0]}


def _unknown_gmina(document: dict) -> None:
    document["features"][7]["properties"]["terytid"] = "999999"


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("boundaries/gminy.geojson", _drop_property, "lacks terytid"),
        ("boundaries/gminy.geojson", _unknown_gmina, "999999"),
        ("boundaries/powiaty.geojson", _projected, "outside Poland in WGS84"),
        ("boundaries/wojewodztwa.geojson", _declared_crs, "is not WGS84"),
        ("boundaries/powiaty.geojson", _point, "not a polygon"),
    ],
)
def test_broken_boundaries(db_url, broken_data, file, change, message) -> None:
    edit_json(broken_data / file, change)
    before = fingerprint(db_url)
    with pytest.raises(LoadError, match=message):
        load_territorial_units(db_url, TerritorialUnitInputs.from_dir(broken_data), lambda _m: None)
    assert fingerprint(db_url) == before


def test_truncated_geojson(db_url, broken_data) -> None:
    path = broken_data / "boundaries/gminy.geojson"
    path.write_bytes(path.read_bytes()[:5000])
    before = fingerprint(db_url)
    with pytest.raises(LoadError, match="not valid GeoJSON"):
        load_territorial_units(db_url, TerritorialUnitInputs.from_dir(broken_data), lambda _m: None)
    assert fingerprint(db_url) == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("unit_type", "type", "missing column"),
        (
            ",KPP,Komenda powiatowa policji w bolesławcu",
            ",KPX,Komenda powiatowa policji w bolesławcu",
            "unknown unit type",
        ),
        ("w bolesławcu", "w atlantydzie", "matches the seat"),
        ("4049,", "x49,", "not a number"),
    ],
)
def test_broken_police_register(db_url, broken_data, old, new, message) -> None:
    edit_text(broken_data / "police/police_units_2021.csv", old, new)
    before = fingerprint(db_url)
    with pytest.raises(LoadError, match=message):
        load_police_units(db_url, broken_data, None, lambda _m: None)
    assert fingerprint(db_url) == before


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("statistics/crime_powiat_2013_2024.csv", ",2013,727718,", ",2013,seven,", "not a number"),
        ("statistics/crime_powiat_2013_2024.csv", ",2013,727718,", ",2013,-5,", "negative"),
        (
            "statistics/crime_powiat_2013_2024.csv",
            "0265000,0265,powiat",
            "0299000,0299,powiat",
            "not loaded",
        ),
        ("statistics/population_powiat_2013_2024.csv", "0201,Powiat", "201,Powiat", "four digits"),
    ],
)
def test_broken_statistics(db_url, broken_data, file, old, new, message) -> None:
    edit_text(broken_data / file, old, new)
    before = fingerprint(db_url)
    with pytest.raises(LoadError, match=message):
        load_statistics(db_url, broken_data, None, None, lambda _m: None)
    assert fingerprint(db_url) == before


def test_cli_reports_a_broken_file_in_one_line(db_url, broken_data, server) -> None:
    edit_json(broken_data / "boundaries/gminy.geojson", _drop_property)
    env = {"KMZB_DATA_DIR": str(broken_data)}
    if server.embedded:
        env["KMZB_DB_NAME"] = db_url.rsplit("/", 1)[1]
    else:
        env["DATABASE_URL"] = db_url
    before = fingerprint(db_url)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kmzb")), "load", "units"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 1
    assert "kmzb: error: gminy.geojson: feature 101 lacks terytid" in result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(db_url) == before
