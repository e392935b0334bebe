"""`kmzb load units`: the country, województwa, powiaty and gminy with boundaries.

Boundaries come from PRG-derived GeoJSON; codes and names are taken from the
current TERYT list, because the gminy file is of about 2022 (type digits and
names have changed since). Geometry is made valid and stored in EPSG:2180.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import shapely
from shapely.geometry import shape

from kmzb.errors import LoadError
from kmzb.loaders.common import (
    Progress,
    ProgressCallback,
    TableSummary,
    read_csv,
    read_geojson,
    resolve_input,
    run_in_transaction,
    upsert_counts,
)

LEVEL_ORDER = ("kraj", "wojewodztwo", "powiat", "gmina")


@dataclass(frozen=True)
class TerritorialUnitInputs:
    """The files the territorial units are read from (the TERYT list, the boundaries)."""

    teryt: Path
    country: Path
    wojewodztwa: Path
    powiaty: Path
    gminy: Path

    @classmethod
    def from_dir(cls, data_dir: Path | None) -> TerritorialUnitInputs:
        return cls(
            teryt=resolve_input(data_dir, None, "teryt/teryt_units_2026.csv"),
            country=resolve_input(data_dir, None, "boundaries/polska.geojson"),
            wojewodztwa=resolve_input(data_dir, None, "boundaries/wojewodztwa.geojson"),
            powiaty=resolve_input(data_dir, None, "boundaries/powiaty.geojson"),
            gminy=resolve_input(data_dir, None, "boundaries/gminy.geojson"),
        )


@dataclass(frozen=True)
class StagedTerritorialUnit:
    teryt: str
    level: str
    name: str
    parent_teryt: str | None
    gmina_type: int | None
    geojson: str


def _teryt_register(path: Path) -> dict[str, dict[str, str]]:
    rows = read_csv(path, ("level", "teryt", "name"))
    register: dict[str, dict[str, str]] = {"wojewodztwa": {}, "powiaty": {}, "gminy": {}}
    widths = {"wojewodztwa": 2, "powiaty": 4, "gminy": 7}
    for number, row in enumerate(rows, start=2):
        level, code = row["level"], row["teryt"]
        if level not in register:
            raise LoadError(f"{path.name}: line {number}: unknown level {level!r}")
        if len(code) != widths[level] or not code.isdigit():
            raise LoadError(f"{path.name}: line {number}: bad TERYT code {code!r} for {level}")
        register[level][code] = row["name"].strip()
    return register


def _powiat_codes_from_gminy(
    powiaty: list[dict], gminy: list[dict], notes: dict[str, list[str]]
) -> list[str]:
    """Each powiat's code, checked against the gminy that lie in it.

    A gmina's TERYT starts with its powiat's code, so the gminy inside a powiat
    polygon say which powiat it is. The boundary file carries wrong codes for
    some powiaty (Wałbrzych's old 0263; namesakes such as the two "brzeski"
    swapped); the gminy's verdict wins and each correction is reported.
    """
    points = [shapely.point_on_surface(shape(g["geometry"])) for g in gminy]
    prefixes = [str(g["properties"]["terytid"]).zfill(6)[:4] for g in gminy]
    tree = shapely.STRtree(points)
    codes: list[str] = []
    for feature in powiaty:
        given = str(feature["properties"]["terytid"]).zfill(4)
        polygon = shapely.make_valid(shape(feature["geometry"]))
        inside = tree.query(polygon, predicate="contains")
        votes = Counter(prefixes[i] for i in inside)
        if not votes:
            codes.append(given)
            continue
        found, count = votes.most_common(1)[0]
        if found != given and count > len(inside) / 2:
            notes["powiat"].append(f"code {given} corrected to {found} from its gminy")
            codes.append(found)
        else:
            codes.append(given)
    return codes


def stage_territorial_units(
    inputs: TerritorialUnitInputs, notes: dict[str, list[str]]
) -> list[StagedTerritorialUnit]:
    """Read and check every file; return the rows to load with current TERYT codes."""
    register = _teryt_register(inputs.teryt)
    staged: list[StagedTerritorialUnit] = []

    country = read_geojson(inputs.country, ())
    if len(country) != 1:
        raise LoadError(f"{inputs.country.name}: expected one feature, found {len(country)}")
    staged.append(
        StagedTerritorialUnit(
            "PL", "kraj", "Polska", None, None, json.dumps(country[0]["geometry"])
        )
    )

    for feature in read_geojson(inputs.wojewodztwa, ("JPT_KOD_JE",)):
        code = str(feature["properties"]["JPT_KOD_JE"]).zfill(2)
        if code not in register["wojewodztwa"]:
            raise LoadError(f"{inputs.wojewodztwa.name}: województwo {code} is not in TERYT")
        name = register["wojewodztwa"][code]
        staged.append(
            StagedTerritorialUnit(
                code, "wojewodztwo", name, "PL", None, json.dumps(feature["geometry"])
            )
        )

    gmina_features = read_geojson(inputs.gminy, ("terytid", "name"))
    powiat_features = read_geojson(inputs.powiaty, ("terytid",))
    powiat_codes = _powiat_codes_from_gminy(powiat_features, gmina_features, notes)
    for feature, code in zip(powiat_features, powiat_codes, strict=True):
        if code not in register["powiaty"]:
            raise LoadError(f"{inputs.powiaty.name}: powiat {code} is not in TERYT")
        name = register["powiaty"][code]
        staged.append(
            StagedTerritorialUnit(
                code, "powiat", name, code[:2], None, json.dumps(feature["geometry"])
            )
        )
    if len(set(powiat_codes)) != len(powiat_codes):
        dupes = sorted(code for code, n in Counter(powiat_codes).items() if n > 1)
        raise LoadError(f"{inputs.powiaty.name}: powiat code(s) used twice: {', '.join(dupes)}")

    by_six = {code[:6]: code for code in register["gminy"]}
    type_changes = renames = 0
    seen: set[str] = set()
    for feature in gmina_features:
        props = feature["properties"]
        six = str(props["terytid"]).zfill(6)
        if six not in by_six:
            raise LoadError(f"{inputs.gminy.name}: gmina {six} ({props['name']}) is not in TERYT")
        code = by_six[six]
        name = register["gminy"][code]
        if str(props.get("id", code)) != code:
            type_changes += 1
        if props["name"].strip() != name:
            renames += 1
        seen.add(code)
        staged.append(
            StagedTerritorialUnit(
                code, "gmina", name, code[:4], int(code[6]), json.dumps(feature["geometry"])
            )
        )
    missing = sorted(set(register["gminy"]) - seen)
    if type_changes:
        notes["gmina"].append(f"{type_changes} TERYT type digits updated")
    if renames:
        notes["gmina"].append(f"{renames} renamed")
    if missing:
        names = ", ".join(f"{register['gminy'][c]} {c}" for c in missing)
        notes["gmina"].append(f"{len(missing)} in TERYT without a boundary, not loaded ({names})")

    powiaty = {unit.teryt for unit in staged if unit.level == "powiat"}
    orphans = sorted({str(u.parent_teryt) for u in staged if u.level == "gmina"} - powiaty)
    if orphans:
        raise LoadError(f"gminy refer to powiaty missing from the boundaries: {', '.join(orphans)}")
    return staged


STAGE_DDL = """
CREATE TEMP TABLE stage_units (
    teryt text, level text, name text, parent_teryt text, gmina_type smallint, geojson text
) ON COMMIT DROP
"""

UPSERT_LEVEL = """
INSERT INTO kmzb.territorial_units AS t (teryt, level, name, parent_teryt, gmina_type, geom)
SELECT teryt, level, name, parent_teryt, gmina_type, geom FROM stage_geoms WHERE level = %s
ON CONFLICT (teryt) DO UPDATE SET
    level = EXCLUDED.level, name = EXCLUDED.name, parent_teryt = EXCLUDED.parent_teryt,
    gmina_type = EXCLUDED.gmina_type, geom = EXCLUDED.geom, updated_at = now()
