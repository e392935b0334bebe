"""HTTP caching of the public reads: features (/collections/{id}/items and
/items/{fid}), vector tiles (/collections/{id}/tiles/...) of every collection,
boundaries, categories and statistics among them.

Validators, from the data's change time (kmzb.domain.change_times), read BEFORE
pygeoapi runs the query: a conditional GET that still holds is a 304 with no query run.

- ETag (weak: pygeoapi's bodies carry the time they were made, so two answers of the
  same data are equivalent, not byte-equal) is a digest of everything the answer
  depends on: the service's version, the path and query as sent (f, lang, bbox...),
  the Accept-Language header as sent, and Accept as sent when the query names no `f`
  (pygeoapi takes the format from `f` when given, else from Accept), and the state of
  the answer's sources: their write counters and, for reports, the last public_until
  passed (a report leaves the public view with no write). Exact: any committed write
  to a source changes it.
- Last-Modified: the newest write or expiry, to the second. `If-None-Match` decides
  alone when sent (RFC 9110 13.2.2); `If-Modified-Since` alone gets a 304 only when
  the last change is older than two seconds (HTTP dates count whole seconds, and a
  write is stamped at its statement, not its commit).
- Cache-Control: `public, max-age=30` for threats (a new or reviewed report shows
  within half a minute), a day for boundaries, police units, categories and
  statistics (they change when the loaders run), and for the grid tiles of threats at
  small zooms (kmzb.public_threat_cells) until the next refresh of the grid (at least
  5 s: a late refresh has its tiles revalidated every 5 s).
  `Vary: Accept-Language`, and Accept when the query names no `f`.
- A read with an Authorization header is never marked cacheable: `private, no-store`,
  no validators (and no 304).

nginx (docker/nginx/kmzb-locations.conf) caches these answers as they say, and
revalidates with these validators when they expire.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import psycopg
from flask import Flask, Response, request
from werkzeug.http import http_date

from kmzb.domain import change_times
from kmzb.service.query_checks import ITEM, ITEMS, TILE

log = logging.getLogger(__name__)

DAY = 86400
THREATS_MAX_AGE = 30
# how often the grid of public threats is refreshed: kmzb.runner.AGGREGATE_REFRESH_SECONDS
# and docker's `jobs` service (a test holds them equal)
CELLS_REFRESH_SECONDS = 300
# a refresh that is late: the tiles are revalidated this often (max-age=0 would make
# caches keep no copy at all)
CELLS_MIN_MAX_AGE = 5
# If-Modified-Since alone is trusted only for data unchanged this long (whole-second dates)
IMS_SETTLED_SECONDS = 2.0
PRIVATE = "private, no-store"
DETAIL_ZOOM = 14  # the threat tiles' default (kmzb.providers.tiles)


@dataclass(frozen=True)
class Rule:
    sources: tuple[str, ...]
    expiry: bool  # reports: the last public_until passed is part of the state
    max_age: int | None  # None: until the next refresh of the grid


THREATS = Rule(("reports", "places", "vocabulary"), expiry=True, max_age=THREATS_MAX_AGE)
CELLS = Rule(("cells",), expiry=False, max_age=None)
PLACES = Rule(("places",), expiry=False, max_age=DAY)
STATISTICS = Rule(("places", "statistics", "vocabulary"), expiry=False, max_age=DAY)
RULES: dict[str, Rule] = {
    "threats": THREATS,
    "threat-categories": Rule(("vocabulary",), expiry=False, max_age=DAY),
    "wojewodztwa": PLACES,
    "powiaty": PLACES,
    "gminy": PLACES,
    "police-units": PLACES,
    "crime-rates": STATISTICS,
    "crime-statistics": STATISTICS,
}


@dataclass(frozen=True)
class Validators:
    etag: str
    last_modified: datetime | None
    cache_control: str
    settled: bool  # the last change is old enough for If-Modified-Since alone


def _version() -> str:
    try:
        return metadata.version("kmzb")
    except metadata.PackageNotFoundError:
        return "dev"


VERSION = _version()


def _detail_zoom(cid: str) -> int:
    """The zoom from which a collection's tiles draw points, not the grid."""
    from pygeoapi.flask_app import CONFIG

    resource = CONFIG["resources"].get(cid) or {}
    for provider in resource.get("providers", []):
        if provider.get("type") == "tile":
            return int((provider.get("options") or {}).get("detail_zoom", DETAIL_ZOOM))
    return DETAIL_ZOOM


