"""Reports: submit, look up, review, and the police queue. Rules and SQL live here.

Every write is one transaction, committed before the caller gets an answer.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from http import HTTPStatus
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from kmzb.domain import audit, bursts, idempotency, institutions, vocabulary
from kmzb.domain.caller import Caller
from kmzb.domain.errors import (
    DomainError,
    FieldError,
    conflict,
    forbidden,
    invalid,
    invalid_query,
    not_found,
    unauthorized,
)
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.reporters import reporter_hash, seconds_until_tomorrow
from kmzb.domain.submission import Submission, parse_submission
from kmzb.domain.units import reachable_units, require_reach
from kmzb.settings import Settings

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
MAX_NOTE = 2000


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
                          status, police_unit, gmina_teryt, source, reporter_hash)
SELECT %(ref)s, %(category)s, p.geom, %(event_date)s, %(time_of_day)s, %(description)s,
       (SELECT code FROM kmzb.statuses WHERE is_initial),
       kmzb.police_unit_at(p.geom), kmzb.gmina_at(p.geom), %(source)s, %(reporter_hash)s
FROM (SELECT {point} AS geom) p
RETURNING id, public_ref, status, police_unit, gmina_teryt, created_at
"""


def submit(
    conn: psycopg.Connection,
    settings: Settings,
    caller: Caller,
    inputs: Any,
    idempotency_key: str | None = None,
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
            idempotency.fingerprint("submit-threat", caller.actor, inputs),
        )
        if answered is not None:
            conn.commit()
            return dict(answered)
    sub, errors = parse_submission(inputs, vocabulary.load(conn))
    errors += _check_against_database(conn, sub)
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
            **point_params,
        }
        for _attempt in range(3):
            try:
                with conn.transaction():
                    row = conn.execute(sql, {**params, "ref": new_reference()})
                    report_id, ref, status, unit, gmina, created = _one(row.fetchone())
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
    names = conn.execute(
        """SELECT s.name_pl, s.name_en, u.name FROM kmzb.statuses s, kmzb.police_units u
           WHERE s.code = %s AND u.code = %s""",
        (status, unit),
    ).fetchone()
    names = _one(names)
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


def _transition_refused(vocab: vocabulary.Vocabulary, current: str, target: str) -> FieldError:
    """The refusal of a change kmzb.status_transitions does not allow, naming the
    statuses and the changes that are allowed (from the vocabulary)."""

    def named(code: str, lang: str) -> str:
        status = vocab.status(code)
        return f"{getattr(status.name, lang)} ({code})" if status else code

    allowed = [s["code"] for s in vocab.allowed_transitions(current)]
    allowed_pl = ", ".join(named(c, "pl") for c in allowed) or "żadna (status końcowy)"
    allowed_en = ", ".join(named(c, "en") for c in allowed) or "none (a final status)"
    return FieldError(
        "status",
        f"Nie można zmienić statusu z {named(current, 'pl')} na {named(target, 'pl')}; "
        f"dozwolona zmiana: {allowed_pl}.",
        f"The status cannot change from {named(current, 'en')} to {named(target, 'en')}; "
        f"allowed: {allowed_en}.",
    )


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row a statement that always answers one (RETURNING, a lookup by a key the
    schema guarantees) gave."""
    if row is None:
        raise RuntimeError("the database answered no row where one is guaranteed")
    return row


def _history(conn: psycopg.Connection, report_id: int, internal: bool) -> list[dict[str, Any]]:
    """Status changes, oldest first. The public sees a note only when it was marked
    public; the police (`internal`) see every note, who wrote it and whether it is public."""
    rows = conn.execute(
        """
        SELECT h.changed_at, h.from_status, h.to_status, s.name_pl, s.name_en,
               CASE WHEN %(internal)s OR NOT h.note_internal THEN h.note END AS note,
               NOT h.note_internal AS note_public, h.actor, h.actor_unit
        FROM kmzb.report_status_history h JOIN kmzb.statuses s ON s.code = h.to_status
        WHERE h.report_id = %(id)s
        ORDER BY h.changed_at, h.id
        """,
        {"id": report_id, "internal": internal},
    ).fetchall()
    history = []
    for changed, from_status, to_status, name_pl, name_en, note, is_public, actor, unit in rows:
        entry: dict[str, Any] = {
            "changed_at": changed.isoformat(),
            "from": from_status,
            "to": to_status,
            "to_name": {"pl": name_pl, "en": name_en},
        }
        if note is not None:
            entry["note"] = note
        if internal:
            entry.update({"actor": actor, "actor_unit": unit, "note_public": is_public})
        history.append(entry)
    return history


def _reference(value: Any, pattern: str) -> str:
    # said of a read or before a review looks at the report: nothing to say about storing
    if not isinstance(value, str) or not re.match(pattern, value.strip().upper()):
        raise invalid_query(
            [
                FieldError(
                    "reference",
                    "Numer zgłoszenia ma postać XXXX-XXXX-XXXX.",
                    "A report reference looks like XXXX-XXXX-XXXX.",
                )
            ]
        )
    return value.strip().upper()


LOOKUP = """
SELECT r.id, r.public_ref, r.category, c.name_pl AS category_pl, c.name_en AS category_en,
       r.status, s.name_pl AS status_pl, s.name_en AS status_en,
       r.police_unit, u.name AS police_unit_name, r.created_at, r.status_changed_at,
       r.event_date, r.time_of_day, r.forwarded_to, r.version, r.description, r.source,
       r.gmina_teryt, i.name_pl AS forwarded_to_pl, i.name_en AS forwarded_to_en,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat
