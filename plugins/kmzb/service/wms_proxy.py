"""/wms: QGIS Server's WMS through the app, so the page stays same-origin.

GET requests are forwarded with the caller's Authorization header to
KMZB_WMS_URL (default http://127.0.0.1:5001/ows/, the port following
KMZB_WMS_PORT); QGIS Server's access plugin applies the same token rules (no or
bad token 401, wrong role 403, in Polish and English). QGIS Server is told the
proxy's public address (X-Qgis-Service-Url, X-Qgis-Wms-Service-Url:
KMZB_PUBLIC_URL/wms), so GetCapabilities advertises /wms, never its own port. When the
WMS is unreachable, or fails (a 5xx), the answer is a 502 with a message in Polish and
English; the page shows the threats and its own boundaries all the same. QGIS
Server's 501 (OperationNotSupported: no REQUEST, an unknown one, no VERSION) is the
client's mistake: a 400 with a message in both languages that names what to send.

Only an allow-list of WMS 1.1.1/1.3.0 parameters (names case-insensitive) is
forwarded: those GetCapabilities, GetMap, GetLegendGraphic and GetFeatureInfo
take, and QGIS Server's vendor parameters that take no URL, file or style
document. Everything else is dropped. `SLD` (a URL QGIS Server would fetch:
server-side request forgery) and `SLD_BODY` (a style document, which may point
at outside graphics) are refused with a 400 rather than dropped: a map drawn
without the style the client asked for would look like an answer to its
request, and a refusal says plainly that user styles are not served here.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus

from flask import Blueprint, Response, request

from kmzb.domain.errors import DomainError
from kmzb.service.responses import error_response
from kmzb.settings import load_settings

TIMEOUT_S = 30
MAX_BYTES = 32 * 1024 * 1024
PASSED_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Last-Modified",
    "ETag",
    "Content-Language",  # the access plugin's bilingual exceptions say `pl, en`
    "WWW-Authenticate",  # its 401 asks for a token, as the API's does
)
# QGIS Server 3.22 writes these into GetCapabilities (every DCPType's OnlineResource,
# the legend URLs) instead of its own address: clients that start at /wms stay on it.
SERVICE_URL_HEADERS = ("X-Qgis-Service-Url", "X-Qgis-Wms-Service-Url")

# WMS 1.1.1/1.3.0 (OGC 06-042, SLD 1.1 profile for GetLegendGraphic) and the QGIS
# Server 3.22 vendor parameters (QgsWmsParameter::Name) that take plain values.
ALLOWED_PARAMETERS = frozenset(
    {
        # every request
        "SERVICE", "VERSION", "WMTVER", "REQUEST", "FORMAT", "EXCEPTIONS",
        # GetMap
        "LAYERS", "STYLES", "CRS", "SRS", "BBOX", "WIDTH", "HEIGHT", "TRANSPARENT",
        "BGCOLOR", "TIME", "ELEVATION", "DPI", "FORMAT_OPTIONS", "OPACITIES", "TILED",
        "IMAGE_QUALITY", "SRCWIDTH", "SRCHEIGHT", "SELECTION",
        # GetFeatureInfo
        "QUERY_LAYERS", "INFO_FORMAT", "I", "J", "X", "Y", "FEATURE_COUNT",
        "FI_POINT_TOLERANCE", "FI_LINE_TOLERANCE", "FI_POLYGON_TOLERANCE",
        "WITH_GEOMETRY", "WITH_DISPLAY_NAME", "WMS_PRECISION",
        # GetLegendGraphic (SLD_VERSION is a version number, no document)
        "LAYER", "STYLE", "SLD_VERSION", "SCALE", "RULE", "RULELABEL", "LAYERTITLE",
        "SHOWFEATURECOUNT", "ADDLAYERGROUPS", "BOXSPACE", "LAYERSPACE", "LAYERTITLESPACE",
        "SYMBOLSPACE", "ICONLABELSPACE", "SYMBOLWIDTH", "SYMBOLHEIGHT",
        "LAYERFONTFAMILY", "LAYERFONTBOLD", "LAYERFONTITALIC", "LAYERFONTSIZE",
        "LAYERFONTCOLOR", "ITEMFONTFAMILY", "ITEMFONTBOLD", "ITEMFONTITALIC",
        "ITEMFONTSIZE", "ITEMFONTCOLOR",
    }
)  # fmt: skip
ALLOWED_PREFIXES = ("DIM_",)  # WMS 1.3.0 sample dimensions
REFUSED_PARAMETERS = frozenset({"SLD", "SLD_BODY"})

wms = Blueprint("kmzb_wms", __name__)


def forwarded_query(pairs: list[tuple[str, str]]) -> str:
    """The query string sent to QGIS Server: allowed parameters only, in their order."""
    kept = [
        (name, value)
        for name, value in pairs
        if name.upper() in ALLOWED_PARAMETERS or name.upper().startswith(ALLOWED_PREFIXES)
    ]
    return urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)


def _refused(names: list[str]) -> Response:
    listed = ", ".join(names)
    return error_response(
        DomainError(
            pl=f"Parametr {listed} nie jest obsługiwany: usługa nie pobiera ani nie przyjmuje "
            "własnych stylów SLD. Użyj stylów z GetCapabilities (STYLES).",
            en=f"The parameter {listed} is not supported: this service neither fetches nor "
            "takes user SLD styles. Use the styles in GetCapabilities (STYLES).",
            status=HTTPStatus.BAD_REQUEST,
            code="InvalidParameterValue",
        )
    )


def upstream_url() -> str:
    """KMZB_WMS_URL, else the QGIS Server that `kmzb run` starts on KMZB_WMS_PORT."""
    return load_settings().wms_url


def public_wms_url() -> str:
    """Where clients reach this proxy: KMZB_PUBLIC_URL + /wms."""
    return f"{load_settings().public_url}/wms"


def _unreachable(detail: str, detail_pl: str | None = None) -> Response:
    """`detail` in English, `detail_pl` its Polish (the same when it is a code or a name)."""
    return error_response(
        DomainError(
            pl=f"Serwer map WMS jest niedostępny ({detail_pl or detail}).",
            en=f"The WMS map server is unreachable ({detail}).",
            status=HTTPStatus.BAD_GATEWAY,
            code="BadGateway",
        )
    )


SERVICE_EXCEPTION = re.compile(rb"<ServiceException[^>]*>([^<]{0,500})</ServiceException>")


def _qgis_message(body: bytes) -> str:
    """The text of QGIS Server's ServiceException, if the body is one."""
    found = SERVICE_EXCEPTION.search(body)
    return found.group(1).decode("utf-8", "replace").strip() if found else ""


