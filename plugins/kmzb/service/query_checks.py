"""The query parameters of the collections, checked before pygeoapi reads them.

pygeoapi 0.24 takes the first of repeated parameters, drops unknown ones in
silence, passes numbers and tile indices on unchecked (a tile index `a` or an
offset of 10**30 became a 500) and words its refusals in English only. Every
collection and tile request passes here first; a bad one gets a 4xx OGC exception
document ({"code", "type", "description"} in English, "message": {"pl", "en"}),
and nothing reaches the database. The rules (and why):

- a parameter given twice is a 400 naming it: none of ours is repeatable (lists
  are comma-separated, as the OpenAPI document says: style form, explode false);
- an unknown parameter is a 400 naming it (OGC API Features /rec/core/query-param-
  unknown): a misspelt filter must not answer every feature;
- `datetime` must be an RFC 3339 instant or interval on every collection; a
  well-formed one on a collection without a time field is ignored (OGC allows it);
- `limit` is an integer >= 1; above the server's maximum it is capped, not
  refused (OGC API Features: a larger limit "SHALL NOT result in an error");
  `offset` is an integer from 0 to 2**63 - 1;
- `bbox` is 4 or 6 finite numbers, lower corner first, within longitude and
  latitude in CRS84; `crs`, `bbox-crs`, `filter-crs` must be the collection's;
- `sortby`, `properties` name queryables; `skipGeometry` is true or false;
- a POST on items is a CQL2-JSON query: Content-Type application/query-cql-json
  (or application/cql2+json, application/json), a JSON object; else 415 / 400;
  collections are read-only (PUT, DELETE: 405);
- a tile is `{tileMatrixSet}/{z}/{row}/{col}` with integer indices inside the
  tile matrix set and the collection's zoom levels (else 400 for a non-integer,
  404 for a tile outside); `f=mvt` (canonical, advertised), `f=pbf` accepted,
  no `f` answers the tile too; a tileset's metadata comes as f=json (also with no
  f), html, jsonld or tilejson (pygeoapi 0.24 failed with a 500 on the others).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from kmzb.domain.crs_names import CRS84_URI as CRS84
from kmzb.service.conformance import media_type
from kmzb.service.responses import json_response

BIGINT_MAX = 2**63 - 1
MAX_FILTER_BYTES = 64 * 1024
MAX_FILTER_DEPTH = 64
CQL_JSON_TYPES = ("application/query-cql-json", "application/cql2+json", "application/json")
TILE_FORMATS = ("mvt", "pbf")
METADATA_TYPES = ("text/html", "application/json", "application/ld+json")
METADATA_FORMATS = ("json", "html", "jsonld", "tilejson")
INTEGER = re.compile(r"^[0-9]{1,100}$")

ITEMS = re.compile(r"^/collections/(?P<cid>[^/]+)/items/?$")
ITEM = re.compile(r"^/collections/(?P<cid>[^/]+)/items/(?P<fid>[^/]+)/?$")
TILE = re.compile(
    r"^/collections/(?P<cid>[^/]+)/tiles/(?P<tms>[^/]+)/(?P<z>[^/]+)/(?P<row>[^/]+)/(?P<col>[^/]+)/?$"
)
TILESET = re.compile(r"^/collections/(?P<cid>[^/]+)/tiles(/(?P<tms>[^/]+)(/metadata)?)?/?$")
DESCRIBED = re.compile(r"^/collections/(?P<cid>[^/]+)(/(?P<what>queryables|schema))?/?$")

COMMON = {"f", "lang"}
ITEMS_PARAMETERS = COMMON | {
    "limit",
    "offset",
    "cursor",  # the opaque keyset position of a next link (providers/postgis.py)
    "resulttype",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "sortby",
    "properties",
    "skipGeometry",
    "filter",
    "filter-lang",
    "filter-crs",
}
ITEM_PARAMETERS = COMMON | {"crs", "skipGeometry"}
DESCRIBED_PARAMETERS = COMMON | {"profile"}


@dataclass
class QueryError(Exception):
    en: str
    pl: str
    status: int = 400
    code: str = "InvalidParameterValue"
    headers: dict | None = None

    def response(self) -> Response:
        body = {
            "code": self.code,
            "type": self.code,
            "description": self.en,
            "message": {"pl": self.pl, "en": self.en},
        }
        return json_response(body, self.status, self.headers)


def _collection(cid: str) -> dict | None:
    from pygeoapi.flask_app import CONFIG

    resource = CONFIG["resources"].get(cid)
    if not resource or resource.get("type") != "collection":
        return None
    return resource


def _provider_def(resource: dict, kind: str) -> dict | None:
    return next((p for p in resource.get("providers", []) if p.get("type") == kind), None)


def _fields(provider_def: dict) -> set[str]:
    from pygeoapi.plugin import load_plugin

    return set(load_plugin("provider", provider_def).get_fields())


def _supported_crs(provider_def: dict) -> list[str]:
    from pygeoapi.crs import get_supported_crs_list

    return list(get_supported_crs_list(dict(provider_def)))


# --- the checks ----------------------------------------------------------------------


def _no_repeats() -> None:
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise QueryError(
                f"parameter {name} is given more than once",
                f"parametr {name} podano więcej niż raz",
            )


def _no_unknown(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise QueryError(
            f"unknown parameter {unknown[0]}; this operation takes: {', '.join(sorted(allowed))}",
            f"nieznany parametr {unknown[0]}; ta operacja przyjmuje: {', '.join(sorted(allowed))}",
        )


def _integer(name: str, value: str, minimum: int, maximum: int | None = None) -> int:
    if not INTEGER.match(value) or int(value) < minimum:
        raise QueryError(
            f"{name} must be an integer of at least {minimum}",
            f"{name} musi być liczbą całkowitą nie mniejszą niż {minimum}",
        )
    number = int(value)
    if maximum is not None and number > maximum:
        raise QueryError(
            f"{name} must be at most {maximum}", f"{name} może wynosić najwyżej {maximum}"
        )
    return number


def _bbox(value: str, crs: str | None) -> None:
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(v) for v in numbers):
        raise QueryError(
            "bbox must be 4 or 6 comma-separated numbers (minx,miny,maxx,maxy)",
            "bbox musi mieć 4 albo 6 liczb rozdzielonych przecinkami (minx,miny,maxx,maxy)",
        )
    half = len(numbers) // 2
    lower, upper = numbers[:half], numbers[half:]
    if any(lo > up for lo, up in zip(lower[1:], upper[1:], strict=True)):
        raise QueryError(
            "bbox: the lower corner comes first (miny <= maxy)",
            "bbox: najpierw dolny narożnik (miny <= maxy)",
        )
    if crs in (None, CRS84) and not (
        all(-180 <= v <= 180 for v in (lower[0], upper[0]))
        and all(-90 <= v <= 90 for v in (lower[1], upper[1]))
    ):
        raise QueryError(
            "bbox in CRS84: longitude within -180..180, latitude within -90..90",
            "bbox w CRS84: długość geograficzna od -180 do 180, szerokość od -90 do 90",
        )


def _crs(name: str, value: str, supported: list[str]) -> None:
    if value not in supported:
        raise QueryError(
            f"{name} {value} is not offered by this collection; it offers {', '.join(supported)}",
            f"{name} {value} nie jest dostępny w tej kolekcji; dostępne: {', '.join(supported)}",
        )


def _names(name: str, value: str, fields: set[str], strip_sign: bool) -> None:
    for term in value.split(","):
        field = term.strip()
        if strip_sign and field[:1] in "+-":
            field = field[1:]
        if field not in fields:
            raise QueryError(
                f"{name}: unknown property {field!r}", f"{name}: nieznana właściwość {field!r}"
            )


def _boolean(name: str, value: str) -> None:
    if value.strip().lower() not in ("true", "false"):
        raise QueryError(
            f"{name} must be true or false", f"{name} musi mieć wartość true albo false"
        )


def _json_depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_FILTER_DEPTH:
            break
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
    return depth


def _cql2_json(raw: bytes) -> bytes:
    """A CQL2-JSON filter: at most 64 KB, a JSON object, nested at most 64 deep."""
    if len(raw) > MAX_FILTER_BYTES:
        raise QueryError(
            "the CQL2-JSON filter is larger than 64 KB",
            "filtr CQL2-JSON jest większy niż 64 KB",
            status=413,
            code="PayloadTooLarge",
        )
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise QueryError(
            "the filter is not valid JSON (CQL2-JSON expected)",
            "filtr nie jest poprawnym JSON-em (oczekiwano CQL2-JSON)",
        ) from exc
    if not isinstance(document, dict) or "op" not in document:
        raise QueryError(
            'a CQL2-JSON filter is an object with "op" and "args"',
            'filtr CQL2-JSON to obiekt z polami "op" i "args"',
        )
    if _json_depth(document) > MAX_FILTER_DEPTH:
        raise QueryError(
            f"the filter is nested more than {MAX_FILTER_DEPTH} levels deep",
            f"filtr jest zagnieżdżony głębiej niż {MAX_FILTER_DEPTH} poziomów",
        )
    return json.dumps(_bbox_literals_as_polygons(document)).encode("utf-8")


def _bbox_literals_as_polygons(node: Any) -> Any:
    """CQL2-JSON as pygeofilter 0.3 reads it right.

    `{"bbox": [minx, miny, maxx, maxy]}` becomes the polygon it stands for
    (pygeofilter builds its Envelope(x1, x2, y1, y2) in the list's order, so it
    filtered by another box); `between` with CQL2 1.0's three arguments gets the
    draft's [value, [low, high]] that pygeofilter parses."""
    if isinstance(node, list):
        return [_bbox_literals_as_polygons(child) for child in node]
    if not isinstance(node, dict):
        return node
    box = node.get("bbox")
    if set(node) == {"bbox"} and isinstance(box, list) and len(box) in (4, 6):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise QueryError("bbox takes 4 or 6 numbers", "bbox przyjmuje 4 albo 6 liczb")
        half = len(box) // 2
        x1, y1, x2, y2 = box[0], box[1], box[half], box[half + 1]
        ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
        return {"type": "Polygon", "coordinates": [ring]}
    rewritten = {key: _bbox_literals_as_polygons(value) for key, value in node.items()}
    args = rewritten.get("args")
    if (
        str(rewritten.get("op", "")).lower() == "between"
        and isinstance(args, list)
        and len(args) == 3
    ):
        # CQL2 1.0: [value, low, high]; pygeofilter 0.3 reads the draft's [value, [low, high]]
        rewritten["args"] = [args[0], [args[1], args[2]]]
    return rewritten