FROM kmzb.reports r
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.police_units u ON u.code = r.police_unit
LEFT JOIN kmzb.institutions i ON i.code = r.forwarded_to
WHERE r.public_ref = %s
"""


def _find(conn: psycopg.Connection, reference: Any) -> dict[str, Any]:
    ref = _reference(reference, vocabulary.load(conn).limits.reference_pattern)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(LOOKUP, (ref,)).fetchone()
    if row is None:
        conn.rollback()
        raise not_found(
            f"No report with the reference {ref}. Check the number in your confirmation.",
            f"Nie ma zgłoszenia o numerze {ref}. Sprawdź numer w potwierdzeniu zgłoszenia.",
        )
    return row


def _public_answer(conn: psycopg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "reference": row["public_ref"],
        "category": row["category"],
        "category_name": {"pl": row["category_pl"], "en": row["category_en"]},
        "status": row["status"],
        "status_name": {"pl": row["status_pl"], "en": row["status_en"]},
        "police_unit": row["police_unit"],
        "police_unit_name": row["police_unit_name"],
        "reported_at": row["created_at"].isoformat(),
        "status_changed_at": row["status_changed_at"].isoformat(),
        "event_date": row["event_date"].isoformat() if row["event_date"] else None,
        "time_of_day": row["time_of_day"],
        "forwarded_to": row["forwarded_to"],
        "forwarded_to_name": (
            {"pl": row["forwarded_to_pl"], "en": row["forwarded_to_en"]}
            if row["forwarded_to_pl"]
            else None
        ),
        "history": _history(conn, row["id"], internal=False),
        "notice": EMERGENCY_NOTICE,
    }


def lookup(conn: psycopg.Connection, reference: Any) -> dict[str, Any]:
    """What anyone holding the reference may see: no reporter data, no internal notes."""
    answer = _public_answer(conn, _find(conn, reference))
    conn.rollback()
    return answer


def police_view(conn: psycopg.Connection, caller: Caller, reference: Any) -> dict[str, Any]:
    """Everything about a report, for the police who serve its unit. The read is
    recorded in the access log in the same transaction."""
    row = _find(conn, reference)
    require_reach(conn, caller, row["police_unit"])
    attachments = conn.execute(
        """SELECT id, filename, media_type, size_bytes FROM kmzb.report_attachments
           WHERE report_id = %s ORDER BY id""",
        (row["id"],),
    ).fetchall()
    answer = _public_answer(conn, row)
    answer.update(
        {
            "version": row["version"],
            "description": row["description"],
            "source": row["source"],
            "gmina_teryt": row["gmina_teryt"],
            "lon": row["lon"],
            "lat": row["lat"],
            "history": _history(conn, row["id"], internal=True),
            # where a review may take it now (kmzb.status_transitions), named for the panel
            "allowed_transitions": vocabulary.load(conn).allowed_transitions(row["status"]),
            "attachments": [
                {"id": a, "name": n, "media_type": t, "size_bytes": s} for a, n, t, s in attachments
            ],
        }
    )
    audit.record(conn, caller, "report", report_id=row["id"])
    conn.commit()
    return answer


def attachment(
    conn: psycopg.Connection, caller: Caller, reference: Any, attachment_id: int
) -> tuple[str, str, bytes]:
    """An attachment's name, media type and bytes, for the police who serve the report's
    unit; the download is recorded in the access log in the same transaction."""
    row = _find(conn, reference)
    require_reach(conn, caller, row["police_unit"])
    found = conn.execute(
        """SELECT id, filename, media_type, content FROM kmzb.report_attachments
           WHERE report_id = %s AND id = %s""",
        (row["id"], attachment_id),
    ).fetchone()
    if found is None:
        conn.rollback()
        raise not_found("No such attachment.", "Nie ma takiego załącznika.")
    audit.record(conn, caller, "attachment", report_id=row["id"], attachment_id=found[0])
    conn.commit()
    return found[1], found[2], bytes(found[3])


REVIEW_INPUTS = {"reference", "status", "version", "note", "note_public", "forwarded_to"}


def review(conn: psycopg.Connection, caller: Caller, inputs: Any) -> dict[str, Any]:
    """Move a report along an allowed transition, as the police of its unit.

    The note is internal unless `note_public` is true. Forwarding names an
    institution by its code, one the report's unit may forward to.
    """
    errors: list[FieldError] = []
    if not isinstance(inputs, dict):
        raise invalid(
            [
                FieldError(
                    "inputs", "Dane muszą być obiektem JSON.", "The inputs must be a JSON object."
                )
            ]
        )
    unknown = sorted(set(inputs) - REVIEW_INPUTS)
    if unknown:
        errors.append(
            FieldError(
                unknown[0],
                f"Nieznane pola: {', '.join(unknown)}.",
                f"Unknown fields: {', '.join(unknown)}.",
            )
        )
    target = inputs.get("status")
    if not isinstance(target, str):
        errors.append(FieldError("status", "Podaj nowy status.", "Give the new status."))
    version = inputs.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        errors.append(
            FieldError(
                "version",
                "Podaj wersję zgłoszenia, którą widzisz (liczba).",
                "Give the version of the report you saw (a number).",
            )
        )
    note = inputs.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        errors.append(
            FieldError(
                "note",
                f"Notatka: tekst do {MAX_NOTE} znaków.",
                f"Note: text up to {MAX_NOTE} characters.",
            )
        )
    note_public = inputs.get("note_public", False)
    if not isinstance(note_public, bool):
        errors.append(
            FieldError(
                "note_public",
                "note_public: true (notatka publiczna) lub false (wewnętrzna, domyślnie).",
                "note_public: true (a public note) or false (internal, the default).",
            )
        )
    forwarded_to = inputs.get("forwarded_to")
    if forwarded_to is not None and (not isinstance(forwarded_to, str) or not forwarded_to.strip()):
        errors.append(
            FieldError(
                "forwarded_to",
                "Podaj kod instytucji (np. SM-KRAKOW).",
                "Give the institution's code (e.g. SM-KRAKOW).",
            )
        )
    elif forwarded_to is not None and target != "forwarded":
        errors.append(
            FieldError(
                "forwarded_to",
                "Instytucję podaje się tylko przy statusie forwarded.",
                "An institution is given only with the status forwarded.",
            )
        )
    if target == "forwarded" and forwarded_to is None:
        errors.append(
            FieldError(
                "forwarded_to",
                "Przekazanie poza Policję wymaga kodu instytucji (GET /institutions).",
                "Forwarding outside the police requires the institution's code "
                "(GET /institutions).",
            )
        )
    if errors:
        raise invalid(errors)
    row = _find(conn, inputs.get("reference"))
    require_reach(conn, caller, row["police_unit"])
    if row["version"] != version:
        conn.rollback()
        raise conflict(
            f"The report changed meanwhile (version {row['version']}, you sent {version}); "
            "reload it and decide again.",
            f"Zgłoszenie zmieniło się w międzyczasie (wersja {row['version']}, wysłano "
            f"{version}); odśwież je i zdecyduj ponownie.",
        )
    allowed = conn.execute(
        "SELECT 1 FROM kmzb.status_transitions WHERE from_status = %s AND to_status = %s",
        (row["status"], target),
    ).fetchone()
    if not allowed:
        conn.rollback()
        raise invalid([_transition_refused(vocabulary.load(conn), row["status"], str(target))])
    receiver = None
    if forwarded_to is not None:
        receiver = institutions.require_forwardable(
            conn, row["police_unit"], forwarded_to.strip().upper()
        )
    with conn.transaction():
        updated = conn.execute(
            """UPDATE kmzb.reports SET status = %s,
                      forwarded_to = COALESCE(%s, forwarded_to)
               WHERE id = %s AND version = %s
               RETURNING version, status_changed_at""",
            (target, receiver, row["id"], version),
        ).fetchone()
        if updated is None:
            raise conflict(
                "Someone else changed the report a moment ago; reload it and decide again.",
                "Ktoś właśnie zmienił to zgłoszenie; odśwież je i zdecyduj ponownie.",
            )
        conn.execute(
            """INSERT INTO kmzb.report_status_history
                   (report_id, from_status, to_status, actor, actor_unit, note, note_internal)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (
                row["id"],
                row["status"],
                target,
                caller.actor,
                caller.unit if caller.is_police else None,
                note,
                not note_public,
            ),
        )
    conn.commit()
    names = conn.execute(
        "SELECT name_pl, name_en FROM kmzb.statuses WHERE code = %s", (target,)
    ).fetchone()
    names = _one(names)
    conn.rollback()
    return {
        "reference": row["public_ref"],
        "from": row["status"],
        "status": target,
        "status_name": {"pl": names[0], "en": names[1]},
        "version": updated[0],
        "changed_at": updated[1].isoformat(),
    }


