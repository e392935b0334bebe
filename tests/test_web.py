"""The web client in headless Chromium (Debian's), against the real app and database.

The app runs under gunicorn as in production, its /wms proxy pointed at the real
QGIS Server of the `wms` fixture (the project and the access plugin), so the
page's WMS switch and legend, and the token passed through to QGIS Server, are
tested end to end; the "WMS unreachable" path runs against a second app whose
WMS address answers nothing. Screenshots go to var/screenshots/;
scripts/web_screenshots.py copies the best to docs/.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from owslib.wms import WebMapService
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import free_port, running_app
from helpers import new_address, token_for
from kmzb.settings import PROJECT_ROOT, VAR_DIR, Settings

CHROMIUM = os.environ.get("KMZB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=pl",
]
SHOTS = VAR_DIR / "screenshots"
KRAKOW = (19.9383, 50.0614)


# --- fixtures ---------------------------------------------------------------------


def build_web_client() -> None:
    if not (PROJECT_ROOT / "web" / "dist" / "index.html").is_file():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=PROJECT_ROOT / "web", check=True
        )
        subprocess.run(["npm", "run", "build"], cwd=PROJECT_ROOT / "web", check=True)


@pytest.fixture(scope="module")
def web(
    db_url: str, server: Settings, wms: str, basemap_wms: str, tmp_path_factory
) -> Iterator[str]:
    """The app under gunicorn, its /wms proxy pointed at the real QGIS Server, its
    /basemap/wms at the one drawing the offline basemap."""
    build_web_client()
    openapi = tmp_path_factory.mktemp("openapi-web") / "openapi.yml"
    extra = {"KMZB_WMS_URL": f"{wms}/ows/", "KMZB_BASEMAP_WMS_URL": basemap_wms}
    with running_app(db_url, server, openapi, extra) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser: Browser, web: str, width: int = 1280, height: int = 860) -> Page:
    """A fresh browser context: one citizen (own address), own storage."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        base_url=web,
        extra_http_headers={"X-Forwarded-For": new_address()},
        locale="pl-PL",
        timezone_id="Europe/Warsaw",
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.outside_requests = []  # type: ignore[attr-defined]
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(web) or r.url.startswith("data:")
            else page.outside_requests.append(r.url)
        ),  # type: ignore[attr-defined]
    )
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def wait_for_map(page: Page) -> None:
    """Until the map has loaded its tiles and drawn them (after two frames, so a view
    change made just before has started its loads)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function(
        "() => { const m = document.getElementById('map'); "
        "return m.dataset.rendered && m.dataset.loading !== '1'; }",
        timeout=15_000,
    )


def open_tab(page: Page, name: str) -> None:
    page.locator(f"#tab-{name}").click()
    expect(page.locator(f"#panel-{name}")).to_be_visible()


def search_and_pick(page: Page, query: str, result_text: str) -> None:
    page.locator("#search-q").fill(query)
    page.locator("#search button[type=submit]").click()
    page.locator("#search-results button.result", has_text=result_text).first.click()


def click_map_center(page: Page) -> None:
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def find_in_queue(page: Page, reference: str):
    """The queue row of a report, paging on as a coordinator would (oldest come first)."""
    row = page.locator(f"#police-queue tr[data-reference='{reference}']")
    table = page.locator("#police-queue")
    for _ in range(40):
        expect(table).to_have_attribute("aria-busy", "false")
        expect(page.locator("#police-range")).not_to_be_empty()
        if row.count():
            return row
        expect(page.locator("#police-next")).to_be_enabled()
        page.locator("#police-next").click()
    raise AssertionError(f"{reference} is not in the queue")


def submit_report_in_page(page: Page, category: str, description: str = "") -> None:
    page.locator("#report-category").select_option(category)
    if description:
        page.locator("#report-description").fill(description)
    page.locator("#report-send").click()


# --- the whole story --------------------------------------------------------------------


def test_story_report_find_confirm_and_see_it_on_the_public_map(browser: Browser, web: str) -> None:
    citizen = new_page(browser, web)
    citizen.goto("/map/")
    expect(citizen.locator("h1")).to_contain_text("Krajowa Mapa Zagrożeń Bezpieczeństwa")
    expect(citizen.locator("#filter-category option")).not_to_have_count(1)  # categories in
    wait_for_map(citizen)

    # 1. a new user reports a threat: the place from the search, then a click on the map
    open_tab(citizen, "report")
    expect(citizen.locator(".notice112")).to_contain_text(
        "W sytuacji zagrożenia życia lub zdrowia dzwoń 112"
    )
    search_and_pick(citizen, "Kraków", "Kraków")
    citizen.wait_for_timeout(400)
    click_map_center(citizen)
    expect(citizen.locator("#report-location")).to_contain_text("Wybrano")
    citizen.locator("#report-category").select_option("illegal_dumping")
    citizen.locator("#report-date").fill("2026-11-20")
    citizen.locator("#report-time").select_option("evening")
    citizen.locator("#report-description").fill("Worki ze śmieciami przy wejściu do parku.")
    shot(citizen, "report-form")
    citizen.locator("#report-send").click()
    expect(citizen.locator("#report-done")).to_be_visible()
    reference = citizen.locator("#report-reference").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    expect(citizen.locator("#report-unit")).to_contain_text("Komenda Miejska Policji w Krakowie")
    shot(citizen, "report-sent")

    # 2. finds it by reference
    citizen.locator("#report-check").click()
    expect(citizen.locator("#check-status")).to_have_text("Nowe")
    expect(citizen.locator("#check-result")).to_contain_text("Dzikie wysypiska śmieci")

    # 3. a coordinator confirms it in the police panel
    police = new_page(browser, web)
    police.goto("/map/#police")
    police.locator("#police-token").fill(token_for("coordinator", "KWP-12"))
    police.locator("#police-login button[type=submit]").click()
    expect(police.locator("#police-queue")).to_have_attribute("aria-busy", "false")
    police.locator("#police-status").select_option("new")
    row = find_in_queue(police, reference)
    expect(row).to_be_visible()
    expect(row).to_contain_text("Nowe")
    expect(police.locator("#police-who")).to_contain_text("koordynator, KWP-12")
    row.scroll_into_view_if_needed()
    shot(police, "police-queue")
    row.locator("button.open").click()
    expect(police.locator("#police-report-status")).to_contain_text("Nowe")
    police.locator("#review-status").select_option("verification")
    police.locator("#review-note").fill("Patrol skierowany na miejsce.")
    police.locator("#review-public").check()  # notes are internal unless marked public
    police.locator("#police-review button[type=submit]").click()
    expect(police.locator("#police-message")).to_contain_text("Weryfikacja")
    expect(police.locator("#police-report-status")).to_contain_text("Weryfikacja")
    police.locator("#review-status").select_option("confirmed")
    police.locator("#review-note").fill("Potwierdzone przez patrol; zgłoszono do gminy.")
    police.locator("#police-review button[type=submit]").click()
    expect(police.locator("#police-report-status")).to_contain_text("Potwierdzone")
    shot(police, "police-report")

    # 4. the citizen sees the new status and history, and the report on the public map
    open_tab(citizen, "check")
    citizen.locator("#check-form button[type=submit]").click()
    expect(citizen.locator("#check-status")).to_have_text("Potwierdzone")
    expect(citizen.locator("#check-result .history li")).to_have_count(3)
    expect(citizen.locator("#check-result")).to_contain_text("Patrol skierowany na miejsce.")
    citizen.locator("#check-map").click()
    citizen.wait_for_function("() => window.kmzb.map.getView().getZoom() > 16.9")
    wait_for_map(citizen)
    open_tab(citizen, "map")
    popup = citizen.locator("#popup")
    for _ in range(20):  # the tile with the report may still be on its way
        click_map_center(citizen)
        try:
            expect(popup).to_contain_text(reference, timeout=1_000)
            break
        except AssertionError:
            citizen.wait_for_timeout(300)
    expect(popup).to_contain_text(reference)
    expect(popup).to_contain_text("Dzikie wysypiska śmieci")
    expect(popup).to_contain_text("Potwierdzone")
    expect(popup).to_contain_text("Worki ze śmieciami przy wejściu do parku.")
    shot(citizen, "map-report")
    assert citizen.outside_requests == []  # type: ignore[attr-defined]
    assert police.outside_requests == []  # type: ignore[attr-defined]
    citizen.context.close()
    police.context.close()


# --- each flow -----------------------------------------------------------------------


def test_map_overview_layers_legend_filters_and_nothing_from_outside(
    browser: Browser, web: str, wms: str
) -> None:
    crime_layer = WebMapService(f"{wms}/ows/", version="1.3.0")["przestepczosc_powiaty"]
    page = new_page(browser, web)
    tile_requests: list[str] = []
    maps_drawn: list[str] = []
    page.on("request", lambda r: tile_requests.append(r.url) if "/tiles/" in r.url else None)
    page.on(
        "response",
        lambda r: (
            maps_drawn.append(r.headers.get("content-type", ""))
            if "/wms?" in r.url and "REQUEST=GetMap" in r.url and r.status == 200
            else None
        ),
    )
    page.goto("/map/")
    expect(page.locator("#wms-status")).to_contain_text("Warstwy WMS z serwera map QGIS")
    wms_switch = page.get_by_label(crime_layer.title, exact=True)
    expect(wms_switch).to_be_checked()
    legend = page.locator("#wms-legend figure:not([hidden]) img")  # the shown layer's only
    expect(legend).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#wms-legend figure:not([hidden]) img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    wait_for_map(page)
    assert any("/collections/threats/tiles/WebMercatorQuad/" in u for u in tile_requests)
    for _ in range(75):  # QGIS Server draws the choropleth for the page's view
        if any(kind.startswith("image/png") for kind in maps_drawn):
            break
        page.wait_for_timeout(200)
    assert any(kind.startswith("image/png") for kind in maps_drawn), maps_drawn
    shot(page, "map")

    # layer switches
    wms_switch.uncheck()
    expect(page.locator("#wms-legend figure:not([hidden])")).to_have_count(0)
    page.get_by_label("Zagrożenia zgłoszone przez mieszkańców").uncheck()
    page.get_by_label("Zagrożenia zgłoszone przez mieszkańców").check()

    # the date filter asks the features API for the dates, at street level
    page.locator("#filter-category").select_option("illegal_dumping")
    expect(page.locator("#map-hint")).to_contain_text("Przybliż mapę")
    page.evaluate("() => window.kmzb.map.getView().setZoom(6)")
    search_and_pick(page, "Kraków", "Kraków")
    page.evaluate("() => window.kmzb.map.getView().setZoom(16)")
    with page.expect_request(
        lambda r: "/collections/threats/items" in r.url and "datetime=2026-01-01" in r.url
    ) as features:
        page.locator("#filter-from").fill("2026-01-01")
        page.locator("#filter-from").dispatch_event("change")
    assert "category=illegal_dumping" in features.value.url
    page.locator("#filter-clear").click()
    expect(page.locator("#filter-category")).to_have_value("")
    assert page.outside_requests == []  # type: ignore[attr-defined]
    page.context.close()


def test_place_search_units_and_geonames_places(browser: Browser, web: str) -> None:
    page = new_page(browser, web)
    page.goto("/map/")
    page.locator("#search-q").fill("lodz")
    page.keyboard.press("Enter")
    results = page.locator("#search-results button.result")
    expect(results.first).to_be_focused()
    expect(results.filter(has_text="Łódź").first).to_be_visible()
    page.locator("#search-q").fill("Zakopane")
    page.locator("#search button[type=submit]").click()
    expect(results.filter(has_text="GeoNames").first).to_contain_text("małopolskie")
    expect(results.filter(has_text="TERYT").first).to_be_visible()
    page.locator("#search-q").fill("qqqxqqq")
    page.locator("#search button[type=submit]").click()
    expect(page.locator("#search-results")).to_contain_text("Nic nie znaleziono")
    answer = requests.get(f"{web}/places", params={"q": "x"}, timeout=30)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "q"
    page.context.close()


def test_report_form_shows_server_errors_next_to_fields_and_the_daily_limit(
    browser: Browser, web: str
) -> None:
    page = new_page(browser, web)
    page.goto("/map/#report")
    expect(page.locator("#report-category option")).to_have_count(25)
    # nothing chosen: the page says what is missing before sending
    page.locator("#report-send").click()
    expect(page.locator("#err-location")).to_contain_text("Wskaż miejsce")
    expect(page.locator("#err-category")).to_contain_text("Wybierz kategorię")

    # a point in Germany, a category that needs a description: the server's words, per field
    wait_for_map(page)
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 40, box["y"] + box["height"] / 2)
    expect(page.locator("#report-location")).to_contain_text("Wybrano")
    submit_report_in_page(page, "dangerous_entertainment")
    expect(page.locator("#err-location")).to_contain_text("poza granicami Polski")
    expect(page.locator("#err-description")).to_contain_text("wymaga opisu")
    expect(page.locator("#report-description")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-category")).to_be_empty()
    page.locator("#lang").click()
    expect(page.locator("#err-description")).to_contain_text("requires a description")
    expect(page.locator(".notice112")).to_contain_text("call 112")
    page.locator("#lang").click()

    # a good report, then a second one the same day: the limit, said plainly
    search_and_pick(page, "Wrocław", "Wrocław")
    page.locator("#report-use-center").click()
    page.locator("#report-description").fill("Głośna impreza co noc na dachu garażu.")
    submit_report_in_page(page, "dangerous_entertainment")
    expect(page.locator("#report-done")).to_be_visible()
    page.locator("#report-new").click()
    page.locator("#report-use-center").click()
    submit_report_in_page(page, "vandalism")
    expect(page.locator("#report-error")).to_contain_text("limit")
    page.context.close()


def test_check_report_by_reference(browser: Browser, web: str) -> None:
    page = new_page(browser, web)
    page.goto("/map/#check")
    page.locator("#check-ref").fill("abc")
    page.locator("#check-form button[type=submit]").click()
    expect(page.locator("#err-check")).to_contain_text("XXXX-XXXX-XXXX")
    page.locator("#check-ref").fill("zzzz-zzzz-zzzz")
    page.locator("#check-form button[type=submit]").click()
    expect(page.locator("#err-check")).to_contain_text("Nie ma zgłoszenia o numerze ZZZZ-ZZZZ-ZZZZ")
    expect(page.locator("#check-ref")).to_have_value("ZZZZ-ZZZZ-ZZZZ")
    page.context.close()


def test_area_summary_for_a_point_and_for_a_powiat(browser: Browser, web: str) -> None:
    page = new_page(browser, web)
    page.goto("/map/#area")
    search_and_pick(page, "Kraków", "Kraków")
    page.locator("input[name=area-mode][value=point]").check()
    page.wait_for_timeout(400)
    click_map_center(page)
    expect(page.locator("#area-place")).to_contain_text("Wybrano")
    page.locator("#area-radius").select_option("2000")
    page.locator("#area-form button[type=submit]").click()
    summary = page.locator("#area-summary")
    expect(summary).to_contain_text("2000 m")
    expect(summary).to_contain_text("powiat Kraków")
    expect(summary.locator(".ratio")).to_contain_text("1.24× średniej krajowej (205.7)")
    expect(summary.locator(".chart svg path.local")).to_be_visible()
    expect(summary.locator(".chart svg")).to_have_attribute("aria-label", re.compile("2013–2024"))
    expect(summary.locator("table.counts")).to_contain_text("Dzikie wysypiska śmieci")
    shot(page, "area-summary")

    search_and_pick(page, "krakowski", "powiat krakowski")
    expect(page.locator("#area-place")).to_contain_text("1206")
    page.locator("#area-form button[type=submit]").click()
    expect(summary).to_contain_text("powiat krakowski (TERYT 1206)")
    page.locator("#lang").click()
    expect(summary).to_contain_text("national average")
    page.context.close()


def test_police_panel_bad_token_overdue_and_conflict(
    browser: Browser, web: str, db_url: str
) -> None:
    # a report left in Nowe for five days, and one to fight over
    with psycopg.connect(db_url) as conn:
        for ref, days in (("WEBT-OVER-DUE2", 5), ("WEBT-CONF-LCT2", 0)):
            conn.execute(
                """INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit,
                                             gmina_teryt, created_at)
                   VALUES (%s, 'stray_dogs',
                           ST_Transform(ST_SetSRID(ST_MakePoint(19.95, 50.06), 4326), 2180),
                           'new', 'KMP-1261', '1261011', now() - %s * interval '1 day')""",
                (ref, days),
            )
    page = new_page(browser, web)
    page.goto("/map/#police")
    page.locator("#police-token").fill("not-a-token")
    page.locator("#police-login button[type=submit]").click()
    expect(page.locator("#err-police")).not_to_be_empty()
    expect(page.locator("#police-queue-wrap")).to_be_hidden()

    token = token_for("officer", "KMP-1261")
    page.locator("#police-token").fill(token)
    page.locator("#police-login button[type=submit]").click()
    expect(page.locator("#police-who")).to_contain_text("funkcjonariusz, KMP-1261")
    expect(page.locator("#police-queue")).to_have_attribute("aria-busy", "false")
    shot(page, "police-queue-unit")
    page.locator("#police-overdue").check()
    overdue = find_in_queue(page, "WEBT-OVER-DUE2")
    expect(overdue).to_have_class(re.compile("overdue"))
    expect(overdue.locator(".badge")).to_have_text("Po terminie")
    expect(page.locator("#police-queue tr[data-reference='WEBT-CONF-LCT2']")).to_have_count(0)
    page.locator("#police-overdue").uncheck()

    # a reference read out on the phone: opened straight away
    page.locator("#police-ref").fill("webt-conf-lct2")
    page.locator("#police-open button[type=submit]").click()
    expect(page.locator("#police-report-status")).to_contain_text("wersja 1")
    # someone else moves it meanwhile
    answer = requests.post(
        f"{web}/processes/review-threat/execution",
        json={"inputs": {"reference": "WEBT-CONF-LCT2", "status": "verification", "version": 1}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    page.locator("#review-note").fill("Patrol na miejscu.")
    page.locator("#police-review button[type=submit]").click()
    message = page.locator("#police-message")
    expect(message).to_contain_text("Konflikt: zgłoszenie zmieniło się w międzyczasie.")
    expect(message).to_contain_text("wersja 2, wysłano 1")
    shot(page, "police-conflict")
    page.locator("#police-reload").click()
    expect(page.locator("#police-report-status")).to_contain_text("Weryfikacja (wersja 2)")
    page.locator("#lang").click()
    expect(page.locator("#police-report-status")).to_contain_text("Under verification")
    page.context.close()


def test_keyboard_language_and_phone(browser: Browser, web: str) -> None:
    page = new_page(browser, web, width=390, height=844)
    page.goto("/map/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#lang")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#tab-map")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-report")).to_be_focused()
    expect(page.locator("#panel-report")).to_be_visible()
    page.keyboard.press("Tab")  # into the panel: the search comes first
    expect(page.locator("#search-q")).to_be_focused()
    # the map by keyboard: + zooms in, Enter picks its centre for the report
    page.locator("#map").focus()
    zoom = page.evaluate("() => window.kmzb.map.getView().getZoom()")
    page.keyboard.press("+")
    page.wait_for_function(f"() => window.kmzb.map.getView().getZoom() > {zoom}")
    page.keyboard.press("Enter")
    expect(page.locator("#report-location")).to_contain_text("Wybrano")
    # every form control has a label
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && !e.labels?.length
                           && !e.getAttribute('aria-label'))
              .map(e => e.id)"""
    )
    assert unlabeled == []
    # a phone: nothing wider than the screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(page, "phone-report")
    page.locator("#lang").click()
    expect(page.locator("#tab-report")).to_have_text("Report a threat")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator("#tab-report")).to_have_text("Report a threat")
    page.context.close()


