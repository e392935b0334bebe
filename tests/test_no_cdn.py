"""The pages load nothing from outside, with the Content-Security-Policy on.

Headless Chromium (Debian's) against the real app under gunicorn, its /wms proxy
pointed at the real QGIS Server: the web client at /map/ and pygeoapi's HTML pages
(overridden in web/pygeoapi/templates, their libraries vendored from pinned npm
packages into web/dist/pygeoapi). Every request is recorded and must stay on the
app's origin; a CSP violation (the `securitypolicyviolation` event, or Chromium's
console line), a page error, a console error or a failed request fails the test.
The maps draw (Leaflet over our own WMS) and Swagger UI renders.

The HTML itself is checked too: no inline script, no event-handler or style
attribute, and every script, stylesheet and icon from this origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import running_app
from helpers import new_address
from kmzb.settings import Settings
from test_security_headers import ensure_web_build
from test_web import CHROMIUM, CHROMIUM_ARGS, wait_for_map

KRAKOW = {"lon": 19.9383, "lat": 50.0614}

# Runs in every page before its own scripts: CSP violations are kept for the test.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'}`
    + ` in ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def site(
    db_url: str, server: Settings, wms: str, basemap_wms: str, tmp_path_factory
) -> Iterator[str]:
    """The app under gunicorn, its /wms proxy on the real QGIS Server and /basemap/wms on
    the one drawing the offline basemap (the page's default), one public report."""
    ensure_web_build()
    openapi = tmp_path_factory.mktemp("openapi-no-cdn") / "openapi.yml"
    extra = {"KMZB_WMS_URL": f"{wms}/ows/", "KMZB_BASEMAP_WMS_URL": basemap_wms}
    with running_app(db_url, server, openapi, extra) as base:
        answer = requests.post(
            f"{base}/processes/submit-threat/execution",
            json={"inputs": {**KRAKOW, "category": "vandalism"}},
            headers={"X-Forwarded-For": new_address()},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    page: Page
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    csp_console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    wms_images: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("() => window.__cspViolations")


def open_page(browser: Browser, base: str) -> Visit:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="pl-PL", timezone_id="Europe/Warsaw"
    )
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    visit = Visit(page)
    page.on("request", lambda r: visit.requests.append(r.url))
    page.on("requestfailed", lambda r: visit.failed.append(f"{r.url}: {r.failure}"))

    def on_response(response) -> None:
        if response.status >= 400:
            visit.failed.append(f"{response.url}: HTTP {response.status}")
        elif "/wms?" in response.url and response.headers.get("content-type") == "image/png":
            visit.wms_images.append(response.url)

    page.on("response", on_response)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            visit.csp_console.append(message.text)
        elif message.type == "error":
            visit.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    return visit


def wait_for(visit: Visit, selector: str) -> None:
    """Until the selector shows; else fail with what the page reported."""
    try:
        visit.page.wait_for_selector(selector)
    except PlaywrightTimeoutError:
        pytest.fail(
            f"{selector} did not show on {visit.page.url}: page errors {visit.page_errors}, "
            f"console {visit.console_errors + visit.csp_console}, failed {visit.failed}"
        )


def assert_nothing_from_outside(visit: Visit, base: str) -> None:
    outside = [
        url
        for url in visit.requests
        if not (url.startswith(f"{base}/") or url.startswith(("data:", "blob:")))
    ]
    assert visit.requests, "the page made no request at all"
    assert not outside, outside
    assert not visit.csp_violations(), visit.csp_violations()
    assert not visit.csp_console, visit.csp_console
    assert not visit.page_errors, visit.page_errors
    assert not visit.console_errors, visit.console_errors
    assert not visit.failed, visit.failed


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")


def test_the_web_client(browser: Browser, site: str) -> None:
    visit = open_page(browser, site)
    visit.page.goto(f"{site}/map/")
    wait_for_map(visit.page)
    wait_for(visit, "#wms-status[data-state='up']")
    settle(visit.page)
    assert visit.page.locator("#map canvas").count() >= 1
    # the legend's swatches keep their colours under the CSP (SVG attributes, no inline
    # style): the computed fill is the vocabulary's colour for the status
    vocabulary = requests.get(f"{site}/vocabulary", timeout=30).json()
    colour = next(s["colour"] for s in vocabulary["statuses"] if s["code"] == "new")
    rgb = "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))
    swatch = visit.page.locator("#legend li.status[data-status='new'] svg circle")
    assert swatch.evaluate("e => getComputedStyle(e).fill") == rgb
    assert_nothing_from_outside(visit, site)


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/", "#identification h1"),
        ("/collections?f=html", "#data-collections table tbody tr"),
        ("/collections/gminy?f=html", "#collection-map.leaflet-container path.leaflet-interactive"),
        ("/processes?f=html", "table tbody tr"),
        ("/conformance?f=html", "main ul li"),
        ("/asyncapi?f=html", "main"),
        ("/collections/threats/queryables?f=html", "main"),
    ],
)
def test_pygeoapi_pages(browser: Browser, site: str, path: str, ready: str) -> None:
    visit = open_page(browser, site)
    visit.page.goto(f"{site}{path}")
    wait_for(visit, ready)
    settle(visit.page)
    bootstrap = f"link[href='{site}/static/vendor/bootstrap/bootstrap.min.css']"
    assert visit.page.locator(bootstrap).count() == 1
    assert_nothing_from_outside(visit, site)


