"""Keyset paging on /collections/{id}/items (issue 16, item 3).

- a full page's `next` link carries a cursor, and following the next links visits
  every public item exactly once, also while reports are submitted between pages;
- `offset` still works, in the same (id) order, with offset links; a `sortby`
  query's links keep offset, and so do a bbox query's (its first page is in storage
  order);
- a cursor this service did not make (or made for another collection, or combined
  with offset or sortby) is a 400 in Polish and English;
- a page costs the same at any depth: on 150,000 generated rows (50,000 public,
  behind a view with the public test, as kmzb.public_threats), the page after a
  cursor 45,000 items deep reads about as many buffers as the first page, where the
  same page by offset reads the whole table (over ten times more); the real kmzb.public_threats
  pages on the public_ref index;
- the OpenAPI document advertises limit's maximum on every items operation (what
  GDAL's OAPIF driver reads for its page size).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import requests
import yaml
from psycopg import sql

from helpers import new_address
from kmzb.providers import postgis
from kmzb.providers.postgis import PostGISProvider, encode_cursor

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RYNEK = {"lon": 19.9373, "lat": 50.0617}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def submit(api: str) -> str:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**RYNEK, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def public_ids(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM kmzb.public_threats ORDER BY id")]


def get_items(api: str, url: str | None = None, **params: str) -> dict:
    answer = requests.get(url or f"{api}/collections/threats/items", params=params, timeout=60)
    assert answer.status_code == 200, answer.text[:400]
    return answer.json()


def link(page: dict, rel: str) -> str | None:
    hrefs = [x["href"] for x in page["links"] if x["rel"] == rel]
    assert len(hrefs) <= 1, page["links"]
    return hrefs[0] if hrefs else None


@pytest.fixture(scope="module")
def enough_threats(api: str, db_url: str) -> list[str]:
    """At least 25 public threats (the session's database may hold fewer)."""
    for _ in range(max(0, 25 - len(public_ids(db_url)))):
        submit(api)
    ids = public_ids(db_url)
    assert len(ids) >= 25
    return ids


# --- the next links ----------------------------------------------------------------


def test_the_next_link_carries_a_cursor(api: str, db_url: str, enough_threats: list[str]) -> None:
    ids = public_ids(db_url)
    page = get_items(api, limit="4", skipGeometry="true")
    assert [f["id"] for f in page["features"]] == ids[:4]  # id order
    query = parse_qs(urlsplit(link(page, "next") or "").query)
    assert "offset" not in query and query["limit"] == ["4"], query
    assert query["skipGeometry"] == ["true"]  # the request's other parameters kept
    (cursor,) = query["cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded == {"c": "public_threats", "k": ids[3]}
    assert link(page, "prev") is None


def test_following_next_visits_every_public_item_once_while_reports_arrive(
    api: str, db_url: str, enough_threats: list[str]
) -> None:
    before = set(public_ids(db_url))
    seen: list[str] = []
    added: list[str] = []
    url: str | None = f"{api}/collections/threats/items?limit=5&skipGeometry=true"
    pages = 0
    while url:
        page = get_items(api, url)
        seen += [f["id"] for f in page["features"]]
        assert page["numberReturned"] == len(page["features"]) <= 5
        url = link(page, "next")
        pages += 1
        if pages % 2 == 0:
            added.append(submit(api))  # a new report, anywhere in the id order
        assert pages < 10_000
    assert len(seen) == len(set(seen)), "an item came twice"
    assert before <= set(seen), f"skipped: {sorted(before - set(seen))[:5]}"
    assert set(seen) <= before | set(added)
    assert seen == sorted(seen)
    assert pages >= len(before) // 5


def test_the_last_page_has_no_next_link(api: str, db_url: str, enough_threats: list[str]) -> None:
    ids = public_ids(db_url)
    page = get_items(
        api, limit="5", cursor=encode_cursor("public_threats", ids[-2]), skipGeometry="true"
    )
    assert [f["id"] for f in page["features"]] == ids[-1:]
    assert link(page, "next") is None and "numberMatched" not in page


def test_offset_still_works_with_its_own_links(
    api: str, db_url: str, enough_threats: list[str]
) -> None:
    page = get_items(api, offset="6", limit="3", skipGeometry="true")
    assert [f["id"] for f in page["features"]] == public_ids(db_url)[6:9]
    next_query = parse_qs(urlsplit(link(page, "next") or "").query)
    prev_query = parse_qs(urlsplit(link(page, "prev") or "").query)
    assert next_query["offset"] == ["9"] and "cursor" not in next_query
    assert prev_query["offset"] == ["3"]


def test_a_sorted_query_keeps_offset_in_its_next_link(api: str, enough_threats: list[str]) -> None:
    page = get_items(api, sortby="-reported_on", limit="3", skipGeometry="true")
    next_query = parse_qs(urlsplit(link(page, "next") or "").query)
    assert next_query["offset"] == ["3"] and next_query["sortby"] == ["-reported_on"]
    assert "cursor" not in next_query


def test_a_bbox_query_pages_by_offset_and_takes_a_cursor(
    api: str, enough_threats: list[str]
) -> None:
    """A spatial query's first page comes in storage order (sorting a city's matches
    by id costs more than its page): its next link keeps offset. A cursor sent with
    a bbox still pages by id."""
    around = {"bbox": "19.93,50.06,19.94,50.07", "skipGeometry": "true"}
    for _ in range(2):
        submit(api)  # at least three threats in the box
    page = get_items(api, limit="1", **around)
    next_query = parse_qs(urlsplit(link(page, "next") or "").query)
    assert next_query["offset"] == ["1"] and "cursor" not in next_query
    everything = get_items(api, limit="1000", **around)
    ids = sorted(f["id"] for f in everything["features"])
    assert len(ids) >= 3
    after = get_items(api, limit="1", cursor=encode_cursor("public_threats", ids[0]), **around)
    assert [f["id"] for f in after["features"]] == ids[1:2]
    assert "cursor" in parse_qs(urlsplit(link(after, "next") or "").query)


# --- bad cursors ------------------------------------------------------------------------


def assert_bilingual_400(answer: requests.Response, words: str) -> None:
    assert answer.status_code == 400, answer.text[:400]
    body = answer.json()
    assert set(body["message"]) == {"pl", "en"}, body
    assert words in body["message"]["en"], body
    assert body["message"]["pl"] != body["message"]["en"] and "cursor" in body["message"]["pl"]


@pytest.mark.parametrize(
    ("cursor", "words"),
    [
        ("%%%", "not a cursor of this service"),
        ("bm90IGpzb24", "not a cursor of this service"),  # "not json"
        (base64.urlsafe_b64encode(b'{"k": "X"}').decode(), "not a cursor of this service"),
        (encode_cursor("public_gminy", "1261011"), "another collection"),
        (encode_cursor("public_threats", 17), "no valid identifier"),
        ("A" * 600, "too long"),
    ],
)
def test_a_bad_cursor_is_a_400_in_both_languages(
    api: str, enough_threats: list[str], cursor: str, words: str
) -> None:
    answer = requests.get(f"{api}/collections/threats/items", params={"cursor": cursor}, timeout=60)
    assert_bilingual_400(answer, words)


def test_a_cursor_with_offset_sortby_or_twice_is_a_400(api: str, enough_threats: list[str]) -> None:
    good = encode_cursor("public_threats", enough_threats[0])
    url = f"{api}/collections/threats/items"
    assert_bilingual_400(
        requests.get(url, params={"cursor": good, "offset": "5"}, timeout=60), "offset"
    )
    assert_bilingual_400(
        requests.get(url, params={"cursor": good, "sortby": "reported_on"}, timeout=60),
        "sortby",
    )
    assert_bilingual_400(
        requests.get(f"{url}?cursor={good}&cursor={good}", timeout=60), "more than once"
    )


# --- the cost of a page at depth ------------------------------------------------------------

PROBE_ROWS = 150_000  # one in three public: 50,000 public rows


def provider_on(url: str, table: str, search_path: str) -> PostGISProvider:
    info = psycopg.conninfo.conninfo_to_dict(url)
    data = {k: info.get(k) for k in ("host", "port", "dbname", "user", "password")}
    return PostGISProvider(
        {
            "name": "kmzb.providers.postgis.PostGISProvider",
            "type": "feature",
            "data": {**data, "search_path": [search_path]},
            "table": table,
            "id_field": "id",
            "geom_field": "geom",
            "storage_crs": CRS84,
        }
    )


@pytest.fixture()
def in_process_providers() -> Iterator[None]:
    """A provider built in this process opens a pool as the test's login (a superuser);
    close what the test opened, so no session of it outlives the test (test_roles
    counts the app's sessions by their application name)."""
    before = set(postgis._pools)
    yield
    for conninfo in set(postgis._pools) - before:
        postgis._pools.pop(conninfo).close()


@pytest.fixture()
def probe(scratch_url: str, in_process_providers: None) -> Iterator[tuple[str, PostGISProvider]]:
    """Generated reports behind a view with the public test of kmzb.public_threats:
    random-looking references in the reports' pattern, a unique index on them."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE probe_reports (
                   public_ref text NOT NULL UNIQUE, public_until timestamptz NOT NULL,
                   description text, geom geometry(Point, 4326) NOT NULL)"""
        )
        conn.execute(
            """INSERT INTO probe_reports
               SELECT upper(substr(h, 1, 4) || '-' || substr(h, 5, 4) || '-' || substr(h, 9, 4)),
                      now() + CASE WHEN i %% 3 = 0 THEN interval '1 year'
                                   ELSE interval '-1 day' END,
                      repeat('opis ', 20),
                      ST_SetSRID(ST_MakePoint(14.1 + (i %% 1000) / 100.0, 49 + i / 30000.0), 4326)
               FROM generate_series(1, %s) i, LATERAL (SELECT md5(i::text) AS h) hashed""",
            (PROBE_ROWS,),
        )
        conn.execute(
            """CREATE VIEW probe_public AS
               SELECT public_ref AS id, description, geom FROM probe_reports
               WHERE public_until > now()"""
        )
        conn.execute("VACUUM ANALYZE probe_reports")
    yield scratch_url, provider_on(scratch_url, "probe_public", "public")


def buffers(url: str, statement: sql.Composable, params: dict) -> tuple[int, int]:
    """Shared buffers the statement reads (hit + read), and its rows."""
    with psycopg.connect(url) as conn:
        for _ in range(2):  # the second run, with the cache as warm as it gets
            (plan,) = conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + statement, params
            ).fetchone()[0]
    top = plan["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"], top["Actual Rows"]


