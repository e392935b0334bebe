"""Process `area-safety`: "czy w mojej okolicy jest bezpiecznie?" for a point or a unit."""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor

from kmzb.db.pool import get_read_pool
from kmzb.domain import area_safety

PROCESS_METADATA = {
    "version": "1.0.0",
    "id": "area-safety",
    "title": {
        "pl": "Czy w mojej okolicy jest bezpiecznie?",
        "en": "Is my area safe?",
    },
    "description": {
        "pl": "Dla punktu i promienia albo dla gminy lub powiatu (kod TERYT): publiczne "
        "zagrożenia w okolicy według kategorii z ostatnich 30, 90 i 365 dni oraz "
        "przestępczość w powiecie na 10 tys. mieszkańców w kolejnych latach na tle kraju.",
        "en": "For a point and radius, or a gmina or powiat (TERYT code): public threats "
        "nearby by category over the last 30, 90 and 365 days, and the powiat's crime "
        "rates per 10,000 inhabitants over the years against the national average.",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["bezpieczeństwo", "okolica", "safety", "area", "statistics"],
    "links": [],
    "inputs": {
        "lon": {
            "title": "Długość geograficzna (CRS84)",
            "description": "Longitude, CRS84; with lat",
            "schema": {"type": "number", "minimum": -180, "maximum": 180},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "lat": {
            "title": "Szerokość geograficzna (CRS84)",
            "description": "Latitude, CRS84; with lon",
            "schema": {"type": "number", "minimum": -90, "maximum": 90},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "radius": {
            "title": "Promień w metrach",
            "description": "Radius around the point in metres (100-10000, default 1000)",
            "schema": {
                "type": "number",
                "minimum": area_safety.MIN_RADIUS_M,
                "maximum": area_safety.MAX_RADIUS_M,
                "default": area_safety.DEFAULT_RADIUS_M,
            },
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "teryt": {
            "title": "Kod TERYT gminy (7 cyfr) lub powiatu (4 cyfry)",
            "description": "Instead of a point: a gmina (7 digits) or powiat (4 digits)",
            "schema": {"type": "string", "pattern": area_safety.TERYT_PATTERN.pattern},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "summary": {
            "title": "Podsumowanie",
            "description": "Threats by category and period; the powiat's crime rates by year",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        },
    },
    "example": {"inputs": {"lon": 19.9383, "lat": 50.0614, "radius": 1000}},
}


class AreaSafetyProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, PROCESS_METADATA)

    def execute(self, data: dict, outputs: Any = None) -> tuple[str, Any]:
        with get_read_pool().connection() as conn:
            answer = area_safety.summarize(conn, data)
        return "application/json", answer
