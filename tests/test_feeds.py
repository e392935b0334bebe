"""Atom feeds (/feeds/threats.atom, /reports/<ref>/feed.atom) read by feedparser from the
real app on the real database: filters, privacy, bad parameters, conditional GET."""

from __future__ import annotations

import calendar
import email.utils
import time

import feedparser
import pytest
import requests

from helpers import new_address, review

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny: gmina 1261011, KMP Kraków
WROCLAW = {"lon": 17.0320, "lat": 51.1100}  # gmina 0264011, KMP Wrocław
AREA = "/feeds/threats.atom"


def submit(api: str, point: dict, category: str, description: str = "") -> str:
    inputs = {**point, "category": category}
    if description:
        inputs["description"] = description
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def read(api: str, path: str, **params: str) -> tuple[requests.Response, feedparser.FeedParserDict]:
    answer = requests.get(f"{api}{path}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    parsed = feedparser.parse(answer.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return answer, parsed


def entries(body: bytes) -> list[tuple[str, str, str]]:
    return [(e.id, e.title, e.updated) for e in feedparser.parse(body).entries]


def refs(parsed: feedparser.FeedParserDict) -> set[str]:
    return {e.id.split("reports/")[1].split("/")[0] for e in parsed.entries}


@pytest.fixture(scope="module")
def reports(api: str) -> dict[str, str]:
    krakow = submit(api, KRAKOW, "illegal_dumping")
    wroclaw = submit(api, WROCLAW, "illegal_dumping")
    hidden = submit(api, KRAKOW, "animal_cruelty")  # never on the public map
    return {"krakow": krakow, "wroclaw": wroclaw, "hidden": hidden}


def test_an_area_feed_is_atom_with_linked_georeferenced_entries(api, reports) -> None:
    answer, parsed = read(api, AREA, gmina="1261011")
    feed = parsed.feed
    assert feed.id.startswith("tag:") and "gmina=1261011" in feed.id
    assert "gmina Kraków (1261011)" in feed.title and "municipality Kraków" in feed.title
    assert "112" in feed.subtitle and feed.language == "pl"
    assert feed.updated_parsed is not None
    assert any(
        link.rel == "self" and link.href == f"{api}{AREA}?gmina=1261011" for link in feed.links
    )
    entry = next(e for e in parsed.entries if reports["krakow"] in e.id)
    links = {(link.rel, link.type): link.href for link in entry.links}
    status_url = f"{api}/reports/{reports['krakow']}"
    assert links[("alternate", "application/json")] == status_url
    assert links[("related", "application/geo+json")] == (
        f"{api}/collections/threats/items/{reports['krakow']}"
    )
    assert links[("related", "application/atom+xml")] == f"{status_url}/feed.atom"
    assert entry.title.startswith("Dzikie wysypiska śmieci — Nowe, Kraków / ")
    assert entry.updated_parsed is not None
    lat, lon = (float(v) for v in entry.where["coordinates"][::-1])
    assert (round(lon, 3), round(lat, 3)) == (19.938, 50.061)
    # the links it names answer
    assert requests.get(status_url, timeout=30).json()["reference"] == reports["krakow"]
    feature = requests.get(links[("related", "application/geo+json")], timeout=30)
    assert feature.status_code == 200 and feature.json()["id"] == reports["krakow"]
    assert answer.headers["ETag"].startswith('"')
    # Last-Modified: the newest entry's time, in GMT whatever the database session's zone
    newest = max(calendar.timegm(e.updated_parsed) for e in parsed.entries)
    modified = email.utils.parsedate_to_datetime(answer.headers["Last-Modified"])
    assert answer.headers["Last-Modified"].endswith(" GMT")
    assert int(modified.timestamp()) == newest


def test_filters_select_by_place_bbox_category_and_status(api, reports) -> None:
    krakow, wroclaw = reports["krakow"], reports["wroclaw"]
    for params in (
        {"gmina": "1261011"},
        {"powiat": "1261"},
        {"wojewodztwo": "12"},
        {"bbox": "19.9,50.0,20.0,50.1"},
        {"category": "illegal_dumping", "wojewodztwo": "12"},
        {"status": "new", "powiat": "1261"},
    ):
        found = refs(read(api, AREA, **params)[1])
        assert krakow in found and wroclaw not in found, params
    # (other tests of the session report in Wrocław too: only ours are known)
    in_wroclaw = refs(read(api, AREA, gmina="0264011")[1])
    assert wroclaw in in_wroclaw and krakow not in in_wroclaw
    title = read(api, AREA, powiat="1261")[1].feed.title
    assert title == (
        "KMZB: zmiany zagrożeń — powiat Kraków (1261) / KMZB: threat changes — county Kraków (1261)"
    )
    assert krakow not in refs(read(api, AREA, bbox="16.9,51.0,17.1,51.2")[1])
    assert krakow not in refs(read(api, AREA, status="confirmed")[1])
    assert krakow not in refs(read(api, AREA, category="vandalism")[1])
    assert {krakow, wroclaw} <= refs(read(api, AREA)[1])


def test_a_report_the_public_may_not_see_is_in_no_feed(api, reports) -> None:
    hidden = reports["hidden"]
    for params in ({}, {"gmina": "1261011"}, {"powiat": "1261"}, {"limit": "200"}):
        _, parsed = read(api, AREA, **params)
        assert hidden not in refs(parsed) and hidden not in str(parsed)
    answer = requests.get(f"{api}/reports/{hidden}/feed.atom", timeout=30)
    assert answer.status_code == 404
    body = answer.json()
    assert body["code"] == "NotFound" and body["message"]["pl"] and body["message"]["en"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"gmina": "126101"}, "gmina"),
        ({"gmina": "9999999"}, "gmina"),
        ({"powiat": "12a1"}, "powiat"),
        ({"wojewodztwo": "123"}, "wojewodztwo"),
        ({"bbox": "20,50,19,51"}, "bbox"),
        ({"bbox": "19,50,20"}, "bbox"),
        ({"bbox": "19,50,20,nan"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"category": "no_such_thing"}, "category"),
        ({"category": "animal_cruelty"}, "category"),
        ({"status": "joke_or_mistake"}, "status"),
        ({"status": "nope"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"town": "Kraków"}, "town"),
    ],
)
def test_each_bad_parameter_is_a_400_with_pl_and_en(api, params, field) -> None:
    answer = requests.get(f"{api}{AREA}", params=params, timeout=30)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "InvalidParameterValue" and body["description"]
    assert body["message"]["pl"] and body["message"]["en"]
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["pl"] != body["errors"][0]["en"]


