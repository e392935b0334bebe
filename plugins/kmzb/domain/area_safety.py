"""Area safety summary: "czy w mojej okolicy jest bezpiecznie?". Rules and SQL live here.

For a point and a radius, or a gmina or powiat by TERYT code:
- counts of public threats (kmzb.public_threats only, so the visibility policy
  holds) by category, reported in the last 30, 90 and 365 days;
- the crime rates per 10,000 inhabitants of the powiat over the years against
  the national average (pillar 1 statistics).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.crs_names import in_envelope_of_poland
from kmzb.domain.errors import DomainError, FieldError

PERIODS = (30, 90, 365)
DEFAULT_RADIUS_M = 1000
MIN_RADIUS_M = 100
MAX_RADIUS_M = 10_000
TERYT_PATTERN = re.compile(r"^(\d{4}|\d{7})$")
NATIONAL = "PL"
KNOWN_INPUTS = {"lon", "lat", "radius", "teryt"}
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class AreaQuery:
    lon: float | None = None
    lat: float | None = None
    radius: int = DEFAULT_RADIUS_M
    teryt: str | None = None

    @property
    def is_circle(self) -> bool:
        return self.teryt is None


def bad_request(errors: list[FieldError]) -> DomainError:
    return DomainError(
        pl="Zapytanie zawiera błędy.",
        en="The request has errors.",
        errors=errors,
    )


def _number(data: dict[str, Any], name: str, errors: list[FieldError]) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.append(FieldError(name, f"{name} musi być liczbą.", f"{name} must be a number."))
        return None
    return float(value)


def parse_query(data: Any) -> AreaQuery:
    """Check the inputs; every problem is reported at once, per field, in Polish and English."""
    if not isinstance(data, dict):
        raise bad_request(
            [FieldError("inputs", "Wejście to obiekt JSON.", "The inputs are a JSON object.")]
        )
    errors: list[FieldError] = []
    unknown = sorted(set(data) - KNOWN_INPUTS)
    if unknown:
        names = ", ".join(unknown)
        errors.append(FieldError("inputs", f"Nieznane pola: {names}.", f"Unknown inputs: {names}."))
    lon = _number(data, "lon", errors)
    lat = _number(data, "lat", errors)
    radius_value = _number(data, "radius", errors)
    teryt = data.get("teryt")
    if teryt is not None and (not isinstance(teryt, str) or not TERYT_PATTERN.match(teryt)):
        errors.append(
            FieldError(
                "teryt",
                "Kod TERYT gminy (7 cyfr) albo powiatu (4 cyfry).",
                "A TERYT code of a gmina (7 digits) or a powiat (4 digits).",
            )
        )
        teryt = None
    has_point = "lon" in data or "lat" in data
    if teryt is not None or "teryt" in data:
        if has_point:
            errors.append(
                FieldError(
                    "teryt",
                    "Podaj punkt (lon, lat) albo kod TERYT, nie oba.",
                    "Give a point (lon, lat) or a TERYT code, not both.",
                )
            )
        elif "radius" in data:
            errors.append(
                FieldError(
                    "radius",
                    "Promień dotyczy tylko punktu, nie gminy ani powiatu.",
                    "A radius goes with a point, not with a gmina or powiat.",
                )
            )
    elif not has_point:
        errors.append(
            FieldError(
                "location",
                "Podaj punkt (lon, lat i opcjonalnie radius) albo kod TERYT gminy lub powiatu.",
                "Give a point (lon, lat and optionally radius) or a gmina or powiat TERYT code.",
            )
        )
    else:
        for name, value, low, high in (("lon", lon, -180, 180), ("lat", lat, -90, 90)):
            if name not in data:
                errors.append(FieldError(name, f"Brak {name}.", f"{name} is missing."))
            elif value is not None and not low <= value <= high:
                errors.append(
                    FieldError(
                        name,
                        f"{name} poza zakresem {low}..{high}.",
                        f"{name} is out of range {low}..{high}.",
                    )
                )
    radius = DEFAULT_RADIUS_M
    if radius_value is not None:
        if not MIN_RADIUS_M <= radius_value <= MAX_RADIUS_M:
            errors.append(
                FieldError(
                    "radius",
                    f"Promień od {MIN_RADIUS_M} do {MAX_RADIUS_M} m.",
                    f"The radius is {MIN_RADIUS_M} to {MAX_RADIUS_M} m.",
                )
            )
        else:
            radius = round(radius_value)
    if errors:
        raise bad_request(errors)
    return AreaQuery(lon=lon, lat=lat, radius=radius, teryt=teryt)


UNIT_AT_POINT = """
WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180) AS g)
SELECT u.teryt, u.name, u.level, u.parent_teryt
FROM kmzb.territorial_units u, p
WHERE u.level IN ('gmina', 'powiat') AND ST_Intersects(u.geom, p.g)
ORDER BY u.level
"""

UNIT_BY_CODE = """
SELECT u.teryt, u.name, u.level, u.parent_teryt,
       ST_X(ST_Transform(u.label_point, 4326)) AS lon,
       ST_Y(ST_Transform(u.label_point, 4326)) AS lat,
       ST_XMin(b.box) AS xmin, ST_YMin(b.box) AS ymin, ST_XMax(b.box) AS xmax,
       ST_YMax(b.box) AS ymax,
       p.name AS parent_name
