"""The flood guard over HTTP, against the real app and PostGIS.

Forty new reports from forty addresses are stacked on Kraków's Rynek within a
minute. The burst is held: the public threats, the map tiles and grid, QGIS
Server's view and the area-safety summary stay as they were before the flood,
while the unit's queue lists the held reports flagged as a burst and each stays
readable by its reference. A coordinator's review releases a report.

The module runs the app on a database of its own (the real data, loaded
fresh), so the flood neither meets nor leaves reports of other tests.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from conftest import TEST_DB, fresh_database, running_app
from kmzb.auth import tokens
from kmzb.db import aggregates, connection, migrations
from kmzb.loaders.all import load_all
from kmzb.settings import Settings

RYNEK = (19.9383, 50.0614)  # Kraków's Rynek Główny: KMP Kraków (KMP-1261)
UNIT = "KMP-1261"
THRESHOLD, RADIUS_M, WINDOW_MIN = 10, 250, 15  # the defaults, named here explicitly
FLOOD = 40
BBOX = (RYNEK[0] - 0.01, RYNEK[1] - 0.01, RYNEK[0] + 0.01, RYNEK[1] + 0.01)


@dataclass
class Flood:
    api: str
    db_url: str
    tmp: Path
    coordinator: str
    before: dict[str, Any] = field(default_factory=dict)
    earlier: dict[str, str] = field(default_factory=dict)  # real reports before the flood
    refs: list[str] = field(default_factory=list)  # the flood


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Web Mercator tile (column, row) holding the point."""
    n = 2**z
    col = int((lon + 180) / 360 * n)
    rad = math.radians(lat)
    row = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return col, row


def submit(api: str, lon: float, lat: float, address: str, **extra: Any) -> requests.Response:
    headers = {"X-Forwarded-For": address}
    token = extra.pop("token", None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {"lon": lon, "lat": lat, "category": "vandalism", **extra}},
        headers=headers,
        timeout=60,
    )