def _check_items(resource: dict) -> None:
    provider = _provider_def(resource, "feature")
    if provider is None:
        return
    args = request.args
    if request.method in ("PUT", "DELETE", "PATCH"):
        raise _read_only()
    if request.method == "POST":
        media_type = (request.mimetype or "").lower()
        if media_type not in CQL_JSON_TYPES:
            raise QueryError(
                "a POST on items is a CQL2-JSON query: send Content-Type "
                "application/query-cql-json (the collections are read-only)",
                "POST na items to zapytanie CQL2-JSON: wyślij Content-Type "
                "application/query-cql-json (kolekcje są tylko do odczytu)",
                status=415,
                code="UnsupportedMediaType",
            )
        if args.get("filter-lang", "cql2-json") not in ("cql2-json", "cql-json"):
            raise QueryError(
                "a POST query takes filter-lang=cql2-json",
                "zapytanie POST przyjmuje filter-lang=cql2-json",
            )
        request._cached_data = _cql2_json(request.get_data())  # werkzeug's body cache
    fields = _fields(provider)
    _no_unknown(ITEMS_PARAMETERS | fields)
    supported = _supported_crs(provider)
    if "limit" in args:
        _integer("limit", args["limit"], 1)
    if "offset" in args:
        _integer("offset", args["offset"], 0, BIGINT_MAX)
    if "resulttype" in args and args["resulttype"] not in ("results", "hits"):
        raise QueryError(
            "resulttype is results or hits", "resulttype przyjmuje wartość results albo hits"
        )
    if "bbox-crs" in args:
        if "bbox" not in args:
            raise QueryError("bbox-crs needs a bbox", "bbox-crs wymaga parametru bbox")
        _crs("bbox-crs", args["bbox-crs"], supported)
    if "bbox" in args:
        _bbox(args["bbox"], args.get("bbox-crs"))
    for name in ("crs", "filter-crs"):
        if name in args:
            _crs(name, args[name], supported)
    if "datetime" in args:
        from kmzb.providers.postgis import BilingualQueryError, parse_datetime

        try:
            parse_datetime(args["datetime"])
        except BilingualQueryError as exc:
            raise QueryError(exc.en, exc.pl) from exc
    if "sortby" in args:
        _names("sortby", args["sortby"], fields, strip_sign=True)
    if "properties" in args:
        _names("properties", args["properties"], fields, strip_sign=False)
    if "skipGeometry" in args:
        _boolean("skipGeometry", args["skipGeometry"])
    language = args.get("filter-lang")
    if language is not None and language not in ("cql2-text", "cql2-json", "cql-text", "cql-json"):
        raise QueryError(
            "filter-lang is cql2-text or cql2-json",
            "filter-lang przyjmuje wartość cql2-text albo cql2-json",
        )
    if request.method == "GET" and language in ("cql2-json", "cql-json") and "filter" in args:
        _json_filter_in_query()


