"""The vocabulary: statuses, categories, times of day and the limits of a submission.

Defined once, in the database (sql/003 and sql/043); read here in one set of
queries into typed, frozen records and kept for the life of the process (the
vocabulary changes only with a migration, and a migration is followed by a
restart). Everything else on the server takes names, colours, transitions,
enums and limits from here: GET /vocabulary (as_json), the process
descriptions, the submission checks, the police view's allowed transitions,
the demo loader.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class Name:
    pl: str
    en: str

    def as_json(self) -> dict[str, str]:
        return {"pl": self.pl, "en": self.en}


@dataclass(frozen=True)
class Status:
    code: str
    name: Name
    colour: str
    outline: str
    text_colour: str
    is_initial: bool
    is_open: bool
    is_confirmed: bool
    is_public: bool
    public_for_days: int | None  # None: for as long as the status lasts (when public)
    next: tuple[str, ...]  # the statuses it may change to (kmzb.status_transitions)
    sort_order: int
    open311_status: str  # 'open' | 'closed': what Open311 clients see (sql/046)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name.as_json(),
            "colour": self.colour,
            "outline": self.outline,
            "text_colour": self.text_colour,
            "is_initial": self.is_initial,
            "is_open": self.is_open,
            "is_confirmed": self.is_confirmed,
            "is_public": self.is_public,
            "public_for_days": self.public_for_days,
            "next": list(self.next),
            "sort_order": self.sort_order,
            "open311_status": self.open311_status,
        }


@dataclass(frozen=True)
class Category:
    code: str
    name: Name
    pictogram: str
    description_required: bool
    public_rule: str  # 'policy' | 'confirmed_only' | 'never'
    sort_order: int
    group: str  # a CategoryGroup's code (sql/046)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name.as_json(),
            "pictogram": self.pictogram,
            "description_required": self.description_required,
            "public_rule": self.public_rule,
            "sort_order": self.sort_order,
            "group": self.group,
        }


@dataclass(frozen=True)
class CategoryGroup:
    code: str
    name: Name

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name.as_json()}


@dataclass(frozen=True)
class TimeOfDay:
    code: str
    name: Name

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name.as_json()}


@dataclass(frozen=True)
class Limits:
    description_max_chars: int
    attachments_max_count: int
    attachment_max_bytes: int
    attachment_media_types: tuple[str, ...]
    reference_pattern: str
    teryt_gmina_pattern: str

    def as_json(self) -> dict[str, Any]:
        return {
            "description_max_chars": self.description_max_chars,
            "attachments_max_count": self.attachments_max_count,
            "attachment_max_bytes": self.attachment_max_bytes,
            "attachment_media_types": list(self.attachment_media_types),
            "reference_pattern": self.reference_pattern,
            "teryt_gmina_pattern": self.teryt_gmina_pattern,
        }

    @property
    def attachment_max_megabytes(self) -> str:
        """The attachment limit as people say it: '5 MB'."""
        megabytes = self.attachment_max_bytes / (1024 * 1024)
        return f"{megabytes:g} MB"


@dataclass(frozen=True)
class Vocabulary:
    statuses: tuple[Status, ...]
    categories: tuple[Category, ...]
    times_of_day: tuple[TimeOfDay, ...]
    limits: Limits
    groups: tuple[CategoryGroup, ...]

    def as_json(self) -> dict[str, Any]:
        """The body of GET /vocabulary."""
        return {
            "statuses": [s.as_json() for s in self.statuses],
            "categories": [c.as_json() for c in self.categories],
            "times_of_day": [t.as_json() for t in self.times_of_day],
            "limits": self.limits.as_json(),
            "groups": [g.as_json() for g in self.groups],
        }

    @property
    def etag(self) -> str:
        """A strong validator of the JSON body: the same vocabulary, the same tag."""
        body = json.dumps(self.as_json(), sort_keys=True, ensure_ascii=False)
        return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'

    def status(self, code: str) -> Status | None:
        return next((s for s in self.statuses if s.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def group(self, code: str) -> CategoryGroup | None:
        return next((g for g in self.groups if g.code == code), None)

    @property
    def status_codes(self) -> list[str]:
        return [s.code for s in self.statuses]

    @property
    def category_codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def time_of_day_codes(self) -> list[str]:
        return [t.code for t in self.times_of_day]

    @property
    def initial_status(self) -> Status:
        return next(s for s in self.statuses if s.is_initial)

    def transitions(self) -> list[tuple[str, str]]:
        """Every allowed change (from, to), in status order."""
        return [(s.code, to) for s in self.statuses for to in s.next]

    def allowed_transitions(self, code: str) -> list[dict[str, Any]]:
        """The statuses a report in `code` may move to, with their names."""
        current = self.status(code)
        if current is None:
            return []
        found = (self.status(to) for to in current.next)
        return [{"code": s.code, "name": s.name.as_json()} for s in found if s is not None]


STATUSES = """
SELECT s.code, s.name_pl, s.name_en, s.colour, s.outline, s.text_colour,
       s.is_initial, s.is_open, s.is_confirmed,
       coalesce(p.is_public, false) AS is_public,
       (extract(epoch FROM p.public_for) / 86400)::integer AS public_for_days,
       coalesce((SELECT array_agg(t.to_status ORDER BY n.sort_order)
                 FROM kmzb.status_transitions t
                 JOIN kmzb.statuses n ON n.code = t.to_status
                 WHERE t.from_status = s.code), '{}') AS next,
       s.sort_order, s.open311_status