def review(api: str, token: str, reference: str, status: str, version: int) -> requests.Response:
    return requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": reference, "status": status, "version": version}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def public_ids(api: str) -> set[str]:
    answer = requests.get(
        f"{api}/collections/threats/items",
        params={"bbox": ",".join(map(str, BBOX)), "limit": 1000, "f": "json"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return {feature["id"] for feature in answer.json()["features"]}


def area_summary(api: str) -> dict:
    answer = requests.post(
        f"{api}/processes/area-safety/execution",
        json={"inputs": {"lon": RYNEK[0], "lat": RYNEK[1], "radius": 1000}},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["threats"]


def tile_features(api: str, tmp: Path, z: int, col: int, row: int) -> list[dict]:
    answer = requests.get(
        f"{api}/collections/threats/tiles/WebMercatorQuad/{z}/{row}/{col}",
        params={"f": "mvt"},
        timeout=60,
    )
    assert answer.status_code in (200, 204), answer.text
    if answer.status_code == 204 or not answer.content:
        return []
    path = tmp / f"{z}-{col}-{row}.pbf"
    path.write_bytes(answer.content)
    out = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSONSeq", "/vsistdout/", str(path)]
        + ["-oo", f"Z={z}", "-oo", f"X={col}", "-oo", f"Y={row}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line.strip("\x1e")) for line in out.splitlines() if line.strip()]


def street_tile_ids(flood: Flood) -> set[str]:
    col, row = tile_of(*RYNEK, 14)
    return {f["properties"]["id"] for f in tile_features(flood.api, flood.tmp, 14, col, row)}


def grid_count(flood: Flood) -> int:
    """Public reports counted by the map grid (refreshed as `kmzb run` does on its clock)."""
    aggregates.refresh(flood.db_url)
    col, row = tile_of(*RYNEK, 8)
    cells = tile_features(flood.api, flood.tmp, 8, col, row)
    return sum(cell["properties"]["count"] for cell in cells)


def queue(flood: Flood, **params: str) -> requests.Response:
    return requests.get(
        f"{flood.api}/police/queue",
        params={"limit": "1000", **params},
        headers={"Authorization": f"Bearer {flood.coordinator}"},
        timeout=60,
    )


def measure(flood: Flood) -> dict[str, Any]:
    return {
        "items": public_ids(flood.api),
        "area": area_summary(flood.api),
        "tile": street_tile_ids(flood),
        "grid": grid_count(flood),
    }


@pytest.fixture(scope="module")
def app(server: Settings, data_dir: Path, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The app with the flood guard's default thresholds, on a database of its own."""
    name = f"{TEST_DB}_bursts"
    url = fresh_database(server, name)
    try:
        migrations.apply_all(url)
        load_all(url, data_dir, lambda _message: None)
        extra = {
            "KMZB_BURST_THRESHOLD": str(THRESHOLD),
            "KMZB_BURST_RADIUS_M": str(RADIUS_M),
            "KMZB_BURST_WINDOW_MINUTES": str(WINDOW_MIN),
        }
        if server.embedded:
            extra["KMZB_DB_NAME"] = name
        else:
            extra["DATABASE_URL"] = url
            if server.api_database_url:  # the API's own login role, on this database
                extra["KMZB_API_DATABASE_URL"] = connection.api_url(server, name)
        openapi = tmp_path_factory.mktemp("openapi-bursts") / "openapi.yml"
        with running_app(url, server, openapi, extra) as base:
            yield base, url
    finally:
        connection.drop_database(server, name)


@pytest.fixture(scope="module")
def flood(app: tuple[str, str], settings: Settings, tmp_path_factory) -> Flood:
    api, url = app
    state = Flood(
        api,
        url,
        tmp_path_factory.mktemp("tiles"),
        tokens.issue(settings, "coordinator", "test-coordinator", unit=UNIT),
    )
    # real reports there before the flood: one on the Rynek already under verification,
    # two new ones 400 m away (outside the burst's radius, inside the area summary's)
    places = {
        "rynek": RYNEK,
        "east": (RYNEK[0] + 0.0056, RYNEK[1]),
        "north": (RYNEK[0], RYNEK[1] + 0.0036),
    }
    for n, (name, (lon, lat)) in enumerate(places.items()):
        answer = submit(api, lon, lat, f"192.0.2.{n + 1}")
        assert answer.status_code == 200, answer.text
        state.earlier[name] = answer.json()["reference"]
    verified = review(api, state.coordinator, state.earlier["rynek"], "verification", 1)
    assert verified.status_code == 200, verified.text
    state.before = measure(state)
    assert set(state.earlier.values()) <= state.before["items"]

    def one(n: int) -> str:
        # forty reporters: IPv4 addresses and IPv6 /64s, a few metres apart on the Rynek
        address = f"198.51.100.{n + 1}" if n % 2 else f"2001:db8:f100:{n:x}::1"
        lon, lat = RYNEK[0] + 0.00005 * (n % 5), RYNEK[1] + 0.00004 * (n % 7)
        answer = submit(api, lon, lat, address, description=f"Zniszczona ławka nr {n}")
        assert answer.status_code == 200, answer.text
        return answer.json()["reference"]

    # below the threshold nothing is held: the first nine are public at once
    state.refs = [one(n) for n in range(THRESHOLD - 1)]
    assert public_ids(api) == state.before["items"] | set(state.refs)
    # the tenth makes a burst; the rest come in four at a time
    with ThreadPoolExecutor(max_workers=4) as pool:
        state.refs += list(pool.map(one, range(THRESHOLD - 1, FLOOD)))
    assert len(set(state.refs)) == FLOOD
    return state


def test_nothing_accepted_is_lost_and_each_is_readable_by_reference(flood: Flood) -> None:
    with psycopg.connect(flood.db_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM kmzb.reports WHERE public_ref = ANY(%s) AND status = 'new'",
            (flood.refs,),
        ).fetchone()[0]
    assert stored == FLOOD
    for ref in flood.refs[:: FLOOD // 8]:
        answer = requests.get(f"{flood.api}/reports/{ref}", timeout=30)
        assert answer.status_code == 200
        assert answer.json()["status"] == "new" and answer.json()["police_unit"] == UNIT


def test_the_public_view_stays_as_it_was(flood: Flood) -> None:
    after = measure(flood)
    assert after["items"] == flood.before["items"]  # the threats collection near the Rynek
    assert after["tile"] == flood.before["tile"]  # the street-level vector tile
    assert after["grid"] == flood.before["grid"]  # the map grid below zoom 14
    assert after["area"] == flood.before["area"]  # the area-safety summary
    assert set(flood.earlier.values()) <= after["items"]  # the real reports stay visible
    for ref in flood.refs[:3]:
        single = requests.get(
            f"{flood.api}/collections/threats/items/{ref}", params={"f": "json"}, timeout=30
        )
        assert single.status_code == 404


def test_qgis_servers_public_view_drops_the_burst_and_its_police_layer_shows_it(
    flood: Flood,
) -> None:
    with psycopg.connect(flood.db_url) as conn:
        public = conn.execute(
            "SELECT count(*) FROM kmzb.wms_threats WHERE reference = ANY(%s)", (flood.refs,)
        ).fetchone()[0]
        police = conn.execute(
            "SELECT count(*) FROM kmzb.wms_unit_reports WHERE reference = ANY(%s)", (flood.refs,)
        ).fetchone()[0]
    assert (public, police) == (0, FLOOD)


def test_the_units_queue_flags_the_burst(flood: Flood) -> None:
    held = queue(flood, held="true")
    assert held.status_code == 200, held.text
    rows = held.json()["reports"]
    assert {r["reference"] for r in rows} == set(flood.refs)
    assert all(r["burst"] is True and r["held_at"] for r in rows)
    everything = {r["reference"]: r for r in queue(flood).json()["reports"]}
    assert set(flood.refs) <= set(everything)
    assert everything[flood.earlier["east"]]["burst"] is False
    assert everything[flood.earlier["rynek"]]["burst"] is False
    others = {r["reference"] for r in queue(flood, held="false").json()["reports"]}
    assert not others & set(flood.refs) and flood.earlier["north"] in others
    bad = queue(flood, held="maybe")
    assert bad.status_code == 400
    assert "held" in bad.text and "wstrzymane" in bad.text


def test_a_coordinators_review_releases_a_held_report(flood: Flood, settings: Settings) -> None:
    ref = flood.refs[0]
    # the hold did not change the version the police see
    reviewed = review(flood.api, flood.coordinator, ref, "verification", 1)
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["version"] == 2
    shown = public_ids(flood.api)
    assert ref in shown and not shown & set(flood.refs[1:])
    assert ref not in {r["reference"] for r in queue(flood, held="true").json()["reports"]}
    assert len(queue(flood, held="true").json()["reports"]) == FLOOD - 1
    # the police's own report at the Rynek is not a citizen's flood: it is public at once
    officer = tokens.issue(settings, "officer", "test-officer", unit=UNIT)
    police = submit(flood.api, *RYNEK, "192.0.2.99", source="police", token=officer)
    assert police.status_code == 200, police.text
    assert police.json()["reference"] in public_ids(flood.api)
