"""The OGC API (pygeoapi under gunicorn) over the public views, through HTTP."""

from __future__ import annotations

import requests
from shapely.geometry import shape
from shapely.ops import unary_union

EPSG_2180 = "http://www.opengis.net/def/crs/EPSG/0/2180"


def test_collections_are_listed(api: str) -> None:
    answer = requests.get(f"{api}/collections", params={"f": "json"}, timeout=30)
    assert answer.status_code == 200
    ids = {c["id"] for c in answer.json()["collections"]}
    assert {"wojewodztwa", "powiaty", "gminy", "police-units", "crime-statistics"} <= ids


def test_gmina_item_has_teryt_code_and_name(api: str) -> None:
    answer = requests.get(
        f"{api}/collections/gminy/items/1261011", params={"f": "json"}, timeout=30
    )
    assert answer.status_code == 200
    feature = answer.json()
    assert feature["id"] == "1261011"
    assert feature["properties"]["name"] == "Kraków"
    assert feature["properties"]["powiat_teryt"] == "1261"
    lon, lat = shape(feature["geometry"]).representative_point().coords[0]
    assert 19.7 < lon < 20.3 and 49.9 < lat < 50.2  # CRS84: longitude first


def test_bbox_and_crs(api: str) -> None:
    params = {"bbox": "19.90,50.03,19.98,50.09", "f": "json", "limit": 100}
    answer = requests.get(f"{api}/collections/gminy/items", params=params, timeout=30)
    names = {f["properties"]["name"] for f in answer.json()["features"]}
    assert names == {"Kraków"}
    answer = requests.get(
        f"{api}/collections/gminy/items/1261011", params={"crs": EPSG_2180, "f": "json"}, timeout=30
    )
    assert answer.headers["Content-Crs"] == f"<{EPSG_2180}>"
    northing, easting = shape(answer.json()["geometry"]).representative_point().coords[0]
    # EPSG:2180 axis order is northing, easting; Kraków is near (244 000, 566 000)
    assert 230_000 < northing < 260_000 and 550_000 < easting < 580_000


def test_police_units_cover_poland(api: str) -> None:
    answer = requests.get(
        f"{api}/collections/police-units/items",
        params={"takes_reports": "true", "limit": 1000, "f": "json", "skipGeometry": "false"},
        timeout=120,
    )
    assert answer.status_code == 200
    features = answer.json()["features"]
    assert len(features) == 65 + 271 + 1  # KMP, KPP and the KSP for Warsaw
    country = requests.get(f"{api}/collections/wojewodztwa/items", params={"f": "json"}, timeout=60)
    voivodeships = unary_union([shape(f["geometry"]) for f in country.json()["features"]])
    units = unary_union([shape(f["geometry"]) for f in features]).buffer(0.01)
    assert voivodeships.difference(units).area / voivodeships.area < 0.01


def test_statistics_filter_by_property(api: str) -> None:
    params = {"teryt": "1465", "year": "2024", "category": "total", "f": "json"}
    answer = requests.get(f"{api}/collections/crime-statistics/items", params=params, timeout=30)
    features = answer.json()["features"]
    assert len(features) == 1
    properties = features[0]["properties"]
    assert properties["unit_name"] == "powiat Warszawa"
    assert properties["rate_per_10k"] > 0 and properties["population"] > 1_700_000


def test_bad_parameter_is_a_400_not_a_500(api: str) -> None:
    answer = requests.get(
        f"{api}/collections/gminy/items", params={"bbox": "a,b,c", "f": "json"}, timeout=30
    )
    assert answer.status_code == 400
    assert "bbox" in answer.json()["description"].lower()
    missing = requests.get(
        f"{api}/collections/gminy/items/0000000", params={"f": "json"}, timeout=30
    )
    assert missing.status_code == 404