def first_gmina(site: str) -> str:
    answer = requests.get(f"{site}/collections/gminy/items?f=json&limit=1", timeout=60)
    return answer.json()["features"][0]["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/collections/threats/items?f=html",
        "/collections/gminy/items?f=html&limit=5",
        "/collections/gminy/items/{gmina}?f=html",
    ],
)
def test_items_pages_draw_their_leaflet_map_over_our_wms(
    browser: Browser, site: str, path: str
) -> None:
    visit = open_page(browser, site)
    visit.page.goto(f"{site}{path.format(gmina=first_gmina(site))}")
    wait_for(visit, "#items-map.leaflet-container")
    if "limit=5" in path:  # the limit in the address is shown, though not a choice
        assert visit.page.locator("#limits").input_value() == "5"
    # the features: polygons as paths, the report as a marker (or a cluster)
    wait_for(visit, "#items-map path.leaflet-interactive, #items-map .leaflet-marker-icon")
    # the basemap: tiles of our WMS, drawn
    wait_for(visit, "#items-map img.leaflet-tile-loaded")
    settle(visit.page)
    assert visit.wms_images, "no WMS tile was loaded"
    assert all(url.startswith(f"{site}/wms?") for url in visit.wms_images)
    assert_nothing_from_outside(visit, site)


def test_the_tiles_page_draws_vector_tiles(browser: Browser, site: str) -> None:
    visit = open_page(browser, site)
    visit.page.goto(f"{site}/collections/threats/tiles?f=html")
    wait_for(visit, "#items-map.leaflet-container canvas")
    wait_for(visit, "#items-map img.leaflet-tile-loaded")
    settle(visit.page)
    assert any("/collections/threats/tiles/WebMercatorQuad/" in u for u in visit.requests)
    assert_nothing_from_outside(visit, site)


@pytest.mark.parametrize("path", ["/openapi?f=html", "/openapi?f=html&ui=redoc"])
def test_swagger_ui_renders(browser: Browser, site: str, path: str) -> None:
    visit = open_page(browser, site)
    visit.page.goto(f"{site}{path}")
    wait_for(visit, "#swagger-ui .swagger-ui .information-container .title")
    wait_for(visit, "#swagger-ui .opblock-tag")
    settle(visit.page)
    assert any(u.startswith(f"{site}/openapi?f=json") for u in visit.requests)
    assert_nothing_from_outside(visit, site)


