"""Every collection on the service's own provider; bad input anywhere on the read
path is a 4xx OGC exception (code, description in English, message in Polish and
English), never a 500.

A matrix of collections x bad inputs through the real app (pygeoapi under
gunicorn, `api` fixture), plus the read path's small truths: GeoJSON as
application/geo+json, skipGeometry on one item, numbers in the crime-rates tiles,
tiles with f=mvt, f=pbf or no f.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
import requests

EPSG_2180 = "http://www.opengis.net/def/crs/EPSG/0/2180"
COLLECTIONS = {  # collection: (a property, an item that exists)
    "threats": ("category", None),
    "threat-categories": ("code", "vandalism"),
    "crime-statistics": ("teryt", "1261-2024-total"),
    "crime-rates": ("teryt", "1261"),
    "wojewodztwa": ("teryt", "12"),
    "powiaty": ("teryt", "1261"),
    "gminy": ("teryt", "1261011"),
    "police-units": ("code", "KMP-1261"),
}
TILED = ("threats", "crime-rates")

BAD_QUERIES = [
    {"datetime": "notadate"},
    {"datetime": "2025-13-45"},
    {"datetime": "2025-01-01/2025-02-01/2025-03-01"},
    {"datetime": "2025-06-01T/.."},
    {"limit": "0"},
    {"limit": "-5"},
    {"limit": "abc"},
    {"limit": "1.5"},
    {"offset": "-1"},
    {"offset": "abc"},
    {"offset": str(10**30)},
    {"offset": str(2**63)},
    {"bbox": "1,2,3"},
    {"bbox": "1,2,3,4,5"},
    {"bbox": "a,b,c,d"},
    {"bbox": "nan,0,1,1"},
    {"bbox": "0,10,1,5"},
    {"bbox": "0,0,200,1"},
    {"bbox-crs": EPSG_2180},
    {
        "bbox": "240000,560000,250000,572000",
        "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/9999",
    },
    {"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"},
    {"crs": "not a crs"},
    {"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/9999"},
    {"filter": "name ="},
    {"filter": "no_such_property = 1"},
    {"filter": "S_INTERSECTS(geom)"},
    {"filter": "1 = = 1"},
    {"filter": "(((("},
    {"filter": "(" * 300 + "id = 'x'" + ")" * 299},  # deeper: gunicorn refuses the line
    {"filter": "S_INTERSECTS(geom, BBOX(1, 2, 3))"},
    {"filter": "S_INTERSECTS(geom, POLYGON((0 0)))"},
    {"filter": "S_INTERSECTS(geom, LINESTRING(1 1))"},
    {"filter-lang": "sql"},
    {"filter": "{", "filter-lang": "cql2-json"},
    {"filter": "[1, 2]", "filter-lang": "cql2-json"},
    {"filter": '{"op": "like", "args": [{"property": {}}, ""]}', "filter-lang": "cql2-json"},
    {"sortby": "no_such_property"},
    {"sortby": "-no_such_property"},
    {"properties": "no_such_property"},
    {"skipGeometry": "maybe"},
    {"resulttype": "everything"},
    {"f": "xyz"},
    {"no_such_parameter": "1"},
    {"q": "kraków"},
]
REPEATED = ["limit=1&limit=2", "f=json&f=json", "bbox=1,2,3,4&bbox=1,2,3,4", "{prop}=x&{prop}=y"]

CQL2_JSON = "application/query-cql-json"
deep = '{"op": "not", "args": [' * 1000 + '{"op": "=", "args": [1, 1]}' + "]}" * 1000
BAD_BODIES = [  # (Content-Type, body)
    (None, "x"),
    ("text/plain", '{"op": "=", "args": [{"property": "id"}, "x"]}'),
    ("application/geo+json", '{"type": "Feature", "geometry": null, "properties": {}}'),
    ("application/x-www-form-urlencoded", "a=1"),
    (CQL2_JSON, ""),
    (CQL2_JSON, "{"),
    (CQL2_JSON, "[]"),
    (CQL2_JSON, "1"),
    (CQL2_JSON, '"text"'),
    (CQL2_JSON, "null"),
    (CQL2_JSON, '{"op": "like", "args": [{"property": {}}, ""]}'),
    (CQL2_JSON, '{"op": "no-such-op", "args": []}'),
    (CQL2_JSON, '{"op": "=", "args": [1]}'),
    (CQL2_JSON, '{"op": "=", "args": [{"property": "no_such_property"}, 1, 2]}'),
    (CQL2_JSON, '{"op": "and", "args": [[[[1]]], [[2]]]}'),
    (CQL2_JSON, '{"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [1, 2]}]}'),
    (CQL2_JSON, '{"op": "=", "args": [{"property": "x"}, {"date": "not a date"}]}'),
    (CQL2_JSON, '{"args": []}'),
    (
        CQL2_JSON,
        '{"op": "s_intersects", "args": [{"property": "geom"}, '
        '{"type": "Polygon", "coordinates": [[[0, 0]]]}]}',
    ),
    (CQL2_JSON, '{"op": "isNull", "args": [{"bbox": [0, 0, 0, 0, 0, 0]}]}'),
    (CQL2_JSON, deep),
    (CQL2_JSON, '{"op": "=", "args": ["' + "x" * 70_000 + '", 1]}'),
]


def assert_ogc_exception(answer: requests.Response, what) -> None:
    assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("application/json"), what
    body = answer.json()
    assert body["code"] and body["description"], (what, body)
    # the English as the description, both languages in the message
    assert body["description"] == body["message"]["en"], (what, body)
    assert body["message"]["pl"] and body["message"]["pl"] != body["message"]["en"], (what, body)


@pytest.mark.parametrize("params", BAD_QUERIES, ids=lambda p: json.dumps(p)[:60])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_bad_query_is_a_4xx(api: str, collection: str, params: dict) -> None:
    answer = requests.get(f"{api}/collections/{collection}/items", params=params, timeout=60)
    assert_ogc_exception(answer, (collection, params))


@pytest.mark.parametrize("query", REPEATED)
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_repeated_parameter_is_a_400_naming_it(api: str, collection: str, query: str) -> None:
    query = query.format(prop=COLLECTIONS[collection][0])
    answer = requests.get(f"{api}/collections/{collection}/items?{query}", timeout=60)
    assert_ogc_exception(answer, query)
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.json()["description"]


@pytest.mark.parametrize("content_type, body", BAD_BODIES, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_bad_post_query_is_a_4xx(api: str, collection: str, content_type, body: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(
        f"{api}/collections/{collection}/items",
        data=body.encode(),
        headers=headers,
        timeout=60,
    )
    assert_ogc_exception(answer, (collection, content_type, body[:80]))


@pytest.mark.parametrize(
    "query",
    [{"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"}, {"skipGeometry": "1x"}, {"x": "1"}],
)
@pytest.mark.parametrize("collection", [c for c, (_, item) in COLLECTIONS.items() if item])
def test_bad_item_query_is_a_4xx(api: str, collection: str, query: dict) -> None:
    item = COLLECTIONS[collection][1]
    answer = requests.get(f"{api}/collections/{collection}/items/{item}", params=query, timeout=60)
    assert_ogc_exception(answer, (collection, query))


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_collections_are_read_only(api: str, method: str) -> None:
    answer = requests.request(
        method, f"{api}/collections/gminy/items/1261011", data="{}", timeout=60
    )
    assert_ogc_exception(answer, method)
    assert answer.status_code == 405


BAD_TILES = [
    ("WebMercatorQuad", "a", "1", "1", {}),
    ("WebMercatorQuad", "1.5", "0", "0", {}),
    ("WebMercatorQuad", "-1", "0", "0", {}),
    ("WebMercatorQuad", "99999999999999999999", "1", "1", {}),
    ("WebMercatorQuad", "5", "32", "0", {}),
    ("WebMercatorQuad", "5", "0", "-1", {}),
    ("WebMercatorQuad", "5", "x", "0", {}),
    ("WebMercatorQuad", "19", "0", "0", {}),
    ("NoSuchMatrixSet", "5", "10", "17", {}),
    ("WebMercatorQuad", "5", "10", "17", {"f": "json"}),
    ("WebMercatorQuad", "5", "10", "17", {"f": "png"}),
    ("WebMercatorQuad", "5", "10", "17", {"no_such_parameter": "1"}),
]


@pytest.mark.parametrize("tms, z, row, col, params", BAD_TILES, ids=lambda v: str(v))
@pytest.mark.parametrize("collection", TILED)
def test_bad_tile_is_a_4xx(api: str, collection: str, tms, z, row, col, params) -> None:
    url = f"{api}/collections/{collection}/tiles/{tms}/{z}/{row}/{col}"
    assert_ogc_exception(requests.get(url, params=params, timeout=60), (collection, url, params))
    again = requests.get(f"{url}?f=mvt&f=mvt", timeout=60)
    assert_ogc_exception(again, (collection, url, "f twice"))


# --- what works ------------------------------------------------------------------------------


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_geojson_is_application_geo_json(api: str, collection: str) -> None:
    url = f"{api}/collections/{collection}/items"
    for params in ({"f": "json", "limit": 2}, {"limit": 2}):
        answer = requests.get(url, params=params, timeout=60)
        assert answer.status_code == 200, answer.text[:300]
        assert answer.headers["Content-Type"] == "application/geo+json", params
        assert answer.json()["type"] == "FeatureCollection"
    prop, item = COLLECTIONS[collection]
    posted = requests.post(
        url,
        params={"limit": 2},
        data=json.dumps({"op": "isNull", "args": [{"property": prop}]}),
        headers={"Content-Type": CQL2_JSON},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text[:300]
    assert posted.headers["Content-Type"] == "application/geo+json"
    if item:
        for params in ({"f": "json"}, {}):
            one = requests.get(f"{url}/{item}", params=params, timeout=60)
            assert one.status_code == 200
            assert one.headers["Content-Type"] == "application/geo+json"
            assert one.json()["id"] == item
    # an error stays an OGC exception in JSON
    assert (
        requests.get(url, params={"limit": "x"}, timeout=60)
        .headers["Content-Type"]
        .startswith("application/json")
    )


def test_skip_geometry_on_one_item(api: str) -> None:
    url = f"{api}/collections/police-units/items/KMP-1261"
    whole = requests.get(url, params={"f": "json"}, timeout=60).json()
    bare = requests.get(url, params={"f": "json", "skipGeometry": "true"}, timeout=60)
    assert bare.status_code == 200
    assert bare.json()["geometry"] is None
    assert whole["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert bare.json()["properties"] == whole["properties"]
    kept = requests.get(url, params={"f": "json", "skipGeometry": "false"}, timeout=60).json()
    assert kept["geometry"] == whole["geometry"]


def test_well_formed_datetime_on_a_collection_without_time_is_ignored(api: str) -> None:
    url = f"{api}/collections/wojewodztwa/items"
    plain = requests.get(url, params={"resulttype": "hits"}, timeout=60).json()
    dated = requests.get(
        url, params={"resulttype": "hits", "datetime": "2025-01-01/2025-12-31"}, timeout=60
    )
    assert dated.status_code == 200
    assert dated.json()["numberMatched"] == plain["numberMatched"] == 16


def test_huge_limit_is_capped_not_refused(api: str) -> None:
    """OGC API Features: a limit above the server's maximum is not an error."""
    answer = requests.get(
        f"{api}/collections/gminy/items",
        params={"limit": str(10**30), "skipGeometry": "true"},
        timeout=120,
    )
    assert answer.status_code == 200
    assert answer.json()["numberReturned"] == 2477


