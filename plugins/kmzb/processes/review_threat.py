"""Process `review-threat`: the police move a report along an allowed transition."""

from __future__ import annotations

from pygeoapi.process.base import BaseProcessor

from kmzb.db.pool import get_pool
from kmzb.domain import reports
from kmzb.domain.caller import current_caller

PROCESS_METADATA = {
    "version": "1.0.0",
    "id": "review-threat",
    "title": {"pl": "Weryfikacja zgłoszenia", "en": "Review a report"},
    "description": {
        "pl": "Zmiana statusu zgłoszenia przez Policję jednostki właściwej, z notatką. "
        "Wymaga tokenu funkcjonariusza lub koordynatora; wysyła się wersję, którą się widzi.",
        "en": "The police of the report's unit change its status with a note. Needs an "
        "officer or coordinator token; send the version you saw (a stale one gets 409).",
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
            "description": "Target status code",
            "schema": {
                "type": "string",
                "enum": [
                    "verification",
                    "confirmed",
                    "unconfirmed",
                    "joke_or_mistake",
                    "eliminated",
                    "forwarded",
                ],
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
        "note_internal": {
            "title": "Notatka wewnętrzna",
            "description": "Hidden from the public",
            "schema": {"type": "boolean"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "forwarded_to": {
            "title": "Instytucja",
            "description": "Required when forwarding",
            "schema": {"type": "string"},
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
        },
    },
}


class ReviewThreatProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, PROCESS_METADATA)

    def execute(self, data: dict, outputs=None):
        with get_pool().connection() as conn:
            answer = reports.review(conn, current_caller.get(), data)
        return "application/json", answer
