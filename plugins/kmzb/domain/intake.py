"""Taking a report in: check a parsed submission against the database, store it with
its first history entry and attachments, and describe it. Parsing the inputs is
kmzb.domain.submission's (pure Python); the write is one transaction, committed
before the caller gets an answer."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import psycopg

from kmzb.domain import bursts, idempotency, vocabulary
from kmzb.domain.caller import Caller
from kmzb.domain.crs_names import in_envelope_of_poland
from kmzb.domain.errors import DomainError, FieldError, forbidden, invalid
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.report_rows import one
from kmzb.domain.reporters import reporter_hash, seconds_until_tomorrow
from kmzb.domain.submission import Submission, parse_submission
from kmzb.settings import Settings

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_reference() -> str:
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


# The point of a submission in EPSG:2180, from one of two fixed SQL fragments.
POINT_FROM_PUWG_1992 = "ST_SetSRID(ST_MakePoint(%(a)s, %(b)s), 2180)"
POINT_FROM_CRS84 = "ST_Transform(ST_SetSRID(ST_MakePoint(%(a)s, %(b)s), 4326), 2180)"


def _point_sql(sub: Submission) -> tuple[str, dict[str, float | None]]:
    if sub.srid == 2180:
        return POINT_FROM_PUWG_1992, {"a": sub.x, "b": sub.y}
    return POINT_FROM_CRS84, {"a": sub.lon, "b": sub.lat}


def _asks_point(sub: Submission) -> bool:
    """Whether the database is asked about the point: far from Poland, the transform to
    EPSG:2180 fails inside PostGIS (PROJ refuses points outside the projection's
    domain); such a point is outside, and no query."""
    return sub.x is not None or (sub.lon is not None and in_envelope_of_poland(sub.lon, sub.lat))


def _errors_of(sub: Submission, problems: list[str], point_asked: bool) -> list[FieldError]:
    """kmzb.submission_problems' answer as field errors, in the order an answer lists
    them; a point not asked (far from Poland) is outside."""
    errors: list[FieldError] = []
    if "category_unknown" in problems:
        errors.append(
            FieldError(
                "category",
                f"Nieznana kategoria zagrożenia: {sub.category}.",
                f"Unknown threat category: {sub.category}.",
            )
        )
    if "description_required" in problems:
        errors.append(
            FieldError(
                "description",
                "Ta kategoria wymaga opisu zagrożenia.",
                "This category requires a description.",
            )
        )
    has_point = sub.lon is not None or sub.x is not None
    if has_point and (not point_asked or "outside_poland" in problems):
        errors.append(OUTSIDE_POLAND)
    return errors


def _check_against_database(conn: psycopg.Connection, sub: Submission) -> list[FieldError]:
    """The category, the description and the point, in one round trip
    (kmzb.submission_problems; the point fragment is fixed SQL)."""
    ask_point = _asks_point(sub)
    if sub.category is None and not ask_point:
        return _errors_of(sub, [], point_asked=False)
    point, params = _point_sql(sub) if ask_point else ("NULL", {})
    row = one(
        conn.execute(
            "SELECT kmzb.submission_problems(%(category)s, %(description)s, " + point + ")",
            {**params, "category": sub.category, "description": sub.description},
        ).fetchone()
    )
    return _errors_of(sub, row[0], point_asked=ask_point)


OUTSIDE_POLAND = FieldError(
    "location",
    "Wskazane miejsce leży poza granicami Polski.",
    "The place is outside Poland.",
)


def parse_and_check(conn: psycopg.Connection, inputs: Any) -> tuple[Submission, list[FieldError]]:
    """Every problem of submit-threat's inputs: their shape (kmzb.domain.submission) and
    what only the database knows (the category, the point in Poland). Stores nothing."""
    sub, errors = parse_submission(inputs, vocabulary.load(conn))
    return sub, errors + _check_against_database(conn, sub)


def _source_allowed(caller: Caller, source: str) -> tuple[str, ...] | None:
    """None when the caller may submit as `source`, else the roles that may."""
    allowed = {
        "citizen": None,
        "partner": ("partner", "admin"),
        "police": ("officer", "coordinator", "admin"),
    }[source]
    return None if allowed is None or caller.role in allowed else allowed


def _check_source(caller: Caller, source: str) -> None:
    allowed = _source_allowed(caller, source)
    if allowed is not None:
        raise forbidden(
            f"Only a token with the role {' or '.join(allowed)} may submit as {source}.",
            f"Tylko token z rolą {' lub '.join(allowed)} może zgłaszać jako {source}.",
        )


def daily_limit_used_up(settings: Settings) -> DomainError:
    """The answer when the reporter's daily limit is used up (kmzb.submit_report)."""
    return DomainError(
        pl=f"Dzienny limit zgłoszeń ({settings.daily_report_limit}) został wyczerpany; "
        "spróbuj jutro. Nic nie zapisano.",
        en=f"The daily limit of reports ({settings.daily_report_limit}) is used up; "
        "try again tomorrow. Nothing was stored.",
        status=HTTPStatus.TOO_MANY_REQUESTS,
        code="TooManyRequests",
        headers={"Retry-After": str(seconds_until_tomorrow())},
    )


