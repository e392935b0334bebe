"""/wms: QGIS Server's WMS through the app, so the page stays same-origin.

GET requests are forwarded with their query string and the caller's Authorization
header to KMZB_WMS_URL (default http://127.0.0.1:5001/ows/, the port following
KMZB_WMS_PORT); QGIS Server's access plugin applies the same token rules. When the
WMS is unreachable the answer is a 502 with a message in Polish and English; the
page shows the threats and its own boundaries all the same.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

from flask import Blueprint, Response, request

from kmzb.domain.errors import DomainError
from kmzb.service.responses import error_response
from kmzb.settings import load_settings

TIMEOUT_S = 30
MAX_BYTES = 32 * 1024 * 1024
PASSED_HEADERS = ("Content-Type", "Cache-Control", "Last-Modified", "ETag")

wms = Blueprint("kmzb_wms", __name__)


def upstream_url() -> str:
    """KMZB_WMS_URL, else the QGIS Server that `kmzb run` starts on KMZB_WMS_PORT."""
    return load_settings().wms_url


def _unreachable(detail: str) -> Response:
    return error_response(
        DomainError(
            pl=f"Serwer map WMS jest niedostępny ({detail}).",
            en=f"The WMS map server is unreachable ({detail}).",
            status=502,
            code="BadGateway",
        )
    )


@wms.get("/wms")
def wms_proxy() -> Response:
    base = upstream_url()
    query = request.query_string.decode("latin-1")
    url = base + (("&" if "?" in base else "?") + query if query else "")
    headers = {"User-Agent": "kmzb-wms-proxy"}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
        ) as upstream:
            body = upstream.read(MAX_BYTES + 1)
            status = upstream.status
            upstream_headers = upstream.headers
    except urllib.error.HTTPError as error:
        body, status, upstream_headers = error.read(MAX_BYTES), error.code, error.headers
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or error.__class__.__name__
        return _unreachable(str(reason))
    if len(body) > MAX_BYTES:
        return _unreachable("answer too large / odpowiedź za duża")
    response = Response(body, status=status)
    for name in PASSED_HEADERS:
        if name in upstream_headers:
            response.headers[name] = upstream_headers[name]
    return response
