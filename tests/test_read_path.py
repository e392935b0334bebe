"""The public read path with real clients: OWSLib, GDAL's OGR (OAPIF, MVT), PyQGIS."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import psycopg
import pytest
import requests

from kmzb.db import aggregates
from kmzb.loaders.demo import load_demo

EPSG_2180 = "http://www.opengis.net/def/crs/EPSG/0/2180"
WARSAW_BBOX = (20.85, 52.10, 21.27, 52.37)


@pytest.fixture(scope="module")
def demo(db_url: str, api: str) -> int:
    """3,000 generated reports and fresh map aggregates; returns the public count."""
    load_demo(db_url, 3000, lambda _m: None)
    aggregates.refresh(db_url)
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM kmzb.public_threats").fetchone()[0]


def public_count(db_url: str, where: str = "TRUE", params: tuple = ()) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            f"SELECT count(*) FROM kmzb.public_threats WHERE {where}", params
        ).fetchone()[0]


def items(api: str, collection: str = "threats", **params) -> requests.Response:
    return requests.get(
        f"{api}/collections/{collection}/items", params={"f": "json", **params}, timeout=60
    )


def test_owslib_features_client(api, db_url, demo) -> None:
    from owslib.ogcapi.features import Features

    client = Features(api)
    ids = {c["id"] for c in client.collections()["collections"]}
    assert {
        "threats",
        "threat-categories",
        "crime-statistics",
        "crime-rates",
        "gminy",
        "powiaty",
        "wojewodztwa",
        "police-units",
    } <= ids
    page = client.collection_items("threats", limit=100, bbox=list(WARSAW_BBOX))
    expected = public_count(
        db_url, "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", WARSAW_BBOX
    )
    assert len(page["features"]) == min(100, expected) > 0
    hits = client.collection_items("threats", limit=100, bbox=list(WARSAW_BBOX), resulttype="hits")
    assert hits["numberMatched"] == expected
    categories = client.collection_items("threat-categories", limit=50)
    assert len(categories["features"]) == 24
    queryables = client.collection_queryables("threats")
    assert {"category", "status", "event_date"} <= set(queryables["properties"])


def test_ogr2ogr_copies_the_whole_collection(api, db_url, demo, tmp_path: Path) -> None:
    target = tmp_path / "threats.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{api}", "threats", "-oo", "PAGE_SIZE=500"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    info = subprocess.run(
        ["ogrinfo", "-so", str(target), "threats"], check=True, capture_output=True, text=True
    ).stdout
    count = int(re.search(r"Feature Count: (\d+)", info).group(1))
    assert count == public_count(db_url) == demo
    for field in ("category", "status", "event_date", "police_unit", "gmina_teryt"):
        assert re.search(rf"^{field}: ", info, re.M), field
    assert "reporter_hash" not in info


def test_ogrinfo_reports_the_count(api, demo) -> None:
    run = subprocess.run(
        ["ogrinfo", "-so", f"OAPIF:{api}", "threats", "--debug", "on"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert int(re.search(r"Feature Count: (\d+)", run.stdout).group(1)) == demo
    # one count (the OpenAPI document lists resultType), not a walk through every page
    fetches = re.findall(r"Fetch\((\S+)\)", run.stderr)
    assert any("resultType=hits" in url for url in fetches), fetches
    assert not any("offset=" in url for url in fetches), fetches


QGIS_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from qgis.core import (QgsApplication, QgsVectorLayer, QgsFeatureRequest, QgsRectangle)
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    api, bbox = sys.argv[1], [float(v) for v in sys.argv[2].split(",")]
    layer = QgsVectorLayer(f"url='{api}' typename='threats' pageSize='1000'", "threats", "OAPIF")
    # numberMatched comes only on the last page: count by reading every page
    result = {"valid": layer.isValid(), "count": sum(1 for _ in layer.getFeatures())}
    request = QgsFeatureRequest().setFilterRect(QgsRectangle(*bbox))
    result["in_bbox"] = sum(1 for _ in layer.getFeatures(request))
    feature = next(layer.getFeatures(request))
    result["fields"] = [f.name() for f in layer.fields()]
    result["category"] = feature["category"]
    print(json.dumps(result), flush=True)
    os._exit(0)  # QGIS 3.22 may crash tearing down its network threads; the answer is out
""")


