"""The styled map through the real QGIS Server (qgis_mapserver) with OWSLib's WMS client.

Known reports are placed in Kraków, one per status, plus two that the public map
never shows (a prank and a never-public category); the pictures QGIS Server
draws are decoded and their pixels compared with where those reports are.
"""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import requests
from owslib.wms import WebMapService

from helpers import token_for
from kmzb.auth import tokens
from kmzb.db import aggregates

# Kraków's centre in EPSG:2180 (easting, northing), 4 km square: 7.8125 m a pixel
# at 512 px, about 1:28,000, where reports are drawn one by one.
BOX = (564000.0, 242000.0, 568000.0, 246000.0)
SIZE = 512
METRES_PER_PIXEL = (BOX[2] - BOX[0]) / SIZE
COUNTRY_BOX = (140000.0, 120000.0, 880000.0, 860000.0)
UNIT = "KMP-1261"  # Komenda Miejska Policji w Krakowie
OTHER_UNIT = "KMP-1263"  # Tarnów
REPORTER_HASH = "ab" * 32

# status -> path of statuses from 'new'; each disc's colour is the database's
# (kmzb.statuses.colour, sql/043), read by the `colours` fixture
STATUS_PATHS = {
    "new": [],
    "verification": ["verification"],
    "confirmed": ["verification", "confirmed"],
    "unconfirmed": ["verification", "unconfirmed"],
    "eliminated": ["verification", "confirmed", "eliminated"],
    "forwarded": ["verification", "confirmed", "forwarded"],
}
PERSONAL = ("reporter_hash", REPORTER_HASH, "reporter")


@dataclass(frozen=True)
class Placed:
    reference: str
    status: str
    category: str
    easting: float
    northing: float

    @property
    def pixel(self) -> tuple[int, int]:
        column = (self.easting - BOX[0]) / METRES_PER_PIXEL
        row = (BOX[3] - self.northing) / METRES_PER_PIXEL
        return int(column), int(row)


# --- PNG decoding (stdlib only) -------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and RGBA rows of an 8-bit RGB/RGBA/palette PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:200]
    pos, idat, palette, alpha = 8, b"", None, None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and interlace == 0, (depth, interlace)
        elif kind == b"PLTE":
            palette = [tuple(chunk[i : i + 3]) for i in range(0, len(chunk), 3)]
        elif kind == b"tRNS":
            alpha = list(chunk)
        elif kind == b"IDAT":
            idat += chunk
    channels = {6: 4, 2: 3, 3: 1}[colour_type]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + predictor) & 0xFF
        previous = line
        if colour_type == 6:
            rows.append(line)
        elif colour_type == 2:
            rows.append(bytearray(b for i in range(width) for b in (*line[3 * i : 3 * i + 3], 255)))
        else:
            out = bytearray()
            for index in line:
                out += bytes(palette[index]) + bytes(
                    [alpha[index] if alpha and index < len(alpha) else 255]
                )
            rows.append(out)
    return width, height, rows


def rgba(rows: list[bytearray], x: int, y: int) -> tuple[int, int, int, int]:
    return tuple(rows[y][4 * x : 4 * x + 4])  # type: ignore[return-value]


def near(colour: tuple[int, ...], target: tuple[int, int, int], tolerance: int = 40) -> bool:
    return colour[3] > 200 and all(
        abs(a - b) <= tolerance for a, b in zip(colour[:3], target, strict=True)
    )


def count_near(rows, pixel: tuple[int, int], target, radius: int = 8) -> int:
    cx, cy = pixel
    return sum(
        1
        for y in range(max(cy - radius, 0), min(cy + radius + 1, SIZE))
        for x in range(max(cx - radius, 0), min(cx + radius + 1, SIZE))
        if near(rgba(rows, x, y), target)
    )


# --- fixtures --------------------------------------------------------------------------


def _free_positions(conn: psycopg.Connection, wanted: int) -> list[tuple[float, float]]:
    """Grid points of the box with no report (public or not) within 300 m."""
    found = []
    for i in range(1, 8):
        for j in range(1, 8):
            e, n = BOX[0] + i * 500.0, BOX[1] + j * 500.0
            taken = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM kmzb.reports "
                "WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), 2180), 300))",
                (e, n),
            ).fetchone()[0]
            if not taken:
                found.append((e, n))
    assert len(found) >= wanted, "the Kraków test box is too crowded"
    return found[:wanted]


