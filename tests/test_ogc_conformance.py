"""The conformance classes the service declares, each proven over HTTP.

Every CQL2 class in /conformance has examples here whose answers are compared with
the same condition asked of PostGIS directly: a class the service did not support
would answer 400 or a wrong count. GDAL's OAPIF driver (the Debian CLI) shows what
it sends to the server for an attribute filter.
"""

from __future__ import annotations

import json
import re
import subprocess

import psycopg
import pygeoapi
import pytest
import requests

from kmzb.service import conformance

FEATURES_3 = conformance.FEATURES_3
CQL2 = conformance.CQL2
EPSG_2180 = "http://www.opengis.net/def/crs/EPSG/0/2180"

POINT = "POINT(19.94 50.06)"  # Kraków's Rynek
LINE = "LINESTRING(19.5 50.06, 20.5 50.06)"
SQUARE = "POLYGON((19.9 50.0, 20.1 50.0, 20.1 50.1, 19.9 50.1, 19.9 50.0))"
GEOMETRIES = [
    POINT,
    LINE,
    SQUARE,
    "MULTIPOINT((19.94 50.06), (21.01 52.23))",
    "MULTILINESTRING((19.5 50.06, 20.5 50.06), (20.9 52.2, 21.1 52.3))",
    "MULTIPOLYGON(((19.9 50.0, 20.1 50.0, 20.1 50.1, 19.9 50.0)), "
    "((21.0 52.2, 21.1 52.2, 21.1 52.3, 21.0 52.2)))",
    f"GEOMETRYCOLLECTION({POINT}, {LINE})",
]


def _wkt(wkt: str) -> str:
    return f"ST_GeomFromText('{wkt}', 4326)"


# class: [(collection, CQL2 text, the same condition in SQL on the collection's view)]
EXAMPLES: dict[str, list[tuple[str, str, str]]] = {
    "basic-cql2": [
        ("gminy", "powiat_teryt = '1261'", "powiat_teryt = '1261'"),
        (
            "powiaty",
            "population > 500000 AND NOT (teryt = '1465')",
            "population > 500000 AND NOT (teryt = '1465')",
        ),
        (
            "powiaty",
            "population < 30000 OR wojewodztwo_teryt = '12'",
            "population < 30000 OR wojewodztwo_teryt = '12'",
        ),
        (
            "powiaty",
            "teryt <> '1261' AND population >= 200000",
            "teryt <> '1261' AND population >= 200000",
        ),
        ("gminy", "population IS NULL", "population IS NULL"),
        ("gminy", "1 = 1 AND powiat_teryt = '1261'", "powiat_teryt = '1261'"),
        ("gminy", "1 = 2 OR powiat_teryt = '1206'", "powiat_teryt = '1206'"),
        ("gminy", "population IS NOT NULL", "population IS NOT NULL"),
        (
            "crime-statistics",
            "year = 2024 AND rate_per_10k > 300",
            "year = 2024 AND rate_per_10k > 300",
        ),
    ],
    "advanced-comparison-operators": [
        ("gminy", "name LIKE 'Krak%'", "name LIKE 'Krak%'"),
        ("gminy", "name NOT LIKE '%a'", "name NOT LIKE '%a'"),
        ("gminy", "gmina_type BETWEEN 2 AND 3", "gmina_type BETWEEN 2 AND 3"),
        (
            "gminy",
            "powiat_teryt IN ('1261', '1206', '1465')",
            "powiat_teryt IN ('1261', '1206', '1465')",
        ),
        ("gminy", "powiat_teryt NOT IN ('1261', '1206')", "powiat_teryt NOT IN ('1261', '1206')"),
    ],
    "basic-spatial-functions": [
        ("gminy", f"S_INTERSECTS(geometry, {POINT})", f"ST_Intersects(geom, {_wkt(POINT)})"),
        (
            "police-units",
            "S_INTERSECTS(geom, BBOX(19.8, 49.9, 20.2, 50.2))",
            "ST_Intersects(geom, ST_MakeEnvelope(19.8, 49.9, 20.2, 50.2, 4326))",
        ),
    ],
    "basic-spatial-functions-plus": [
        ("gminy", f"S_INTERSECTS(geom, {wkt})", f"ST_Intersects(geom, {_wkt(wkt)})")
        for wkt in GEOMETRIES
    ],
    "spatial-functions": [
        ("gminy", f"S_CONTAINS(geom, {POINT})", f"ST_Contains(geom, {_wkt(POINT)})"),
        (
            "gminy",
            "S_WITHIN(geom, BBOX(19.0, 49.5, 21.0, 51.0))",
            "ST_Within(geom, ST_MakeEnvelope(19.0, 49.5, 21.0, 51.0, 4326))",
        ),
        ("powiaty", f"S_DISJOINT(geom, {SQUARE})", f"ST_Disjoint(geom, {_wkt(SQUARE)})"),
        ("gminy", f"S_CROSSES(geom, {LINE})", f"ST_Crosses(geom, {_wkt(LINE)})"),
        ("gminy", f"S_OVERLAPS(geom, {SQUARE})", f"ST_Overlaps(geom, {_wkt(SQUARE)})"),
        ("gminy", f"S_TOUCHES(geom, {SQUARE})", f"ST_Touches(geom, {_wkt(SQUARE)})"),
        ("wojewodztwa", f"S_EQUALS(geom, {POINT})", f"ST_Equals(geom, {_wkt(POINT)})"),
    ],
}
VIEWS = {
    "gminy": "public_gminy",
    "powiaty": "public_powiaty",
    "wojewodztwa": "public_wojewodztwa",
    "police-units": "public_police_units",
    "crime-statistics": "public_crime_statistics",
}
CASES = [(cls, *example) for cls, examples in EXAMPLES.items() for example in examples]


