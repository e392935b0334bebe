"""A pygeoapi feature provider in which PostGIS builds the GeoJSON.

pygeoapi's stock PostgreSQL provider maps rows through SQLAlchemy's ORM and
Shapely, feature by feature, in Python; at national scale the service then
spends many times more than the query. Here one SQL statement filters, sorts,
pages, reprojects and serialises: PostGIS returns the features as one JSON
array and Python only hands it on. Reusable for any table or view:

    providers:
      - type: feature
        name: kmzb.providers.postgis.PostGISProvider
        data: {host: …, port: …, dbname: …, user: …, password: …, search_path: [schema]}
        table: my_view            # or table
        id_field: id
        geom_field: geom          # stored in the storage CRS below
        time_field: reported_on   # optional, for ?datetime=
        storage_crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84
        count_limit: 10000        # numberMatched is exact up to here, omitted above;
                                  # 0: only on the last page and for resulttype=hits

Paging (see `Paging`): without `sortby`, features come in id order and a full
page's `next` link carries a keyset cursor (the last id), so the next page is
`WHERE id > last ORDER BY id LIMIT n` on the id's index: page 100,000 costs what
page 1 costs. `offset` still works (its pages are in the same id order, and their
links keep offset); with `sortby` the links keep offset too.

Identifiers come only from the table's own columns (an allow-list read from
the catalogue); every value is a bound parameter. CQL2 filters are translated
by pygeofilter's SQLAlchemy backend and compiled with bound parameters.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from geoalchemy2 import Geometry
from psycopg import sql
from psycopg_pool import ConnectionPool
from pygeoapi.crs import DEFAULT_STORAGE_CRS
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pyproj import CRS
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, column
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from kmzb.db.pool import checked_pool
from kmzb.providers import request_query

LOGGER = logging.getLogger(__name__)

JSON_TYPES = {
    "smallint": ("integer", None),
    "integer": ("integer", None),
    "bigint": ("integer", None),
    "numeric": ("number", None),
    "real": ("number", None),
    "double precision": ("number", None),
    "boolean": ("boolean", None),
    "date": ("string", "date"),
    "timestamp with time zone": ("string", "date-time"),
    "timestamp without time zone": ("string", "date-time"),
}
SQLALCHEMY_TYPES = {"integer": Integer, "number": Float, "boolean": Boolean}
DEFAULT_COUNT_LIMIT = 10_000
BIGINT_MAX = 2**63 - 1

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


# Sessions of a read service: short queries, many at once on few cores. JIT
# compilation and parallel workers cost more than they save on a LIMITed page;
# synchronized seq scans would let unsorted pages start at different places.
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0 -c synchronize_seqscans=off"


def provider_conninfo(data: dict, application_name: str) -> str:
    """libpq connection string from a pygeoapi provider's `data` block.

    `host` and `port` may be libpq's comma lists (pygeoapi-config.yml's &read_database:
    the replicas, then the primary) with `target_session_attrs` (prefer-standby): libpq
    tries them in order and takes a hot standby when one answers, else the primary."""
    return psycopg.conninfo.make_conninfo(
        host=data.get("host"),
        port=str(data["port"]) if data.get("port") is not None else None,
        dbname=data.get("dbname"),
        user=data.get("user"),
        password=data.get("password"),
        target_session_attrs=data.get("target_session_attrs"),
        application_name=application_name,
        options=SESSION_OPTIONS,
    )


def connection_pool(conninfo: str) -> ConnectionPool:
    """The provider's pool for this connection string: connections checked before
    use, a bounded wait for one (kmzb.db.pool.checked_pool), closed at exit."""
    with _pools_lock:
        if conninfo not in _pools:
            _pools[conninfo] = checked_pool(conninfo, name="postgis-provider", max_size=4)
        return _pools[conninfo]


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    json_type: str
    json_format: str | None


@lru_cache(maxsize=64)
def columns_of(conninfo: str, schema: str, relation: str) -> tuple[Column, ...]:
    with connection_pool(conninfo).connection() as conn:
        rows = conn.execute(
            """SELECT column_name, data_type, udt_name FROM information_schema.columns
               WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
            (schema, relation),
        ).fetchall()
    found = []
    for name, data_type, udt in rows:
        if udt == "geometry":
            found.append(Column(name, "geometry", "geometry", None))
            continue
        json_type, json_format = JSON_TYPES.get(data_type, ("string", None))
        found.append(Column(name, data_type, json_type, json_format))
    return tuple(found)