def _insert(conn, reference: str, category: str, path: list[str], e: float, n: float) -> None:
    conn.execute(
        "INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit, "
        "gmina_teryt, reporter_hash, description) "
        "SELECT %(ref)s, %(category)s, p, 'new', kmzb.police_unit_at(p), kmzb.gmina_at(p), "
        "%(hash)s, 'Opis zgłoszenia testowego.' "
        "FROM ST_SetSRID(ST_MakePoint(%(e)s, %(n)s), 2180) AS p",
        {"ref": reference, "category": category, "hash": REPORTER_HASH, "e": e, "n": n},
    )
    for status in path:
        conn.execute(
            "UPDATE kmzb.reports SET status = %s, forwarded_to = CASE WHEN %s = 'forwarded' "
            "THEN 'ZDMK' END WHERE public_ref = %s",
            (status, status, reference),
        )


@pytest.fixture(scope="module")
def colours(db_url: str) -> dict[str, tuple[int, int, int]]:
    """Each status's fill colour as the database defines it."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT code, colour FROM kmzb.statuses").fetchall()
    return {code: tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5)) for code, hex_ in rows}


@pytest.fixture(scope="module")
def placed(db_url: str) -> Iterator[dict[str, Placed]]:
    """One public report per status, a prank and a never-public category, in Kraków."""
    with psycopg.connect(db_url) as conn:
        positions = _free_positions(conn, len(STATUS_PATHS) + 2)
        result: dict[str, Placed] = {}
        for index, (status, path) in enumerate(STATUS_PATHS.items()):
            e, n = positions[index]
            reference = f"WMST-0000-{index:04d}"
            _insert(conn, reference, "illegal_parking", path, e, n)
            result[status] = Placed(reference, status, "illegal_parking", e, n)
        e, n = positions[-2]
        _insert(conn, "WMST-0001-0000", "vandalism", ["verification", "joke_or_mistake"], e, n)
        result["prank"] = Placed("WMST-0001-0000", "joke_or_mistake", "vandalism", e, n)
        e, n = positions[-1]
        _insert(conn, "WMST-0001-0001", "drug_use", [], e, n)
        result["drug_use"] = Placed("WMST-0001-0001", "new", "drug_use", e, n)
        unit = conn.execute(
            "SELECT DISTINCT police_unit FROM kmzb.reports WHERE public_ref LIKE 'WMST-%'"
        ).fetchall()
        assert unit == [(UNIT,)]
        conn.commit()
    aggregates.refresh(db_url)
    yield result
    # leave the shared test database as the other modules expect it
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM kmzb.reports WHERE public_ref LIKE 'WMST-%'")
    aggregates.refresh(db_url)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def client(wms: str, headers: dict[str, str] | None = None) -> WebMapService:
    return WebMapService(f"{wms}/ows/", version="1.3.0", headers=headers, timeout=60)


def get_map(
    service: WebMapService, layers: list[str], box=BOX, size: int = SIZE, **extra
) -> list[bytearray]:
    answer = service.getmap(
        layers=layers,
        srs="EPSG:2180",
        bbox=box,
        size=(size, size),
        format="image/png",
        transparent=True,
        **extra,
    )
    width, height, rows = decode_png(answer.read())
    assert (width, height) == (size, size)
    return rows


def public_points(db_url: str) -> list[tuple[float, float]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM kmzb.wms_threats "
            "WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 2180)",
            (BOX[0] - 200, BOX[1] - 200, BOX[2] + 200, BOX[3] + 200),
        ).fetchall()


# --- tests -----------------------------------------------------------------------------

PUBLIC_LAYERS = {
    "kmzb",
    "zagrozenia",
    "zagrozenia_punkty",
    "zagrozenia_siatka",
    "granice",
    "wojewodztwa",
    "powiaty",
    "gminy",
    "statystyka",
    "przestepczosc_powiaty",
    "przestepczosc_wojewodztwa",
}


def test_capabilities_list_every_layer_and_crs(wms: str, placed) -> None:
    raw = requests.get(
        f"{wms}/ows/", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, timeout=60
    )
    assert raw.status_code == 200
    assert "<WMS_Capabilities" in raw.text and 'version="1.3.0"' in raw.text
    assert 'xmlns="http://www.opengis.net/wms"' in raw.text
    service = client(wms)
    assert service.identification.version == "1.3.0"
    assert "Krajowa Mapa Zagrożeń Bezpieczeństwa" in service.identification.title
    assert "112" in service.identification.abstract
    assert "przestępczość" in service.identification.keywords
    assert set(service.contents) == PUBLIC_LAYERS  # no police layer for anonymous callers
    for name in PUBLIC_LAYERS - {"kmzb"}:
        crs = set(service[name].crsOptions)
        assert {"EPSG:2180", "EPSG:4326", "EPSG:3857"} <= crs, name
    dimension = service["przestepczosc_powiaty"].dimensions["rok"]
    assert dimension["default"] == "2024"
    assert {"2013", "2024"} <= {value.strip() for value in dimension["values"]}
    assert service["zagrozenia"].title == "Zagrożenia"
    operations = {op.name for op in service.operations}
    assert {"GetMap", "GetFeatureInfo", "GetLegendGraphic"} <= operations


def test_getmap_draws_status_colours_at_the_reports(wms: str, db_url: str, placed, colours) -> None:
    rows = get_map(client(wms), ["zagrozenia"])
    for status in STATUS_PATHS:
        report = placed[status]
        assert count_near(rows, report.pixel, colours[status]) >= 12, (status, report.pixel)
    # each disc has its own colour: the new one is not the confirmed one's, nor back
    assert count_near(rows, placed["new"].pixel, colours["confirmed"]) == 0
    assert count_near(rows, placed["confirmed"].pixel, colours["new"]) == 0
    # never on the public map: the prank and the never-public category
    for hidden in ("prank", "drug_use"):
        cx, cy = placed[hidden].pixel
        assert rgba(rows, cx, cy)[3] == 0, hidden
    # nothing drawn far from every public report
    points = [
        ((e - BOX[0]) / METRES_PER_PIXEL, (BOX[3] - n) / METRES_PER_PIXEL)
        for e, n in public_points(db_url)
    ]
    empty = [
        (x, y)
        for x in range(4, SIZE, 23)
        for y in range(4, SIZE, 23)
        if all((x - px) ** 2 + (y - py) ** 2 > 24**2 for px, py in points)
    ]
    assert len(empty) > 100
    assert all(rgba(rows, x, y)[3] == 0 for x, y in empty)


def test_country_map_draws_the_grid_not_the_points(wms: str, placed) -> None:
    service = client(wms)
    rows = get_map(service, ["zagrozenia"], box=COUNTRY_BOX)
    drawn = sum(1 for row in rows for i in range(3, len(row), 4) if row[i])
    assert drawn > 0  # the cells of public_threat_cells
    points_only = get_map(service, ["zagrozenia_punkty"], box=COUNTRY_BOX)
    assert all(row[i] == 0 for row in points_only for i in range(3, len(row), 4))
    choropleth = get_map(service, ["przestepczosc_powiaty"], box=COUNTRY_BOX)
    other_year = get_map(
        service, ["przestepczosc_powiaty"], box=COUNTRY_BOX, dimensions={"rok": "2013"}
    )
    assert choropleth != other_year  # the year is a WMS dimension
    corner = rgba(choropleth, 2, 2)
    assert corner[3] == 0  # outside Poland
    centre = rgba(choropleth, 256, 256)
    assert centre[3] == 255


def test_legend_graphic(wms: str, placed) -> None:
    for layer in ("zagrozenia_punkty", "przestepczosc_powiaty", "zagrozenia"):
        answer = requests.get(
            f"{wms}/ows/",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetLegendGraphic",
                "LAYER": layer,
                "FORMAT": "image/png",
                "SLD_VERSION": "1.1.0",
            },
            timeout=60,
        )
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
        width, height, _rows = decode_png(answer.content)
        assert width > 150 and height > 100, layer
    # the legend names the categories and statuses in Polish
    answer = requests.get(
        f"{wms}/ows/",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetLegendGraphic",
            "LAYER": "zagrozenia_punkty",
            "FORMAT": "application/json",
        },
        timeout=60,
    )
    assert answer.status_code == 200
    labels = json.dumps(answer.json(), ensure_ascii=False)
    for label in (
        "Nowe",
        "Weryfikacja",
        "Niepotwierdzone",
        "Nieprawidłowe parkowanie",
        "Żebractwo",
    ):
        assert label in labels
    assert "Znęcanie się nad zwierzętami" not in labels  # never public: not in the legend


def feature_info(service: WebMapService, layer: str, report: Placed) -> dict:
    answer = service.getfeatureinfo(
        layers=[layer],
        srs="EPSG:2180",
        bbox=BOX,
        size=(SIZE, SIZE),
        format="image/png",
        query_layers=[layer],
        info_format="application/json",
        xy=report.pixel,
        feature_count=10,
        FI_POINT_TOLERANCE=6,
    )
    return json.loads(answer.read())


def test_feature_info_at_a_report(wms: str, placed) -> None:
    report = placed["confirmed"]
    answer = feature_info(client(wms), "zagrozenia_punkty", report)
    features = [f for f in answer["features"] if f["properties"]["reference"] == report.reference]
    assert len(features) == 1
    properties = features[0]["properties"]
    assert properties["category"] == "illegal_parking"
    assert properties["category_name"] == "Nieprawidłowe parkowanie"
    assert properties["status"] == "confirmed"
    assert properties["status_name"] == "Potwierdzone"
    text = json.dumps(answer)
    for personal in PERSONAL:
        assert personal not in text
    assert properties["police_unit"] == UNIT  # public, as in the API
    # HTML and GML answers carry no personal field either
    for info_format in ("text/html", "text/xml", "text/plain"):
        raw = requests.get(
            f"{wms}/ows/",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetFeatureInfo",
                "LAYERS": "zagrozenia_punkty",
                "QUERY_LAYERS": "zagrozenia_punkty",
                "CRS": "EPSG:2180",
                "BBOX": f"{BOX[1]},{BOX[0]},{BOX[3]},{BOX[2]}",
                "WIDTH": SIZE,
                "HEIGHT": SIZE,
                "I": report.pixel[0],
                "J": report.pixel[1],
                "INFO_FORMAT": info_format,
                "FI_POINT_TOLERANCE": 6,
            },
            timeout=60,
        )
        assert raw.status_code == 200 and report.reference in raw.text, info_format
        assert REPORTER_HASH not in raw.text and "reporter" not in raw.text


def test_wfs_has_no_personal_field(wms: str, placed) -> None:
    answer = requests.get(
        f"{wms}/ows/",
        params={
            "SERVICE": "WFS",
            "VERSION": "1.1.0",
            "REQUEST": "GetFeature",
            "TYPENAME": "zagrozenia_punkty",
            "OUTPUTFORMAT": "application/json",
            "BBOX": f"{BOX[0]},{BOX[1]},{BOX[2]},{BOX[3]},EPSG:2180",
            "SRSNAME": "EPSG:2180",
        },
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:500]
    features = answer.json()["features"]
    assert placed["new"].reference in {f["properties"]["reference"] for f in features}
    assert "reporter_hash" not in features[0]["properties"]
    assert REPORTER_HASH not in answer.text
    hidden = requests.get(
        f"{wms}/ows/",
        params={"SERVICE": "WFS", "REQUEST": "GetFeature", "TYPENAME": "zgloszenia_jednostki"},
        timeout=60,
    )
    # no token: 401 as everywhere (400 if QGIS Server hides the type name itself)
    assert hidden.status_code in (400, 401) and placed["prank"].reference not in hidden.text


def test_police_token_shows_the_units_non_public_reports(
    wms: str, settings, placed, colours
) -> None:
    anonymous = client(wms)
    assert "zgloszenia_jednostki" not in anonymous.contents
    refused = requests.get(
        f"{wms}/ows/",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": "zgloszenia_jednostki",
            "STYLES": "",
            "CRS": "EPSG:2180",
            "BBOX": f"{BOX[1]},{BOX[0]},{BOX[3]},{BOX[2]}",
            "WIDTH": 64,
            "HEIGHT": 64,
            "FORMAT": "image/png",
        },
        timeout=60,
    )
    # no token: 401 with the challenge, as the API answers (tests/test_untruths.py)
    assert refused.status_code == 401 and refused.headers["Content-Type"] != "image/png"
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="kmzb"'

    officer = client(wms, bearer(token_for("officer", UNIT)))
    assert "zgloszenia_jednostki" in officer.contents
    rows = get_map(officer, ["zgloszenia_jednostki"])
    assert count_near(rows, placed["prank"].pixel, colours["joke_or_mistake"]) >= 12
    assert count_near(rows, placed["drug_use"].pixel, colours["new"]) >= 12
    # the public reports are not in the police layer (they are on the public one)
    assert count_near(rows, placed["confirmed"].pixel, colours["confirmed"]) == 0
    info = feature_info(officer, "zgloszenia_jednostki", placed["prank"])
    properties = [f["properties"] for f in info["features"]]
    assert {"reference": "WMST-0001-0000", "status_name": "Żart lub pomyłka"}.items() <= (
        properties[0].items()
    )
    assert REPORTER_HASH not in json.dumps(info) and "reporter_hash" not in json.dumps(info)

    # a coordinator of the voivodeship reaches the unit; another unit's officer does not
    coordinator = client(wms, bearer(token_for("coordinator", "KWP-12")))
    rows = get_map(coordinator, ["zgloszenia_jednostki"])
    assert count_near(rows, placed["prank"].pixel, colours["joke_or_mistake"]) >= 12
    elsewhere = client(wms, bearer(token_for("officer", OTHER_UNIT)))
    rows = get_map(elsewhere, ["zgloszenia_jednostki"])
    assert all(row[i] == 0 for row in rows for i in range(3, len(row), 4))
    # a partner's valid token sees the public map only
    partner = WebMapService(
        f"{wms}/ows/",
        version="1.3.0",
        headers=bearer(tokens.issue(settings, "partner", "wms-test", institution="ZZM-KRAKOW")),
    )
    assert set(partner.contents) == PUBLIC_LAYERS


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "expired",
        "forged",
    ],
)
def test_bad_token_is_401(wms: str, settings, header: str) -> None:
    if header == "expired":
        header = f"Bearer {token_for('officer', UNIT, ttl_seconds=-3600)}"
    elif header == "forged":
        good = token_for("officer", UNIT)
        head, payload, signature = good.split(".")
        header = f"Bearer {head}.{payload}.{signature[::-1]}"
    for request in ("GetCapabilities", "GetMap"):
        answer = requests.get(
            f"{wms}/ows/",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": request,
                "LAYERS": "zagrozenia",
                "STYLES": "",
                "CRS": "EPSG:2180",
                "BBOX": f"{BOX[1]},{BOX[0]},{BOX[3]},{BOX[2]}",
                "WIDTH": 64,
                "HEIGHT": 64,
                "FORMAT": "image/png",
            },
            headers={"Authorization": header},
            timeout=60,
        )
        assert answer.status_code == 401, (header, request, answer.text[:300])
        assert "Invalid token" in answer.text and "image/png" not in answer.headers["Content-Type"]


def test_bad_request_is_4xx(wms: str) -> None:
    answer = requests.get(
        f"{wms}/ows/",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": "no_such_layer",
            "CRS": "EPSG:2180",
            "BBOX": "1,2,3",
            "WIDTH": 64,
            "HEIGHT": 64,
            "FORMAT": "image/png",
        },
        timeout=60,
    )
    assert 400 <= answer.status_code < 500
    assert "ServiceException" in answer.text


def test_project_file_is_rebuilt_identically(db_url: str, server, tmp_path) -> None:
    """The committed project is what scripts/build_qgis_project.py makes from the database."""
    from kmzb import qgis_launcher
    from kmzb.db import connection
    from kmzb.settings import PROJECT_ROOT

    service = qgis_launcher.write_service_file(
        server, tmp_path / "pg_service.conf", connection.database_name(db_url)
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "PGSERVICEFILE": str(service),
    }
    run = subprocess.run(
        ["/usr/bin/python3", str(PROJECT_ROOT / "scripts" / "build_qgis_project.py"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "is up to date" in run.stdout