def _not_supported(body: bytes) -> Response:
    """QGIS Server's 501 (OperationNotSupported: no, or an unknown, REQUEST; no VERSION)
    is the client's mistake, not the server's: a 400 that says what to send."""
    detail = _qgis_message(body)
    said = f" (QGIS Server: {detail})" if detail else ""
    return error_response(
        DomainError(
            pl="Ta operacja WMS nie jest obsługiwana: podaj SERVICE=WMS, VERSION=1.3.0 i "
            f"REQUEST: GetCapabilities, GetMap, GetLegendGraphic albo GetFeatureInfo{said}.",
            en="This WMS operation is not supported: send SERVICE=WMS, VERSION=1.3.0 and "
            f"REQUEST: GetCapabilities, GetMap, GetLegendGraphic or GetFeatureInfo{said}.",
            status=HTTPStatus.BAD_REQUEST,
            code="OperationNotSupported",
        )
    )


@wms.get("/wms")
def wms_proxy() -> Response:
    pairs = list(request.args.items(multi=True))
    refused = sorted({name.upper() for name, _ in pairs} & REFUSED_PARAMETERS)
    if refused:
        return _refused(refused)
    base = upstream_url()
    query = forwarded_query(pairs)
    url = base + (("&" if "?" in base else "?") + query if query else "")
    headers = {"User-Agent": "kmzb-wms-proxy"}
    headers.update({name: public_wms_url() for name in SERVICE_URL_HEADERS})
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
        return _unreachable("answer too large", "odpowiedź za duża")
    if status == 501:
        return _not_supported(body)
    if status >= 500:  # QGIS Server failed: a gateway's fault, not ours nor the client's
        return _unreachable(f"HTTP {status} {_qgis_message(body)}".strip())
    response = Response(body, status=status)
    for name in PASSED_HEADERS:
        if name in upstream_headers:
            response.headers[name] = upstream_headers[name]
    return response