# A submission in one statement (sql/051_submit_fast.sql): the checks, the daily limit
# under the reporter's advisory lock, the routed report, its history, attachments, the
# burst guard and the alert; with the problems found or the names the answer carries.
SUBMIT_REPORT = """
SELECT * FROM kmzb.submit_report(
    %(ref)s, %(category)s, {point}, %(event_date)s, %(time_of_day)s, %(description)s,
    %(source)s, %(reporter_hash)s, %(daily_limit)s, %(address_string)s, %(media_url)s,
    %(actor)s, %(actor_unit)s, %(note)s, %(attachment_names)s::text[],
    %(attachment_types)s::text[], %(attachment_sha256)s::text[],
    %(attachment_contents)s::bytea[], %(burst_radius_m)s, %(burst_window)s,
    %(burst_threshold)s, %(public_url)s)
"""


@dataclass(frozen=True)
class ClientDetails:
    """What a municipal system may hand over beside the inputs (Open311): the place in
    words and a link to a picture, kept as text for the police, never fetched."""

    address_string: str | None = None
    media_url: str | None = None


def submit(
    conn: psycopg.Connection,
    settings: Settings,
    caller: Caller,
    inputs: Any,
    idempotency_key: str | None = None,
    details: ClientDetails = ClientDetails(),
) -> dict[str, Any]:
    """Validate and store a report with its first history entry; commit; describe it.

    With an idempotency key, a request already answered under that key gets that
    answer again (before any check: not a second report, not the daily limit), and
    a new answer is stored under the key in the report's own transaction."""
    claim = None
    if idempotency_key is not None:
        claim, answered = idempotency.begin(
            conn,
            idempotency_key,
            idempotency.fingerprint(
                "submit-threat",
                caller.actor,
                inputs if details == ClientDetails() else {"inputs": inputs, **asdict(details)},
            ),
        )
        if answered is not None:
            conn.commit()
            return dict(answered)
    sub, errors = parse_submission(inputs, vocabulary.load(conn))
    if errors or not _asks_point(sub) or _source_allowed(caller, sub.source) is not None:
        # refused: every problem the checks find first (one answer names them all),
        # then the caller's right to the source
        errors += _check_against_database(conn, sub)
        if errors:
            conn.rollback()
            raise invalid(errors)
        _check_source(caller, sub.source)
    point, point_params = _point_sql(sub)
    hashed = None
    if sub.source == "citizen" and caller.anonymous:
        hashed = reporter_hash(settings, caller.address or "unknown")
    params = {
        "category": sub.category,
        "event_date": sub.event_date,
        "time_of_day": sub.time_of_day,
        "description": sub.description,
        "source": sub.source,
        "reporter_hash": hashed,
        "daily_limit": settings.daily_report_limit,
        "address_string": details.address_string,
        "media_url": details.media_url,
        "actor": caller.actor,
        "actor_unit": caller.unit if caller.is_police else None,
        "note": "Zgłoszenie przyjęte / Report received",
        "attachment_names": [a.filename for a in sub.attachments],
        "attachment_types": [a.media_type for a in sub.attachments],
        "attachment_sha256": [a.sha256 for a in sub.attachments],
        "attachment_contents": [a.content for a in sub.attachments],
        # the flood guard (kmzb.domain.bursts): threshold 0 turns it off
        "burst_radius_m": float(settings.burst_radius_m),
        "burst_window": timedelta(minutes=settings.burst_window_minutes),
        "burst_threshold": settings.burst_threshold if bursts.enabled(settings) else 0,
        "public_url": settings.public_url,
        **point_params,
    }
    sql = SUBMIT_REPORT.replace("{point}", point)
    # Without a key, on an idle connection: one autocommitted statement (its implicit
    # transaction commits before the answer is read), no BEGIN and COMMIT round trips.
    # A caller's open transaction (Open311 asked its own checks) or a key's claim is
    # committed here after the statement.
    alone = claim is None and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    row = _run(conn, sql, params, alone)
    if row[0] == "invalid":
        conn.rollback()
        raise invalid(_errors_of(sub, row[1], point_asked=True))
    if row[0] == "limited":
        conn.rollback()
        raise daily_limit_used_up(settings)
    _, _problems, _id, ref, status, unit, gmina, created, status_pl, status_en, unit_name = row
    names = (status_pl, status_en, unit_name)
    answer = {
        "reference": ref,
        "status": status,
        "status_name": {"pl": names[0], "en": names[1]},
        "police_unit": unit,
        "police_unit_name": names[2],
        "gmina_teryt": gmina,
        "created_at": created.isoformat(),
        "attachments": len(sub.attachments),
        "status_url": f"{settings.public_url}/reports/{ref}",
        "notice": EMERGENCY_NOTICE,
    }
    if claim is not None:
        idempotency.record(conn, claim, answer)
    if not alone:
        conn.commit()
    return answer


def _run(conn: psycopg.Connection, sql: str, params: dict[str, Any], alone: bool) -> Any:
    """kmzb.submit_report's row, a new reference drawn while the one drawn is taken;
    `alone`: each call its own autocommitted statement."""
    lent_as = conn.autocommit
    if alone:
        conn.autocommit = True
    try:
        for _attempt in range(3):
            row = one(conn.execute(sql, {**params, "ref": new_reference()}).fetchone())
            if row[0] != "ref_taken":  # a reference drawn twice: draw again
                return row
    finally:
        # given back as lent; a broken connection (its error raised) is the pool's to drop
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if alone and idle:
            conn.autocommit = lent_as
    raise RuntimeError("could not draw a unique reference")
