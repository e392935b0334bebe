"""Review: the police of a report's unit move it along an allowed status transition
(kmzb.status_transitions), with a note and, when forwarding, the institution.
The change and its history entry are one transaction, committed before the answer."""

from __future__ import annotations

from typing import Any

import psycopg

from kmzb.domain import alerts, institutions, report_rows, vocabulary
from kmzb.domain.caller import Caller
from kmzb.domain.errors import FieldError, conflict, invalid
from kmzb.domain.police_reach import require_reach
from kmzb.domain.report_rows import one
from kmzb.domain.submission import unwanted_controls
from kmzb.settings import load_settings

MAX_NOTE = 2000


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


REVIEW_INPUTS = {"reference", "status", "version", "note", "note_public", "forwarded_to"}


def change_status(conn: psycopg.Connection, caller: Caller, inputs: Any) -> dict[str, Any]:
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
    if note is not None and (
        not isinstance(note, str) or len(note) > MAX_NOTE or unwanted_controls(note)
    ):
        errors.append(
            FieldError(
                "note",
                f"Notatka: tekst do {MAX_NOTE} znaków, bez znaków sterujących.",
                f"Note: text up to {MAX_NOTE} characters, with no control characters.",
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
    row = report_rows.find(conn, inputs.get("reference"))
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
        # the public's view changed (or not): the alert rides on this transaction
        alerts.sync(conn, row["id"], load_settings().public_url)
    conn.commit()
    names = conn.execute(
        "SELECT name_pl, name_en FROM kmzb.statuses WHERE code = %s", (target,)
    ).fetchone()
    names = one(names)
    conn.rollback()
    return {
        "reference": row["public_ref"],
        "from": row["status"],
        "status": target,
        "status_name": {"pl": names[0], "en": names[1]},
        "version": updated[0],
        "changed_at": updated[1].isoformat(),
    }
