"""Open311 GET requests, requests/{id} and tokens: what the public map shows
(kmzb.public_threats), and a request by its reference what GET /reports/{ref} shows
its holder."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain import vocabulary
from kmzb.domain.crs_names import in_envelope_of_poland
from kmzb.domain.errors import DomainError, FieldError, invalid_query, not_found
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.open311 import (
    DEFAULT_RADIUS_M,
    MAX_IDS,
    MAX_RADIUS_M,
    MAX_REQUESTS,
    WARSAW,
    WINDOW,
    check_jurisdiction,
    lon_lat,
    say,
    w3c,
    w3c_moment,
)
from kmzb.domain.vocabulary import Vocabulary

REQUEST_COLUMNS = """
SELECT r.public_ref, r.category, r.status, st.open311_status, r.description,
       u.name AS unit_name, r.created_at, r.status_changed_at, g.name AS gmina_name,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       (SELECT CASE WHEN NOT h.note_internal THEN h.note END
        FROM kmzb.report_status_history h WHERE h.report_id = r.id
        ORDER BY h.changed_at DESC, h.id DESC LIMIT 1) AS status_notes,
       EXISTS (SELECT 1 FROM kmzb.public_threats p WHERE p.id = r.public_ref) AS is_public
FROM kmzb.reports r
JOIN kmzb.statuses st ON st.code = r.status
JOIN kmzb.police_units u ON u.code = r.police_unit
LEFT JOIN kmzb.territorial_units g ON g.teryt = r.gmina_teryt
"""

# The list shows what the public map shows: the rows of kmzb.public_threats, tested on
# the report's own public_until as the view and the feeds test it. A semi-join to the view
# read every report near the point (14,318 within 2 km of Kraków's centre, 227 public,
# 150 ms); on the row, the (geom, public_until) index finds the public ones only.
SEARCH = (
    REQUEST_COLUMNS
    + """
WHERE r.public_until > now()
  AND r.created_at >= %(start)s AND r.created_at <= %(end)s
  AND (%(codes)s::text[] IS NULL OR r.category = ANY (%(codes)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR st.open311_status = ANY (%(statuses)s::text[]))
  AND (%(unit)s::text IS NULL OR r.police_unit IN (
           SELECT x.code FROM kmzb.police_unit_reach(%(unit)s, true) AS x (code)))
  AND (%(lon)s::float8 IS NULL OR ST_DWithin(
           r.geom,
           ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180),
           %(radius)s))
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s
"""
)
BY_REFERENCE = REQUEST_COLUMNS + "WHERE r.public_ref = %(ref)s"
LISTED = (
    REQUEST_COLUMNS
    + """