def _tile_features(path: Path, z: int, x: int, y: int) -> list[dict]:
    out = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSONSeq", "/vsistdout/", str(path)]
        + ["-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line.strip("\x1e")) for line in out.splitlines() if line.strip()]


def test_crime_rate_tiles_carry_numbers(api: str, db_url: str, tmp_path: Path) -> None:
    answer = requests.get(
        f"{api}/collections/crime-rates/tiles/WebMercatorQuad/5/10/17",
        params={"f": "mvt"},
        timeout=60,
    )
    assert answer.status_code == 200
    (tmp_path / "r.pbf").write_bytes(answer.content)
    units = {
        u["properties"]["teryt"]: u["properties"]
        for u in _tile_features(tmp_path / "r.pbf", 5, 17, 10)
    }
    krakow = units["1261"]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT total_per_10k::float8, detection_rate::float8, traffic_per_10k::float8 "
            "FROM kmzb.public_crime_rates_latest WHERE teryt = %s",
            ("1261",),
        ).fetchone()
    for name, expected in zip(
        ("total_per_10k", "detection_rate", "traffic_per_10k"), row, strict=True
    ):
        assert isinstance(krakow[name], float), (name, krakow[name])
        assert krakow[name] == pytest.approx(expected), name
    assert isinstance(krakow["population"], int) and isinstance(krakow["year"], int)


