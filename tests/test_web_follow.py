"""Following an area and a report from the web page (issue 14), in headless Chromium.

"Obserwuj ten obszar / Follow this area" on the area-safety tab (a gmina or powiat
from the search, or the gmina holding a picked point) and on the map tab (the
view's bbox); "Obserwuj zgłoszenie / Follow this report" on the status page. Each
puts the Atom feed's absolute URL on the clipboard (read back through
navigator.clipboard, permissions granted to the context), shows the MQTT topic and
the broker the service advertises, and the copied URL answers as an Atom feed.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from helpers import new_address, token_for
from test_web import CHROMIUM, CHROMIUM_ARGS, build_web_client, search_and_pick, shot

KRAKOW_TOPIC = "kmzb/threats/12/1261/1261011/#"
ATOM = "application/atom+xml"


@pytest.fixture(scope="module")
def app(api: str) -> str:
    build_web_client()
    return api


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def follow_page(browser: Browser, app: str, lang: str = "pl") -> Page:
    """A fresh citizen with the clipboard allowed; every request it makes is recorded."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        base_url=app,
        extra_http_headers={"X-Forwarded-For": new_address()},
        locale="pl-PL" if lang == "pl" else "en-GB",
        timezone_id="Europe/Warsaw",
        permissions=["clipboard-read", "clipboard-write"],
    )
    if lang == "en":
        context.add_init_script("localStorage.setItem('kmzb-lang', 'en')")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.outside_requests = []  # type: ignore[attr-defined]
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(app) or r.url.startswith("data:")
            else page.outside_requests.append(r.url)
        ),  # type: ignore[attr-defined]
    )
    return page


def clipboard(page: Page) -> str:
    return page.evaluate("() => navigator.clipboard.readText()")


def advertised_broker(app: str) -> str | None:
    """The broker the landing page names (rel hub, mqtt:// or mqtts://), if any."""
    links = requests.get(f"{app}/", params={"f": "json"}, timeout=30).json()["links"]
    hubs = [link["href"] for link in links if re.match(r"mqtts?://", link.get("href", ""))]
    return hubs[0] if hubs else None


def assert_atom(url: str) -> None:
    """The copied URL is a live Atom feed on the page's own origin."""
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["Content-Type"].startswith(ATOM)
    assert b"<feed" in answer.content