QUEUE = """
SELECT r.public_ref, r.category, c.name_pl AS category_name, r.status, s.name_pl AS status_name,
       r.police_unit, r.created_at, r.event_date, r.time_of_day, r.description, r.version,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       (s.overdue_after IS NOT NULL AND r.created_at + s.overdue_after < now()) AS overdue,
       (SELECT count(*) FROM kmzb.report_attachments a WHERE a.report_id = r.id) AS attachments,
       r.held_at IS NOT NULL AS burst, r.held_at,
       count(*) OVER () AS matched
FROM kmzb.reports r
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.threat_categories c ON c.code = r.category
WHERE (%(units)s::text[] IS NULL OR r.police_unit = ANY(%(units)s))
  AND (%(statuses)s::text[] IS NULL AND s.is_open OR r.status = ANY(%(statuses)s))
  AND (%(category)s::text IS NULL OR r.category = %(category)s)
  AND (%(since)s::date IS NULL OR r.created_at >= %(since)s::date)
  AND (%(until)s::date IS NULL OR r.created_at < %(until)s::date + 1)
  AND (NOT %(overdue_only)s OR (s.overdue_after IS NOT NULL
                                AND r.created_at + s.overdue_after < now()))
  AND (%(held)s::boolean IS NULL OR (r.held_at IS NOT NULL) = %(held)s::boolean)
ORDER BY r.created_at, r.id
LIMIT %(limit)s OFFSET %(offset)s
"""
# the queue's `held` filter: none, only bursts held from the public view, or only the others
HELD_FILTER: dict[str, bool | None] = {
    "": None,
    "true": True,
    "1": True,
    "false": False,
    "0": False,
}