def hits(api: str, collection: str, **params) -> requests.Response:
    return requests.get(
        f"{api}/collections/{collection}/items",
        params={"f": "json", "resulttype": "hits", **params},
        timeout=120,
    )


def sql_count(db_url: str, collection: str, where: str = "TRUE") -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            f"SELECT count(*) FROM kmzb.{VIEWS[collection]} WHERE {where}"
        ).fetchone()[0]


def test_conformance_declares_filtering(api: str) -> None:
    assert pygeoapi.__version__.startswith(conformance.SUPPORTED_PYGEOAPI), (
        "a new pygeoapi: check pygeoapi.api.conformance and kmzb.service.conformance"
    )
    answer = requests.get(f"{api}/conformance", params={"f": "json"}, timeout=30)
    declared = set(answer.json()["conformsTo"])
    assert {
        FEATURES_3 + "filter",
        FEATURES_3 + "features-filter",
        FEATURES_3 + "queryables",
        CQL2 + "cql2-text",
        CQL2 + "cql2-json",
    } <= declared
    # every declared CQL2 query class has its examples below, and nothing more is declared
    query_classes = {c.removeprefix(CQL2) for c in declared if c.startswith(CQL2)}
    assert query_classes - {"cql2-text", "cql2-json"} == set(EXAMPLES)
    assert not any("create-replace-delete" in c for c in declared)  # read-only collections


@pytest.mark.parametrize(
    "cls, collection, cql, where", CASES, ids=[f"{c[0]}:{c[2][:40]}" for c in CASES]
)
def test_cql2_text_class(
    api: str, db_url: str, cls: str, collection: str, cql: str, where: str
) -> None:
    expected = sql_count(db_url, collection, where)
    answer = hits(api, collection, filter=cql, **{"filter-lang": "cql2-text"})
    assert answer.status_code == 200, (cls, cql, answer.text[:300])
    assert answer.json()["numberMatched"] == expected, (cls, cql)


def test_examples_select(db_url: str) -> None:
    """Each class has an example that selects some but not all rows: a filter ignored
    (everything) or refused (400) fails the test above."""
    for cls, examples in EXAMPLES.items():
        assert any(
            0 < sql_count(db_url, collection, where) < sql_count(db_url, collection)
            for collection, _, where in examples
        ), cls