WHERE r.public_ref = ANY (%(refs)s) AND r.public_until > now()
ORDER BY r.created_at DESC, r.id DESC
"""
)


def as_request(row: dict[str, Any], vocab: Vocabulary, lang: str) -> dict[str, Any]:
    """One request as Open311 shows it. Where the public map does not show the report,
    its holder sees what GET /reports/{ref} shows: no place, no description."""
    category = vocab.category(row["category"])
    public = row["is_public"]
    return {
        "service_request_id": row["public_ref"],
        "status": row["open311_status"],
        "status_notes": row["status_notes"],
        "service_name": say(category.name, lang) if category else row["category"],
        "service_code": row["category"],
        "description": row["description"] if public else None,
        "agency_responsible": row["unit_name"],
        "service_notice": say(EMERGENCY_NOTICE, lang),
        "requested_datetime": w3c(row["created_at"]),
        "updated_datetime": w3c(row["status_changed_at"]),
        "expected_datetime": None,
        "address": row["gmina_name"] if public else None,
        "address_id": None,
        "zipcode": None,
        "lat": round(row["lat"], 6) if public else None,
        "long": round(row["lon"], 6) if public else None,
        "media_url": None,
        "detailed_status": row["status"],
    }


def _references(text: str, pattern: str, errors: list[FieldError]) -> list[str]:
    refs = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [ref for ref in refs if not re.match(pattern, ref)]
    if not refs or bad or len(refs) > MAX_IDS:
        errors.append(
            FieldError(
                "service_request_id",
                f"service_request_id: od 1 do {MAX_IDS} numerów XXXX-XXXX-XXXX po przecinku.",
                f"service_request_id: 1 to {MAX_IDS} references XXXX-XXXX-XXXX, comma separated.",
            )
        )
    return refs


def _moment(args: dict[str, str], name: str, errors: list[FieldError]) -> datetime | None:
    text = args.get(name)
    if text is None:
        return None
    moment = w3c_moment(text)
    if moment is None:
        errors.append(
            FieldError(
                name,
                f"{name}: data i czas W3C ze strefą, np. 2026-11-01T00:00:00+01:00 "
                "albo 2026-11-01T00:00:00Z.",
                f"{name}: a W3C datetime with its offset, e.g. 2026-11-01T00:00:00+01:00 "
                "or 2026-11-01T00:00:00Z.",
            )
        )
        return None
    return moment


def _codes_list(text: str, allowed: list[str], name: str, errors: list[FieldError]) -> list[str]:
    codes = [part.strip() for part in text.split(",") if part.strip()]
    bad = [code for code in codes if code not in allowed]
    if not codes or bad:
        errors.append(
            FieldError(
                name,
                f"{name}: jedno lub więcej z {', '.join(allowed)} po przecinku"
                + (f" (nieznane: {', '.join(bad)})." if bad else "."),
                f"{name}: one or more of {', '.join(allowed)}, comma separated"
                + (f" (unknown: {', '.join(bad)})." if bad else "."),
            )
        )
    return codes


def _whole(
    args: dict[str, str], name: str, low: int, high: int, default: int, errors: list[FieldError]
) -> int:
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
        if not low <= value <= high:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(name, f"{name}: liczba od {low} do {high}.", f"{name}: {low} to {high}.")
        )
        return default
    return value


def search(
    conn: psycopg.Connection, args: dict[str, str], lang: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """GET requests: what the public map shows, newest first, filtered as the spec and
    FixMyStreet's lat/long extension say."""
    vocab = vocabulary.load(conn)
    errors: list[FieldError] = []
    if "service_request_id" in args:  # the spec: it overrides every other parameter
        refs = _references(args["service_request_id"], vocab.limits.reference_pattern, errors)
        if errors:
            raise invalid_query(errors)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(LISTED, {"refs": refs}).fetchall()
        conn.rollback()
        return [as_request(row, vocab, lang) for row in rows]

    jurisdiction = args.get("jurisdiction_id")
    unit = None
    try:
        unit = check_jurisdiction(conn, jurisdiction.strip() if jurisdiction else None)
    except DomainError as error:
        errors += error.errors
    codes = (
        _codes_list(args["service_code"], vocab.category_codes, "service_code", errors)
        if "service_code" in args
        else None
    )
    statuses = (
        _codes_list(args["status"], ["open", "closed"], "status", errors)
        if "status" in args
        else None
    )
    start, end = _moment(args, "start_date", errors), _moment(args, "end_date", errors)
    now = now or datetime.now(WARSAW)
    if start is None and end is None:
        start, end = now - WINDOW, now
    elif end is None:
        end = start + WINDOW if start is not None else now
    elif start is None:
        start = end - WINDOW
    if start is not None and end is not None:
        if end < start:
            errors.append(
                FieldError(
                    "end_date",
                    "end_date jest wcześniejsza niż start_date.",
                    "end_date is before start_date.",
                )
            )
        elif end - start > WINDOW:
            errors.append(
                FieldError(
                    "end_date",
                    "Zakres start_date–end_date może obejmować najwyżej 90 dni.",
                    "The range start_date to end_date may span at most 90 days.",
                )
            )
    lon = lat = None
    if "lat" in args or "long" in args:
        found = lon_lat(args.get("lat"), args.get("long"), errors)
        lon, lat = found if found is not None else (None, None)
    elif "radius" in args:
        errors.append(
            FieldError("radius", "radius wymaga lat i long.", "radius needs lat and long.")
        )
    radius = _whole(args, "radius", 1, MAX_RADIUS_M, DEFAULT_RADIUS_M, errors)
    limit = _whole(args, "max_requests", 1, MAX_REQUESTS, MAX_REQUESTS, errors)
    if errors:
        conn.rollback()
        raise invalid_query(errors)
    if lon is not None and not in_envelope_of_poland(lon, lat):
        return []  # no report lies there (and PostGIS could not project the point)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            SEARCH,
            {
                "start": start,
                "end": end,
                "codes": codes,
                "statuses": statuses,
                "unit": unit,
                "lon": lon,
                "lat": lat,
                "radius": radius,
                "limit": limit,
            },
        ).fetchall()
    conn.rollback()
    return [as_request(row, vocab, lang) for row in rows]


def by_id(conn: psycopg.Connection, reference: str, lang: str) -> list[dict[str, Any]]:
    """GET requests/{id}: one request, for anyone holding its reference."""
    vocab = vocabulary.load(conn)
    ref = reference.strip().upper()
    if not re.match(vocab.limits.reference_pattern, ref):
        raise invalid_query(
            [
                FieldError(
                    "service_request_id",
                    "Numer zgłoszenia ma postać XXXX-XXXX-XXXX.",
                    "A report reference looks like XXXX-XXXX-XXXX.",
                )
            ]
        )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(BY_REFERENCE, {"ref": ref}).fetchall()
    conn.rollback()
    if not rows:
        raise not_found(
            f"No service request with the id {ref}.",
            f"Nie ma zgłoszenia o numerze {ref}.",
        )
    return [as_request(rows[0], vocab, lang)]


def token(conn: psycopg.Connection, value: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: requests are stored at once, so a token is the reference."""
    ref = value.strip().upper()
    pattern = vocabulary.load(conn).limits.reference_pattern
    found = None
    if re.match(pattern, ref):
        found = conn.execute("SELECT 1 FROM kmzb.reports WHERE public_ref = %s", (ref,)).fetchone()
    conn.rollback()
    if found is None:
        raise not_found(f"No token {value}.", f"Nie ma tokenu {value}.")
    return [{"service_request_id": ref, "token": ref}]