def _date_filter(value: str | None, name: str, errors: list[FieldError]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "Data w formacie RRRR-MM-DD.", "A date as YYYY-MM-DD."))
        return None


def queue(conn: psycopg.Connection, caller: Caller, filters: dict[str, str]) -> dict[str, Any]:
    """Open reports of the caller's units, oldest first; overdue ones and bursts held from
    the public view flagged (`held=true` lists only those, `held=false` the others)."""
    reach = reachable_units(conn, caller)
    errors: list[FieldError] = []
    unit = filters.get("unit")
    units = sorted(reach) if reach is not None else None
    if unit:
        if reach is not None and unit not in reach:
            raise forbidden("You do not serve this unit.", "Nie obsługujesz tej jednostki.")
        units = [unit]
    statuses = [s for s in (filters.get("status") or "").split(",") if s] or None
    if statuses:
        known = {r[0] for r in conn.execute("SELECT code FROM kmzb.statuses")}
        if set(statuses) - known:
            errors.append(FieldError("status", "Nieznany status.", "Unknown status."))
    since = _date_filter(filters.get("from"), "from", errors)
    until = _date_filter(filters.get("to"), "to", errors)
    held_filter = (filters.get("held") or "").strip().lower()
    if held_filter not in HELD_FILTER:
        errors.append(
            FieldError(
                "held",
                "held: true (tylko wstrzymane fale zgłoszeń) lub false.",
                "held: true (only held bursts) or false.",
            )
        )
    held = HELD_FILTER.get(held_filter)
    try:
        limit = min(int(filters.get("limit", 100)), 1000)
        offset = max(int(filters.get("offset", 0)), 0)
        if limit < 1:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(
                "limit",
                "limit i offset to liczby całkowite.",
                "limit and offset are whole numbers.",
            )
        )
        limit, offset = 100, 0
    if errors:
        raise invalid_query(errors)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            QUEUE,
            {
                "units": units,
                "statuses": statuses,
                "category": filters.get("category") or None,
                "since": since,
                "until": until,
                "limit": limit,
                "offset": offset,
                "overdue_only": filters.get("overdue") in ("1", "true"),
                "held": held,
            },
        ).fetchall()
    conn.rollback()
    items = []
    for row in rows:
        row = dict(row)
        del row["matched"]
        row["reference"] = row.pop("public_ref")
        row["created_at"] = row["created_at"].isoformat()
        row["event_date"] = row["event_date"].isoformat() if row["event_date"] else None
        row["held_at"] = row["held_at"].isoformat() if row["held_at"] else None
        items.append(row)
    return {
        "units": units,
        "numberMatched": rows[0]["matched"] if rows else 0,
        "numberReturned": len(items),
        "reports": items,
    }