def test_qgis_opens_the_collection(api, db_url, demo, tmp_path: Path) -> None:
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    run = subprocess.run(
        ["/usr/bin/python3", "-c", QGIS_SCRIPT, api, ",".join(map(str, WARSAW_BBOX))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["valid"] is True
    assert result["count"] == demo
    assert result["in_bbox"] == public_count(
        db_url, "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", WARSAW_BBOX
    )
    assert "category" in result["fields"] and result["category"]


def test_filters_sorting_paging(api, db_url, demo) -> None:
    cql = "category = 'speeding' AND event_date >= DATE('2025-01-01')"
    answer = items(api, filter=cql, limit=5).json()
    expected = public_count(db_url, "category = 'speeding' AND event_date >= '2025-01-01'")
    assert "numberMatched" not in answer  # a full page: counting is left to resulttype=hits
    assert items(api, filter=cql, resulttype="hits").json()["numberMatched"] == expected
    last = items(api, filter=cql, limit=5, offset=expected - 2).json()
    assert last["numberMatched"] == expected and last["numberReturned"] == 2
    assert all(f["properties"]["category"] == "speeding" for f in answer["features"])
    as_json = requests.post(
        f"{api}/collections/threats/items?f=json&filter-lang=cql2-json&resulttype=hits",
        data=json.dumps(
            {
                "op": "and",
                "args": [
                    {"op": "=", "args": [{"property": "category"}, "speeding"]},
                    {"op": ">=", "args": [{"property": "event_date"}, {"date": "2025-01-01"}]},
                ],
            }
        ),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    ).json()
    assert as_json["numberMatched"] == expected
    by_date = items(api, sortby="-reported_on", limit=20, properties="reported_on,status").json()
    dates = [f["properties"]["reported_on"] for f in by_date["features"]]
    assert dates == sorted(dates, reverse=True)
    assert set(by_date["features"][0]["properties"]) == {"reported_on", "status"}
    first = items(api, limit=10).json()
    second = items(api, limit=10, offset=10).json()
    assert {f["id"] for f in first["features"]}.isdisjoint(f["id"] for f in second["features"])
    assert "next" in {link["rel"] for link in first["links"]}
    assert "prev" in {link["rel"] for link in second["links"]}
    assert items(api, resulttype="hits").json()["numberMatched"] == demo
    assert items(api, resultType="hits").json()["numberMatched"] == demo  # GDAL's spelling
    month = items(
        api, datetime="2025-01-01T00:00:00Z/2025-01-31T23:59:59Z", resulttype="hits"
    ).json()
    assert month["numberMatched"] == public_count(
        db_url, "reported_on BETWEEN '2025-01-01' AND '2025-01-31'"
    )
    status = items(api, status="confirmed", resulttype="hits").json()
    assert status["numberMatched"] == public_count(db_url, "status = 'confirmed'")


def test_puwg_1992_output_and_bbox(api, demo) -> None:
    kraków_2180 = "240000,560000,250000,572000"  # northing, easting: EPSG:2180 axis order
    answer = items(
        api, **{"bbox": kraków_2180, "bbox-crs": EPSG_2180, "crs": EPSG_2180, "limit": 1000}
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Crs"] == f"<{EPSG_2180}>"
    for feature in answer.json()["features"]:
        northing, easting = feature["geometry"]["coordinates"]
        assert 240000 <= northing <= 250000 and 560000 <= easting <= 572000
        assert feature["properties"]["police_unit"] in ("KMP-1261", "KPP-1206")


def test_bbox_crs_is_the_box_drawn_in_that_crs(api, db_url, demo) -> None:
    """A rectangle in EPSG:2180 is no rectangle in CRS84: the answer holds the
    reports inside the box as drawn in EPSG:2180, not inside the CRS84 box that
    its two transformed corners span."""
    south = (130000, 150000, 400000, 850000)  # southern Poland, northing/easting
    exact = "ST_Intersects(ST_Transform(geom, 2180), ST_MakeEnvelope(%s, %s, %s, %s, 2180))"
    corners = (
        "ST_Intersects(geom, ST_SetSRID(ST_Envelope(ST_Collect("
        "ST_Transform(ST_Point(%s, %s, 2180), 4326), ST_Transform(ST_Point(%s, %s, 2180), 4326)"
        ")), 4326))"
    )
    box_xy = (south[1], south[0], south[3], south[2])
    inside = public_count(db_url, exact, box_xy)
    assert inside != public_count(db_url, corners, box_xy)  # the two boxes differ here
    answer = items(
        api,
        **{"bbox": ",".join(map(str, south)), "bbox-crs": EPSG_2180, "resulttype": "hits"},
    )
    assert answer.status_code == 200
    assert answer.json()["numberMatched"] == inside


def test_other_formats(api, demo) -> None:
    csv = requests.get(
        f"{api}/collections/threats/items", params={"f": "csv", "limit": 5}, timeout=60
    )
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("id,category")
    html = requests.get(
        f"{api}/collections/threats/items", params={"f": "html", "limit": 5}, timeout=60
    )
    assert html.status_code == 200 and "<html" in html.text.lower()


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"limit": "-5"},
        {"sortby": "reporter_hash"},
        {"filter": "category = "},
        {"filter": "reporter_hash = 'x'"},
        {"properties": "reporter_hash"},
        {"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"},
        {"datetime": "yesterday"},
        {"filter": "event_date > DATE('not a date')"},
    ],
)
def test_bad_parameters_are_400(api, params) -> None:
    answer = items(api, **params)
    assert answer.status_code == 400, (params, answer.status_code, answer.text[:300])
    assert answer.json()["description"]


