"""HTTP caching of the public reads (issue 16): ETag, Last-Modified, Cache-Control and
Vary on features, tiles and statistics; 304 on conditional GET, answered before the
query runs; validators that follow the data (a submission, a refresh of the grid, a
report leaving the public view with no write); tokens never cached; and nginx's
proxy_cache on the shipped rules in front of the real app.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import free_port
from helpers import new_address, token_for
from kmzb import runner
from kmzb.db import aggregates
from kmzb.service import http_cache
from test_nginx import NGINX_DIR, site_config, stop, wait_for

KRAKOW = {"lon": 19.9383, "lat": 50.0614}
THREATS = "/collections/threats/items?f=json&limit=2"
GMINY = "/collections/gminy/items?f=json&limit=1"
DAY = "public, max-age=86400"


def tile(z: int, lon: float = KRAKOW["lon"], lat: float = KRAKOW["lat"]) -> tuple[int, int]:
    """WebMercatorQuad row and column of the tile holding a point."""
    n = 2**z
    col = int((lon + 180) / 360 * n)
    rad = math.radians(lat)
    row = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return row, col


def tile_path(cid: str, z: int) -> str:
    row, col = tile(z)
    return f"/collections/{cid}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt"


def submit(api: str) -> str:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "vandalism", "description": "Cache test"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    reference: str = answer.json()["reference"]
    return reference


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def reference(api: str, db_url: str) -> str:
    """A public report at the Rynek, and the grid refreshed with it."""
    ref = submit(api)
    aggregates.refresh(db_url)
    return ref


def kinds(reference: str) -> list[tuple[str, str]]:
    return [
        (THREATS, "public, max-age=30"),
        (f"/collections/threats/items/{reference}?f=json", "public, max-age=30"),
        (tile_path("threats", 14), "public, max-age=30"),
        (tile_path("threats", 8), "grid"),
        (GMINY, DAY),
        ("/collections/wojewodztwa/items?f=json&limit=1", DAY),
        ("/collections/police-units/items?f=json&limit=1", DAY),
        ("/collections/threat-categories/items?f=json", DAY),
        ("/collections/crime-statistics/items?f=json&limit=1", DAY),
        ("/collections/crime-rates/items?f=json&limit=1", DAY),
        (tile_path("crime-rates", 5), DAY),
    ]


def assert_cacheable(answer: requests.Response, cache_control: str) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"].startswith('W/"')
    if cache_control == "grid":  # until the next refresh of the grid
        lifetime = int(answer.headers["Cache-Control"].removeprefix("public, max-age="))
        assert http_cache.CELLS_MIN_MAX_AGE <= lifetime <= http_cache.CELLS_REFRESH_SECONDS
    else:
        assert answer.headers["Cache-Control"] == cache_control
    modified = parsedate_to_datetime(answer.headers["Last-Modified"])
    assert modified <= datetime.now(UTC) + timedelta(seconds=1)
    vary = {v.strip() for v in answer.headers["Vary"].split(",")}
    assert "Accept-Language" in vary
    # Accept matters only when the query names no format (pygeoapi then negotiates)
    assert ("Accept" in vary) is ("f=" not in answer.url)
    # the headers every answer carries are still there
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in answer.headers


def test_headers_on_each_kind_of_read(api: str, reference: str) -> None:
    for path, cache_control in kinds(reference):
        answer = get(api + path)
        assert_cacheable(answer, cache_control)
        if "/items" in path:
            assert answer.headers["Content-Language"]


def test_if_none_match_is_a_304_with_the_same_validators(api: str, reference: str) -> None:
    for path, _ in kinds(reference):
        first = get(api + path)
        again = get(api + path, **{"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path
        assert again.content == b""
        # (RFC 9110 15.4.5: what a 200 would say of caching; werkzeug drops Last-Modified)
        for name in ("ETag", "Cache-Control", "Vary"):
            assert again.headers[name] == first.headers[name], (path, name)
        # a strong form of the tag, or a list holding it, matches too (weak comparison)
        listed = f'"other", {first.headers["ETag"].removeprefix("W/")}'
        assert get(api + path, **{"If-None-Match": listed}).status_code == 304
        assert get(api + path, **{"If-None-Match": '"other"'}).status_code == 200


def test_head_is_described_and_conditional_too(api: str) -> None:
    got = get(api + GMINY)
    head = requests.head(api + GMINY, timeout=60)
    assert head.status_code == 200
    assert head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Cache-Control"] == DAY
    again = requests.head(api + GMINY, headers={"If-None-Match": got.headers["ETag"]}, timeout=60)
    assert again.status_code == 304
    # the security headers ride on a 304 as on every answer
    assert again.headers["X-Content-Type-Options"] == "nosniff"


def test_if_modified_since(api: str) -> None:
    first = get(api + GMINY)
    modified = first.headers["Last-Modified"]
    again = get(api + GMINY, **{"If-Modified-Since": modified})
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == DAY
    later = format_datetime(datetime.now(UTC), usegmt=True)
    assert get(api + GMINY, **{"If-Modified-Since": later}).status_code == 304
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)
    assert get(api + GMINY, **{"If-Modified-Since": earlier}).status_code == 200
    # If-None-Match decides alone when both are sent
    both = {"If-Modified-Since": later, "If-None-Match": '"other"'}
    assert get(api + GMINY, **both).status_code == 200


def test_the_tag_names_the_query_and_the_negotiation(api: str) -> None:
    base = get(api + GMINY).headers["ETag"]
    assert get(api + GMINY).headers["ETag"] == base  # stable
    assert get(api + GMINY + "&offset=1").headers["ETag"] != base
    assert get(api + GMINY + "&lang=en").headers["ETag"] != base
    assert get(api + GMINY, **{"Accept-Language": "en"}).headers["ETag"] != base
    assert get(api + GMINY, Accept="text/html").headers["ETag"] == base  # f=json decides
    bare = "/collections/gminy/items?limit=1"
    html = get(api + bare, Accept="text/html")
    assert html.headers["ETag"] != get(api + bare, Accept="application/json").headers["ETag"]
    assert "Accept" in {v.strip() for v in html.headers["Vary"].split(",")}


def test_a_304_runs_no_query(api: str, db_url: str) -> None:
    """With the boundaries locked, a read that still holds answers at once: the
    validators come from kmzb.change_times, never from the data."""
    etag = get(api + GMINY).headers["ETag"]
    with psycopg.connect(db_url) as conn:
        conn.execute("LOCK TABLE kmzb.territorial_units IN ACCESS EXCLUSIVE MODE")
        answer = requests.get(api + GMINY, headers={"If-None-Match": etag}, timeout=10)
        assert answer.status_code == 304
        with pytest.raises(requests.Timeout):  # the query itself waits for the lock
            requests.get(api + GMINY, timeout=3)
        conn.rollback()


def test_a_submission_changes_the_threats_tag_and_not_the_boundaries(api: str) -> None:
    threats, gminy = get(api + THREATS), get(api + GMINY)
    point_tile = get(api + tile_path("threats", 14))
    grid_tile = get(api + tile_path("threats", 8))
    submit(api)
    for before in (threats, point_tile):
        after = get(before.url, **{"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200
        assert after.headers["ETag"] != before.headers["ETag"]
    assert get(gminy.url, **{"If-None-Match": gminy.headers["ETag"]}).status_code == 304
    # the grid's tiles keep their tag until the grid is refreshed
    assert get(grid_tile.url, **{"If-None-Match": grid_tile.headers["ETag"]}).status_code == 304


def test_a_refresh_of_the_grid_changes_its_tiles_tag(api: str, db_url: str) -> None:
    grid_tile = get(api + tile_path("threats", 8))
    aggregates.refresh(db_url)
    after = get(grid_tile.url, **{"If-None-Match": grid_tile.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != grid_tile.headers["ETag"]
    lifetime = int(after.headers["Cache-Control"].removeprefix("public, max-age="))
    assert http_cache.CELLS_REFRESH_SECONDS - 10 <= lifetime <= http_cache.CELLS_REFRESH_SECONDS
    assert http_cache.CELLS_REFRESH_SECONDS == runner.AGGREGATE_REFRESH_SECONDS


def _counters(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT source, slot, changes FROM kmzb.change_times ORDER BY 1, 2"
        ).fetchall()


def test_a_report_leaving_the_public_view_changes_the_tag_with_no_write(
    api: str, db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        # unconfirmed reports stay public 7 days: this one's 7 days end in 3 seconds
        conn.execute(
            """
            INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit,
                                      reporter_hash)
            VALUES ('TEST-0000-0901', 'vandalism',
                    ST_Transform(ST_SetSRID(ST_MakePoint(19.94, 50.06), 4326), 2180),
                    'new', 'KMP-1261', repeat('a', 64))
            """
        )
        for status in ("verification", "unconfirmed"):
            conn.execute(
                "UPDATE kmzb.reports SET status = %s WHERE public_ref = 'TEST-0000-0901'",
                (status,),
            )
        conn.execute(
            "UPDATE kmzb.reports SET status_changed_at = now() - interval '7 days' "
            "+ interval '3 seconds' WHERE public_ref = 'TEST-0000-0901'"
        )
        row = conn.execute(
            "SELECT public_until FROM kmzb.reports WHERE public_ref = 'TEST-0000-0901'"
        ).fetchone()
        assert row is not None
        until: datetime = row[0]
    item = f"{api}/collections/threats/items/TEST-0000-0901?f=json"
    public = get(item)
    assert public.status_code == 200
    listed = get(api + THREATS)
    counters = _counters(db_url)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    assert _counters(db_url) == counters  # nothing was written meanwhile
    after = get(api + THREATS, **{"If-None-Match": listed.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != listed.headers["ETag"]
    assert parsedate_to_datetime(after.headers["Last-Modified"]) >= until.replace(microsecond=0)
    assert get(item, **{"If-None-Match": public.headers["ETag"]}).status_code == 404


def test_reads_with_a_token_are_never_cached(api: str) -> None:
    public = get(api + THREATS)
    token = token_for("coordinator", "KMP-1261")
    for path in (THREATS, GMINY, tile_path("threats", 14)):
        answer = get(
            api + path,
            Authorization=f"Bearer {token}",
            **{"If-None-Match": get(api + path).headers["ETag"]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "private, no-store"
        assert "ETag" not in answer.headers and "Last-Modified" not in answer.headers
    refused = get(api + THREATS, Authorization="Bearer not-a-token")
    assert refused.status_code == 401
    assert "public" not in refused.headers.get("Cache-Control", "")
    assert public.headers["Cache-Control"] == "public, max-age=30"


def test_other_reads_and_writes_are_left_alone(api: str) -> None:
    assert "ETag" not in get(f"{api}/collections?f=json").headers
    bad = get(f"{api}/collections/gminy/items?f=json&limit=0")
    assert bad.status_code == 400 and "ETag" not in bad.headers
    cql = requests.post(
        f"{api}/collections/gminy/items?limit=1",
        json={"op": "=", "args": [{"property": "teryt"}, "1261011"]},
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert "ETag" not in cql.headers


# --- nginx's proxy_cache on the shipped rules, in front of the app ---------------------


@pytest.fixture(scope="module")
def front(api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's nginx (installed by scripts/bootstrap.sh) on docker/nginx's rules, in front
    of the session's app; QGIS Server is not needed here (its upstream stays unused)."""
    prefix: Path = tmp_path_factory.mktemp("nginx-cache")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / kind).mkdir(parents=True)
    (prefix / "cache").mkdir()
    subprocess.run(
        [str(NGINX_DIR / "make-self-signed-cert.sh"), str(prefix / "certs"), "127.0.0.1"],
        check=True,
        capture_output=True,
    )
    http, tls = free_port(), free_port()
    api_port = int(api.rsplit(":", 1)[1])
    conf = prefix / "nginx.conf"
    conf.write_text(site_config(prefix, api_port, free_port(), http, tls, prefix / "pg_service"))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    with (prefix / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{http}"
        try:
            wait_for(f"{base}/", process, 30)
            yield base
        finally:
            stop(process)


def test_nginx_caches_as_the_app_says(front: str, api: str, reference: str) -> None:
    for path, cache_control in kinds(reference):
        first, second = get(front + path), get(front + path)
        assert first.headers["X-Cache-Status"] in ("MISS", "HIT"), path  # HIT: cached before
        assert second.headers["X-Cache-Status"] == "HIT", path
        assert second.headers["ETag"] == first.headers["ETag"]
        assert_cacheable(second, cache_control)
        assert second.content == first.content
        # a client's revalidation is answered by nginx from its copy
        again = get(front + path, **{"If-None-Match": second.headers["ETag"]})
        assert again.status_code == 304, path
        assert again.headers["X-Cache-Status"] == "HIT"
        assert again.headers["Cache-Control"] == second.headers["Cache-Control"]


def test_nginx_never_caches_a_token(front: str) -> None:
    token = token_for("coordinator", "KMP-1261")
    for _ in range(2):
        answer = get(front + THREATS + "&offset=1", Authorization=f"Bearer {token}")
        assert answer.status_code == 200
        assert answer.headers["X-Cache-Status"] == "BYPASS"
        assert answer.headers["Cache-Control"] == "private, no-store"
    # the token's answer was not stored: the first anonymous read misses
    assert get(front + THREATS + "&offset=1").headers["X-Cache-Status"] == "MISS"


def test_nginx_keeps_the_languages_apart(front: str) -> None:
    path = front + "/collections/threat-categories/items?f=json&limit=3"
    polish = get(path, **{"Accept-Language": "pl"})
    english = get(path, **{"Accept-Language": "en"})
    english_again = get(path, **{"Accept-Language": "en"})
    assert english_again.headers["X-Cache-Status"] == "HIT"
    assert english.headers["ETag"] != polish.headers["ETag"]
    assert english_again.headers["Content-Language"] == english.headers["Content-Language"]


def test_nginx_serves_many_readers_from_one_copy(front: str) -> None:
    """Concurrent readers of one tile: the app is asked at most once (proxy_cache_lock)."""
    path = front + tile_path("crime-rates", 6)
    statuses: list[str] = []

    def read() -> None:
        statuses.append(get(path).headers["X-Cache-Status"])

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert statuses.count("MISS") <= 1 and len(statuses) == 8


def test_nginx_revalidates_an_expired_copy_with_the_apps_validators(
    front: str, db_url: str, reference: str
) -> None:
    """The grid's tiles live until the next refresh, at least CELLS_MIN_MAX_AGE (5 s):
    with the last refresh 299 s ago their lifetime is 5 s. Once it has passed, nginx
    answers from the expired copy (STALE: tiles are renewed in the background) and
    revalidates it with the copy's validators (the app's 304 runs no query): the next
    reader gets a fresh HIT."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE kmzb.change_times SET changed_at = now() - make_interval(secs => %s) "
            "WHERE source = 'cells'",
            (http_cache.CELLS_REFRESH_SECONDS - 1,),
        )
    path = front + tile_path("threats", 7)
    first = get(path)
    assert first.headers["Cache-Control"] == f"public, max-age={http_cache.CELLS_MIN_MAX_AGE}"
    assert first.headers["X-Cache-Status"] == "MISS"
    time.sleep(http_cache.CELLS_MIN_MAX_AGE + 1.2)
    again = get(path)
    assert again.status_code == 200
    assert again.headers["X-Cache-Status"] in ("STALE", "UPDATING", "REVALIDATED")
    assert again.content == first.content
    time.sleep(0.5)
    renewed = get(path)
    assert renewed.headers["X-Cache-Status"] == "HIT"
    assert renewed.headers["ETag"] == first.headers["ETag"]
    assert renewed.content == first.content