@lru_cache(maxsize=32)
def _output_srid(crs_uri: str) -> tuple[int, bool]:
    """EPSG code of a CRS and whether its first axis is northing (lat/lon, 2180)."""
    crs = CRS.from_user_input(crs_uri)
    if "CRS84" in crs_uri:
        return 4326, False
    epsg = crs.to_epsg()
    if epsg is None:
        raise ProviderInvalidQueryError(user_msg=f"unsupported CRS {crs_uri}")
    first_axis = crs.axis_info[0].direction.lower() if crs.axis_info else "east"
    return epsg, first_axis in ("north", "south")


@lru_cache(maxsize=32)
def _is_geographic(srid: int) -> bool:
    return CRS.from_epsg(srid).is_geographic


def _bbox_as_requested() -> tuple[list[float], int] | None:
    """The bbox as the client sent it in `bbox-crs`, x/y ordered, with its SRID.

    pygeoapi hands a provider the bbox with only its two corners transformed to
    the storage CRS: a box that is not the one asked for (a rectangle in
    EPSG:2180 is no rectangle in CRS84). When the request named a bbox-crs, the
    provider filters by the requested box itself, transformed whole by PostGIS.
    The query checks have validated both parameters before the provider runs."""
    asked = request_query.current.get()
    crs_uri, raw = asked.bbox_crs, asked.bbox
    if not crs_uri or not raw:
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        return None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4:
        return None
    srid, northing_first = _output_srid(crs_uri)
    if northing_first:
        values = [values[1], values[0], values[3], values[2]]
    return values, srid


class BilingualQueryError(ProviderInvalidQueryError):
    """A 400 whose message is in Polish and English: pygeoapi shows `message` (the
    English) as the description, the error answer adds both (see pygeoapi_adapter)."""

    def __init__(self, en: str, pl: str) -> None:
        super().__init__(user_msg=en)
        self.en, self.pl = en, pl


class BilingualNotFoundError(ProviderItemNotFoundError):
    """A 404 for an identifier, in Polish and English (as BilingualQueryError)."""

    def __init__(self, en: str, pl: str) -> None:
        super().__init__(user_msg=en)
        self.en, self.pl = en, pl


def invalid_query(en: str, pl: str) -> BilingualQueryError:
    return BilingualQueryError(en, pl)


# --- keyset paging ------------------------------------------------------------------

MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class Paging:
    """What the request says about keyset paging, set for its duration by the HTTP
    layer (kmzb.service.pygeoapi_adapter, patch keyset-next-link): the `cursor`
    values sent, and the `next` link's address up to the cursor's value (the items
    URL with the request's other parameters, offset left out). Outside a request
    (a test, the CLI) there is none: no cursor, no next link from the provider."""

    cursors: tuple[str, ...] = ()
    next_href: str | None = None  # "<items URL>?<other parameters>&cursor="


NO_PAGING = Paging()
paging: ContextVar[Paging] = ContextVar("kmzb_paging", default=NO_PAGING)


def _bad_cursor(detail_en: str, detail_pl: str) -> BilingualQueryError:
    return invalid_query(
        f"cursor: {detail_en}; follow the next link of the previous page, or start "
        "again without cursor",
        f"cursor: {detail_pl}; użyj łącza next poprzedniej strony albo zacznij od "
        "początku bez parametru cursor",
    )