def test_the_csp_is_on_and_a_violation_is_seen(browser: Browser, site: str) -> None:
    """What the checks above rely on: Chromium enforces the policy and reports it. An
    inline script, an inline style and an outside image are refused, and seen."""
    visit = open_page(browser, site)
    visit.page.goto(f"{site}/collections?f=html")
    settle(visit.page)
    visit.page.evaluate(
        """() => {
          const script = document.createElement('script');
          script.textContent = 'window.__ran = true';
          document.body.appendChild(script);
          const div = document.createElement('div');
          div.innerHTML = '<p style="color: red">x</p><img src="https://cdn.example.org/x.png">';
          document.body.appendChild(div);
        }"""
    )
    visit.page.wait_for_function("() => window.__cspViolations.length >= 3")
    assert visit.page.evaluate("() => window.__ran") is None
    directives = {v.split()[0] for v in visit.csp_violations()}
    assert {"script-src-elem", "style-src-attr", "img-src"} <= directives
    # the outside image: its request is reported, refused by the CSP before it leaves
    outside = [url for url in visit.requests if "cdn.example.org" in url]
    refused = [f for f in visit.failed if "cdn.example.org" in f]
    assert len(refused) == len(outside), (outside, visit.failed)
    assert all(f.lower().endswith("csp") for f in refused), refused  # "csp": Chromium refused it


# --- the HTML itself ----------------------------------------------------------------


class PageAssets(HTMLParser):
    """What an HTML page loads, and what of it is inline."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name in values:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if "src" in values:
                self.loads.append(urljoin(self.base, values["src"]))
            elif values.get("type") not in ("application/json", "application/ld+json"):
                self._in_script = "script"
        if tag in ("img", "iframe", "embed", "source", "audio", "video") and "src" in values:
            self.loads.append(urljoin(self.base, values["src"]))
        rel = set(values.get("rel", "").lower().split())
        if tag == "link" and rel & {"stylesheet", "icon", "preload", "modulepreload"}:
            self.loads.append(urljoin(self.base, values["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:60]}")


@pytest.mark.parametrize(
    "path",
    [
        "/?f=html",
        "/collections?f=html",
        "/collections/threats?f=html",
        "/collections/threats/items?f=html",
        "/collections/threats/queryables?f=html",
        "/collections/threats/schema?f=html",
        "/collections/threats/tiles?f=html",
        "/collections/threat-categories/items?f=html",
        "/collections/crime-statistics/items?f=html&limit=3",
        "/collections/gminy/items?f=html&limit=2",
        "/collections/gminy/items/1261011?f=html",
        "/processes?f=html",
        "/processes/submit-threat?f=html",
        "/jobs?f=html",
        "/conformance?f=html",
        "/TileMatrixSets?f=html",
        "/openapi?f=html",
        "/openapi?f=html&ui=redoc",
        "/collections/no-such-collection?f=html",
        "/map/",
    ],
)
def test_no_page_has_inline_script_or_style_or_outside_assets(site: str, path: str) -> None:
    answer = requests.get(f"{site}{path}", timeout=60)
    assert answer.headers["Content-Type"].startswith("text/html")
    parser = PageAssets(answer.url)
    parser.feed(answer.text)
    assert not parser.inline, parser.inline
    outside = [url for url in parser.loads if not url.startswith(f"{site}/")]
    assert not outside, outside
    for url in parser.loads:  # each is there
        assert requests.get(url, timeout=60).status_code == 200, url


def test_vendored_libraries_are_the_pinned_npm_packages() -> None:
    """web/dist/pygeoapi/vendor holds the versions package.json pins, nothing floating."""
    ensure_web_build()
    web = Path(__file__).resolve().parents[1] / "web"
    pinned = json.loads((web / "package.json").read_text())["dependencies"]
    vendored = json.loads((web / "dist" / "pygeoapi" / "vendor" / "VERSIONS.json").read_text())
    assert vendored, "nothing vendored"
    for name, version in vendored.items():
        assert pinned[name] == version, name
