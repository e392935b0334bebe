"""What the Atom feeds say: the latest public changes of public threats in an area, and
one report's public history. Only what the public views show: reports the visibility
policy makes public (`public_until`, as kmzb.public_threats tests it), notes marked
public, no reporter data. The service (kmzb.service.feeds) renders them as Atom.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain import report_rows, vocabulary
from kmzb.domain.errors import DomainError, FieldError, invalid_query, not_found

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
PARAMETERS = ("gmina", "powiat", "wojewodztwo", "bbox", "category", "status", "limit")
# the TERYT code of each level: its digits and the name of the level in both languages
LEVELS = {
    "gmina": (7, "gmina", "gmina", "municipality"),
    "powiat": (4, "powiat", "powiat", "county"),
    "wojewodztwo": (2, "wojewodztwo", "województwo", "voivodeship"),
}


def teryt_pattern(level: str) -> str:
    """The pattern of a TERYT code of `level` (the feeds, the OpenAPI and AsyncAPI documents)."""
    return f"^[0-9]{{{LEVELS[level][0]}}}$"


@dataclass(frozen=True)
class Place:
    level: str
    teryt: str
    name: str


@dataclass(frozen=True)
class AreaFilter:
    places: tuple[Place, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    category: vocabulary.Category | None = None
    status: vocabulary.Status | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def key(self) -> str:
        """The filter as a canonical string (part of the feed's id and validator)."""
        parts = [f"{p.level}={p.teryt}" for p in self.places]
        if self.bbox:
            parts.append("bbox=" + ",".join(f"{v:g}" for v in self.bbox))
        if self.category:
            parts.append(f"category={self.category.code}")
        if self.status:
            parts.append(f"status={self.status.code}")
        parts.append(f"limit={self.limit}")
        return "&".join(parts)

    def describe(self) -> tuple[str, str]:
        """What the feed holds, in Polish and in English."""
        pl: list[str] = []
        en: list[str] = []
        for place in self.places:
            _, _, level_pl, level_en = LEVELS[place.level]
            # powiat names carry their level already ("powiat Kraków", "powiat krakowski")
            named = place.name if place.name.startswith(level_pl) else f"{level_pl} {place.name}"
            pl.append(f"{named} ({place.teryt})")
            bare = place.name.removeprefix(f"{level_pl} ")
            en.append(f"{level_en} {bare} ({place.teryt})")
        if self.bbox:
            box = ", ".join(f"{v:g}" for v in self.bbox)
            pl.append(f"obszar {box}")
            en.append(f"area {box}")
        if self.category:
            pl.append(f"kategoria: {self.category.name.pl}")
            en.append(f"category: {self.category.name.en}")
        if self.status:
            pl.append(f"status: {self.status.name.pl}")
            en.append(f"status: {self.status.name.en}")
        return (
            "; ".join(pl) or "cała Polska",
            "; ".join(en) or "all of Poland",
        )


@dataclass(frozen=True)
class Change:
    """One public status change of a public report."""

    history_id: int
    reference: str
    changed_at: datetime
    status: str
    status_pl: str
    status_en: str
    category: str
    category_pl: str
    category_en: str
    note: str | None
    lon: float
    lat: float
    gmina: Place
    powiat: Place
    wojewodztwo: Place


@dataclass(frozen=True)
class State:
    """What every feed's content follows: the last status change stored (every write
    that changes what the public sees of a report appends to the history: a submission,
    a review, a burst hold with the submission that triggers it, its release) and the
    database's clock (visibility windows end on it)."""

    last_change: int
    now: datetime


@dataclass(frozen=True)
class Feed:
    changes: tuple[Change, ...]
    state: State
    # the first instant an entry leaves the public view (a visibility window), if any
    expires: datetime | None

    @property
    def newest(self) -> datetime | None:
        return max((c.changed_at for c in self.changes), default=None)

    def etag(self, key: str) -> str:
        """A strong validator that can be checked without reading the feed again: the
        first instant one of its entries leaves the public view, and a digest of the
        filter (`key`, from `digest`) with the last change stored when it was read. The
        same two, the same entries (a feed is the newest N public changes: only a new
        change or an entry's window ending alters it)."""
        expires = "inf" if self.expires is None else str(int(self.expires.timestamp()))
        return f'"{expires}-{_tag_digest(key, self.state.last_change)}"'


ETAG = re.compile(r'"?(inf|[0-9]+)-([0-9a-f]{24})"?')


def digest(conn: psycopg.Connection, key: str) -> str:
    """The filter (or reference) and the vocabulary (names, visibility policy), hashed."""
    text = key + "|" + vocabulary.load(conn).etag
    return hashlib.sha256(text.encode()).hexdigest()


def _tag_digest(key_digest: str, last_change: int) -> str:
    # the last change's number is hashed in: a tag does not tell how busy the service is
    return hashlib.sha256(f"{key_digest}|{last_change}".encode()).hexdigest()[:24]


def current_state(conn: psycopg.Connection) -> State:
    """The last history row (its primary key: an index lookup) and the clock."""
    row = report_rows.one(
        conn.execute(
            "SELECT coalesce(max(id), 0), now() FROM kmzb.report_status_history"
        ).fetchone()
    )
    conn.rollback()
    return State(int(row[0]), row[1])


def still_valid(tags: list[str], key_digest: str, state: State) -> str | None:
    """The first of the client's ETags that still names the feed as it is now, or None."""
    expected = _tag_digest(key_digest, state.last_change)
    for tag in tags:
        found = ETAG.fullmatch(tag.strip())
        if found is None or found.group(2) != expected:
            continue
        if found.group(1) == "inf" or state.now.timestamp() < int(found.group(1)):
            return '"' + "-".join(found.groups()) + '"'
    return None


def _refuse(field: str, pl: str, en: str) -> DomainError:
    return invalid_query([FieldError(field, pl, en)])


def _place(conn: psycopg.Connection, level: str, value: str) -> Place:
    digits, stored_level, level_pl, level_en = LEVELS[level]
    if not re.fullmatch(teryt_pattern(level), value):
        raise _refuse(
            level,
            f"Kod TERYT ({level_pl}) ma {digits} cyfr.",
            f"A {level_en} TERYT code has {digits} digits.",
        )
    row = conn.execute(
        "SELECT name FROM kmzb.territorial_units WHERE teryt = %s AND level = %s",
        (value, stored_level),
    ).fetchone()
    if row is None:
        raise _refuse(
            level,
            f"Nie ma jednostki ({level_pl}) o kodzie TERYT {value}.",
            f"No {level_en} has the TERYT code {value}.",
        )
    return Place(level, value, row[0])


def _bbox(value: str) -> tuple[float, float, float, float]:
    refusal = _refuse(
        "bbox",
        "bbox to cztery liczby: minDł,minSzer,maksDł,maksSzer (CRS84), min ≤ maks.",
        "bbox is four numbers: minLon,minLat,maxLon,maxLat (CRS84), min ≤ max.",
    )
    try:
        numbers = [float(part) for part in value.split(",")]
    except ValueError:
        raise refusal from None
    if len(numbers) != 4 or any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
        raise refusal
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise refusal
    return (min_lon, min_lat, max_lon, max_lat)


def _limit(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= MAX_LIMIT:
        raise _refuse(
            "limit",
            f"limit to liczba od 1 do {MAX_LIMIT}.",
            f"limit is a number from 1 to {MAX_LIMIT}.",
        )
    return int(value)


def parse_area(conn: psycopg.Connection, args: dict[str, str]) -> AreaFilter:
    """The feed's query parameters, or a 400 (pl/en) naming the first one at fault."""
    unknown = sorted(set(args) - set(PARAMETERS))
    if unknown:
        raise _refuse(
            unknown[0],
            f"Nieznany parametr: {unknown[0]}. Dozwolone: {', '.join(PARAMETERS)}.",
            f"Unknown parameter: {unknown[0]}. Allowed: {', '.join(PARAMETERS)}.",
        )
    words = vocabulary.load(conn)
    places = tuple(_place(conn, level, args[level]) for level in LEVELS if level in args)
    category = None
    if "category" in args:
        category = words.category(args["category"])
        if category is None or category.public_rule == "never":
            raise _refuse(
                "category",
                "Nieznana kategoria lub kategoria niepokazywana publicznie.",
                "Unknown category, or one never shown to the public.",
            )
    status = None
    if "status" in args:
        status = words.status(args["status"])
        if status is None or not status.is_public:
            raise _refuse(
                "status",
                "Nieznany status lub status niepokazywany publicznie.",
                "Unknown status, or one never shown to the public.",
            )
    conn.rollback()
    return AreaFilter(
        places=places,
        bbox=_bbox(args["bbox"]) if "bbox" in args else None,
        category=category,
        status=status,
        limit=_limit(args["limit"]) if "limit" in args else DEFAULT_LIMIT,
    )


# Each public report at its latest change (the history row that set its status), newest
# first; the note only when it was marked public.
AREA = """
SELECT h.id AS history_id, r.public_ref AS reference, r.status_changed_at AS changed_at,
       r.status, s.name_pl AS status_pl, s.name_en AS status_en,
       r.category, c.name_pl AS category_pl, c.name_en AS category_en,
       CASE WHEN NOT h.note_internal THEN h.note END AS note,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       r.gmina_teryt, g.name AS gmina_name, p.teryt AS powiat_teryt, p.name AS powiat_name,
       w.teryt AS wojewodztwo_teryt, w.name AS wojewodztwo_name,
       NULLIF(r.public_until, 'infinity') AS public_until  -- a window's end, if any
FROM kmzb.reports r
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.territorial_units g ON g.teryt = r.gmina_teryt
JOIN kmzb.territorial_units p ON p.teryt = g.parent_teryt
JOIN kmzb.territorial_units w ON w.teryt = p.parent_teryt
CROSS JOIN LATERAL (
    SELECT hh.id, hh.note, hh.note_internal FROM kmzb.report_status_history hh
    WHERE hh.report_id = r.id ORDER BY hh.changed_at DESC, hh.id DESC LIMIT 1
) h
WHERE r.public_until > now()
  AND (%(gmina)s::text IS NULL OR r.gmina_teryt = %(gmina)s)
  AND (%(powiat)s::text IS NULL OR r.gmina_teryt LIKE %(powiat)s || '%%')
  AND (%(wojewodztwo)s::text IS NULL OR r.gmina_teryt LIKE %(wojewodztwo)s || '%%')
  AND (%(category)s::text IS NULL OR r.category = %(category)s)
  AND (%(status)s::text IS NULL OR r.status = %(status)s)
  AND (%(min_lon)s::float8 IS NULL
       OR ST_Transform(r.geom, 4326)::geometry(Point, 4326)
          && ST_MakeEnvelope(%(min_lon)s, %(min_lat)s, %(max_lon)s, %(max_lat)s, 4326))
ORDER BY r.status_changed_at DESC, r.id DESC
LIMIT %(limit)s
"""


def _change(row: dict[str, Any]) -> Change:
    return Change(
        history_id=row["history_id"],
        reference=row["reference"],
        changed_at=row["changed_at"],
        status=row["status"],
        status_pl=row["status_pl"],
        status_en=row["status_en"],
        category=row["category"],
        category_pl=row["category_pl"],
        category_en=row["category_en"],
        note=row["note"],
        lon=round(row["lon"], 5),
        lat=round(row["lat"], 5),
        gmina=Place("gmina", row["gmina_teryt"], row["gmina_name"]),
        powiat=Place("powiat", row["powiat_teryt"], row["powiat_name"]),
        wojewodztwo=Place("wojewodztwo", row["wojewodztwo_teryt"], row["wojewodztwo_name"]),
    )


def _feed(rows: list[dict[str, Any]], state: State) -> Feed:
    windows = [r["public_until"] for r in rows if r["public_until"] is not None]
    return Feed(tuple(_change(row) for row in rows), state, min(windows, default=None))


def area_changes(conn: psycopg.Connection, where: AreaFilter) -> Feed:
    """The latest public changes of the public reports the filter selects."""
    levels = {p.level: p.teryt for p in where.places}
    box = where.bbox or (None, None, None, None)
    params: dict[str, Any] = {
        "gmina": levels.get("gmina"),
        "powiat": levels.get("powiat"),
        "wojewodztwo": levels.get("wojewodztwo"),
        "category": where.category.code if where.category else None,
        "status": where.status.code if where.status else None,
        "min_lon": box[0],
        "min_lat": box[1],
        "max_lon": box[2],
        "max_lat": box[3],
        "limit": where.limit,
    }
    state = current_state(conn)  # first: a change after it only makes the tag stale
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(AREA, params).fetchall()
    conn.rollback()
    return _feed(rows, state)


# One public report's history, newest first: every status change, notes only if public.
HISTORY = """
SELECT h.id AS history_id, r.public_ref AS reference, h.changed_at,
       h.to_status AS status, s.name_pl AS status_pl, s.name_en AS status_en,
       r.category, c.name_pl AS category_pl, c.name_en AS category_en,
       CASE WHEN NOT h.note_internal THEN h.note END AS note,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       r.gmina_teryt, g.name AS gmina_name, p.teryt AS powiat_teryt, p.name AS powiat_name,
       w.teryt AS wojewodztwo_teryt, w.name AS wojewodztwo_name,
       NULLIF(r.public_until, 'infinity') AS public_until  -- a window's end, if any
FROM kmzb.reports r
JOIN kmzb.report_status_history h ON h.report_id = r.id
JOIN kmzb.statuses s ON s.code = h.to_status
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.territorial_units g ON g.teryt = r.gmina_teryt
JOIN kmzb.territorial_units p ON p.teryt = g.parent_teryt
JOIN kmzb.territorial_units w ON w.teryt = p.parent_teryt
WHERE r.public_ref = %s AND r.public_until > now()
ORDER BY h.changed_at DESC, h.id DESC
"""


def parse_reference(conn: psycopg.Connection, reference: Any) -> str:
    """The reference upper-cased, or a 400 (pl/en)."""
    return report_rows.parse_reference(reference, vocabulary.load(conn).limits.reference_pattern)


def report_history(conn: psycopg.Connection, reference: Any) -> tuple[str, Feed]:
    """A public report's reference and its public history; 400 for a malformed
    reference, 404 for one unknown or not public (the same answer: a feed does not
    tell which)."""
    ref = parse_reference(conn, reference)
    state = current_state(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(HISTORY, (ref,)).fetchall()
    conn.rollback()
    if not rows:
        raise not_found(
            f"No public report with the reference {ref}.",
            f"Nie ma publicznego zgłoszenia o numerze {ref}.",
        )
    return ref, _feed(rows, state)