def _json_filter_in_query() -> None:
    """`?filter=<CQL2-JSON>&filter-lang=cql2-json` (OGC API Features Part 3): pygeoapi
    0.24 parses `filter` as CQL2 text only and reads CQL2-JSON from a POST body, so
    the checked JSON is handed on as the body and the text parameter removed."""
    body = _cql2_json(request.args["filter"].encode("utf-8"))
    args = MultiDict(request.args)
    args.pop("filter")
    request.args = ImmutableMultiDict(args)
    request._cached_data = body  # werkzeug's cache behind request.get_data()


def _read_only() -> QueryError:
    return QueryError(
        "the collections are read-only (reports are submitted through processes/submit-threat)",
        "kolekcje są tylko do odczytu (zgłoszenia przyjmuje processes/submit-threat)",
        status=405,
        code="MethodNotAllowed",
        headers={"Allow": "GET, HEAD, OPTIONS"},
    )


def _check_item(resource: dict) -> None:
    provider = _provider_def(resource, "feature")
    if provider is None:
        return
    if request.method in ("PUT", "DELETE", "PATCH", "POST"):
        raise _read_only()
    _no_unknown(ITEM_PARAMETERS)
    if "crs" in request.args:
        _crs("crs", request.args["crs"], _supported_crs(provider))
    if "skipGeometry" in request.args:
        _boolean("skipGeometry", request.args["skipGeometry"])