@pytest.mark.parametrize("collection", TILED)
def test_tiles_mvt_canonical_pbf_accepted_no_f_answers(api: str, collection: str) -> None:
    metadata = requests.get(
        f"{api}/collections/{collection}/tiles", params={"f": "json"}, timeout=60
    )
    hrefs = [link["href"] for link in metadata.json()["links"]]
    tile_links = [h for h in hrefs if "{tileMatrix}" in h]
    assert tile_links and all(h.endswith("?f=mvt") for h in tile_links), tile_links
    assert not any("f=pbf" in h for h in hrefs)
    url = f"{api}/collections/{collection}/tiles/WebMercatorQuad/5/10/17"
    answers = []
    for params in ({"f": "mvt"}, {"f": "pbf"}, {}):
        tile = requests.get(url, params=params, timeout=60)
        # the shared database may hold reports or not (other modules submit): an empty
        # tile is a 204; the three ways of asking must give the same answer
        assert tile.status_code in (200, 204), tile.text[:200]
        assert collection == "threats" or tile.status_code == 200
        assert tile.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
        answers.append((tile.status_code, tile.content))
    accept = requests.get(url, headers={"Accept": "application/vnd.mapbox-vector-tile"}, timeout=60)
    answers.append((accept.status_code, accept.content))
    assert len(set(answers)) == 1


