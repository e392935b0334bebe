"""Process `submit-threat`: a citizen (or partner, or police) reports a threat at a point.

The description's enums (categories, times of day) and limits (the description's
length, the attachments) are generated from the vocabulary in the database
(kmzb.domain.vocabulary) the first time the process is described, never copied.
`PROCESS_METADATA` is that description, built on first access.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from pygeoapi.process.base import BaseProcessor

from kmzb.db.pool import get_pool
from kmzb.domain import idempotency, intake
from kmzb.domain.caller import current_caller
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.submission import SOURCES
from kmzb.domain.vocabulary import Vocabulary
from kmzb.processes.described import VocabularyDescription
from kmzb.settings import load_settings

# Advertised in the description: a client retries safely with the same key.
IDEMPOTENCY_NOTE = {
    "pl": "Nagłówek Idempotency-Key (1-255 znaków ASCII, np. UUID) pozwala bezpiecznie "
    "ponowić wysłanie: to samo żądanie z tym samym kluczem w ciągu 24 godzin dostaje tę "
    "samą odpowiedź (ten sam numer zgłoszenia), a nie drugie zgłoszenie.",
    "en": "An Idempotency-Key header (1-255 ASCII characters, e.g. a UUID) makes a retry "
    "safe: the same request with the same key within 24 hours gets the same answer (the "
    "same reference), not a second report.",
}


def process_metadata(vocab: Vocabulary) -> dict[str, Any]:
    """The process description, with its enums and limits from `vocab`."""
    limits = vocab.limits
    media = ", ".join(limits.attachment_media_types)
    return {
        "version": "1.0.0",
        "id": "submit-threat",
        "title": {"pl": "Zgłoś zagrożenie", "en": "Report a threat"},
        "description": {
            "pl": "Zgłoszenie zagrożenia w punkcie. Trafia do jednostki Policji właściwej dla "
            "miejsca. " + EMERGENCY_NOTICE["pl"] + " " + IDEMPOTENCY_NOTE["pl"],
            "en": "Report a threat at a point. It goes to the police unit whose area holds the "
            "point. " + EMERGENCY_NOTICE["en"] + " " + IDEMPOTENCY_NOTE["en"],
        },
        "jobControlOptions": ["sync-execute"],
        "keywords": ["zgłoszenie", "zagrożenie", "report", "threat"],
        "links": [],
        "inputs": {
            "lon": {
                "title": "Długość geograficzna (CRS84)",
                "description": "Longitude, CRS84",
                "schema": {"type": "number", "minimum": -180, "maximum": 180},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "lat": {
                "title": "Szerokość geograficzna (CRS84)",
                "description": "Latitude, CRS84",
                "schema": {"type": "number", "minimum": -90, "maximum": 90},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "x": {
                "title": "x (EPSG:2180, easting)",
                "description": "Instead of lon/lat",
                "schema": {"type": "number"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "y": {
                "title": "y (EPSG:2180, northing)",
                "description": "Instead of lon/lat",
                "schema": {"type": "number"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "crs": {
                "title": "Układ współrzędnych x/y",
                "description": "EPSG:2180 for x/y",
                "schema": {"type": "string"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "category": {
                "title": "Kategoria zagrożenia",
                "description": "Threat category code (names: GET /vocabulary)",
                "schema": {"type": "string", "enum": vocab.category_codes},
                "minOccurs": 1,
                "maxOccurs": 1,
            },
            "event_date": {
                "title": "Data zdarzenia",
                "description": "Event date (YYYY-MM-DD)",
                "schema": {"type": "string", "format": "date"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "time_of_day": {
                "title": "Pora dnia",
                "description": "/".join(vocab.time_of_day_codes),
                "schema": {"type": "string", "enum": vocab.time_of_day_codes},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "description": {
                "title": "Opis",
                "description": f"Description, up to {limits.description_max_chars} characters",
                "schema": {"type": "string", "maxLength": limits.description_max_chars},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "source": {
                "title": "Źródło",
                "description": ", ".join(
                    f"{s} (default)" if s == "citizen" else s for s in SOURCES
                ),
                "schema": {"type": "string", "enum": list(SOURCES)},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "attachments": {
                "title": "Załączniki",
                "description": f"Up to {limits.attachments_max_count} files of "
                f"{limits.attachment_max_megabytes} ({media}): {{name, content (base64)}}",
                "schema": {
                    "type": "array",
                    "maxItems": limits.attachments_max_count,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "content": {"type": "string", "contentEncoding": "base64"},
                        },
                    },
                },
                "minOccurs": 0,
                "maxOccurs": 1,
            },
        },
        "outputs": {
            "report": {
                "title": "Przyjęte zgłoszenie",
                "description": "The accepted report",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
        },
        "example": {
            "inputs": {
                "lon": 19.9383,
                "lat": 50.0614,
                "category": "illegal_dumping",
                "event_date": "2026-11-20",
                "time_of_day": "evening",
                "description": "Worki ze śmieciami przy wejściu do parku.",
            },
        },
    }


current_metadata = VocabularyDescription(process_metadata)


def __getattr__(name: str) -> Any:
    # `PROCESS_METADATA` as before, generated when first asked for (the database is up)
    if name == "PROCESS_METADATA":
        return current_metadata()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SubmitThreatProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, current_metadata())

    def execute(self, data: dict, outputs: Any = None) -> tuple[str, Any]:
        # pygeoapi hands a process only its inputs: the header is read from the request
        key = idempotency.parse_key(
            request.headers.get(idempotency.HEADER) if has_request_context() else None
        )
        with get_pool().connection() as conn:
            answer = intake.submit(conn, load_settings(), current_caller.get(), data, key)
        return "application/json", answer
