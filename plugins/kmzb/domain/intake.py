"""Taking a report in: check a parsed submission against the database, store it with
its first history entry and attachments, and describe it. Parsing the inputs is
kmzb.domain.submission's (pure Python); the write is one transaction, committed
before the caller gets an answer."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from kmzb.domain import alerts, bursts, idempotency, vocabulary
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
    errors: list[FieldError] = []
    if sub.category is not None:
        row = conn.execute(
            "SELECT description_required FROM kmzb.threat_categories WHERE code = %s",
            (sub.category,),
        ).fetchone()
        if row is None:
            errors.append(
                FieldError(
                    "category",
                    f"Nieznana kategoria zagrożenia: {sub.category}.",
                    f"Unknown threat category: {sub.category}.",
                )
            )
        elif row[0] and not sub.description:
            errors.append(
                FieldError(
                    "description",
                    "Ta kategoria wymaga opisu zagrożenia.",
                    "This category requires a description.",
                )
            )
    if sub.lon is not None or sub.x is not None:
        inside: tuple[Any, ...] | None = (False,)
        # far from Poland, the transform to EPSG:2180 fails inside PostGIS (PROJ refuses
        # points outside the projection's domain): such a point is outside, and no query
        if sub.x is not None or in_envelope_of_poland(sub.lon, sub.lat):
            point, params = _point_sql(sub)
            inside = conn.execute("SELECT kmzb.is_inside_poland(" + point + ")", params).fetchone()
        if not inside or not inside[0]:
            errors.append(
                FieldError(
                    "location",
                    "Wskazane miejsce leży poza granicami Polski.",
                    "The place is outside Poland.",
                )
            )
    return errors


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


def _enforce_daily_limit(conn: psycopg.Connection, settings: Settings, hashed: str) -> None:
    # serialise submissions of one reporter, so two at once cannot both pass
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (hashed,))
    # counted by the owner's function: the API's role may not read reporter_hash (039)
    row = conn.execute("SELECT kmzb.reports_today_by_reporter(%s)", (hashed,)).fetchone()
    if row and row[0] >= settings.daily_report_limit:
        wait = seconds_until_tomorrow()
        raise DomainError(
            pl=f"Dzienny limit zgłoszeń ({settings.daily_report_limit}) został wyczerpany; "
            "spróbuj jutro. Nic nie zapisano.",
            en=f"The daily limit of reports ({settings.daily_report_limit}) is used up; "
            "try again tomorrow. Nothing was stored.",
            status=HTTPStatus.TOO_MANY_REQUESTS,
            code="TooManyRequests",
            headers={"Retry-After": str(wait)},
        )


INSERT_REPORT = """
INSERT INTO kmzb.reports (public_ref, category, geom, event_date, time_of_day, description,
                          status, police_unit, gmina_teryt, source, reporter_hash,
                          address_string, media_url)
SELECT %(ref)s, %(category)s, p.geom, %(event_date)s, %(time_of_day)s, %(description)s,
       (SELECT code FROM kmzb.statuses WHERE is_initial),
       kmzb.police_unit_at(p.geom), kmzb.gmina_at(p.geom), %(source)s, %(reporter_hash)s,
       %(address_string)s, %(media_url)s
FROM (SELECT {point} AS geom) p
RETURNING id, public_ref, status, police_unit, gmina_teryt, created_at
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
    sql = INSERT_REPORT.replace("{point}", point)
    with conn.transaction():
        hashed = None
        if sub.source == "citizen" and caller.anonymous:
            hashed = reporter_hash(settings, caller.address or "unknown")
            _enforce_daily_limit(conn, settings, hashed)
        params = {
            "category": sub.category,
            "event_date": sub.event_date,
            "time_of_day": sub.time_of_day,
            "description": sub.description,
            "source": sub.source,
            "reporter_hash": hashed,
            "address_string": details.address_string,
            "media_url": details.media_url,
            **point_params,
        }
        for _attempt in range(3):
            try:
                with conn.transaction():
                    row = conn.execute(sql, {**params, "ref": new_reference()})
                    report_id, ref, status, unit, gmina, created = one(row.fetchone())
                break
            except pg_errors.UniqueViolation:
                continue  # a reference drawn twice: draw again
        else:
            raise RuntimeError("could not draw a unique reference")
        conn.execute(
            """INSERT INTO kmzb.report_status_history
                   (report_id, from_status, to_status, actor, actor_unit, note, note_internal)
               VALUES (%s, NULL, %s, %s, %s, %s, false)""",
            (
                report_id,
                status,
                caller.actor,
                caller.unit if caller.is_police else None,
                "Zgłoszenie przyjęte / Report received",
            ),
        )
        for attachment in sub.attachments:
            conn.execute(
                """INSERT INTO kmzb.report_attachments
                       (report_id, filename, media_type, size_bytes, sha256, content)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    report_id,
                    attachment.filename,
                    attachment.media_type,
                    len(attachment.content),
                    attachment.sha256,
                    attachment.content,
                ),
            )
        if sub.source == "citizen":
            # stored either way; a burst is only held from the public view
            bursts.hold_if_burst(conn, settings, report_id)
        # public on submission (policy, not held): announced on commit (kmzb.domain.alerts)
        alerts.sync(conn, report_id, settings.public_url)
    names = conn.execute(
        """SELECT s.name_pl, s.name_en, u.name FROM kmzb.statuses s, kmzb.police_units u
           WHERE s.code = %s AND u.code = %s""",
        (status, unit),
    ).fetchone()
    names = one(names)
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
