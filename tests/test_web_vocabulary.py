"""The web client takes the vocabulary from GET /vocabulary, and keeps no copy of it.

In headless Chromium against the real app: the map's legend and style function draw
each status in the colours the database gives it, the forms offer the database's
categories, times of day and limits, the police panel offers exactly the transitions
the service allows, and the status page names each change as the API does. Then the
"done when" half of issue 13: on a database of its own, a status's colour and name
changed by SQL (as a migration would) reach the page with no rebuild of the client.
The sources and the bundle are searched for any name or colour of the vocabulary,
and the pictograms are checked against the files the QGIS project draws.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import TEST_DB, fresh_database, running_app
from helpers import new_address
from kmzb.auth import tokens
from kmzb.db import connection, migrations
from kmzb.loaders.police_units import load_police_units
from kmzb.loaders.territorial_units import TerritorialUnitInputs, load_territorial_units
from kmzb.settings import PROJECT_ROOT, Settings
from test_web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    build_web_client,
    new_page,
    open_tab,
    wait_for_map,
)

WEB = PROJECT_ROOT / "web"
RYNEK = (19.9373, 50.0617)  # Kraków's main square: KMP-1261
QGIS_SVG = Path("/usr/share/qgis/svg")
QGIS_PROJECT = PROJECT_ROOT / "qgis_projects" / "kmzb_public.qgs"
# pure black and white are the page's own ink and paper too (text, borders, the marker)
INK_AND_PAPER = {"#000000", "#FFFFFF"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    build_web_client()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def vocabulary_of(base: str) -> dict[str, Any]:
    answer = requests.get(f"{base}/vocabulary", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def submit(base: str, lon: float, lat: float, category: str = "stray_dogs") -> str:
    answer = requests.post(
        f"{base}/processes/submit-threat/execution",
        json={"inputs": {"lon": lon, "lat": lat, "category": category}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def review(base: str, token: str, reference: str, status: str, version: int) -> None:
    answer = requests.post(
        f"{base}/processes/review-threat/execution",
        json={"inputs": {"reference": reference, "status": status, "version": version}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def open_map(page: Page) -> None:
    page.goto("/map/")
    expect(page.locator("body")).to_have_attribute("data-vocabulary", "loaded")


def set_english(page: Page) -> None:
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def legend(page: Page) -> list[dict[str, str]]:
    """The drawn legend: each status entry's code, name and swatch colours."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#legend li.status')].map((li) => {
             const circle = li.querySelector('svg circle');
             return { code: li.dataset.status, name: li.querySelector('.status-name').textContent,
                      fill: circle.getAttribute('fill'), outline: circle.getAttribute('stroke') };
           })"""
    )


def drawn_colours(page: Page, code: str) -> dict[str, str]:
    """What the map's style function gives a report in this status."""
    return page.evaluate("(code) => window.kmzb.statusStyleColours(code)", code)


def centre_pixel(page: Page) -> list[int]:
    """The RGBA of the threats layer's canvas at the centre of the map."""
    return page.evaluate(
        """() => { const c = document.querySelector('.threats canvas');
                   const x = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1);
                   return [...x.data]; }"""
    )


def rgb(colour: str) -> list[int]:
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


def show_report_at_street_scale(page: Page, lon: float, lat: float) -> None:
    page.evaluate(
        "([lon, lat]) => window.kmzb.map.getView().setCenter(window.kmzb.fromLonLat([lon, lat]))",
        [lon, lat],
    )
    page.evaluate("() => window.kmzb.map.getView().setZoom(16)")
    wait_for_map(page)


# --- the map, the legend and the forms ----------------------------------------------------