def new_report_in_krakow(app: str) -> str:
    answer = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {"lon": 19.9449, "lat": 50.0647, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def test_following_krakow_by_gmina_powiat_and_point(browser: Browser, app: str) -> None:
    page = follow_page(browser, app)
    page.goto("/map/#area")
    block = page.locator("#area-follow")
    expect(block).to_be_empty()  # no area chosen, nothing to follow

    # the gmina Kraków from the search
    search_and_pick(page, "Kraków", "TERYT 1261011")
    expect(block.locator("h3")).to_have_text("Obserwuj ten obszar")
    expect(block).to_contain_text("TERYT 1261011")
    expect(block.locator(".follow-topic")).to_have_value(KRAKOW_TOPIC)
    feed = f"{app}/feeds/threats.atom?gmina=1261011"
    expect(block.locator(".follow-feed")).to_have_value(feed)
    expect(block.locator("a.follow-open")).to_have_attribute("href", feed)
    # the broker: the landing page's pubsub link when the service advertises one
    expect(page.locator("body")).to_have_attribute("data-broker", re.compile("known"))
    broker = advertised_broker(app)
    command = block.locator(".follow-command")
    if broker is None:
        expect(block).to_contain_text("nie podaje adresu serwera MQTT")
        expect(command).to_have_value(f"mosquitto_sub -h <broker> -t '{KRAKOW_TOPIC}' -v")
    else:
        expect(block.locator(".follow-broker")).to_have_text(broker)
        host = re.match(r"mqtts?://(?:[^@/]*@)?([^:/]+)", broker).group(1)  # type: ignore[union-attr]
        expect(command).to_have_value(re.compile(rf"^mosquitto_sub -h {re.escape(host)} -p \d+ "))
        expect(command).to_have_value(re.compile(re.escape(f"-t '{KRAKOW_TOPIC}' -v") + "$"))

    # copied by keyboard: focus the button, Enter
    block.locator("button.follow-copy").focus()
    page.keyboard.press("Enter")
    expect(block.locator(".follow-status")).to_contain_text("Skopiowano adres kanału")
    assert clipboard(page) == feed
    assert_atom(feed)
    command.scroll_into_view_if_needed()
    shot(page, "follow-area")

    # a powiat: its topic one level up
    search_and_pick(page, "krakowski", "powiat krakowski")
    expect(block.locator(".follow-topic")).to_have_value("kmzb/threats/12/1206/#")
    block.locator("button.follow-copy").click()
    expect(block.locator(".follow-status")).to_contain_text("Skopiowano")
    assert clipboard(page) == f"{app}/feeds/threats.atom?powiat=1206"
    assert_atom(clipboard(page))

    # a point: the gmina that holds it (GET /places/reverse)
    page.locator("input[name=area-mode][value=point]").check()
    expect(block).to_be_empty()
    search_and_pick(page, "Kraków", "TERYT 1261011")
    page.locator("input[name=area-mode][value=point]").check()
    page.locator("#area-use-center").click()
    expect(page.locator("#area-place")).to_contain_text("Wybrano")
    expect(block.locator(".follow-topic")).to_have_value(KRAKOW_TOPIC)
    expect(block).to_contain_text("gmina Kraków")

    # in English: the same, in English words
    page.locator("#lang").click()
    expect(block.locator("h3")).to_have_text("Follow this area")
    expect(block.locator("button.follow-copy")).to_have_text("Copy the feed address")
    expect(block.locator("label[for=area-follow-topic]")).to_have_text("MQTT topic to subscribe to")
    block.locator("button.follow-copy").click()
    expect(block.locator(".follow-status")).to_contain_text("The feed address is on the clipboard")
    assert clipboard(page) == feed

    # every field of it is labelled
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('.follow input, .follow textarea')]
              .filter(e => !e.labels?.length).map(e => e.id)"""
    )
    assert unlabelled == []
    # on a phone the block fits the screen: nothing wider than it
    page.set_viewport_size({"width": 390, "height": 844})
    block.scroll_into_view_if_needed()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert page.outside_requests == []  # type: ignore[attr-defined]
    page.context.close()


def test_following_the_map_view_copies_a_bbox_feed(browser: Browser, app: str) -> None:
    page = follow_page(browser, app, lang="en")
    page.goto("/map/")
    search_and_pick(page, "Kraków", "TERYT 1261011")
    page.wait_for_function("() => !window.kmzb.map.getView().getAnimating()")
    page.locator("#map-follow-button").click()
    block = page.locator("#map-follow")
    expect(block.locator("h3")).to_have_text("Follow this area")
    expect(block).to_contain_text("MQTT topics go by gmina and county")
    block.locator("button.follow-copy").click()
    expect(block.locator(".follow-status")).to_contain_text("on the clipboard")
    url = clipboard(page)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{app}/feeds/threats.atom"
    (bbox,) = parse_qs(parts.query)["bbox"]
    assert re.fullmatch(r"(-?\d+\.\d{3},){3}-?\d+\.\d{3}", bbox), bbox
    west, south, east, north = map(float, bbox.split(","))
    assert west < 19.9383 < east and south < 50.0614 < north  # Kraków is in view
    # rounded outwards: the feed's box covers the whole view
    covers = page.evaluate(
        """([w, s, e, n]) => { const m = window.kmzb.map;
             const [x0, y0, x1, y1] = m.getView().calculateExtent(m.getSize());
             const sw = window.kmzb.fromLonLat([w, s]); const ne = window.kmzb.fromLonLat([e, n]);
             return sw[0] <= x0 && sw[1] <= y0 && ne[0] >= x1 && ne[1] >= y1; }""",
        [west, south, east, north],
    )
    assert covers, bbox
    assert_atom(url)
    page.context.close()


@pytest.mark.parametrize(
    ("lang", "title", "copied"),
    [
        ("pl", "Obserwuj zgłoszenie", "Skopiowano adres kanału"),
        ("en", "Follow this report", "The feed address is on the clipboard"),
    ],
)
def test_following_a_report_copies_its_feed(
    browser: Browser, app: str, lang: str, title: str, copied: str
) -> None:
    reference = new_report_in_krakow(app)
    page = follow_page(browser, app, lang=lang)
    page.goto("/map/#check")
    page.locator("#check-ref").fill(reference.lower())
    page.locator("#check-form button[type=submit]").click()
    block = page.locator("#check-follow")
    expect(block.locator("h3")).to_have_text(title)
    expect(block).to_contain_text(reference)
    expect(block).not_to_contain_text("MQTT")  # a report has a feed, no topic
    expect(block.locator(".follow-topic")).to_have_count(0)  # a report has a feed, no topic
    block.locator("button.follow-copy").click()
    expect(block.locator(".follow-status")).to_contain_text(copied)
    feed = f"{app}/reports/{reference}/feed.atom"
    assert clipboard(page) == feed
    expect(block.locator(".follow-feed")).to_have_value(feed)
    assert_atom(feed)
    if lang == "pl":
        block.scroll_into_view_if_needed()
        shot(page, "follow-report")
    assert page.outside_requests == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_pages_mosquitto_sub_line_prints_a_confirmation_in_krakow(
    browser: Browser, app: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    """What the page hands out works as given: its mosquitto_sub line (Debian's client,
    anonymous) prints the message when a coordinator confirms a report in Kraków, and
    the copied feed shows the report."""
    page = follow_page(browser, app)
    page.goto("/map/#area")
    search_and_pick(page, "Kraków", "TERYT 1261011")
    block = page.locator("#area-follow")
    expect(block.locator(".follow-broker")).to_have_text(f"mqtt://127.0.0.1:{mqtt_broker.port}")
    command = block.locator(".follow-command").input_value()
    block.locator("button.follow-copy").click()
    expect(block.locator(".follow-status")).to_contain_text("Skopiowano")
    feed = clipboard(page)
    page.context.close()

    # -d: its debug lines say when the broker has acknowledged the subscription;
    # stdbuf: line by line into the pipe
    argv = [*shlex.split(command), "-d", "-W", "60"]
    assert argv[0] == "mosquitto_sub" and argv[argv.index("-t") + 1] == KRAKOW_TOPIC
    client = subprocess.Popen(["stdbuf", "-oL", *argv], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        for line in client.stdout:
            if "SUBACK" in line:
                break
        reference = new_report_in_krakow(app)
        coordinator = {"Authorization": f"Bearer {token_for('coordinator', 'KMP-1261')}"}
        for version, status in enumerate(("verification", "confirmed"), start=1):
            answer = requests.post(
                f"{app}/processes/review-threat/execution",
                json={"inputs": {"reference": reference, "status": status, "version": version}},
                headers=coordinator,
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
        events = []
        deadline = time.monotonic() + 40
        for line in client.stdout:
            if line.startswith("kmzb/threats/"):
                topic, payload = line.split(" ", 1)
                events.append((topic, json.loads(payload)))
                if events[-1][1]["data"]["properties"]["status"] == "confirmed":
                    break
            assert time.monotonic() < deadline, events
    finally:
        client.terminate()
        client.wait(timeout=10)
    topic, event = events[-1]
    assert topic == "kmzb/threats/12/1261/1261011/illegal_dumping"
    assert event["type"] == "pl.kmzb.threat.status-changed"
    assert event["subject"] == reference
    assert [e["subject"] for _, e in events] == [reference] * len(events)

    parsed = feedparser.parse(requests.get(feed, timeout=30).content)
    assert parsed.bozo == 0
    assert any(reference in entry.get("link", "") + entry.get("id", "") for entry in parsed.entries)