WHERE (t.level, t.name, t.parent_teryt, t.gmina_type, ST_AsEWKB(t.geom))
      IS DISTINCT FROM
      (EXCLUDED.level, EXCLUDED.name, EXCLUDED.parent_teryt, EXCLUDED.gmina_type,
       ST_AsEWKB(EXCLUDED.geom))
RETURNING (xmax = 0)
"""


# A gmina whose area lies in another powiat's polygon (the two files disagree,
# e.g. Podkowa Leśna) is cut from that powiat and added to its own, so that
# every gmina lies in exactly one powiat, by code and by geometry.
MOVE_MISPLACED_GMINY = (
    """
CREATE TEMP TABLE misplaced ON COMMIT DROP AS
SELECT g.teryt, g.parent_teryt AS own, p.teryt AS holder, g.geom
FROM stage_geoms g
JOIN stage_geoms p ON p.level = 'powiat' AND ST_Within(ST_PointOnSurface(g.geom), p.geom)
WHERE g.level = 'gmina' AND p.teryt <> g.parent_teryt
""",
    """
UPDATE stage_geoms s
SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Difference(s.geom, m.area)), 3))
FROM (SELECT holder, ST_Union(geom) AS area FROM misplaced GROUP BY holder) m
WHERE s.level = 'powiat' AND s.teryt = m.holder
""",
    """