def _tile_matrix_set(provider: dict, tms: str) -> None:
    schemes = (provider.get("options") or {}).get("schemes") or ["WebMercatorQuad"]
    if tms not in schemes:
        raise QueryError(
            f"no tile matrix set {tms}; this collection has {', '.join(schemes)}",
            f"nie ma zestawu macierzy kafli {tms}; ta kolekcja ma {', '.join(schemes)}",
            status=404,
            code="NotFound",
        )


def _check_tile(resource: dict, match: re.Match) -> None:
    provider = _provider_def(resource, "tile")
    if provider is None:
        return
    _no_unknown(COMMON)
    _tile_matrix_set(provider, match["tms"])
    zoom = (provider.get("options") or {}).get("zoom") or {}
    low, high = int(zoom.get("min", 0)), int(zoom.get("max", 24))
    z = _integer("tileMatrix", match["z"], 0)
    row = _integer("tileRow", match["row"], 0)
    col = _integer("tileCol", match["col"], 0)
    if not low <= z <= high or row >= 2**z or col >= 2**z:
        raise QueryError(
            f"no tile {z}/{row}/{col}: zoom levels {low}-{high}, "
            "row and column below 2 to the power of the zoom",
            f"nie ma kafla {z}/{row}/{col}: poziomy {low}-{high}, "
            "wiersz i kolumna mniejsze niż 2 do potęgi poziomu",
            status=404,
            code="NotFound",
        )
    f = (request.args.get("f") or "").strip().lower()
    if f and f not in TILE_FORMATS:
        raise QueryError(
            f"tiles come as f=mvt (Mapbox Vector Tiles), not f={f}",
            f"kafle są dostępne jako f=mvt (Mapbox Vector Tiles), nie f={f}",
        )
    # the one format there is: no f (or any Accept) answers the tile
    args = MultiDict(request.args)
    args["f"] = "mvt"
    request.args = ImmutableMultiDict(args)