def _tile_features(path: Path, z: int, x: int, y: int) -> list[dict]:
    out = subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GeoJSONSeq",
            "/vsistdout/",
            str(path),
            "-oo",
            f"Z={z}",
            "-oo",
            f"X={x}",
            "-oo",
            f"Y={y}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line.strip("\x1e")) for line in out.splitlines() if line.strip()]


def test_vector_tiles(api, demo, tmp_path: Path) -> None:
    url = f"{api}/collections/threats/tiles/WebMercatorQuad"
    whole = requests.get(f"{url}/0/0/0", params={"f": "mvt"}, timeout=60)
    assert whole.status_code == 200
    (tmp_path / "0.pbf").write_bytes(whole.content)
    cells = _tile_features(tmp_path / "0.pbf", 0, 0, 0)
    assert sum(c["properties"]["count"] for c in cells) == demo  # every public report, once
    # zoom 14 over central Kraków: the reports themselves
    street = requests.get(f"{url}/14/5556/9099", params={"f": "mvt"}, timeout=60)
    assert street.status_code in (200, 204)
    if street.status_code == 200:
        (tmp_path / "14.pbf").write_bytes(street.content)
        points = _tile_features(tmp_path / "14.pbf", 14, 9099, 5556)
        assert all({"id", "category", "status"} <= set(p["properties"]) for p in points)
    rates = requests.get(
        f"{api}/collections/crime-rates/tiles/WebMercatorQuad/5/10/17",
        params={"f": "mvt"},
        timeout=60,
    )
    assert rates.status_code == 200
    (tmp_path / "r.pbf").write_bytes(rates.content)
    units = _tile_features(tmp_path / "r.pbf", 5, 17, 10)
    assert any(u["properties"].get("teryt") == "1261" for u in units)


def test_category_and_status_names_follow_lang(api: str, conn) -> None:
    """?lang=en names a threat's category and status in English; Polish by default."""
    from helpers import new_address

    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {"lon": 19.95, "lat": 50.07, "category": "stray_dogs"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    item = f"{api}/collections/threats/items/{ref}"
    polish = requests.get(item, params={"f": "json"}, timeout=30).json()["properties"]
    english = requests.get(item, params={"f": "json", "lang": "en"}, timeout=30).json()
    names = conn.execute(
        """SELECT c.name_pl, c.name_en, s.name_pl, s.name_en
           FROM kmzb.threat_categories c, kmzb.statuses s
           WHERE c.code = 'stray_dogs' AND s.code = 'new'"""
    ).fetchone()
    assert (polish["category_name"], polish["status_name"]) == (names[0], names[2])
    props = english["properties"]
    assert (props["category_name"], props["status_name"]) == (names[1], names[3])
    assert names[0] != names[1]
    listed = requests.get(
        f"{api}/collections/threats/items",
        params={"f": "json", "lang": "en", "filter": f"id = '{ref}'"},
        timeout=30,
    ).json()["features"]
    assert [f["properties"]["category_name"] for f in listed] == [names[1]]


def test_the_plugin_locale_patch_is_for_this_pygeoapi_only() -> None:
    """The fix splits the raw locale; its guard passes pygeoapi 0.24.0 only (look again
    on an upgrade) and it leaves a list alone."""
    import pygeoapi
    from pygeoapi import l10n

    from kmzb.service import plugin_locale

    assert plugin_locale.accepted_languages("en-US,en;q=0.9, pl") == ["en-US", "en", "pl"]
    assert plugin_locale.accepted_languages(None) is None
    from kmzb.service import pygeoapi_adapter

    assert pygeoapi_adapter.guard_problems(pygeoapi.__version__) == []
    assert pygeoapi_adapter.guard_problems("0.25.0") != []
    next(p for p in pygeoapi_adapter.PATCHES if p.name == "plugin-locale").apply()
    assert str(l10n.get_plugin_locale({"languages": ["pl", "en"]}, "en")) == "en"
    assert str(l10n.get_plugin_locale({"languages": ["pl", "en"]}, None)) == "pl"