def forwarded_to_partner(conn: psycopg.Connection, caller: Caller) -> dict[str, Any]:
    """Reports forwarded to the partner's institution (pillar 2), matched by its code."""
    if caller.anonymous:
        raise unauthorized("This needs a partner token.", "To wymaga tokenu partnera.")
    if caller.role != "partner" or not caller.institution:
        raise forbidden(
            "Only a partner's token (with an institution code) reads what was forwarded.",
            "Przekazane zgłoszenia czyta tylko token partnera (z kodem instytucji).",
        )
    name = institutions.name_of(conn, caller.institution)
    if name is None:
        conn.rollback()
        raise forbidden(
            f"The token names an unknown institution code {caller.institution}.",
            f"Token wskazuje nieznany kod instytucji {caller.institution}.",
        )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT r.public_ref AS reference, r.category, c.name_pl AS category_name,
                      r.status_changed_at, r.event_date, r.description,
                      ST_X(ST_Transform(r.geom, 4326)) AS lon,
                      ST_Y(ST_Transform(r.geom, 4326)) AS lat
               FROM kmzb.reports r JOIN kmzb.threat_categories c ON c.code = r.category
               WHERE r.status = 'forwarded' AND r.forwarded_to = %s
               ORDER BY r.status_changed_at DESC LIMIT 1000""",
            (caller.institution,),
        ).fetchall()
    conn.rollback()
    for row in rows:
        row["status_changed_at"] = row["status_changed_at"].isoformat()
        row["event_date"] = row["event_date"].isoformat() if row["event_date"] else None
    return {"institution": caller.institution, "institution_name": name, "reports": rows}
