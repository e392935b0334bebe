"""Security headers on every answer, over HTTP against the real app under gunicorn:
pygeoapi's pages and JSON, our routes, errors (404, 400, 401, a failed process
execution), the web page at /map/, static files and the /wms proxy. HSTS only when
the public URL is https (the app does not do TLS itself: nginx does).
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator

import pytest
import requests
from flask import Response

from conftest import running_app
from kmzb.auth import tokens
from kmzb.service import headers
from kmzb.settings import PROJECT_ROOT, Settings, load_settings

WEB = PROJECT_ROOT / "web"
# what the CSP must say, directive by directive (no 'unsafe-inline', no 'unsafe-eval')
EXPECTED_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:", "blob:"},
    "connect-src": {"'self'"},
    "font-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
# the configured outside basemaps (basemaps.yml), and nothing else, may serve images and data
EXPECTED_CSP["img-src"] |= set(headers.map_sources(load_settings()))
EXPECTED_CSP["connect-src"] |= set(headers.map_sources(load_settings()))


def ensure_web_build() -> None:
    """The web client and pygeoapi's static folder (web/dist, web/dist/pygeoapi), built
    from the pinned npm packages when missing or older than their sources."""
    stamp = WEB / "dist" / "pygeoapi" / "vendor" / "VERSIONS.json"  # written last
    sources = [WEB / "package.json", WEB / "package-lock.json", WEB / "build.mjs"]
    for folder in (WEB / "src", WEB / "pygeoapi" / "static"):
        sources += [path for path in folder.rglob("*") if path.is_file()]
    if stamp.is_file() and all(p.stat().st_mtime <= stamp.stat().st_mtime for p in sources):
        return
    if not (WEB / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run(["npm", "run", "build"], cwd=WEB, check=True)


def parse_csp(value: str) -> dict[str, set[str]]:
    policy: dict[str, set[str]] = {}
    for directive in value.split(";"):
        name, *sources = directive.split()
        assert name not in policy, f"{name} twice in {value!r}"
        policy[name] = set(sources)
    return policy


def assert_security_headers(answer: requests.Response, hsts: bool = False) -> None:
    where = f"{answer.request.method} {answer.url} ({answer.status_code})"
    policies = answer.headers.get("Content-Security-Policy")
    assert policies, f"no CSP on {where}"
    assert parse_csp(policies) == EXPECTED_CSP, where
    assert "unsafe" not in policies, where
    assert answer.headers.get("X-Content-Type-Options") == "nosniff", where
    assert answer.headers.get("Referrer-Policy") == "no-referrer", where
    assert answer.headers.get("X-Frame-Options") == "DENY", where
    assert answer.headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    permissions = dict(
        item.strip().split("=", 1) for item in answer.headers["Permissions-Policy"].split(",")
    )
    assert permissions["geolocation"] == "(self)", where
    assert permissions["camera"] == "()" and permissions["microphone"] == "()", where
    assert all(v == "()" for k, v in permissions.items() if k != "geolocation"), where
    if hsts:
        assert (
            answer.headers.get("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
        ), where
    else:
        assert "Strict-Transport-Security" not in answer.headers, where


@pytest.fixture(scope="module")
def app_url(api: str) -> str:
    ensure_web_build()
    return api


@pytest.mark.parametrize(
    ("path", "status", "media_type"),
    [
        ("/", 200, "application/json"),
        ("/?f=html", 200, "text/html"),
        ("/collections?f=json", 200, "application/json"),
        ("/collections?f=html", 200, "text/html"),
        ("/collections/threats/items?f=html", 200, "text/html"),
        ("/collections/gminy/items/1261011?f=html", 200, "text/html"),
        ("/collections/threats/tiles?f=html", 200, "text/html"),
        ("/processes?f=html", 200, "text/html"),
        ("/openapi?f=html", 200, "text/html"),
        ("/openapi?f=json", 200, "application/"),
        ("/conformance?f=html", 200, "text/html"),
        ("/map/", 200, "text/html"),
        ("/map/app.js", 200, ""),
        ("/static/vendor/leaflet/leaflet.js", 200, ""),
        ("/static/js/maps.js", 200, ""),
        ("/reports/AAAA-BBBB-CCCC", 404, "application/json"),
        ("/reports/no-such", 400, "application/json"),
        ("/collections/no-such-collection?f=json", 404, "application/json"),
        ("/collections/no-such-collection?f=html", 404, "text/html"),
        ("/no/such/path", 404, ""),
        ("/collections/gminy/items?bbox=1,2&f=json", 400, "application/json"),
        ("/police/queue", 401, "application/json"),
    ],
)
def test_every_answer_carries_the_headers(
    app_url: str, path: str, status: int, media_type: str
) -> None:
    answer = requests.get(f"{app_url}{path}", timeout=60)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers.get("Content-Type", "").startswith(media_type)
    assert_security_headers(answer)


def test_a_failed_process_execution_carries_the_headers(app_url: str) -> None:
    answer = requests.post(
        f"{app_url}/processes/submit-threat/execution",
        json={"inputs": {"lon": 19.9383, "lat": 50.0614, "category": "no-such-category"}},
        headers={"X-Forwarded-For": "198.18.0.1"},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errors"][0]["pl"] and body["errors"][0]["en"]
    assert_security_headers(answer)


def test_a_refused_write_and_a_bad_token_carry_the_headers(app_url: str) -> None:
    refused = requests.delete(f"{app_url}/collections/threats/items/x", timeout=60)
    assert refused.status_code == 405
    assert_security_headers(refused)
    bad_token = requests.get(
        f"{app_url}/police/queue", headers={"Authorization": "Bearer not-a-token"}, timeout=60
    )
    assert bad_token.status_code == 401
    assert_security_headers(bad_token)


def test_the_wms_proxy_answer_carries_the_headers(app_url: str) -> None:
    """/wms answers with QGIS Server's status, or 502 when it is not reachable: either way,
    with the headers."""
    answer = requests.get(
        f"{app_url}/wms",
        params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"},
        timeout=60,
    )
    assert answer.status_code in (200, 502), answer.text[:300]
    assert_security_headers(answer)


def test_the_attachment_download_keeps_its_sandbox_and_gets_our_policy_too(
    app_url: str, settings: Settings
) -> None:
    """The route's own `sandbox` policy stays, ours is sent beside it: two policies,
    both enforced by the browser."""
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
    submitted = requests.post(
        f"{app_url}/processes/submit-threat/execution",
        json={
            "inputs": {
                "lon": 19.9450,
                "lat": 50.0650,
                "category": "vandalism",
                "attachments": [
                    {"name": "zdjęcie.jpg", "content": base64.b64encode(jpeg).decode()}
                ],
            }
        },
        headers={"X-Forwarded-For": "198.18.0.2"},
        timeout=60,
    )
    assert submitted.status_code == 200, submitted.text
    reference = submitted.json()["reference"]
    bearer = {
        "Authorization": f"Bearer {tokens.issue(settings, 'officer', 'hdr', unit='KMP-1261')}"
    }
    details = requests.get(f"{app_url}/police/reports/{reference}", headers=bearer, timeout=60)
    assert details.status_code == 200, details.text
    first = details.json()["attachments"][0]["id"]
    answer = requests.get(
        f"{app_url}/police/reports/{reference}/attachments/{first}",
        headers=bearer,
        timeout=60,
        stream=True,
    )
    assert answer.status_code == 200
    policies = answer.raw.headers.getlist("Content-Security-Policy")
    assert policies[0] == "sandbox"
    assert len(policies) == 2 and parse_csp(policies[1]) == EXPECTED_CSP
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.content == jpeg


@pytest.fixture(scope="module")
def https_app(db_url: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    """The app as deployed behind a TLS proxy: its public URL is https://."""
    openapi = tmp_path_factory.mktemp("openapi-https") / "openapi.yml"
    extra = {"KMZB_PUBLIC_URL": "https://kmzb.example.pl"}
    with running_app(db_url, server, openapi, extra) as base:
        yield base


