"""Security headers on every answer: pages, API, errors, static files, /wms.

The pages (the web client at /map/, pygeoapi's HTML) load scripts and styles
only from this origin and run no inline script, so the Content-Security-Policy
needs no 'unsafe-inline' and no 'unsafe-eval'. Maps draw from this origin too
(OGC API tiles, QGIS Server through /wms): the images and data the pages may
fetch from elsewhere come from `map_sources()` alone: the hosts of the configured
outside basemaps.

A header a route sets on purpose is kept. A route's own CSP (the attachment
download's `sandbox`) stays, and this policy is sent beside it: a browser
enforces both, so the answer is held to the stricter of the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask, Response

from kmzb.settings import Settings

CSP = "Content-Security-Policy"
HSTS_MAX_AGE_S = 63072000  # two years, as the HSTS preload list asks

# Browser features the pages may use: the map may locate the citizen; nothing else.
PERMISSIONS = {
    "geolocation": "(self)",
    "camera": "()",
    "microphone": "()",
    "payment": "()",
    "usb": "()",
    "serial": "()",
    "bluetooth": "()",
    "hid": "()",
    "midi": "()",
    "magnetometer": "()",
    "gyroscope": "()",
    "accelerometer": "()",
    "display-capture": "()",
    "screen-wake-lock": "()",
    "publickey-credentials-get": "()",
    "browsing-topics": "()",
}


def map_sources(settings: Settings) -> list[str]:
    """Origins besides our own that the pages' maps load images and data from: exactly
    the outside basemaps of the basemap list (basemaps.yml or KMZB_BASEMAPS_FILE; their
    tiles and WMTS capabilities), and no other. The offline basemap is our own origin."""
    from kmzb.service.basemap import outside_origins

    return outside_origins()


def content_security_policy(map_hosts: Sequence[str] = ()) -> str:
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *map_hosts],
        "connect-src": ["'self'", *map_hosts],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every answer carries (HSTS only when the public URL is https)."""
    headers = {
        CSP: content_security_policy(map_sources(settings)),
        "X-Content-Type-Options": "nosniff",
        # The service keeps no personal data: page addresses (a report's reference,
        # a queue filter) are not passed to the sites the pages link to.
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": ", ".join(f"{name}={value}" for name, value in PERMISSIONS.items()),
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if settings.tls:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}; includeSubDomains"
    return headers


def apply(response: Response, headers: dict[str, str]) -> Response:
    for name, value in headers.items():
        if name == CSP and CSP in response.headers:
            # the route's own policy stays; ours is enforced beside it
            if value not in response.headers.getlist(CSP):
                response.headers.add(CSP, value)
        else:
            response.headers.setdefault(name, value)
    return response


def install(app: Flask, settings: Settings) -> None:
    headers = security_headers(settings)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        return apply(response, headers)
