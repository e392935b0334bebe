"""Vector tiles (MVT) of public threats that stay fast with millions of reports.

A pygeoapi tile provider: pygeoapi's MVT-postgresql provider describes the
tileset (tile matrix sets, metadata, limits); this class only changes how a
tile is made. Below `detail_zoom` a tile carries the cells of the precomputed
grid `kmzb.public_threat_cells` (count and confirmed count per cell, 64 x 64
cells per tile), so a tile of the whole country reads a few thousand rows,
never millions of points. From `detail_zoom` on it carries the reports
themselves (id, category, status), read from the public view through the
Web Mercator expression index.

    providers:
      - type: tile
        name: kmzb.providers.tiles.ThreatTileProvider
        data: {host: …, …, search_path: [kmzb]}
        table: public_threats
        id_field: id
        geom_field: geom
        options: {zoom: {min: 0, max: 18}, schemes: [WebMercatorQuad], detail_zoom: 14}
        format: {name: mvt, mimetype: application/vnd.mapbox-vector-tile}
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderConnectionError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError

from kmzb.providers.postgis import Column, columns_of, connection_pool, provider_conninfo

CELLS_TILE = """
WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env)
SELECT ST_AsMVT(tile, 'threat_cells', 4096, 'geom') FROM (
    SELECT ST_AsMVTGeom(c.geom, bounds.env, 4096, 64, true) AS geom, c.n AS count,
           c.confirmed
    FROM kmzb.public_threat_cells c, bounds
    WHERE c.z = %(z)s AND c.geom && bounds.env
) tile
"""

# The public rows, tested on the report's own public_until as kmzb.public_threats tests
# it: the (3857 point, public_until) index then yields only them. A join to the view read
# every report in the tile (2,852 in a z14 tile of Kraków on the soak database, 45 public).
POINTS_TILE = """
WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env)
SELECT ST_AsMVT(tile, 'threats', 4096, 'geom') FROM (
    SELECT ST_AsMVTGeom(ST_Transform(r.geom, 3857), bounds.env, 4096, 64, true) AS geom,
           r.public_ref AS id, r.category, r.status
    FROM kmzb.reports r, bounds
    WHERE ST_Transform(r.geom, 3857)::geometry(Point, 3857) && bounds.env
      AND r.public_until > now()
) tile
"""


class PostGISTileProvider(BaseMVTProvider):
    """MVT straight from a PostGIS table or view, one statement per tile.

    An MVT provider (pygeoapi's BaseMVTProvider) with the tileset descriptions of
    pygeoapi's MVT-postgresql provider, borrowed by name below; its SQLAlchemy
    machinery (whose engine cache cannot take the tile options) is not used: one
    psycopg statement per tile, on the connection pool of kmzb.providers.postgis.
    """

    # the descriptions need only the tiling schemes and the layer: the same functions
    get_layer = MVTPostgreSQLProvider.get_layer
    get_tiles_service = MVTPostgreSQLProvider.get_tiles_service
    get_html_metadata = MVTPostgreSQLProvider.get_html_metadata
    get_default_metadata = MVTPostgreSQLProvider.get_default_metadata

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        data = provider_def["data"]
        self.schema = (data.get("search_path") or ["public"])[0]
        self.table = provider_def["table"]
        self.geom = provider_def.get("geom_field", "geom")
        self.id_field = provider_def.get("id_field")
        options = provider_def.get("options") or {}
        self.detail_zoom = int(options.get("detail_zoom", 14))
        self.conninfo = provider_conninfo(data, "pygeoapi-tiles")
        self.columns = columns_of(self.conninfo, self.schema, self.table)
        self._fields = {
            c.name: {"type": c.json_type} for c in self.columns if c.json_type != "geometry"
        }

    def get_fields(self) -> dict:
        return self._fields

    def __repr__(self) -> str:
        return f"<PostGISTileProvider> {self.schema}.{self.table}"

    def get_tiling_schemes(self) -> list[Any]:
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def vector_layers(self) -> list[dict]:
        """The tile's layers and their attributes, as TileJSON lists them."""
        kinds = {"integer": "Number", "number": "Number", "boolean": "Boolean"}
        fields = {name: kinds.get(f["type"], "String") for name, f in self._fields.items()}
        return [{"id": self.table, "fields": fields}]

    def get_vendor_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str | None = None,
        tileset: str | None = None,
        title: Any = None,
        description: Any = None,
        keywords: Any = None,
        **kwargs: Any,
    ) -> dict:
        """TileJSON 3.0 (`?f=tilejson`), which pygeoapi 0.24's MVT provider lacks (a 500)."""
        zoom = (self.options or {}).get("zoom") or {}
        return {
            "tilejson": "3.0.0",
            "name": title or dataset,
            "description": description or "",
            "tiles": [
                f"{server_url}/collections/{dataset}/tiles/{tileset or 'WebMercatorQuad'}"
                "/{z}/{y}/{x}?f=mvt"
            ],
            "minzoom": int(zoom.get("min", 0)),
            "maxzoom": int(zoom.get("max", 22)),
            "vector_layers": self.vector_layers(),
        }

    def _attribute(self, column: Column) -> sql.Composable:
        """A column as an MVT attribute: PostgreSQL's numeric has no MVT type and
        ST_AsMVT writes it as a string ("117.50"); cast to double precision it is a
        number, as in the features' GeoJSON."""
        name = sql.Identifier(column.name)
        if column.data_type in ("numeric", "real"):
            return sql.SQL("{}::double precision AS {}").format(name, name)
        return name

    def tile_statement(self, z: int) -> sql.SQL | sql.Composed:
        columns = [c for c in self.columns if c.json_type != "geometry"]
        return sql.SQL(
            "WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env) "
            "SELECT ST_AsMVT(tile, {layer}, 4096, 'geom') FROM ("
            "  SELECT ST_AsMVTGeom(ST_Transform({geom}, 3857), bounds.env, 4096, 64, true) AS geom,"
            "         {columns}"
            "  FROM {relation}, bounds"
            "  WHERE {geom} && ST_Transform(bounds.env, 4326)) tile"
        ).format(
            layer=sql.Literal(self.table),
            geom=sql.Identifier(self.geom),
            columns=sql.SQL(", ").join(self._attribute(c) for c in columns),
            relation=sql.Identifier(self.schema, self.table),
        )

    def get_tiles(
        self,
        layer: str = "default",
        tileset: str | None = None,
        z: Any = None,
        y: Any = None,
        x: Any = None,
        format_: str | None = None,
    ) -> bytes | None:
        z, y, x = map(int, [z, y, x])
        schemes = [s for s in self.get_tiling_schemes() if s.tileMatrixSet == tileset]
        if not schemes or not self.is_in_limits(schemes[0], z, x, y):
            raise ProviderTileNotFoundError
        try:
            with connection_pool(self.conninfo).connection() as conn:
                row = conn.execute(self.tile_statement(z), {"z": z, "x": x, "y": y}).fetchone()
        except psycopg.OperationalError as exc:
            raise ProviderConnectionError(user_msg="database unreachable") from exc
        return bytes(row[0]) if row and row[0] else None


class ThreatTileProvider(PostGISTileProvider):
    """Public threats: grid cells below detail_zoom, the reports from it on."""

    def tile_statement(self, z: int) -> sql.SQL | sql.Composed:
        return sql.SQL(CELLS_TILE if z < self.detail_zoom else POINTS_TILE)

    def vector_layers(self) -> list[dict]:
        return [
            {
                "id": "threat_cells",
                "fields": {"count": "Number", "confirmed": "Number"},
                "maxzoom": self.detail_zoom - 1,
            },
            {
                "id": "threats",
                "fields": {"id": "String", "category": "String", "status": "String"},
                "minzoom": self.detail_zoom,
            },
        ]