def encode_cursor(relation: str, last_id: Any) -> str:
    """The opaque cursor of the page after the one whose last id is `last_id`: the
    relation's name and the id, JSON in unpadded base64url. It is validated, not
    signed: all it can carry is where to start in a public collection."""
    raw = json.dumps({"c": relation, "k": last_id}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(value: str, relation: str, integer_id: bool) -> Any:
    """The last id a cursor carries, after checking it was made for this relation and
    holds an id of the id column's kind; a 400 in Polish and English otherwise."""
    if not value or len(value) > MAX_CURSOR_CHARS:
        raise _bad_cursor("empty or too long", "pusty albo za długi")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor("not a cursor of this service", "to nie jest kursor tej usługi") from exc
    if not isinstance(decoded, dict) or set(decoded) != {"c", "k"}:
        raise _bad_cursor("not a cursor of this service", "to nie jest kursor tej usługi")
    if decoded["c"] != relation:
        raise _bad_cursor("made for another collection", "pochodzi z innej kolekcji")
    last = decoded["k"]
    if integer_id:
        ok = isinstance(last, int) and not isinstance(last, bool) and abs(last) <= BIGINT_MAX
    else:
        ok = isinstance(last, str) and 0 < len(last) <= MAX_CURSOR_CHARS and "\x00" not in last
    if not ok:
        raise _bad_cursor("holds no valid identifier", "nie zawiera poprawnego identyfikatora")
    return last


def _skip_geometry_requested() -> bool:
    """`skipGeometry=true` on a single item: pygeoapi 0.24 passes it to `query` only,
    so `get` reads it from the request's query (checked as a boolean before)."""
    return request_query.current.get().skip_geometry


def _parse_instant(value: str) -> str | None:
    """An RFC 3339 date or date-time, or None for an open end ('..')."""
    value = value.strip()
    if value in ("", ".."):
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise invalid_query(
            f"datetime {value!r} is not an RFC 3339 date or date-time",
            f"datetime {value!r} nie jest datą ani chwilą w formacie RFC 3339",
        ) from exc
    return value


def parse_datetime(value: str) -> tuple[str | None, str | None] | str:
    """`datetime=` as an instant, or an interval (start, end) with open ends as None.

    Checked on every collection, with or without a time field: a malformed value is
    a client's mistake wherever it is sent (a well-formed one on a collection without
    time is ignored, as OGC API Features allows)."""
    parts = value.split("/")
    if len(parts) == 1:
        instant = _parse_instant(value)
        if instant is None:
            raise invalid_query(
                "datetime: an instant or an interval start/end is needed",
                "datetime: potrzebna chwila albo przedział początek/koniec",
            )
        return instant
    if len(parts) != 2:
        raise invalid_query(
            f"datetime {value!r}: an interval has one '/'",
            f"datetime {value!r}: przedział ma jeden znak '/'",
        )
    start, end = (_parse_instant(v) for v in parts)
    return start, end


def _check_geometry(geometry: dict) -> None:
    """A filter's geometry literal is well formed and valid (PostGIS fails on a one-point
    polygon with an internal error, a 500)."""
    from shapely.geometry import shape

    try:
        built = shape({k: v for k, v in geometry.items() if k != "crs"})
        # valid (OGC simple features): PostGIS also fails on a polygon of one repeated point
        ok = not built.is_empty and built.is_valid
    except Exception:  # shapely raises several kinds for a malformed geometry
        ok = False
    if not ok:
        raise invalid_query(
            f"malformed, empty or invalid geometry in filter: {json.dumps(geometry)[:200]}",
            f"błędna, pusta albo niepoprawna geometria w filtrze: {json.dumps(geometry)[:200]}",
        )


def _is_spatial(node: Any) -> bool:
    """Whether a parsed filter tests geometry (a spatial predicate or a geometry
    literal anywhere in it)."""
    if node is None:
        return False
    from pygeofilter import ast, values

    if isinstance(node, ast.SpatialComparisonPredicate | values.Geometry | values.Envelope):
        return True
    if isinstance(node, ast.Function) and str(node.name).lower() == "bbox":
        return True
    children: list[Any] = getattr(node, "get_sub_nodes", lambda: [])() or []
    return any(_is_spatial(child) for child in children)


def _bbox_function_as_envelope(node: Any) -> Any:
    """pygeofilter's CQL2 text parser reads `BBOX(x1, y1, x2, y2)` as a function call."""
    from pygeofilter import ast, values

    if not (isinstance(node, ast.Function) and str(node.name).lower() == "bbox"):
        return node
    numbers = node.arguments
    if len(numbers) not in (4, 6) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in numbers
    ):
        raise invalid_query("BBOX takes 4 or 6 numbers", "BBOX przyjmuje 4 albo 6 liczb")
    half = len(numbers) // 2
    return values.Envelope(numbers[0], numbers[half], numbers[1], numbers[half + 1])