CQL2_JSON_CASES = [
    (
        "gminy",
        {
            "op": "and",
            "args": [
                {"op": "like", "args": [{"property": "name"}, "K%"]},
                {"op": "in", "args": [{"property": "powiat_teryt"}, ["1261", "1206", "1465"]]},
            ],
        },
        "name LIKE 'K%' AND powiat_teryt IN ('1261', '1206', '1465')",
    ),
    (
        "gminy",
        {"op": "between", "args": [{"property": "gmina_type"}, 2, 3]},
        "gmina_type BETWEEN 2 AND 3",
    ),
    (
        "gminy",
        {"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [19.9, 50.0, 20.1, 50.1]}]},
        "ST_Intersects(geom, ST_MakeEnvelope(19.9, 50.0, 20.1, 50.1, 4326))",
    ),
    (
        "police-units",
        {
            "op": "s_intersects",
            "args": [{"property": "geom"}, {"type": "Point", "coordinates": [19.94, 50.06]}],
        },
        f"ST_Intersects(geom, {_wkt(POINT)})",
    ),
    (
        "powiaty",
        {"op": "not", "args": [{"op": ">", "args": [{"property": "population"}, 100000]}]},
        "NOT (population > 100000)",
    ),
]


@pytest.mark.parametrize("collection, document, where", CQL2_JSON_CASES)
def test_cql2_json_in_a_post_and_a_query_string(
    api: str, db_url: str, collection: str, document: dict, where: str
) -> None:
    expected = sql_count(db_url, collection, where)
    assert 0 < expected < sql_count(db_url, collection)
    posted = requests.post(
        f"{api}/collections/{collection}/items",
        params={"resulttype": "hits", "filter-lang": "cql2-json"},
        data=json.dumps(document),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text[:300]
    assert posted.json()["numberMatched"] == expected
    in_query = hits(api, collection, filter=json.dumps(document), **{"filter-lang": "cql2-json"})
    assert in_query.status_code == 200, in_query.text[:300]
    assert in_query.json()["numberMatched"] == expected


def test_filter_crs(api: str) -> None:
    """features-filter: coordinates in the filter in another CRS (EPSG:2180: northing, easting)."""
    answer = requests.get(
        f"{api}/collections/gminy/items",
        params={
            "filter": "S_INTERSECTS(geom, POINT(244000 566000))",
            "filter-crs": EPSG_2180,
            "skipGeometry": "true",
        },
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    assert [f["id"] for f in answer.json()["features"]] == ["1261011"]


@pytest.mark.parametrize("collection", ["gminy", "police-units", "crime-statistics", "threats"])
def test_queryables_are_linked_and_listed(api: str, collection: str) -> None:
    metadata = requests.get(
        f"{api}/collections/{collection}", params={"f": "json"}, timeout=30
    ).json()
    links = [
        link["href"]
        for link in metadata["links"]
        if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables"
    ]
    assert links
    queryables = requests.get(links[0].split("?")[0], params={"f": "json"}, timeout=30).json()
    names = set(queryables["properties"]) - {"geometry"}
    assert names
    name = sorted(names)[0]
    answer = hits(api, collection, filter=f"{name} IS NULL")
    assert answer.status_code == 200, answer.text[:300]


def gdal_version() -> tuple[int, int]:
    out = subprocess.run(
        ["ogrinfo", "--version"], capture_output=True, text=True, check=True
    ).stdout
    major, minor = re.search(r"GDAL (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def test_gdal_pushes_the_attribute_filter_to_the_server(api: str, db_url: str) -> None:
    """GDAL's OAPIF driver sends a CQL2 `filter=` from 3.7 on, when the server declares
    Part 3; Debian bookworm's GDAL 3.6 sends simple equalities as query parameters
    (OGC API Features Part 1 queryables). Either way the server filters, and the
    count is right."""
    where = "wojewodztwo_teryt = '12' AND gmina_type = 1"
    run = subprocess.run(
        ["ogrinfo", "-ro", "-so", f"OAPIF:{api}", "gminy", "-where", where, "--debug", "on"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(re.search(r"Feature Count: (\d+)", run.stdout).group(1)) == sql_count(
        db_url, "gminy", where
    )
    fetched = [url for url in re.findall(r"Fetch\((\S+)\)", run.stderr) if "/items" in url]
    if gdal_version() >= (3, 7):
        assert any("filter=" in url for url in fetched), fetched
    else:
        assert any("wojewodztwo_teryt=12" in url and "gmina_type=1" in url for url in fetched), (
            fetched
        )
    # every request GDAL made was answered (none refused by the parameter checks)
    assert "HTTP error" not in run.stderr, run.stderr[-2000:]
