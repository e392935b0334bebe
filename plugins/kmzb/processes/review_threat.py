"""Process `review-threat`: the police move a report along an allowed transition.

The target statuses the description lists are those kmzb.status_transitions
leads to, read from the vocabulary in the database (kmzb.domain.vocabulary)
the first time the process is described. `PROCESS_METADATA` is that
description, built on first access.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor

from kmzb.db.pool import get_pool
from kmzb.domain import review
from kmzb.domain.caller import current_caller
from kmzb.domain.vocabulary import Vocabulary
from kmzb.processes.described import VocabularyDescription


def target_statuses(vocab: Vocabulary) -> list[str]:
    """Every status a review may set (one some transition leads to), in status order."""
    targets = {to for _from, to in vocab.transitions()}
    return [code for code in vocab.status_codes if code in targets]


def process_metadata(vocab: Vocabulary) -> dict[str, Any]:
    """The process description, with the target statuses from `vocab`."""
    targets = set(target_statuses(vocab))
    return {
        "version": "1.0.0",
        "id": "review-threat",
        "title": {"pl": "Weryfikacja zgłoszenia", "en": "Review a report"},
        "description": {
            "pl": "Zmiana statusu zgłoszenia przez Policję jednostki właściwej, z notatką. "
            "Wymaga tokenu funkcjonariusza lub koordynatora; wysyła się wersję, którą się widzi. "
            "Notatka jest wewnętrzna, chyba że note_public = true. Przekazanie poza Policję "
            "(forwarded) wskazuje kod instytucji, do której jednostka zgłoszenia może przekazywać "
            "(lista: GET /institutions?unit=<jednostka>).",
            "en": "The police of the report's unit change its status with a note. Needs an "
            "officer or coordinator token; send the version you saw (a stale one gets 409). "
            "The note is internal unless note_public is true. Forwarding outside the police "
            "(forwarded) names the code of an institution the report's unit may forward to "
            "(the list: GET /institutions?unit=<unit>).",
        },
        "jobControlOptions": ["sync-execute"],
        "keywords": ["weryfikacja", "status", "review"],
        "links": [],
        "inputs": {
            "reference": {
                "title": "Numer zgłoszenia",
                "description": "XXXX-XXXX-XXXX",
                "schema": {"type": "string"},
                "minOccurs": 1,
                "maxOccurs": 1,
            },
            "status": {
                "title": "Nowy status",
                "description": "Target status code: "
                + ", ".join(f"{s.code} ({s.name.en})" for s in vocab.statuses if s.code in targets),
                "schema": {
                    "type": "string",
                    "enum": target_statuses(vocab),
                },
                "minOccurs": 1,
                "maxOccurs": 1,
            },
            "version": {
                "title": "Wersja",
                "description": "The version of the report you saw",
                "schema": {"type": "integer", "minimum": 1},
                "minOccurs": 1,
                "maxOccurs": 1,
            },
            "note": {
                "title": "Notatka",
                "description": "Note, up to 2,000 characters",
                "schema": {"type": "string", "maxLength": 2000},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "note_public": {
                "title": "Notatka publiczna",
                "description": "true: anyone with the reference reads the note; "
                "false (the default): the police only",
                "schema": {"type": "boolean", "default": False},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "forwarded_to": {
                "title": "Kod instytucji",
                "description": "With status forwarded only, and then required: the code of an "
                "institution the report's unit may forward to (GET /institutions?unit=...)",
                "schema": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9-]{1,31}$"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
        },
        "outputs": {
            "review": {
                "title": "Wynik",
                "description": "The new status and version",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
        },
        "example": {
            "inputs": {
                "reference": "ABCD-EFGH-JKLM",
                "status": "verification",
                "version": 1,
                "note": "Patrol skierowany na miejsce.",
                "note_public": True,
            },
        },
    }


current_metadata = VocabularyDescription(process_metadata)


def __getattr__(name: str) -> Any:
    # `PROCESS_METADATA` as before, generated when first asked for (the database is up)
    if name == "PROCESS_METADATA":
        return current_metadata()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ReviewThreatProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, current_metadata())

    def execute(self, data: dict, outputs: Any = None) -> tuple[str, Any]:
        with get_pool().connection() as conn:
            answer = review.change_status(conn, current_caller.get(), data)
        return "application/json", answer