def rule_for(path: str) -> Rule | None:
    """The caching rule of a public read's path (None: not one of them)."""
    for pattern in (ITEMS, ITEM, TILE):
        match = pattern.match(path)
        if match is None:
            continue
        rule = RULES.get(match["cid"])
        if rule is THREATS and pattern is TILE:
            # checked by query_checks before this runs: an integer zoom
            if int(match["z"]) < _detail_zoom(match["cid"]):
                return CELLS
        return rule
    return None


def _max_age(rule: Rule, state: change_times.State, now: datetime) -> int:
    if rule.max_age is not None:
        return rule.max_age
    if state.changed_at is None:
        return CELLS_MIN_MAX_AGE
    age = (now - state.changed_at).total_seconds()
    return max(CELLS_MIN_MAX_AGE, int(CELLS_REFRESH_SECONDS - age))


def validators(rule: Rule, state: change_times.State, now: datetime) -> Validators:
    parts = [
        VERSION,
        request.full_path if request.query_string else request.path,
        "" if _format_named() else request.headers.get("Accept", ""),
        request.headers.get("Accept-Language", ""),
        state.token,
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    last = state.last_modified
    settled = last is not None and (now - last).total_seconds() >= IMS_SETTLED_SECONDS
    return Validators(
        etag=f'W/"{digest}"',
        last_modified=last,
        cache_control=f"public, max-age={_max_age(rule, state, now)}",
        settled=settled,
    )


def _read_state(rule: Rule) -> change_times.State | None:
    from kmzb.db.pool import get_read_pool

    try:
        with get_read_pool().connection() as conn:
            return change_times.current_state(conn, rule.sources, rule.expiry)
    except psycopg.OperationalError:
        # the database is unavailable (PoolTimeout is one): the read would fail the same
        # way after the same wait; kmzb.service.faults answers 503 with Retry-After now
        raise
    except psycopg.Error as error:  # answer without validators rather than not at all
        log.warning("no validators for %s: %s", request.path, str(error).splitlines()[0])
        return None


def _drop(headers: Any, name: str) -> None:
    """Remove a header from werkzeug's Headers or the plain dict pygeoapi 0.24 hands Flask."""
    for key in [k for k in list(headers.keys()) if k.lower() == name.lower()]:
        del headers[key]


def _set(headers: Any, name: str, value: str) -> None:
    _drop(headers, name)
    headers[name] = value


def _get(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def _format_named() -> bool:
    """The query names the format: pygeoapi then ignores Accept."""
    return bool(request.args.get("f"))


def _vary(headers: Any) -> None:
    present = [v.strip() for v in _get(headers, "Vary").split(",") if v.strip()]
    if "*" in present:
        return
    known = {v.lower() for v in present}
    wanted = ("Accept-Language",) if _format_named() else ("Accept", "Accept-Language")
    _set(headers, "Vary", ", ".join(present + [v for v in wanted if v.lower() not in known]))


def _describe(headers: Any, found: Validators) -> None:
    _set(headers, "ETag", found.etag)
    _set(headers, "Cache-Control", found.cache_control)
    if found.last_modified is not None:
        _set(headers, "Last-Modified", http_date(found.last_modified))
    _vary(headers)


def still_valid(found: Validators) -> bool:
    """The client's copy still holds (RFC 9110 13.2.2: If-None-Match decides alone)."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(found.etag[2:].strip('"')) or (
            request.if_none_match.star_tag
        )
    since = request.if_modified_since
    if since is None or found.last_modified is None or not found.settled:
        return False
    return found.last_modified.astimezone(UTC).replace(microsecond=0) <= since


CACHE_STATE = "kmzb.cache_validators"  # in the request's WSGI environ, for the answer


def check_request() -> Response | None:
    """Before pygeoapi: the validators of a public read, and a 304 when they hold."""
    if request.method not in ("GET", "HEAD"):
        return None
    rule = rule_for(request.path)
    if rule is None:
        return None
    if "Authorization" in request.headers:
        request.environ[CACHE_STATE] = PRIVATE
        return None
    state = _read_state(rule)
    if state is None:
        return None
    found = validators(rule, state, datetime.now(UTC))
    request.environ[CACHE_STATE] = found
    if still_valid(found):
        response = Response(status=304)
        _describe(response.headers, found)
        return response
    return None


def describe_response(response: Response) -> Response:
    found = request.environ.get(CACHE_STATE)
    if found is None:
        return response
    if found == PRIVATE:
        _set(response.headers, "Cache-Control", PRIVATE)
        _drop(response.headers, "ETag")
        _drop(response.headers, "Last-Modified")
        return response
    if response.status_code in (200, 204) and isinstance(found, Validators):
        _describe(response.headers, found)
    return response


def install(app: Flask) -> None:
    """After query_checks (a bad query is its 4xx, never a 304)."""
    app.before_request(check_request)
    app.after_request(describe_response)