def _parameter_names(document: dict, operation: dict) -> set[str]:
    names = set()
    for parameter in operation.get("parameters", []):
        ref = parameter.get("$ref")
        if ref and ref.startswith("#/components/parameters/"):
            parameter = document["components"]["parameters"][ref.rsplit("/", 1)[1]]
        elif ref:  # not bundled (yet): the name ends the reference
            parameter = {"name": ref.rsplit("/", 1)[1]}
        names.add(parameter["name"])
    return names


def test_openapi_declares_what_the_checks_accept(api: str) -> None:
    """The items operations declare the parameters the checks take, and no free-form
    "any other parameter" (an unknown one is a 400)."""
    from kmzb.service.query_checks import ITEM_PARAMETERS, ITEMS_PARAMETERS

    document = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()
    for collection in COLLECTIONS:
        items = document["paths"][f"/collections/{collection}/items"]["get"]
        names = _parameter_names(document, items)
        queryables = requests.get(
            f"{api}/collections/{collection}/queryables", params={"f": "json"}, timeout=60
        ).json()["properties"]
        accepted = ITEMS_PARAMETERS | set(queryables) | {"resultType"}
        assert "vendorSpecificParameters" not in names, collection
        assert names <= accepted, (collection, names - accepted)
        assert ITEMS_PARAMETERS - {"resulttype"} <= names, (collection, ITEMS_PARAMETERS - names)
        item = document["paths"][f"/collections/{collection}/items/{{featureId}}"]["get"]
        assert _parameter_names(document, item) - {"featureId"} == ITEM_PARAMETERS, collection


@pytest.mark.parametrize("collection", TILED)
def test_tileset_metadata_in_every_format(api: str, collection: str) -> None:
    """pygeoapi 0.24 failed (500) on a tileset's metadata without f and with f=tilejson."""
    for path in ("tiles/WebMercatorQuad", "tiles/WebMercatorQuad/metadata"):
        url = f"{api}/collections/{collection}/{path}"
        for params in ({}, {"f": "json"}, {"f": "html"}, {"f": "jsonld"}):
            answer = requests.get(url, params=params, timeout=60)
            assert answer.status_code == 200, (path, params, answer.text[:200])
        tilejson = requests.get(url, params={"f": "tilejson"}, timeout=60)
        assert tilejson.status_code == 200, tilejson.text[:200]
        document = tilejson.json()
        assert document["tiles"] == [
            f"{api}/collections/{collection}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
        ]
        assert document["vector_layers"]
        assert_ogc_exception(requests.get(url, params={"f": "xyz"}, timeout=60), (path, "xyz"))


FUNCTION_F = {"function": {"name": "f", "arguments": []}}  # no custom functions are offered
CASEI_CASEI = {"op": "casei", "args": [{"op": "casei", "args": [""]}]}


@pytest.mark.parametrize(
    "collection, body",
    [
        ("crime-statistics", {"op": "not", "args": [{"property": "year"}]}),
        ("gminy", {"op": "not", "args": [{"property": "name"}]}),
        ("crime-rates", {"op": "and", "args": [{"property": "name"}, True]}),
        ("gminy", {"op": "=", "args": [{"property": "name"}, FUNCTION_F]}),
        ("threats", {"op": "isNull", "args": [{"function": {"name": "upper", "arguments": []}}]}),
        # IN with an arithmetic node for its list: pygeofilter cannot walk its own tree
        (
            "threat-categories",
            {"op": "in", "args": [{"property": "code"}, {"op": "/", "args": [1, 2]}]},
        ),
        # CASEI inside CASEI: pygeofilter hands the inner one to SQL as a value
        ("gminy", {"op": "like", "args": [CASEI_CASEI, {"op": "casei", "args": ["x"]}]}),
    ],
)
def test_a_filter_of_the_wrong_type_is_a_400(api: str, collection: str, body: dict) -> None:
    """NOT of a number, AND of a text: PostgreSQL refuses the types (found by the
    unbounded OpenAPI fuzz run); the client gets a 400, not a 500."""
    answer = requests.post(
        f"{api}/collections/{collection}/items",
        json=body,
        headers={"Content-Type": CQL2_JSON},
        timeout=60,
    )
    assert_ogc_exception(answer, body)


def test_a_case_insensitive_like_still_works(api: str) -> None:
    """CASEI on both sides of LIKE is the backend's own function: still answered."""
    body = {
        "op": "like",
        "args": [
            {"op": "casei", "args": [{"property": "name"}]},
            {"op": "casei", "args": ["KRAKÓW"]},
        ],
    }
    answer = requests.post(
        f"{api}/collections/gminy/items",
        json=body,
        headers={"Content-Type": CQL2_JSON},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    assert [f["id"] for f in answer.json()["features"]] == ["1261011"]
