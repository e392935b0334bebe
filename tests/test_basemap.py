"""Basemaps (issue 12) against the real app, PostGIS and QGIS Server: the configured
list and the CSP that allows exactly its hosts, the offline basemap drawn by QGIS
Server from qgis_projects/kmzb_basemap.qgs through /basemap/wms (place names at city
scale), the place at a point in words (/places/reverse), the places loader, and the
committed basemap project being what scripts/build_qgis_basemap.py builds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from pyproj import Transformer

from conftest import free_port, running_app
from kmzb import qgis_launcher
from kmzb.db import connection
from kmzb.loaders.places import load_places
from kmzb.service.basemap import BASEMAP_PROJECT_FILE, parse_basemaps
from kmzb.settings import PROJECT_ROOT, Settings, SettingsError
from test_wms import decode_png

KRAKOW = (19.93658, 50.06143)  # GeoNames' point of Kraków
ZAKOPANE = (19.94924, 49.29899)
SIZE = 512
SCALE = 25_000
TO_2180 = Transformer.from_crs("EPSG:4326", "EPSG:2180", always_xy=True)
OUTSIDE = {"https://mapy.geoportal.gov.pl", "https://tile.openstreetmap.org"}


@pytest.fixture(scope="module")
def places_loaded(db_url: str) -> str:
    summary = load_places(db_url, lambda _m: None)[0]
    assert summary.inserted + summary.unchanged > 3000
    again = load_places(db_url, lambda _m: None)[0]  # a second run changes nothing
    assert (again.inserted, again.updated, again.unchanged) == (
        0,
        0,
        summary.inserted + summary.unchanged,
    )
    return db_url


@pytest.fixture(scope="module")
def basemap_server(places_loaded: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    """QGIS Server with the basemap project, on the test database."""
    folder = tmp_path_factory.mktemp("qgis-basemap")
    service_file = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(places_loaded)
    )
    port = free_port()
    process = qgis_launcher.start(
        service_file,
        port,
        runtime_dir=folder / "runtime",
        log=folder / "server.log",
        project=BASEMAP_PROJECT_FILE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        qgis_launcher.wait_until_ready(process, base, 60)
        yield f"{base}/ows/"
    finally:
        qgis_launcher.stop(process)


@pytest.fixture(scope="module")
def app(
    places_loaded: str, server: Settings, basemap_server: str, tmp_path_factory
) -> Iterator[str]:
    openapi = tmp_path_factory.mktemp("openapi-basemap") / "openapi.yml"
    with running_app(
        places_loaded, server, openapi, {"KMZB_BASEMAP_WMS_URL": basemap_server}
    ) as base:
        yield base


def csp(answer: requests.Response) -> dict[str, set[str]]:
    policy = {}
    for directive in answer.headers["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        policy[name] = set(sources)
    return policy


# --- the list and the CSP ---------------------------------------------------------------


def test_basemap_list_and_the_csp_allowing_exactly_its_hosts(app: str) -> None:
    answer = requests.get(f"{app}/basemaps", timeout=30)
    assert answer.status_code == 200
    body = answer.json()
    by_id = {b["id"]: b for b in body["basemaps"]}
    assert body["default"] == "kmzb" and body["fallback"] == "kmzb"
    assert {k: b["kind"] for k, b in by_id.items()} == {
        "kmzb": "kmzb",
        "topo": "wmts",
        "orto": "wmts",
        "osm": "xyz",
    }
    assert by_id["kmzb"]["url"] == "/basemap/wms"
    assert "REQUEST=GetCapabilities" in by_id["orto"]["capabilities"]
    assert by_id["orto"]["layer"] == "ORTOFOTOMAPA" and by_id["topo"]["matrix_set"] == "EPSG:2180"
    assert by_id["osm"]["url"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap contributors" in by_id["osm"]["attribution"]["en"]
    assert by_id["osm"]["policy"] == "https://operations.osmfoundation.org/policies/tiles/"
    assert all(b["title"]["pl"] and b["title"]["en"] for b in body["basemaps"])
    policy = csp(answer)
    assert policy["img-src"] == {"'self'", "data:", "blob:", *OUTSIDE}
    assert policy["connect-src"] == {"'self'", *OUTSIDE}
    assert csp(requests.get(f"{app}/map/", timeout=30)) == policy  # every answer, same policy


def test_a_basemap_file_of_ones_own_sets_the_list_and_the_csp(
    places_loaded: str, server: Settings, tmp_path: Path
) -> None:
    own = tmp_path / "basemaps.yml"
    own.write_text(
        yaml.safe_dump(
            {
                "default": "tiles",
                "basemaps": [
                    {"id": "tiles", "kind": "xyz", "title": "Kafle", "attribution": "©",
                     "url": "https://tiles.example.pl/{z}/{x}/{y}.png"},
                    {"id": "kmzb", "kind": "kmzb", "title": "KMZB", "attribution": "PRG"},
                ],
            }
        )
    )  # fmt: skip
    with running_app(
        places_loaded, server, tmp_path / "openapi.yml", {"KMZB_BASEMAPS_FILE": str(own)}
    ) as base:
        answer = requests.get(f"{base}/basemaps", timeout=30)
        assert answer.json()["default"] == "tiles"
        assert [b["id"] for b in answer.json()["basemaps"]] == ["tiles", "kmzb"]
        assert csp(answer)["img-src"] == {"'self'", "data:", "blob:", "https://tiles.example.pl"}
        assert csp(answer)["connect-src"] == {"'self'", "https://tiles.example.pl"}


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"basemaps": [{"id": "a", "kind": "wms", "title": "A", "attribution": "A"}]}, "kind"),
        (
            {"basemaps": [{"id": "x", "kind": "xyz", "title": "X", "attribution": "X",
                           "url": "http://tiles.example.pl/{z}/{x}/{y}.png"}]},
            "https://",
        ),
        ({"basemaps": [{"id": "a", "kind": "kmzb", "title": "A"}]}, "attribution"),
        ({"default": "b", "basemaps": [{"id": "a", "kind": "kmzb", "title": "A",
                                        "attribution": "A"}]}, "default"),
        (
            {"basemaps": [{"id": "w", "kind": "wmts", "title": "W", "attribution": "W",
                           "capabilities": "https://w.example.pl/wmts", "layer": "L"}]},
            "fallback",
        ),
    ],
)  # fmt: skip
def test_a_wrong_basemap_list_is_refused_naming_the_mistake(document, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        parse_basemaps(document)


# --- the offline basemap through /basemap/wms ----------------------------------------------


def city_box(lon: float, lat: float) -> str:
    """A SIZE px square at 1:25,000 around a point, as a WMS 1.3.0 EPSG:2180 BBOX
    (northing first)."""
    easting, northing = TO_2180.transform(lon, lat)
    half = SIZE * 0.00028 * SCALE / 2
    return f"{northing - half},{easting - half},{northing + half},{easting + half}"


def get_map(app: str, layers: str, **extra: str) -> requests.Response:
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": layers,
        "STYLES": "",
        "CRS": "EPSG:2180",
        "BBOX": city_box(*KRAKOW),
        "WIDTH": str(SIZE),
        "HEIGHT": str(SIZE),
        "FORMAT": "image/png",
        **extra,
    }
    return requests.get(f"{app}/basemap/wms", params=params, timeout=60)


def test_place_names_are_drawn_at_city_scale(app: str) -> None:
    whole = get_map(app, "kmzb_podklad")
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "image/png", whole.text
    without_places = get_map(app, "podklad_kraj,podklad_gminy,podklad_powiaty,podklad_wojewodztwa")
    assert without_places.status_code == 200
    _w, _h, rows = decode_png(whole.content)
    _w, _h, bare = decode_png(without_places.content)
    # the place's dot sits at the centre; its name beside it: dark text pixels appear
    centre = SIZE // 2
    changed_dark = [
        (x, y)
        for y in range(centre - 40, centre + 40)
        for x in range(centre - 10, centre + 140)
        if rows[y][4 * x : 4 * x + 3] != bare[y][4 * x : 4 * x + 3]
        and sum(rows[y][4 * x : 4 * x + 3]) < 200
    ]
    assert len(changed_dark) > 80, len(changed_dark)
    # and it is Kraków's name: GetFeatureInfo at the place's dot
    info = requests.get(
        f"{app}/basemap/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo",
            "LAYERS": "podklad_miejscowosci", "QUERY_LAYERS": "podklad_miejscowosci",
            "STYLES": "", "CRS": "EPSG:2180", "BBOX": city_box(*KRAKOW),
            "WIDTH": str(SIZE), "HEIGHT": str(SIZE), "I": str(centre), "J": str(centre),
            "INFO_FORMAT": "application/json", "FI_POINT_TOLERANCE": "8",
        },
        timeout=60,
    )  # fmt: skip
    assert info.status_code == 200, info.text
    names = [f["properties"]["name"] for f in info.json()["features"]]
    assert names == ["Kraków"]


def test_the_proxy_names_the_project_and_refuses_styles(app: str) -> None:
    # a client's MAP is dropped: the basemap project answers all the same
    forged = get_map(app, "kmzb_podklad", MAP="/etc/passwd")
    assert forged.status_code == 200 and forged.headers["Content-Type"] == "image/png"
    assert forged.headers["Cache-Control"] == "public, max-age=3600"
    capabilities = requests.get(
        f"{app}/basemap/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, timeout=60
    )
    assert "<Name>kmzb_podklad</Name>" in capabilities.text
    assert f"{app}/basemap/wms" in capabilities.text  # clients stay on the proxy
    assert "5001" not in capabilities.text and "/ows/" not in capabilities.text
    refused = get_map(app, "kmzb_podklad", SLD_BODY="<StyledLayerDescriptor/>")
    assert refused.status_code == 400
    assert "SLD_BODY" in refused.json()["description"]
    assert "nie jest obsługiwany" in refused.json()["message"]["pl"]


def test_an_unreachable_basemap_server_is_a_502_in_both_languages(
    places_loaded: str, server: Settings, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/ows/"
    with running_app(
        places_loaded, server, tmp_path / "openapi.yml", {"KMZB_BASEMAP_WMS_URL": closed}
    ) as base:
        down = get_map(base, "kmzb_podklad")
        assert down.status_code == 502
        assert "niedostępny" in down.json()["message"]["pl"]
        assert "unreachable" in down.json()["description"]


# --- where am I, in words -------------------------------------------------------------------


def test_reverse_names_the_nearest_place_and_the_gmina(app: str) -> None:
    rynek = requests.get(
        f"{app}/places/reverse", params={"lon": 19.9373, "lat": 50.0617}, timeout=30
    ).json()
    assert rynek["place"]["name"] == "Kraków" and rynek["place"]["distance_m"] < 300
    assert rynek["gmina"]["teryt"] == "1261011" and rynek["gmina"]["name"] == "Kraków"
    assert rynek["gmina"]["powiat"]["name"] == "powiat Kraków"
    assert rynek["gmina"]["wojewodztwo"]["name"] == "małopolskie"
    assert rynek["gmina"]["type"] == {"pl": "gmina miejska", "en": "urban commune"}
    zakopane = requests.get(
        f"{app}/places/reverse", params={"lon": ZAKOPANE[0], "lat": ZAKOPANE[1]}, timeout=30
    ).json()
    assert zakopane["place"]["name"] == "Zakopane"
    assert zakopane["gmina"]["name"] == "Zakopane"
    assert zakopane["gmina"]["powiat"]["name"] == "powiat tatrzański"
    # abroad: no gmina, and no Polish place 25 km away pretends to be "here"
    berlin = requests.get(
        f"{app}/places/reverse", params={"lon": 13.405, "lat": 52.52}, timeout=30
    ).json()
    assert berlin["gmina"] is None and berlin["place"] is None


@pytest.mark.parametrize(
    ("params", "fields"),
    [({}, {"lon", "lat"}), ({"lon": "x", "lat": "50"}, {"lon"}),
     ({"lon": "19", "lat": "91"}, {"lat"}), ({"lon": "nan", "lat": "inf"}, {"lon", "lat"})],
)  # fmt: skip
def test_reverse_refuses_a_bad_point_in_both_languages(app: str, params, fields) -> None:
    answer = requests.get(f"{app}/places/reverse", params=params, timeout=30)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert {e["field"] for e in errors} == fields
    assert all(e["pl"] and e["en"] and e["pl"] != e["en"] for e in errors)


# --- the committed project ---------------------------------------------------------------


def test_basemap_project_file_is_rebuilt_identically(
    places_loaded: str, server: Settings, tmp_path: Path
) -> None:
    """The committed project is what scripts/build_qgis_basemap.py makes from the database."""
    service = qgis_launcher.write_service_file(
        server, tmp_path / "pg_service.conf", connection.database_name(places_loaded)
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "PGSERVICEFILE": str(service),
    }
    run = subprocess.run(
        ["/usr/bin/python3", str(PROJECT_ROOT / "scripts" / "build_qgis_basemap.py"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "is up to date" in run.stdout
