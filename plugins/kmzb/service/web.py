"""The browser client (web/, built into web/dist) at /map/, and its place search.

Same origin as the API, so the page needs nothing from anywhere else. The
build comes from scripts/bootstrap.sh (`npm ci && npm run build` in web/).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, request, send_from_directory
from werkzeug.wrappers import Response as WerkzeugResponse

from kmzb.db.pool import get_pool
from kmzb.domain import places
from kmzb.service.responses import json_response
from kmzb.settings import load_settings

web = Blueprint("kmzb_web", __name__)


def web_dir() -> Path:
    """KMZB_WEB_DIR, else the build in web/dist of the home (settings.web_dir)."""
    return load_settings().web_dir


def _not_built() -> Response:
    return Response(
        "Klient WWW nie jest zbudowany: uruchom scripts/bootstrap.sh.\n"
        "The web client is not built: run scripts/bootstrap.sh "
        "(npm ci && npm run build in web/).\n",
        status=503,
        mimetype="text/plain",
    )


@web.get("/map")
def map_redirect() -> WerkzeugResponse:
    return redirect("/map/", code=308)


@web.get("/map/")
def map_page() -> Response:
    folder = web_dir()
    if not (folder / "index.html").is_file():
        return _not_built()
    response = send_from_directory(folder, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@web.get("/map/<path:name>")
def map_asset(name: str) -> Response:
    folder = web_dir()
    if not folder.is_dir():
        return _not_built()
    response = send_from_directory(folder, name, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@web.get("/places")
def place_search() -> Response:
    """?q=name&limit=10: territorial units (TERYT) and GeoNames places, best first."""
    with get_pool().connection() as conn:
        return json_response(places.search(conn, request.args.to_dict()))