def test_a_page_costs_the_same_at_any_depth(probe: tuple[str, PostGISProvider]) -> None:
    url, provider = probe
    where, params = provider._where(None, None, None, None)
    with psycopg.connect(url) as conn:
        public = conn.execute("SELECT count(*) FROM probe_public").fetchone()[0]
        (deep_after,) = conn.execute(
            "SELECT id FROM probe_public ORDER BY id OFFSET 44999 LIMIT 1"
        ).fetchone()
    assert 49_000 < public < 51_000
    limit = 100
    first, _ = buffers(url, *provider.page_statement(where, params, 0, limit, None, None))
    deep, _ = buffers(url, *provider.page_statement(where, params, 0, limit, deep_after, None))
    by_offset, _ = buffers(url, *provider.page_statement(where, params, 45_000, limit, None, None))
    # the keyset page 45,000 deep reads what the first page reads (index descent + rows)
    assert deep <= 2 * first + 20, (first, deep)
    # the same page by offset reads everything before it (here the whole table, some
    # 3,500 buffers against some 300): the measure sees depth
    assert by_offset > 5 * deep, (deep, by_offset)


def test_the_public_threats_cursor_page_is_read_on_the_public_ref_index(
    db_url: str, in_process_providers: None
) -> None:
    provider = provider_on(db_url, "public_threats", "kmzb")
    where, params = provider._where(None, None, None, None)
    statement, page = provider.page_statement(where, params, 0, 1000, "M000-0000-0000", None)
    with psycopg.connect(db_url) as conn:
        # the session's database holds few reports: a seq scan is cheaper there; with
        # scans and sorts made dear, what is left is the index that serves the order
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_sort = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + statement, page).fetchall()
        )
    assert "reports_public_ref_key" in plan, plan
    assert "Sort" not in plan.split("SubPlan")[0], plan


# --- the OpenAPI document ---------------------------------------------------------------------


def test_the_openapi_document_advertises_limits_maximum(api: str) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    maximum = config["server"]["limits"]["max_items"]
    document = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()
    assert document["components"]["parameters"]["limit"]["schema"]["maximum"] == maximum
    items_paths = [p for p in document["paths"] if p.endswith("/items")]
    assert "/collections/threats/items" in items_paths
    for path in items_paths:
        (limit,) = [
            p for p in document["paths"][path]["get"]["parameters"] if p.get("name") == "limit"
        ]
        assert limit["schema"]["maximum"] >= 1000, (path, limit)