def _check_tileset(resource: dict, match: re.Match) -> None:
    provider = _provider_def(resource, "tile")
    if provider is None:
        return
    _no_unknown(COMMON)
    if match["tms"]:
        _tile_matrix_set(provider, match["tms"])
    # pygeoapi 0.24 fails (500) on a tileset's metadata in a format it has no writer for
    # (f=mvt, an empty f, or none asked for at all)
    formats = METADATA_FORMATS if match["tms"] else METADATA_FORMATS[:-1]
    args = MultiDict(request.args)
    f = (args.get("f") or "").strip().lower()
    if f and f not in formats:
        raise QueryError(
            f"f={f}: this metadata comes as f={', f='.join(formats)}",
            f"f={f}: te metadane są dostępne jako f={', f='.join(formats)}",
        )
    accept = request.headers.get("Accept", "")
    if not f and not any(kind in accept for kind in METADATA_TYPES):
        args["f"] = "json"
    elif f:
        args["f"] = f
    else:
        args.pop("f", None)
    request.args = ImmutableMultiDict(args)


def check_request() -> Response | None:
    path = request.path
    if not path.startswith("/collections/"):
        return None
    try:
        _no_repeats()
        for pattern, check in (
            (ITEMS, lambda r, _m: _check_items(r)),
            (ITEM, lambda r, _m: _check_item(r)),
            (TILE, _check_tile),
            (TILESET, _check_tileset),
            (DESCRIBED, lambda _r, _m: _no_unknown(DESCRIBED_PARAMETERS)),
        ):
            match = pattern.match(path)
            if match:
                resource = _collection(match["cid"])
                if resource is not None:
                    check(resource, match)
                break
    except QueryError as error:
        return error.response()
    return None


# --- pygeoapi's own refusals, in both languages ------------------------------------------

POLISH = {
    "Collection not found": "Nie ma takiej kolekcji",
    "identifier not found": "Nie ma obiektu o tym identyfikatorze",
    "Invalid format requested": "Żądano nieobsługiwanego formatu",
    "Bad CQL text": "Błędny filtr CQL2 (tekst)",
    "Bad CQL JSON": "Błędny filtr CQL2-JSON",
    "Invalid filter language": "Nieobsługiwany język filtra",
    "Collection is not editable": "Kolekcja jest tylko do odczytu",
    "Tile not found": "Nie ma takiego kafla",
}


def polish_for(description: str) -> str:
    """The Polish of one of pygeoapi's English refusals (a general one if unknown)."""
    return POLISH.get(description, "Błędne zapytanie")


def bilingual_errors(response: Response) -> Response:
    """A 4xx on a collection that did not pass through the adapter's error answer
    ({"code", "description"} in English only) gets its `message` in both languages;
    pygeoapi 0.24's plain-text "Tile not found" becomes the OGC exception."""
    if (
        not request.path.startswith("/collections")
        or not 400 <= response.status_code < 500
        or response.direct_passthrough
    ):
        return response
    if response.status_code == 404 and response.get_data() == b"Tile not found":
        # pygeoapi 0.24 answers a missing tile in plain text
        return QueryError("Tile not found", POLISH["Tile not found"], 404, "NotFound").response()
    if media_type(response) != "application/json":
        return response
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    description = body.get("description") if isinstance(body, dict) else None
    if not isinstance(description, str) or "message" in body:
        return response
    body["message"] = {"pl": polish_for(description), "en": description}
    response.set_data(json.dumps(body, ensure_ascii=False))
    return response


def install(app: Flask) -> None:
    """Checks before pygeoapi; runs after result_type's resultType mapping."""
    app.before_request(check_request)
    app.after_request(bilingual_errors)