FROM kmzb.territorial_units u
CROSS JOIN LATERAL (SELECT ST_Transform(ST_Envelope(u.geom), 4326) AS box) b
LEFT JOIN kmzb.territorial_units p ON p.teryt = u.parent_teryt
WHERE u.teryt = %(teryt)s AND u.level IN ('gmina', 'powiat')
"""

# Public threats only: the view applies the visibility policy. The box in
# degrees takes the view's spatial index; ST_DWithin on geography is exact.
THREATS_IN_CIRCLE = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT t.category,
       count(*) FILTER (WHERE t.reported_on > current_date - 30) AS d30,
       count(*) FILTER (WHERE t.reported_on > current_date - 90) AS d90,
       count(*) AS d365
FROM kmzb.public_threats t, p
WHERE t.geom && ST_Expand(p.g, %(dx)s, %(dy)s)
  AND ST_DWithin(t.geom::geography, p.g::geography, %(radius)s)
  AND t.reported_on > current_date - 365
GROUP BY t.category
"""

# gmina_teryt between the unit's first and last possible gmina code: one
# range on the index of migration 030, for a gmina and a powiat alike.
THREATS_IN_UNIT = """
SELECT t.category,
       count(*) FILTER (WHERE t.reported_on > current_date - 30) AS d30,
       count(*) FILTER (WHERE t.reported_on > current_date - 90) AS d90,
       count(*) AS d365
FROM kmzb.public_threats t
WHERE t.gmina_teryt BETWEEN %(low)s AND %(high)s
  AND t.reported_on > current_date - 365
GROUP BY t.category
"""

CATEGORIES = """
SELECT code, name_pl, name_en, sort_order FROM kmzb.threat_categories ORDER BY sort_order
"""

CRIME_YEARS = """
SELECT s.year, s.category, c.name_pl, c.name_en, c.sort_order,
       s.rate_per_10k AS rate, n.rate_per_10k AS national, s.count
FROM kmzb.crime_statistics s
JOIN kmzb.crime_categories c ON c.code = s.category
LEFT JOIN kmzb.crime_statistics n
       ON n.teryt = %(national)s AND n.year = s.year AND n.category = s.category
WHERE s.teryt = %(powiat)s
ORDER BY s.year, c.sort_order
"""


def _unit_summary(conn: psycopg.Connection, query: AreaQuery) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        if query.is_circle:
            rows = (
                cur.execute(UNIT_AT_POINT, {"lon": query.lon, "lat": query.lat}).fetchall()
                if in_envelope_of_poland(query.lon, query.lat)
                else []  # far outside: PostGIS could not project the point
            )
            by_level = {row["level"]: row for row in rows}
            if "powiat" not in by_level:
                raise bad_request(
                    [
                        FieldError(
                            "location",
                            "Wskazane miejsce leży poza granicami Polski.",
                            "The place is outside Poland.",
                        )
                    ]
                )
            gmina = by_level.get("gmina")
            powiat = by_level["powiat"]
            return {
                "kind": "circle",
                "lon": query.lon,
                "lat": query.lat,
                "radius_m": query.radius,
                "gmina": {"teryt": gmina["teryt"], "name": gmina["name"]} if gmina else None,
                "powiat": {"teryt": powiat["teryt"], "name": powiat["name"]},
            }
        row = cur.execute(UNIT_BY_CODE, {"teryt": query.teryt}).fetchone()
    if row is None:
        raise bad_request(
            [
                FieldError(
                    "teryt",
                    f"Nie ma gminy ani powiatu o kodzie TERYT {query.teryt}.",
                    f"No gmina or powiat has the TERYT code {query.teryt}.",
                )
            ]
        )
    area: dict[str, Any] = {
        "kind": row["level"],
        "teryt": row["teryt"],
        "name": row["name"],
        "lon": row["lon"],
        "lat": row["lat"],
        "bbox": [row["xmin"], row["ymin"], row["xmax"], row["ymax"]],
    }
    if row["level"] == "gmina":
        area["gmina"] = {"teryt": row["teryt"], "name": row["name"]}
        area["powiat"] = {"teryt": row["parent_teryt"], "name": row["parent_name"]}
    else:
        area["gmina"] = None
        area["powiat"] = {"teryt": row["teryt"], "name": row["name"]}
    return area