def test_legend_style_and_forms_come_from_the_vocabulary(browser: Browser, api: str) -> None:
    vocabulary = vocabulary_of(api)
    public = [s for s in vocabulary["statuses"] if s["is_public"]]
    page = new_page(browser, api)
    open_map(page)
    drawn = legend(page)
    assert [d["code"] for d in drawn] == [s["code"] for s in public]
    for entry, status in zip(drawn, public, strict=True):
        assert entry["name"] == status["name"]["pl"]
        assert (entry["fill"], entry["outline"]) == (status["colour"], status["outline"])
    for status in vocabulary["statuses"]:  # the style function, for every status
        assert drawn_colours(page, status["code"]) == {
            "fill": status["colour"],
            "outline": status["outline"],
        }
    # the street-scale key: a pictogram tinted with the status's text colour
    sample = page.locator("#legend-pictograms svg")
    status = next(
        s for s in vocabulary["statuses"] if s["code"] == sample.get_attribute("data-status")
    )
    assert sample.locator("feFlood").get_attribute("flood-color") == status["text_colour"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#legend").screenshot(path=str(SHOTS / "legend-vocabulary.png"))

    # the filter: the categories the public map shows, by the vocabulary's names
    shown = [c for c in vocabulary["categories"] if c["public_rule"] != "never"]
    options = page.locator("#filter-category option:not([value=''])")
    expect(options).to_have_text([c["name"]["pl"] for c in shown])

    # the report form: every category, the times of day and the limits
    open_tab(page, "report")
    expect(page.locator("#report-category option:not([value=''])")).to_have_text(
        [c["name"]["pl"] for c in vocabulary["categories"]]
    )
    expect(page.locator("#report-time option:not([value=''])")).to_have_text(
        [d["name"]["pl"] for d in vocabulary["times_of_day"]]
    )
    limits = vocabulary["limits"]
    description = page.locator("#report-description")
    expect(description).to_have_attribute("maxlength", str(limits["description_max_chars"]))
    expect(page.locator("#report-count")).to_have_text(f"0 / {limits['description_max_chars']}")
    expect(page.locator("label[for=report-description]")).to_contain_text(
        f"do {limits['description_max_chars']} znaków"
    )
    expect(page.locator("label[for=report-files]")).to_contain_text(
        f"do {limits['attachments_max_count']} plików po "
        f"{limits['attachment_max_bytes'] / 1024 / 1024:g} MB"
    )
    expect(page.locator("#report-files")).to_have_attribute(
        "accept", ",".join(limits["attachment_media_types"])
    )

    # in English: the vocabulary's English names
    set_english(page)
    expect(page.locator("#report-time option:not([value=''])")).to_have_text(
        [d["name"]["en"] for d in vocabulary["times_of_day"]]
    )
    assert [d["name"] for d in legend(page)] == [s["name"]["en"] for s in public]
    page.context.close()


def test_the_map_draws_a_report_in_its_status_colour(browser: Browser, api: str) -> None:
    lon, lat = RYNEK[0] + 0.011, RYNEK[1] - 0.004  # a spot of its own
    reference = submit(api, lon, lat)
    assert requests.get(f"{api}/reports/{reference}", timeout=30).json()["status"] == "new"
    new = next(s for s in vocabulary_of(api)["statuses"] if s["code"] == "new")
    page = new_page(browser, api)
    open_map(page)
    page.locator("#layer-boundaries").uncheck()
    show_report_at_street_scale(page, lon, lat)
    page.evaluate("() => window.kmzb.map.getView().setZoom(15.2)")  # a dot, not a pictogram
    wait_for_map(page)
    assert centre_pixel(page)[:3] == rgb(new["colour"])
    page.context.close()


# --- the police panel and the status page -------------------------------------------------------


def test_police_panel_offers_exactly_the_allowed_transitions(
    browser: Browser, api: str, settings: Settings
) -> None:
    token = tokens.issue(settings, "coordinator", "web-vocabulary", unit="KMP-1261")
    reference = submit(api, RYNEK[0] + 0.006, RYNEK[1] + 0.002)
    page = new_page(browser, api)
    page.goto("/map/#police")
    page.locator("#police-token").fill(token)
    page.locator("#police-login button[type=submit]").click()
    expect(page.locator("#police-queue")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#police-status option:not([value=''])")).to_have_text(
        [s["name"]["pl"] for s in vocabulary_of(api)["statuses"] if s["is_open"]]
    )
    for step in ("new", "verification", "confirmed"):
        seen = requests.get(
            f"{api}/police/reports/{reference}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert seen["status"] == step
        allowed = seen["allowed_transitions"]
        page.locator("#police-ref").fill(reference)
        page.locator("#police-open button[type=submit]").click()
        expect(page.locator("#police-report-status")).to_contain_text(f"{seen['version']})")
        options = page.locator("#review-status option")
        expect(options).to_have_text([m["name"]["pl"] for m in allowed])
        assert [o.get_attribute("value") for o in options.all()] == [m["code"] for m in allowed]
        if step != "confirmed":
            review(api, token, reference, allowed[0]["code"], seen["version"])
    page.context.close()


def test_status_page_names_each_change_as_the_api_sends_it(
    browser: Browser, api: str, settings: Settings
) -> None:
    token = tokens.issue(settings, "coordinator", "web-vocabulary", unit="KMP-1261")
    reference = submit(api, RYNEK[0] - 0.006, RYNEK[1] + 0.003)
    review(api, token, reference, "verification", 1)
    history = requests.get(f"{api}/reports/{reference}", timeout=30).json()["history"]
    assert len(history) == 2
    page = new_page(browser, api)
    page.goto("/map/#check")
    expect(page.locator("body")).to_have_attribute("data-vocabulary", "loaded")
    page.locator("#check-ref").fill(reference)
    page.locator("#check-form button[type=submit]").click()
    items = page.locator("#check-result .history li .to")
    expect(items).to_have_text([h["to_name"]["pl"] for h in history])
    expect(page.locator("#check-result .history li").nth(1)).to_contain_text(
        f"{history[0]['to_name']['pl']} → {history[1]['to_name']['pl']}"
    )
    set_english(page)
    expect(items).to_have_text([h["to_name"]["en"] for h in history])
    page.context.close()


# --- done when: a migration changes a status, the page follows without a rebuild ----------------

CHANGED = {
    "colour": "#009E73",
    "pl": "Nowe (zmienione migracją)",
    "en": "New (changed by a migration)",
}


@pytest.fixture(scope="module")
def changed_app(server: Settings, data_dir: Path, tmp_path_factory) -> Iterator[str]:
    """The app on a database of its own whose 'new' status was changed by SQL."""
    name = f"{TEST_DB}_webvocab"
    url = fresh_database(server, name)
    try:
        migrations.apply_all(url)
        load_territorial_units(url, TerritorialUnitInputs.from_dir(data_dir), lambda _message: None)
        load_police_units(url, data_dir, None, lambda _message: None)
        with psycopg.connect(url) as conn:  # what a new migration would do
            conn.execute(
                "UPDATE kmzb.statuses SET colour = %s, name_pl = %s, name_en = %s"
                " WHERE code = 'new'",
                (CHANGED["colour"], CHANGED["pl"], CHANGED["en"]),
            )
        extra: dict[str, str] = {}
        if server.embedded:
            extra["KMZB_DB_NAME"] = name
        else:
            extra["DATABASE_URL"] = url
            if server.api_database_url:
                extra["KMZB_API_DATABASE_URL"] = connection.api_url(server, name)
        openapi = tmp_path_factory.mktemp("openapi-webvocab") / "openapi.yml"
        with running_app(url, server, openapi, extra) as base:
            yield base
    finally:
        connection.drop_database(server, name)


def test_a_changed_status_reaches_map_and_status_page_without_a_rebuild(
    browser: Browser, changed_app: str
) -> None:
    built = (WEB / "dist" / "app.js").stat().st_mtime
    reference = submit(changed_app, *RYNEK)
    page = new_page(browser, changed_app)
    open_map(page)
    new = next(d for d in legend(page) if d["code"] == "new")
    assert (new["fill"], new["name"]) == (CHANGED["colour"], CHANGED["pl"])
    assert drawn_colours(page, "new")["fill"] == CHANGED["colour"]
    page.locator("#layer-boundaries").uncheck()
    show_report_at_street_scale(page, *RYNEK)
    page.evaluate("() => window.kmzb.map.getView().setZoom(15.2)")
    wait_for_map(page)
    assert centre_pixel(page)[:3] == rgb(CHANGED["colour"])

    open_tab(page, "check")
    page.locator("#check-ref").fill(reference)
    page.locator("#check-form button[type=submit]").click()
    expect(page.locator("#check-status")).to_have_text(CHANGED["pl"])
    expect(page.locator("#check-result .history li .to")).to_have_text([CHANGED["pl"]])
    set_english(page)
    expect(page.locator("#check-status")).to_have_text(CHANGED["en"])
    expect(page.locator("#legend li.status[data-status=new] .status-name")).to_have_text(
        CHANGED["en"]
    )
    assert (WEB / "dist" / "app.js").stat().st_mtime == built  # the same client
    page.context.close()


# --- no copy in the client ----------------------------------------------------------------------


def client_files() -> dict[Path, str]:
    sources = [p for p in (WEB / "src").rglob("*") if p.is_file() and p.suffix != ".svg"]
    built = [WEB / "dist" / name for name in ("app.js", "app.css", "index.html")]
    return {p: p.read_text(encoding="utf-8") for p in sources + built}


def test_no_name_or_colour_of_the_vocabulary_is_copied_into_the_client(api: str) -> None:
    build_web_client()
    vocabulary = vocabulary_of(api)
    names = [
        entry["name"][lang]
        for group in ("statuses", "categories", "times_of_day")
        for entry in vocabulary[group]
        for lang in ("pl", "en")
    ]
    colours = {
        s[key].upper()
        for s in vocabulary["statuses"]
        for key in ("colour", "outline", "text_colour")
    } - INK_AND_PAPER
    assert len(names) > 60 and len(colours) > 5
    found = []
    for path, text in client_files().items():
        for name in names:  # as a literal or as an element's text
            quoted = [f"'{name}'", f'"{name}"', f"`{name}`", f">{name}<"]
            found += [f"{path.name}: {name}" for q in quoted if q in text]
        upper = text.upper()
        found += [f"{path.name}: {colour}" for colour in colours if colour in upper]
    assert found == []


def white(svg: str) -> str:
    """A QGIS library SVG as the page draws it: its parameters (`param(fill) #000`)
    filled in white and opaque, to be tinted by the status's text colour. A new
    pictogram in the vocabulary: web/src/pictograms/<stem>.svg is white(the QGIS file)."""
    values = {
        "fill": "#ffffff",
        "fill-opacity": "1",
        "outline": "#ffffff",
        "outline-opacity": "1",
        "outline-width": "0",
    }
    return re.sub(r'param\(([\w-]+)\)(?: [^"]*)?', lambda m: values[m[1]], svg)


def test_pictograms_are_the_files_the_qgis_project_draws(conn: psycopg.Connection) -> None:
    named = {  # the SVG markers of the WMS project, by stem
        Path(value).stem: QGIS_SVG / value
        for value in re.findall(r'name="name" value="([\w/]+\.svg)"', QGIS_PROJECT.read_text())
    }
    pictograms = [
        row[0] for row in conn.execute("SELECT pictogram FROM kmzb.threat_categories ORDER BY 1")
    ]
    assert len(pictograms) == 24
    folder = WEB / "src" / "pictograms"
    assert sorted(p.stem for p in folder.glob("*.svg")) == sorted(pictograms)
    for stem in pictograms:
        assert stem in named, f"the QGIS project does not draw {stem}"
        page = (folder / f"{stem}.svg").read_text(encoding="utf-8")
        assert page == white(named[stem].read_text(encoding="utf-8")), stem
        assert (WEB / "dist" / "pictograms" / f"{stem}.svg").read_text(encoding="utf-8") == page
