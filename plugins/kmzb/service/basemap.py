"""Basemaps for the web page: the configured list, the offline basemap's WMS, and the
place at a point in words.

- `GET /basemaps`: the basemaps of `basemaps.yml` (or the file KMZB_BASEMAPS_FILE
  names) for the page's switcher: id, title pl/en, kind (`kmzb`, `wmts`, `xyz`),
  the URL or capabilities URL, the attribution, and the default.
- `GET /basemap/wms`: QGIS Server drawing qgis_projects/kmzb_basemap.qgs (boundaries,
  gmina and powiat names, GeoNames places, the country outline) from the data this
  service holds, so the page has a labelled map with no outside server. The proxy
  names the project itself (MAP=) and forwards only the WMS parameters of
  kmzb.service.wms_proxy's allow-list: a client's MAP is dropped, SLD and SLD_BODY
  are refused. Upstream: KMZB_BASEMAP_WMS_URL, else the QGIS Server of /wms.
- `GET /places/reverse?lon=&lat=`: the nearest GeoNames place and the gmina there.

The hosts of the outside basemaps are the only ones the Content-Security-Policy lets
the pages load images and data from (`outside_origins`, kmzb.service.headers).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, request

from kmzb.db.pool import get_pool
from kmzb.domain import places
from kmzb.domain.errors import DomainError
from kmzb.service.responses import error_response, json_response
from kmzb.service.wms_proxy import REFUSED_PARAMETERS, forwarded_query
from kmzb.settings import QGIS_BASEMAP_PROJECT_FILE, SettingsError, load_settings

BASEMAP_PROJECT_FILE = QGIS_BASEMAP_PROJECT_FILE
KINDS = ("kmzb", "wmts", "xyz")
TIMEOUT_S = 30
MAX_BYTES = 16 * 1024 * 1024
PASSED_HEADERS = ("Content-Type", "Cache-Control", "Last-Modified", "ETag")
SERVICE_URL_HEADERS = ("X-Qgis-Service-Url", "X-Qgis-Wms-Service-Url")
# The basemap changes when the data is reloaded (rarely): browsers may keep tiles an hour.
TILE_CACHE = "public, max-age=3600"

basemap = Blueprint("kmzb_basemap", __name__)


# --- the configured list ------------------------------------------------------------


def basemaps_file() -> Path:
    """KMZB_BASEMAPS_FILE, else basemaps.yml in the service's home."""
    return load_settings().basemaps_file


def _text_pair(entry: dict, key: str, where: str) -> dict[str, str]:
    value = entry.get(key)
    if isinstance(value, str) and value.strip():
        return {"pl": value, "en": value}
    if (
        isinstance(value, dict)
        and isinstance(value.get("pl"), str)
        and isinstance(value.get("en"), str)
    ):
        return {"pl": value["pl"], "en": value["en"]}
    raise SettingsError(f"{where}: `{key}` is a text or a {{pl, en}} pair")