FROM kmzb.statuses s
LEFT JOIN kmzb.visibility_policy p ON p.status = s.code
ORDER BY s.sort_order
"""
CATEGORIES = """
SELECT code, name_pl, name_en, pictogram, description_required, public_rule, sort_order,
       group_code
FROM kmzb.threat_categories ORDER BY sort_order
"""
GROUPS = "SELECT code, name_pl, name_en FROM kmzb.category_groups ORDER BY sort_order"
TIMES_OF_DAY = "SELECT code, name_pl, name_en FROM kmzb.times_of_day ORDER BY sort_order"
LIMITS = """
SELECT description_max_chars, attachments_max_count, attachment_max_bytes,
       attachment_media_types, reference_pattern, teryt_gmina_pattern
FROM kmzb.limits
"""


def read(conn: psycopg.Connection) -> Vocabulary:
    """The whole vocabulary from the database, now (no cache)."""
    with conn.cursor(row_factory=dict_row) as cur:
        statuses = tuple(
            Status(
                code=r["code"],
                name=Name(r["name_pl"], r["name_en"]),
                colour=r["colour"],
                outline=r["outline"],
                text_colour=r["text_colour"],
                is_initial=r["is_initial"],
                is_open=r["is_open"],
                is_confirmed=r["is_confirmed"],
                is_public=r["is_public"],
                public_for_days=r["public_for_days"],
                next=tuple(r["next"]),
                sort_order=r["sort_order"],
                open311_status=r["open311_status"],
            )
            for r in cur.execute(STATUSES).fetchall()
        )
        categories = tuple(
            Category(
                code=r["code"],
                name=Name(r["name_pl"], r["name_en"]),
                pictogram=r["pictogram"],
                description_required=r["description_required"],
                public_rule=r["public_rule"],
                sort_order=r["sort_order"],
                group=r["group_code"],
            )
            for r in cur.execute(CATEGORIES).fetchall()
        )
        times = tuple(
            TimeOfDay(r["code"], Name(r["name_pl"], r["name_en"]))
            for r in cur.execute(TIMES_OF_DAY).fetchall()
        )
        groups = tuple(
            CategoryGroup(r["code"], Name(r["name_pl"], r["name_en"]))
            for r in cur.execute(GROUPS).fetchall()
        )
        row = cur.execute(LIMITS).fetchone()
    if row is None:
        raise RuntimeError("kmzb.limits is empty: run the migrations (kmzb db migrate)")
    limits = Limits(
        description_max_chars=row["description_max_chars"],
        attachments_max_count=row["attachments_max_count"],
        attachment_max_bytes=row["attachment_max_bytes"],
        attachment_media_types=tuple(row["attachment_media_types"]),
        reference_pattern=row["reference_pattern"],
        teryt_gmina_pattern=row["teryt_gmina_pattern"],
    )
    return Vocabulary(statuses, categories, times, limits, groups)


_cached: Vocabulary | None = None
_lock = threading.Lock()


def load(conn: psycopg.Connection) -> Vocabulary:
    """The vocabulary, read once per process (on the first call) and kept.

    Reading it leaves the connection's transaction as it found it: an idle
    connection stays idle (the read is rolled back), one in a transaction
    keeps it."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                _cached = read(conn)
                if idle:
                    conn.rollback()
    return _cached