@pytest.mark.parametrize("path", ["/", "/collections?f=html", "/map/", "/reports/no-such", "/wms"])
def test_hsts_when_the_public_url_is_https(https_app: str, path: str) -> None:
    answer = requests.get(f"{https_app}{path}", timeout=60)
    assert_security_headers(answer, hsts=True)


# --- the policy itself --------------------------------------------------------------


def test_map_hosts_enter_only_img_src_and_connect_src() -> None:
    policy = parse_csp(headers.content_security_policy(["https://tiles.example.pl"]))
    changed = {name for name in policy if policy[name] != EXPECTED_CSP[name]}
    assert changed == {"img-src", "connect-src"}
    assert "https://tiles.example.pl" in policy["img-src"]
    assert "https://tiles.example.pl" in policy["connect-src"]


def test_a_route_s_own_headers_are_kept_and_its_csp_enforced_beside_ours(
    settings: Settings,
) -> None:
    """The attachment download sets `sandbox`: it stays, and ours is added as a second
    policy (a browser enforces both); a route's own Referrer-Policy is not overwritten."""
    response = Response(b"...", mimetype="application/pdf")
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Referrer-Policy"] = "same-origin"
    headers.apply(response, headers.security_headers(settings))
    policies = response.headers.getlist("Content-Security-Policy")
    assert policies[0] == "sandbox"
    assert parse_csp(policies[1]) == EXPECTED_CSP
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # applied twice (two hooks, a retried request): still two policies, not three
    headers.apply(response, headers.security_headers(settings))
    assert len(response.headers.getlist("Content-Security-Policy")) == 2