def test_conditional_get_answers_304_until_a_change(api, reports) -> None:
    ref = submit(api, KRAKOW, "illegal_dumping")
    url = f"{api}{AREA}?gmina=1261011"
    first = requests.get(url, timeout=30)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    by_tag = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert by_tag.status_code == 304 and by_tag.content == b""
    assert by_tag.headers["ETag"] == etag
    by_date = requests.get(url, headers={"If-Modified-Since": modified}, timeout=30)
    assert by_date.status_code == 304
    stale = requests.get(url, headers={"If-None-Match": '"something-else"'}, timeout=30)
    assert stale.status_code == 200 and stale.content == first.content
    old = requests.get(
        url, headers={"If-Modified-Since": "Mon, 01 Jan 2018 00:00:00 GMT"}, timeout=30
    )
    assert old.status_code == 200
    # a change elsewhere: the tag names the store's last change, so the feed is read
    # again (the same entries) and gets a new tag, which then holds
    review(api, "KMP-0264", reports["wroclaw"], "verification", 1)
    elsewhere = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert elsewhere.status_code == 200
    assert entries(elsewhere.content) == entries(first.content)
    etag = elsewhere.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    # a change in Kraków does (a second later: Last-Modified counts whole seconds)
    time.sleep(1.1)
    review(api, "KMP-1261", ref, "verification", 1, note="Sprawdzamy", note_public=True)
    after = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 200
    entry = next(e for e in feedparser.parse(after.content).entries if ref in e.id)
    assert "Weryfikacja" in entry.title and "Sprawdzamy" in entry.content[0].value