UPDATE stage_geoms s
SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(s.geom, m.area)), 3))
FROM (SELECT own, ST_Union(geom) AS area FROM misplaced GROUP BY own) m
WHERE s.level = 'powiat' AND s.teryt = m.own
""",
)


def _write(
    conn: psycopg.Connection,
    staged: list[StagedTerritorialUnit],
    notes: dict[str, list[str]],
    progress: Progress,
) -> list[TableSummary]:
    conn.execute(STAGE_DDL)
    with conn.cursor().copy(
        "COPY stage_units (teryt, level, name, parent_teryt, gmina_type, geojson) FROM STDIN"
    ) as copy:
        for unit in staged:
            copy.write_row(
                (
                    unit.teryt,
                    unit.level,
                    unit.name,
                    unit.parent_teryt,
                    unit.gmina_type,
                    unit.geojson,
                )
            )
    progress.step(f"staged {len(staged)} units; transforming to EPSG:2180 and repairing")
    conn.execute(
        """
        CREATE TEMP TABLE stage_geoms ON COMMIT DROP AS
        SELECT teryt, level, name, parent_teryt, gmina_type,
               ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326), 2180) AS raw
        FROM stage_units
        """
    )
    repairs: dict[str, int] = dict(
        conn.execute(
            "SELECT level, count(*) FROM stage_geoms WHERE NOT ST_IsValid(raw) GROUP BY level"
        ).fetchall()
    )
    conn.execute(
        "ALTER TABLE stage_geoms ADD COLUMN geom geometry(MultiPolygon, 2180);"
        "UPDATE stage_geoms SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(raw), 3))"
    )
    for statement in MOVE_MISPLACED_GMINY:
        conn.execute(statement)
    moved = conn.execute("SELECT teryt, holder FROM misplaced ORDER BY teryt").fetchall()
    if moved:
        names = ", ".join(f"{teryt} from {holder}" for teryt, holder in moved)
        notes["powiat"].append(f"{len(moved)} gmina area(s) moved to their own powiat ({names})")
    summaries = []
    for level in LEVEL_ORDER:
        total = sum(1 for unit in staged if unit.level == level)
        progress.step(f"upserting {total} units of level {level}")
        summary = upsert_counts(conn.execute(UPSERT_LEVEL, (level,)).fetchall(), total, level)
        summary.table = f"territorial_units[{level}]"
        if repairs.get(level):
            summary.notes.append(f"{repairs[level]} invalid geometries repaired")
        summary.notes.extend(notes.get(level, []))
        summaries.append(summary)
    return summaries


def load_territorial_units(
    url: str, inputs: TerritorialUnitInputs, echo: ProgressCallback
) -> list[TableSummary]:
    progress = Progress(echo)
    notes: dict[str, list[str]] = {level: [] for level in LEVEL_ORDER}
    staged = stage_territorial_units(inputs, notes)
    progress.step(f"read and checked {len(staged)} units")
    return run_in_transaction(url, lambda conn: _write(conn, staged, notes, progress))