def _threats(conn: psycopg.Connection, query: AreaQuery) -> dict[str, Any]:
    if query.is_circle:
        assert query.lat is not None
        dy = query.radius / METRES_PER_DEGREE * 1.01
        dx = dy / max(math.cos(math.radians(query.lat)), 0.01)
        params: dict[str, Any] = {
            "lon": query.lon,
            "lat": query.lat,
            "radius": query.radius,
            "dx": dx,
            "dy": dy,
        }
        rows = conn.execute(THREATS_IN_CIRCLE, params).fetchall()
    else:
        assert query.teryt is not None
        low, high = (
            (query.teryt, query.teryt)
            if len(query.teryt) == 7
            else (query.teryt + "000", query.teryt + "999")
        )
        rows = conn.execute(THREATS_IN_UNIT, {"low": low, "high": high}).fetchall()
    counts = {row[0]: (row[1], row[2], row[3]) for row in rows}
    categories = []
    totals = [0, 0, 0]
    for code, name_pl, name_en, _order in conn.execute(CATEGORIES):
        if code not in counts:
            continue
        values = counts[code]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        categories.append(
            {
                "category": code,
                "name": {"pl": name_pl, "en": name_en},
                **{f"last_{days}_days": n for days, n in zip(PERIODS, values, strict=True)},
            }
        )
    categories.sort(key=lambda c: (-c["last_365_days"], c["category"]))
    return {
        "periods_days": list(PERIODS),
        "total": {f"last_{days}_days": n for days, n in zip(PERIODS, totals, strict=True)},
        "by_category": categories,
    }


def _ratio(rate: float | None, national: float | None) -> float | None:
    if rate is None or not national:
        return None
    return round(rate / national, 2)


def _crime(conn: psycopg.Connection, powiat: dict[str, str]) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            CRIME_YEARS, {"powiat": powiat["teryt"], "national": NATIONAL}
        ).fetchall()
    years: list[dict[str, Any]] = []
    latest_year = max((row["year"] for row in rows), default=None)
    latest: list[dict[str, Any]] = []
    for row in rows:
        rate = float(row["rate"]) if row["rate"] is not None else None
        national = float(row["national"]) if row["national"] is not None else None
        if row["category"] == "total":
            years.append(
                {
                    "year": row["year"],
                    "rate_per_10k": rate,
                    "national_rate_per_10k": national,
                    "count": row["count"],
                }
            )
        if row["year"] == latest_year:
            latest.append(
                {
                    "category": row["category"],
                    "name": {"pl": row["name_pl"], "en": row["name_en"]},
                    "rate_per_10k": rate,
                    "national_rate_per_10k": national,
                    "ratio_to_national": _ratio(rate, national),
                }
            )
    total_latest = next((c for c in latest if c["category"] == "total"), None)
    return {
        "powiat": powiat,
        "unit": {
            "pl": "przestępstwa stwierdzone na 10 tys. mieszkańców",
            "en": "crimes per 10,000",
        },
        "latest_year": latest_year,
        "ratio_to_national": total_latest["ratio_to_national"] if total_latest else None,
        "years": years,
        "latest_by_category": latest,
        "source": "GUS BDL, dane Komendy Głównej Policji / police data",
    }


def summarize(conn: psycopg.Connection, data: Any) -> dict[str, Any]:
    """The area safety summary for a point and radius, or a gmina/powiat by TERYT code."""
    query = parse_query(data)
    area = _unit_summary(conn, query)
    answer = {
        "area": area,
        "threats": _threats(conn, query),
        "crime": _crime(conn, area["powiat"]),
    }
    conn.rollback()
    return answer