class PostGISProvider(BaseProvider):
    """Features from a PostGIS table or view, serialised by PostGIS."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        data = self.data
        search_path = data.get("search_path") or ["public"]
        self.schema = search_path[0]
        self.relation = provider_def["table"]
        self.geom_field = provider_def.get("geom_field", "geom")
        self.count_limit = int(provider_def.get("count_limit", DEFAULT_COUNT_LIMIT))
        # once: pyproj's to_epsg() searches its database on every call (~0.1 s for CRS84)
        self.storage_srid = _output_srid(provider_def.get("storage_crs", DEFAULT_STORAGE_CRS))[0]
        self.conninfo = provider_conninfo(data, "pygeoapi-postgis")
        try:
            columns = columns_of(self.conninfo, self.schema, self.relation)
        except psycopg.OperationalError as exc:
            raise ProviderConnectionError(user_msg="database unreachable") from exc
        if not columns:
            raise ProviderQueryError(user_msg=f"no relation {self.schema}.{self.relation}")
        self.columns = {c.name: c for c in columns}
        if self.id_field not in self.columns:
            raise ProviderQueryError(user_msg="id_field is not a column")
        if self.geom_field not in self.columns:
            self.geom_field = None  # a table without geometry: features with null geometry
        self._fields = self.get_fields()

    # --- metadata -----------------------------------------------------------------

    def get_fields(self) -> dict:
        fields = {}
        for c in self.columns.values():
            if c.json_type == "geometry":
                continue
            fields[c.name] = {"type": c.json_type}
            if c.json_format:
                fields[c.name]["format"] = c.json_format
        return fields

    # --- SQL building -------------------------------------------------------------

    def _relation(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.relation)

    def _geometry_sql(self, crs_transform_spec: Any) -> tuple[sql.Composable, int]:
        geom = sql.Identifier(self.geom_field)
        target = getattr(crs_transform_spec, "target_crs_uri", None)
        if not target:
            return sql.SQL("ST_AsGeoJSON({}, 6, 0)::json").format(geom), 6
        srid, flip = _output_srid(str(target))
        digits = 6 if _is_geographic(srid) else 2
        expression = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(srid))
        if flip:
            expression = sql.SQL("ST_FlipCoordinates({})").format(expression)
        # options 0: no "crs" member (the Content-Crs header says it)
        return (
            sql.SQL("ST_AsGeoJSON({}, {}, 0)::json").format(expression, sql.Literal(digits)),
            digits,
        )

    def _feature_sql(
        self, select_properties: list[str] | None, skip_geometry: bool, crs_transform_spec: Any
    ) -> sql.Composable:
        names = [n for n, c in self.columns.items() if c.json_type != "geometry"]
        if select_properties:
            names = [n for n in names if n in select_properties]
        pairs = (
            sql.SQL(", ").join(
                sql.SQL("{}, {}").format(sql.Literal(n), sql.Identifier(n)) for n in names
            )
            if names
            else sql.SQL("")
        )
        geometry = (
            sql.SQL("NULL::json")
            if skip_geometry or self.geom_field is None
            else self._geometry_sql(crs_transform_spec)[0]
        )
        return sql.SQL(
            "json_build_object('type', 'Feature', 'id', {id}, 'geometry', {geometry}, "
            "'properties', json_build_object({pairs}))"
        ).format(id=sql.Identifier(self.id_field), geometry=geometry, pairs=pairs)

    def _where(
        self,
        bbox: list[float] | None,
        datetime_: str | None,
        properties: list[tuple[str, Any]] | None,
        filterq: Any,
    ) -> tuple[sql.Composable, dict]:
        clauses: list[sql.Composable] = []
        params: dict[str, Any] = {}
        if bbox and self.geom_field is None:
            raise invalid_query(
                "bbox: this collection has no geometry", "bbox: ta kolekcja nie ma geometrii"
            )
        if bbox:
            srid = self.storage_srid
            requested = _bbox_as_requested()
            box_srid = srid
            if requested is not None:
                bbox, box_srid = requested
            if len(bbox) == 6:
                bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
            params.update({f"k_b{i}": float(v) for i, v in enumerate(bbox)})
            envelope = sql.SQL(
                "ST_MakeEnvelope(%(k_b0)s, %(k_b1)s, %(k_b2)s, %(k_b3)s, {})"
            ).format(sql.Literal(box_srid))
            if box_srid != srid:
                # edges straight in the bbox's CRS are curves in the storage CRS
                envelope = sql.SQL(
                    "ST_Transform(ST_Segmentize({env}, greatest(%(k_b2)s - %(k_b0)s, "
                    "%(k_b3)s - %(k_b1)s) / 64), {srid})"
                ).format(env=envelope, srid=sql.Literal(srid))
            clauses.append(
                sql.SQL("ST_Intersects({}, {})").format(sql.Identifier(self.geom_field), envelope)
            )
        when = parse_datetime(datetime_) if datetime_ else None
        if when is not None and self.time_field in self.columns:
            field = sql.Identifier(self.time_field)
            # a date column compares with dates, a timestamp with instants
            kind = "date" if self.columns[self.time_field].json_format == "date" else "timestamptz"
            cast = sql.SQL(kind)
            if isinstance(when, tuple):
                start, end = when
                if start:
                    params["k_t0"] = start
                    clauses.append(sql.SQL("{} >= %(k_t0)s::{}").format(field, cast))
                if end:
                    params["k_t1"] = end
                    clauses.append(sql.SQL("{} <= %(k_t1)s::{}").format(field, cast))
            else:
                params["k_t"] = when
                clauses.append(sql.SQL("{}::date = %(k_t)s::date").format(field))
        for i, (name, value) in enumerate(properties or []):
            if name not in self.columns:
                raise invalid_query(f"unknown property {name}", f"nieznana właściwość {name}")
            params[f"k_p{i}"] = str(value)
            clauses.append(
                sql.SQL("{}::text = %({})s").format(sql.Identifier(name), sql.SQL(f"k_p{i}"))
            )
        if filterq is not None:
            text, values = self._cql_sql(filterq)
            clauses.append(sql.SQL("(") + sql.SQL(text) + sql.SQL(")"))
            params.update(values)
        where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")
        return where, params

    def _check_attributes(self, node: Any) -> None:
        """Every property a filter names must be a column (else a clear 400); geometry
        literals in CRS84 are given as EPSG:4326 (same lon/lat order in PostGIS),
        which the SQL backend can turn into an SRID."""
        from pygeofilter import ast, values

        if isinstance(node, ast.SpatialComparisonPredicate):
            # a BBOX literal (CQL2 basic-spatial-functions): the SQL backend takes a polygon
            for side in ("lhs", "rhs"):
                value = getattr(node, side)
                value = _bbox_function_as_envelope(value)
                if isinstance(value, values.Envelope):
                    setattr(node, side, values.Geometry(dict(value.geometry)))
        if isinstance(node, ast.Function):
            # only the SQL backend's functions (CASEI, ...; BBOX was made a polygon above),
            # and not one inside another: the backend hands an inner function to the
            # database as a value it cannot take (a LIKE pattern CASEI(CASEI(...)))
            from pygeofilter.backends.sqlalchemy import filters as sql_functions

            nested = any(isinstance(a, ast.Function) for a in node.arguments or [])
            if node.name not in sql_functions.function_map or nested:
                raise invalid_query(
                    f"unsupported function in filter: {node.name}",
                    f"nieobsługiwana funkcja w filtrze: {node.name}",
                )
        if isinstance(node, ast.Attribute):
            # a malformed CQL2-JSON {"property": {...}} parses to a non-string name
            if not isinstance(node.name, str) or node.name not in self.columns:
                raise invalid_query(
                    f"unknown property in filter: {node.name}",
                    f"nieznana właściwość w filtrze: {node.name}",
                )
            return
        if isinstance(node, values.Geometry):
            _check_geometry(node.geometry)
            name = (node.geometry.get("crs") or {}).get("properties", {}).get("name", "")
            epsg = 4326 if not name or "CRS84" in name else _output_srid(name)[0]
            node.geometry["crs"] = {"properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
            return
        for child in getattr(node, "get_sub_nodes", lambda: [])() or []:
            self._check_attributes(child)

    def _cql_sql(self, filterq: Any) -> tuple[str, dict]:
        """pygeofilter's AST as SQL text with named bound parameters."""
        from pygeofilter.backends.sqlalchemy import to_filter

        try:
            self._check_attributes(filterq)
        except RecursionError as exc:
            raise invalid_query(
                "invalid filter: nested too deeply", "błędny filtr: zbyt głębokie zagnieżdżenie"
            ) from exc
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            # pygeofilter builds some malformed expressions it cannot walk itself
            # (IN with an arithmetic node for its list): the filter is malformed
            raise invalid_query(
                "invalid filter: malformed expression", "błędny filtr: niepoprawne wyrażenie"
            ) from exc

        mapping = {}
        for name, c in self.columns.items():
            if c.json_type == "geometry":
                kind: TypeEngine[Any] = Geometry(srid=self.storage_srid)
            elif c.json_format == "date":
                kind = Date()
            elif c.json_format == "date-time":
                kind = DateTime(timezone=True)
            else:
                kind = SQLALCHEMY_TYPES.get(c.json_type, String)()
            mapping[name] = column(name, kind)
        try:
            clause = to_filter(filterq, mapping)
            if isinstance(clause, bool):  # literals only (1 = 1): evaluated by pygeofilter
                return ("TRUE" if clause else "FALSE"), {}
            compiled = clause.compile(
                dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
            )
        except Exception as exc:  # pygeofilter raises many kinds for a bad filter
            raise invalid_query(f"invalid filter: {exc}", f"błędny filtr: {exc}") from exc
        # SQLAlchemy's psycopg dialect renders %(name)s placeholders; keep them apart
        # from ours (k_*) and escape nothing else: the text holds no values.
        return str(compiled), dict(compiled.params)

    def _order(self, sortby: list[dict[str, str]] | None, by_id: bool = True) -> sql.Composable:
        """ORDER BY for sortby, then the id. Without sortby: the id (`by_id`), the keyset
        order of the cursors, served by the id's index (a page reads `limit` rows of it,
        at any depth); or none for a spatial query's first and offset pages: sorting
        every match of a city's bbox by id costs more than its page (some 300 ms
        against 26 ms for Kraków at 2 M reports), and those pages still come in a
        stable storage order, synchronized scans being off."""
        if not sortby:
            if not by_id:
                return sql.SQL("")
            return sql.SQL("ORDER BY {}").format(sql.Identifier(self.id_field))
        terms: list[sql.Composable] = []
        for item in sortby or []:
            name = item["property"]
            if name not in self.columns:
                raise invalid_query(f"cannot sort by {name}", f"nie można sortować według {name}")
            direction = sql.SQL("DESC") if item.get("order") == "-" else sql.SQL("ASC")
            terms.append(sql.SQL("{} {}").format(sql.Identifier(name), direction))
        terms.append(sql.Identifier(self.id_field))
        return sql.SQL("ORDER BY ") + sql.SQL(", ").join(terms)

    # --- queries --------------------------------------------------------------------

    def _run(
        self, statement: sql.SQL | sql.Composed, params: dict, language: Any = None
    ) -> Any:  # the statement's one row (each is an aggregate or a key lookup)
        try:
            with connection_pool(self.conninfo).connection() as conn:
                lang = getattr(language, "language", None)
                if lang and lang != "pl":
                    # names in views follow kmzb.lang (sql/042); Polish needs no round trip
                    conn.execute("SELECT set_config('kmzb.lang', %s, true)", (lang,))
                return conn.execute(statement, params).fetchone()
        except psycopg.errors.DataError as exc:
            message = exc.diag.message_primary
            raise invalid_query(f"invalid value: {message}", f"błędna wartość: {message}") from exc
        except (
            psycopg.errors.UndefinedFunction,
            psycopg.errors.DatatypeMismatch,  # NOT of a number, AND of a text, ...
            psycopg.errors.IndeterminateDatatype,
            psycopg.errors.CannotCoerce,
            psycopg.errors.AmbiguousFunction,
        ) as exc:
            raise invalid_query(
                "filter not supported for these types",
                "filtr nieobsługiwany dla tych typów danych",
            ) from exc
        except psycopg.OperationalError as exc:
            raise ProviderConnectionError(user_msg="database unreachable") from exc
        except psycopg.Error as exc:
            LOGGER.error("query failed: %s", exc)
            raise ProviderQueryError(user_msg="query failed") from exc

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, Any]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        crs_transform_spec: Any = None,
        **kwargs: Any,
    ) -> dict:
        for name, value in (("offset", offset), ("limit", limit)):
            if not 0 <= int(value) <= BIGINT_MAX:
                raise invalid_query(
                    f"{name} must be between 0 and {BIGINT_MAX}",
                    f"{name} musi być liczbą od 0 do {BIGINT_MAX}",
                )
        where, params = self._where(bbox, datetime_, properties, filterq)
        relation = self._relation()
        state = paging.get()
        after = self._cursor_position(state, offset, sortby)
        response: dict[str, Any] = {"type": "FeatureCollection", "features": []}
        if resulttype == "hits":
            row = self._run(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(relation, where), params
            )
            response["numberMatched"] = row[0]
            response["numberReturned"] = 0
            return response
        # a spatial query's first and offset pages come in storage order (see _order),
        # and their links keep offset
        by_id = after is not None or not (bbox or _is_spatial(filterq))
        statement, page = self.page_statement(
            where,
            params,
            int(offset),
            int(limit),
            after,
            sortby,
            self._feature_sql(select_properties, skip_geometry, crs_transform_spec),
            by_id=by_id,
        )
        features = self._run(statement, page, kwargs.get("language"))[0]
        response["features"] = features
        response["numberReturned"] = len(features)
        keyset = not sortby and int(offset) == 0 and by_id
        if keyset and state.next_href and features and len(features) == int(limit):
            cursor = encode_cursor(self.relation, features[-1]["id"])
            # pygeoapi 0.24 takes a provider's next link as it is (and adds no prev)
            response["links"] = [
                {
                    "type": "application/geo+json",
                    "rel": "next",
                    "title": "Items (next)",
                    "href": state.next_href + cursor,
                }
            ]
        if after is not None:
            # the count from here on is not the collection's: numberMatched is left
            # out (resultType=hits gives it)
            return response
        if self.count:
            matched = self._count(relation, where, params, offset, len(features), limit)
            if matched is not None:
                response["numberMatched"] = matched
        return response

    def page_statement(
        self,
        where: sql.Composable,
        params: dict,
        offset: int,
        limit: int,
        after: Any,
        sortby: list[dict[str, str]] | None,
        feature: sql.Composable | None = None,
        by_id: bool = True,
    ) -> tuple[sql.Composed, dict]:
        """One page's statement and parameters: after the id `after` (keyset) or at
        `offset`, in `_order`'s order (tests/test_paging.py explains it at depth)."""
        page = {**params, "k_limit": limit, "k_offset": offset}
        if after is not None:
            where = sql.SQL("({}) AND {} > %(k_after)s").format(
                where, sql.Identifier(self.id_field)
            )
            page["k_after"] = after
        statement = sql.SQL(
            "SELECT coalesce(json_agg(f ORDER BY n), '[]'::json) FROM ("
            "  SELECT {feature} AS f, row_number() OVER () AS n FROM ("
            "    SELECT * FROM {relation} WHERE {where} {order}"
            "    LIMIT %(k_limit)s OFFSET %(k_offset)s) page) features"
        ).format(
            feature=feature if feature is not None else self._feature_sql(None, False, None),
            relation=self._relation(),
            where=where,
            order=self._order(sortby, by_id or after is not None),
        )
        return statement, page

    def _cursor_position(
        self, state: Paging, offset: int, sortby: list[dict[str, str]] | None
    ) -> Any:
        """The last id of the previous page if the request sent a cursor, else None."""
        if not state.cursors:
            return None
        if len(state.cursors) > 1:
            raise invalid_query(
                "parameter cursor given more than once", "parametr cursor podano więcej niż raz"
            )
        if sortby:
            raise invalid_query(
                "cursor pages in the default order (by id); with sortby, page with offset",
                "cursor stronicuje w domyślnym porządku (według id); z sortby użyj offset",
            )
        if int(offset) != 0:
            raise invalid_query(
                "cursor and offset cannot be combined", "cursor i offset wykluczają się"
            )
        integer_id = self.columns[self.id_field].json_type == "integer"
        return decode_cursor(state.cursors[0], self.relation, integer_id)

    def _count(
        self,
        relation: sql.Composable,
        where: sql.Composable,
        params: dict,
        offset: int,
        returned: int,
        limit: int,
    ) -> int | None:
        """Exact numberMatched when it is at most count_limit; None (omitted) above."""
        if returned < limit:  # the last page tells the count for free
            return offset + returned
        if self.count_limit <= 0:
            return None
        row = self._run(
            sql.SQL(
                "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT %(k_cap)s) capped"
            ).format(relation, where),
            {**params, "k_cap": self.count_limit + 1},
        )
        return row[0] if row[0] <= self.count_limit else None

    def get(self, identifier: Any, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        statement = sql.SQL("SELECT {feature} FROM {relation} WHERE {id}::text = %(k_id)s").format(
            feature=self._feature_sql(None, _skip_geometry_requested(), crs_transform_spec),
            relation=self._relation(),
            id=sql.Identifier(self.id_field),
        )
        row = self._run(statement, {"k_id": str(identifier)}, kwargs.get("language"))
        if row is None:
            raise BilingualNotFoundError(f"no item {identifier}", f"nie ma obiektu {identifier}")
        return row[0]

    def __repr__(self) -> str:
        return f"<PostGISProvider> {self.schema}.{self.relation}"