def test_a_report_feed_follows_its_public_history(api) -> None:
    ref = submit(api, KRAKOW, "illegal_dumping")
    path = f"/reports/{ref}/feed.atom"
    first, parsed = read(api, path)
    assert [e.title.split(" — ")[1].split(",")[0] for e in parsed.entries] == ["Nowe"]
    assert ref in parsed.feed.title and parsed.feed.id.endswith(f"reports/{ref}")
    version = review(api, "KMP-1261", ref, "verification", 1, note="wewnętrzna", note_public=False)
    review(
        api, "KMP-1261", ref, "confirmed", version, note="Potwierdzone na miejscu", note_public=True
    )
    gone = requests.get(
        f"{api}{path}", headers={"If-None-Match": first.headers["ETag"]}, timeout=30
    )
    assert gone.status_code == 200
    _, parsed = read(api, path)
    statuses = [e.title.split(" — ")[1].split(",")[0] for e in parsed.entries]
    assert statuses == ["Potwierdzone", "Weryfikacja", "Nowe"]  # newest first
    assert parsed.entries[0].updated_parsed >= parsed.entries[1].updated_parsed
    assert "Potwierdzone na miejscu" in parsed.entries[0].content[0].value
    assert "wewnętrzna" not in str(parsed)  # an internal note never leaves the police
    lower = requests.get(f"{api}/reports/{ref.lower()}/feed.atom", timeout=30)
    assert lower.status_code == 200


def test_a_malformed_reference_is_400_and_an_unknown_one_404(api) -> None:
    bad = requests.get(f"{api}/reports/not-a-ref/feed.atom", timeout=30)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "reference"
    unknown = requests.get(f"{api}/reports/ZZZZ-ZZZZ-ZZZZ/feed.atom", timeout=30)
    assert unknown.status_code == 404
    assert unknown.json()["message"]["pl"].startswith("Nie ma publicznego zgłoszenia")


def test_the_openapi_document_describes_both_feeds(api) -> None:
    paths = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()["paths"]
    area = paths["/feeds/threats.atom"]["get"]
    assert {"200", "304", "400"} <= set(area["responses"])
    assert "application/atom+xml" in area["responses"]["200"]["content"]
    names = {p["name"] for p in area["parameters"]}
    assert names == {"gmina", "powiat", "wojewodztwo", "bbox", "category", "status", "limit"}
    statuses = next(p for p in area["parameters"] if p["name"] == "status")["schema"]["enum"]
    assert "new" in statuses and "joke_or_mistake" not in statuses
    report = paths["/reports/{reference}/feed.atom"]["get"]
    assert {"200", "304", "400", "404"} <= set(report["responses"])


def test_a_tag_goes_stale_when_an_entry_s_visibility_window_ends(api, conn) -> None:
    ref = submit(api, KRAKOW, "poaching")
    version = review(api, "KMP-1261", ref, "verification", 1)
    review(api, "KMP-1261", ref, "unconfirmed", version)  # public for 7 days
    # its window ends in 3 s (no new change is stored: only the clock moves)
    conn.execute(
        "UPDATE kmzb.reports SET status_changed_at = now() - interval '7 days 00:00:00'"
        " + interval '3 seconds' WHERE public_ref = %s",
        (ref,),
    )
    conn.commit()
    url = f"{api}{AREA}?gmina=1261011&category=poaching"
    first = requests.get(url, timeout=30)
    assert ref in refs(feedparser.parse(first.content))
    etag = first.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    report_url = f"{api}/reports/{ref}/feed.atom"
    report_tag = requests.get(report_url, timeout=30).headers["ETag"]
    time.sleep(4)
    after = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert after.status_code == 200 and ref not in refs(feedparser.parse(after.content))
    gone = requests.get(report_url, headers={"If-None-Match": report_tag}, timeout=30)
    assert gone.status_code == 404