def _outside_url(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{where}: `{key}` is missing")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(f"{where}: `{key}` must be an https:// URL, not {value!r}")
    return value


def parse_basemaps(document: Any, source: str = "basemaps") -> dict[str, Any]:
    """The checked list: each entry has id, kind, title, attribution and what its kind
    needs; `default` names one of them. A mistake is a SettingsError naming it."""
    if not isinstance(document, dict) or not isinstance(document.get("basemaps"), list):
        raise SettingsError(f"{source}: a mapping with a `basemaps` list is expected")
    entries: list[dict[str, Any]] = []
    for index, raw in enumerate(document["basemaps"]):
        where = f"{source}: basemap {index + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise SettingsError(f"{where}: `id` is missing")
        where = f"{source}: basemap {raw['id']!r}"
        kind = raw.get("kind")
        if kind not in KINDS:
            raise SettingsError(f"{where}: `kind` is one of {', '.join(KINDS)}, not {kind!r}")
        entry: dict[str, Any] = {
            "id": raw["id"],
            "kind": kind,
            "title": _text_pair(raw, "title", where),
            "attribution": _text_pair(raw, "attribution", where),
        }
        for optional in ("link", "policy"):
            if raw.get(optional):
                entry[optional] = _outside_url(raw[optional], where, optional)
        if kind == "kmzb":
            entry["url"] = "/basemap/wms"
            entry["layers"] = str(raw.get("layers") or "kmzb_podklad")
        elif kind == "wmts":
            entry["capabilities"] = _outside_url(raw.get("capabilities"), where, "capabilities")
            if not isinstance(raw.get("layer"), str):
                raise SettingsError(f"{where}: `layer` is missing")
            entry["layer"] = raw["layer"]
            entry["matrix_set"] = str(raw.get("matrix_set") or "EPSG:3857")
        else:
            url = _outside_url(raw.get("url"), where, "url")
            if not all(part in url for part in ("{z}", "{x}", "{y}")):
                raise SettingsError(f"{where}: `url` needs {{z}}, {{x}} and {{y}}")
            entry["url"] = url
            entry["max_zoom"] = int(raw.get("max_zoom") or 19)
        entries.append(entry)
    ids = [entry["id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise SettingsError(f"{source}: basemap ids repeat: {ids}")
    if "kmzb" not in {entry["kind"] for entry in entries}:
        raise SettingsError(f"{source}: the offline basemap (kind kmzb) is needed as fallback")
    default = document.get("default") or ids[0]
    if default not in ids:
        raise SettingsError(f"{source}: `default` {default!r} is not one of {ids}")
    fallback = next(entry["id"] for entry in entries if entry["kind"] == "kmzb")
    return {"default": default, "fallback": fallback, "basemaps": entries}


@cache
def _load(path: str, mtime: float) -> dict[str, Any]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError(f"KMZB_BASEMAPS_FILE: cannot read {path}: {error}") from error
    return parse_basemaps(document, path)


def load_basemaps() -> dict[str, Any]:
    path = basemaps_file()
    try:
        mtime = path.stat().st_mtime
    except OSError as error:
        raise SettingsError(f"KMZB_BASEMAPS_FILE: {path} is missing") from error
    return _load(str(path), mtime)


def outside_origins(config: dict[str, Any] | None = None) -> list[str]:
    """scheme://host[:port] of every outside basemap (tiles and capabilities), sorted."""
    config = config or load_basemaps()
    origins = set()
    for entry in config["basemaps"]:
        for key in ("url", "capabilities"):
            value = entry.get(key)
            if entry["kind"] != "kmzb" and value:
                parts = urllib.parse.urlsplit(value)
                origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


@basemap.get("/basemaps")
def basemap_list() -> Response:
    return json_response(load_basemaps(), headers={"Cache-Control": "no-cache"})


# --- the offline basemap through QGIS Server ---------------------------------------------


def upstream_url() -> str:
    """KMZB_BASEMAP_WMS_URL, else the QGIS Server /wms forwards to."""
    return load_settings().basemap_wms_url


def _bad_gateway(detail: str, detail_pl: str | None = None) -> Response:
    """`detail` in English, `detail_pl` its Polish (the same when it is a code or a name)."""
    return error_response(
        DomainError(
            pl=f"Serwer mapy podkładowej jest niedostępny ({detail_pl or detail}).",
            en=f"The basemap server is unreachable ({detail}).",
            status=HTTPStatus.BAD_GATEWAY,
            code="BadGateway",
        )
    )


@basemap.get("/basemap/wms")
def basemap_wms() -> Response:
    pairs = list(request.args.items(multi=True))
    refused = sorted({name.upper() for name, _ in pairs} & REFUSED_PARAMETERS)
    if refused:
        listed = ", ".join(refused)
        return error_response(
            DomainError(
                pl=f"Parametr {listed} nie jest obsługiwany: mapa podkładowa ma tylko "
                "własne style.",
                en=f"The parameter {listed} is not supported: the basemap has its own styles only.",
            )
        )
    query = forwarded_query(pairs)  # the allow-list: MAP and anything unknown are dropped
    project = urllib.parse.urlencode({"MAP": str(BASEMAP_PROJECT_FILE)})
    base = upstream_url()
    url = f"{base}{'&' if '?' in base else '?'}{project}" + (f"&{query}" if query else "")
    public = f"{load_settings().public_url}/basemap/wms"
    headers = {"User-Agent": "kmzb-basemap-proxy", **{h: public for h in SERVICE_URL_HEADERS}}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
        ) as upstream:
            body, status, upstream_headers = (
                upstream.read(MAX_BYTES + 1),
                upstream.status,
                upstream.headers,
            )
    except urllib.error.HTTPError as error:
        body, status, upstream_headers = error.read(MAX_BYTES), error.code, error.headers
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        return _bad_gateway(str(getattr(error, "reason", None) or error.__class__.__name__))
    if len(body) > MAX_BYTES:
        return _bad_gateway("answer too large", "odpowiedź za duża")
    response = Response(body, status=status)
    for name in PASSED_HEADERS:
        if name in upstream_headers:
            response.headers[name] = upstream_headers[name]
    if status == 200 and (response.mimetype or "").startswith("image/"):
        response.headers["Cache-Control"] = TILE_CACHE
    return response


# --- where am I --------------------------------------------------------------------------


@basemap.get("/places/reverse")
def place_reverse() -> Response:
    """?lon=&lat= (WGS84): the nearest GeoNames place and the gmina holding the point."""
    with get_pool().connection() as conn:
        return json_response(places.reverse(conn, request.args.to_dict()))