def test_wms_proxy_passes_authorization_and_survives_an_unreachable_wms(
    browser: Browser, web: str, db_url: str, server: Settings, tmp_path: Path
) -> None:
    capabilities = {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"}
    anonymous = requests.get(f"{web}/wms", params=capabilities, timeout=60)
    assert anonymous.status_code == 200 and "przestepczosc_powiaty" in anonymous.text
    assert "zgloszenia_jednostki" not in anonymous.text
    # the token reaches QGIS Server, whose access plugin shows police the unit's layer
    token = token_for("officer", "KMP-1261")
    police = requests.get(
        f"{web}/wms",
        params=capabilities,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert police.status_code == 200 and "zgloszenia_jednostki" in police.text

    closed = f"http://127.0.0.1:{free_port()}/ows/"  # nothing listens there
    with running_app(
        db_url, server, tmp_path / "openapi.yml", {"KMZB_WMS_URL": closed}
    ) as without_wms:
        down = requests.get(f"{without_wms}/wms", params=capabilities, timeout=30)
        assert down.status_code == 502
        body = down.json()  # the Polish message ("message": {pl, en}; issue 13)
        assert "niedostępny" in body.get("message", {}).get("pl", body["description"])
        page = new_page(browser, without_wms)
        page.goto("/map/")
        expect(page.locator("#wms-status")).to_contain_text("niedostępne")
        wait_for_map(page)  # threats and boundaries are drawn all the same
        expect(page.locator("#filter-category option")).not_to_have_count(1)
        page.context.close()


# --- basemaps, readability, words (issue 12) ----------------------------------------------

CAPABILITIES = PROJECT_ROOT / "tests" / "fixtures" / "gugik_orto_wmts_capabilities.xml"
GEOPORTAL = "https://mapy.geoportal.gov.pl/"
KRAKOW_RYNEK = (19.9373, 50.0617)


def white_png() -> bytes:
    """A 1x1 white PNG: a tile an outside server would send."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def view_at(page: Page, lon: float, lat: float, zoom: float) -> None:
    page.evaluate(
        "([lon, lat, zoom]) => { const v = window.kmzb.map.getView();"
        " v.setCenter(window.kmzb.fromLonLat([lon, lat])); v.setZoom(zoom); }",
        [lon, lat, zoom],
    )


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of an element's text on its background."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector); const s = getComputedStyle(el);
          const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
          const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
            .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
          const [l1, l2] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))].sort((a, b) => b - a);
          return (l1 + 0.05) / (l2 + 0.05);
        }""",
        selector,
    )


def test_offline_basemap_at_street_scale_in_krakow(browser: Browser, web: str, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:  # a report at the Rynek, drawn with its pictogram
        conn.execute(
            """INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit,
                                         gmina_teryt)
               VALUES ('WEBT-PICT-OGR1', 'illegal_parking',
                       ST_Transform(ST_SetSRID(ST_MakePoint(19.9385, 50.0612), 4326), 2180),
                       'new', 'KMP-1261', '1261011')"""
        )
        (pictogram,) = conn.execute(
            "SELECT pictogram FROM kmzb.threat_categories WHERE code = 'illegal_parking'"
        ).fetchone()
    drawn = f"/map/pictograms/{pictogram}.svg"
    for width, height, name in ((1280, 860, "desktop"), (390, 844, "phone")):
        page = new_page(browser, web, width, height)
        basemap_images: list[str] = []
        pictograms: list[str] = []
        page.on(
            "response",
            lambda r, images=basemap_images, shown=pictograms: (
                images.append(r.headers.get("content-type", ""))
                if "/basemap/wms?" in r.url and r.status == 200
                else shown.append(r.url)
                if "/map/pictograms/" in r.url and r.status == 200
                else None
            ),
        )
        page.goto("/map/")
        status = page.locator("#basemap-status")
        expect(status).to_have_attribute("data-basemap", "kmzb")
        expect(status).to_contain_text("Mapa podkładowa: Mapa KMZB")
        expect(page.locator("#basemap-attribution")).to_contain_text("GeoNames")
        page.evaluate("() => { window.kmzb.map.getView().setZoom(17.5); }")
        view_at(page, *KRAKOW_RYNEK, 17.5)
        wait_for_map(page)
        expect(status).to_have_attribute("data-state", "ok")
        assert any(kind.startswith("image/png") for kind in basemap_images), basemap_images
        # street scale: the choropleth is gone, the report carries its pictogram
        expect(page.locator("#legend-choropleth-fade")).to_have_attribute("data-opacity", "0")
        page.wait_for_function("() => document.getElementById('map').dataset.rendered")
        for _ in range(50):
            if any(drawn in u for u in pictograms):
                break
            page.wait_for_timeout(100)
        assert any(drawn in u for u in pictograms), pictograms
        shot(page, f"basemap-krakow-street-{name}")
        assert page.outside_requests == []  # type: ignore[attr-defined]
        page.context.close()


def test_switching_basemaps_wmts_from_capabilities_and_falling_back(
    browser: Browser, web: str
) -> None:
    xml = CAPABILITIES.read_text(encoding="utf-8")
    page = new_page(browser, web)
    tiles: list[str] = []

    def geoportal(route) -> None:
        if "REQUEST=GetCapabilities" in route.request.url:
            route.fulfill(status=200, content_type="application/xml", body=xml)
        else:  # no network here: every GUGiK tile fails
            tiles.append(route.request.url)
            route.abort()

    page.route(f"{GEOPORTAL}**", geoportal)
    page.route(
        "https://tile.openstreetmap.org/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=white_png()),
    )
    page.goto("/map/")
    status = page.locator("#basemap-status")
    expect(status).to_have_attribute("data-basemap", "kmzb")

    # the layer OpenLayers builds from GUGiK's capabilities, in both tile matrix sets
    built = page.evaluate(
        """(xml) => ['EPSG:2180', 'EPSG:3857'].map((set) => {
          const s = window.kmzb.wmtsSource(xml, 'ORTOFOTOMAPA', set); const g = s.getTileGrid();
          return { projection: s.getProjection().getCode(), levels: g.getResolutions().length,
                   origin: g.getOrigin(0), tile: g.getTileSize(0), layer: s.getLayer(),
                   matrix: g.getMatrixIds()[3], url: s.getUrls()[0], format: s.getFormat() };
        })""",
        xml,
    )
    puwg, mercator = built
    assert puwg["projection"] == "EPSG:2180" and puwg["levels"] == 17
    assert puwg["origin"] == [100000, 850000]  # "850000.0 100000.0" is northing, easting
    assert puwg["tile"] in (512, [512, 512]) and puwg["matrix"] == "EPSG:2180:3"
    assert mercator["projection"] == "EPSG:3857" and mercator["levels"] == 20
    assert mercator["origin"] == [-20037508.342787, 20037508.342787]
    assert mercator["tile"] in (256, [256, 256]) and mercator["layer"] == "ORTOFOTOMAPA"
    assert mercator["url"].startswith(f"{GEOPORTAL}wss/service/PZGIK/ORTO/WMTS/StandardResolution")
    assert mercator["format"] == "image/jpeg"

    # the switcher: the orthophoto from its capabilities, whose tiles fail -> the offline map
    view_at(page, *KRAKOW_RYNEK, 15)
    page.get_by_label("Ortofotomapa (Geoportal, GUGiK)").check()
    expect(status).to_have_attribute("data-state", "fallback", timeout=20_000)
    expect(status).to_have_attribute("data-basemap", "kmzb")
    expect(status).to_contain_text("nie wczytała się")
    expect(page.get_by_label("Mapa KMZB (granice i nazwy)")).to_be_checked()
    assert tiles and all("epsg%3a3857" in u.lower() or "epsg:3857" in u.lower() for u in tiles)
    shot(page, "basemap-fallback")
    # OpenStreetMap tiles arrive: it stays, with its attribution and usage policy
    page.get_by_label("OpenStreetMap").check()
    expect(status).to_have_attribute("data-state", "ok")
    expect(status).to_have_attribute("data-basemap", "osm")
    expect(page.locator("#basemap-attribution")).to_contain_text("OpenStreetMap")
    expect(page.locator("#basemap-attribution a[href*='osmfoundation']")).to_be_visible()
    page.reload()  # the choice is remembered
    expect(status).to_have_attribute("data-basemap", "osm")
    page.locator("#lang").click()
    expect(status).to_contain_text("Basemap: OpenStreetMap")
    page.context.close()


def test_english_page_names_layers_in_english_and_phone_tabs_fit(
    browser: Browser, web: str
) -> None:
    page = new_page(browser, web, width=360, height=780)
    page.goto("/map/")
    expect(page.locator("#wms-status")).to_contain_text("Warstwy WMS z serwera map QGIS")
    page.locator("#lang").click()
    expect(page.locator("#wms-layers")).to_contain_text("Crime per 10,000 inhabitants – counties")
    expect(page.locator("#wms-layers")).not_to_contain_text("Przestępczość")
    # the language button: readable, also under the pointer (WCAG AA: 4.5:1)
    assert contrast(page, "#lang") >= 4.5
    page.locator("#lang").hover()
    assert contrast(page, "#lang") >= 4.5
    # a phone: all five tabs at a glance, none cut off, nothing wider than the screen
    for tab in ("map", "report", "check", "area", "police"):
        box = page.locator(f"#tab-{tab}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, (tab, box)
        expect(page.locator(f"#tab-{tab}")).to_be_in_viewport(ratio=1)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    shot(page, "phone-tabs-en")
    page.context.close()


def test_the_form_says_where_the_point_is_in_words(browser: Browser, web: str) -> None:
    page = new_page(browser, web)
    page.goto("/map/#report")
    view_at(page, *KRAKOW_RYNEK, 16)
    wait_for_map(page)
    page.locator("#report-use-center").click()
    location = page.locator("#report-location")
    expect(location).to_contain_text("Wybrano: Kraków (")
    expect(location).to_contain_text("gmina Kraków, powiat Kraków")
    expect(location.locator(".coords")).to_contain_text("współrzędne: 50.06")
    page.locator("#lang").click()
    expect(location).to_contain_text("Chosen: Kraków (")
    expect(location.locator(".coords")).to_contain_text("coordinates: 50.06")
    shot(page, "report-place-in-words")
    page.context.close()
