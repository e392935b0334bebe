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


def _check_against_database(conn: psycopg.Connection, sub: Submission) -> list[FieldError]:
    """The category and the point, in one round trip (both fragments are fixed SQL)."""
    errors: list[FieldError] = []
    check_point = sub.lon is not None or sub.x is not None
    # far from Poland, the transform to EPSG:2180 fails inside PostGIS (PROJ refuses
    # points outside the projection's domain): such a point is outside, and no query
    ask_point = check_point and (sub.x is not None or in_envelope_of_poland(sub.lon, sub.lat))
    if sub.category is None and not ask_point:
        return errors if not check_point else [OUTSIDE_POLAND]
    point, params = _point_sql(sub)
    row = one(
        conn.execute(
            "SELECT c.code IS NOT NULL, c.description_required, "
            + ("kmzb.is_inside_poland(" + point + ")" if ask_point else "false")
            + " FROM (SELECT 1) one LEFT JOIN kmzb.threat_categories c"
            " ON c.code = %(category)s",
            {**params, "category": sub.category},
        ).fetchone()
    )
    known, description_required, inside = row
    if sub.category is not None:
        if not known:
            errors.append(
                FieldError(
                    "category",
                    f"Nieznana kategoria zagrożenia: {sub.category}.",
                    f"Unknown threat category: {sub.category}.",
                )
            )
        elif description_required and not sub.description:
            errors.append(
                FieldError(
                    "description",
                    "Ta kategoria wymaga opisu zagrożenia.",
                    "This category requires a description.",
                )
            )
    if check_point and not inside:
        errors.append(OUTSIDE_POLAND)
    return errors


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


def _check_source(caller: Caller, source: str) -> None:
    allowed = {
        "citizen": None,
        "partner": ("partner", "admin"),
        "police": ("officer", "coordinator", "admin"),
    }[source]
    if allowed is not None and caller.role not in allowed:
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


# The write of a submission in one round trip (sql/047_submit_function.sql): the daily
# limit under the reporter's advisory lock, the routed report, its history, attachments,
# the burst guard and the alert; with the names the answer carries.
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
    sub, errors = parse_and_check(conn, inputs)
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
    for _attempt in range(3):
        row = one(conn.execute(sql, {**params, "ref": new_reference()}).fetchone())
        if row[0] != "ref_taken":  # a reference drawn twice: draw again
            break
    else:
        raise RuntimeError("could not draw a unique reference")
    if row[0] == "limited":
        conn.rollback()
        raise daily_limit_used_up(settings)
    _, _report_id, ref, status, unit, gmina, created, status_pl, status_en, unit_name = row
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
    conn.commit()
    return answer
