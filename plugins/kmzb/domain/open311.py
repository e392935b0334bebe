"""Open311 GeoReport v2 over the same rules as the processes: a thin mapping.

This module holds what the whole facade shares (names, limits, dates, points,
jurisdictions) and the catalogue (discovery, services, service definitions);
kmzb.domain.open311_requests takes requests in, kmzb.domain.open311_search reads
them.

What Open311 calls a service is a threat category, a service request is a
report and its `service_request_id` the public reference. Nothing here decides
a rule of its own:
- a new request is translated into submit-threat's inputs and stored by
  kmzb.domain.intake.submit (validation, routing, the daily limit, the alerts);
  its per-field messages come back under Open311's field names;
- names, groups and the open/closed status come from the vocabulary (sql/046);
- reads show what the public map shows (kmzb.public_threats), and a request
  looked up by its reference what GET /reports/{ref} shows its holder;
- a partner's `api_key` is checked by kmzb.partner_of_api_key (only hashes are
  stored) and makes the caller that partner, whose reports have no daily limit.
Personal fields of the spec (email, names, phone, device and account ids) are
read only to be named in the answer as not stored.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from kmzb.domain.errors import FieldError, invalid, not_found
from kmzb.domain.submission import in_range, out_of_range
from kmzb.domain.vocabulary import Name, Vocabulary

WARSAW = ZoneInfo("Europe/Warsaw")
JURISDICTION = "kmzb.policja.gov.pl"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-26T00:00:00Z"  # when this interface last changed (discovery)
LANGUAGES = ("pl", "en")

PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
ATTRIBUTES = ("event_date", "time_of_day")
POST_FIELDS = {
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "media_url",
    "api_key",
    *PERSONAL_FIELDS,
}
ATTRIBUTE_FIELD = re.compile(r"^attribute\[(?P<code>[^\]]*)\]$")
MEDIA_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$")
MAX_MEDIA_URL = 2048
MAX_ADDRESS = 255
MAX_API_KEY = 200

MAX_REQUESTS = 1000  # per answer, as FixMyStreet's Open311 server
MAX_IDS = 100  # references in one service_request_id list
WINDOW = timedelta(days=90)  # the spec's default and longest date range
DEFAULT_RADIUS_M = 1000
MAX_RADIUS_M = 50_000

# A field of submit-threat named as Open311 names it.
OPEN311_FIELD = {
    "category": "service_code",
    "location": "lat",
    "event_date": "attribute[event_date]",
    "time_of_day": "attribute[time_of_day]",
}

PERSONAL_NOTICE = Name(
    "Nie przechowujemy danych osobowych: pola email, first_name, last_name, phone, device_id "
    "i account_id nie są nigdzie zapisywane.",
    "No personal data is stored: the fields email, first_name, last_name, phone, device_id "
    "and account_id are never written anywhere.",
)


def say(text: Name | dict[str, str], lang: str) -> str:
    return text[lang] if isinstance(text, dict) else getattr(text, lang)


def w3c(moment: datetime) -> str:
    """A W3C datetime with its offset, in Poland's time."""
    return moment.astimezone(WARSAW).isoformat(timespec="seconds")


def degrees(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def lon_lat(
    lat_text: str | None, long_text: str | None, errors: list[FieldError]
) -> tuple[float, float] | None:
    """(lon, lat) from Open311's lat and long; else the error names the one at fault."""
    lat, lon = degrees(lat_text), degrees(long_text)
    if lat is None or lon is None:
        errors.append(
            FieldError(
                "lat" if lat is None else "long",
                "Podaj lat i long: obie liczby, stopnie dziesiętne WGS 84 "
                "(np. lat=50.0614&long=19.9383).",
                "Give lat and long: both numbers, decimal degrees of WGS 84 "
                "(e.g. lat=50.0614&long=19.9383).",
            )
        )
        return None
    if not in_range(lon, lat):
        errors.append(out_of_range("lat" if not -90 <= lat <= 90 else "long"))
        return None
    return lon, lat


YEARS = range(1900, 2101)  # dates outside cannot be a report's, and their arithmetic overflows


def w3c_moment(text: str) -> datetime | None:
    """A W3C datetime with its offset (Z or ±hh:mm) in the years 1900-2100; else None."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.year not in YEARS:
        return None
    return moment


def check_jurisdiction(conn: psycopg.Connection, jurisdiction: str | None) -> str | None:
    """The police unit a jurisdiction_id names (None for the whole service); a 400 for
    one that is neither."""
    if jurisdiction is None or jurisdiction == JURISDICTION:
        return None
    # kmzb.police_units is the list of unit codes: no pattern of our own before it
    unit = conn.execute(
        "SELECT code FROM kmzb.police_units WHERE code = %s", (jurisdiction,)
    ).fetchone()
    if unit is None:
        conn.rollback()
        raise invalid(
            [
                FieldError(
                    "jurisdiction_id",
                    f"Nieznane jurisdiction_id: {jurisdiction}; podaj {JURISDICTION} "
                    "albo kod jednostki Policji (np. KMP-1261).",
                    f"Unknown jurisdiction_id: {jurisdiction}; give {JURISDICTION} "
                    "or a police unit's code (e.g. KMP-1261).",
                )
            ]
        )
    return str(unit[0])


# ---- discovery and services ----------------------------------------------------------


def discovery(public_url: str, lang: str) -> dict[str, Any]:
    return {
        "changeset": CHANGESET,
        "contact": say(
            Name(
                f"Krajowa Mapa Zagrożeń Bezpieczeństwa (KMZB): {public_url}. W sytuacji "
                "zagrożenia życia lub zdrowia dzwoń 112.",
                f"National Safety Threat Map (KMZB): {public_url}. If life or health is in "
                "danger, call 112.",
            ),
            lang,
        ),
        "key_service": say(
            Name(
                "Klucz api_key wydaje instytucji partnerskiej administrator KMZB "
                "(kmzb partners add-key). Bez klucza obowiązuje dzienny limit zgłoszeń.",
                "A partner institution gets its api_key from the KMZB administrator "
                "(kmzb partners add-key). Without a key the daily limit of reports applies.",
            ),
            lang,
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{public_url}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def _service_description(vocab: Vocabulary, code: str, lang: str) -> str:
    category = vocab.category(code)
    assert category is not None
    parts = [say(category.name, lang) + "."]
    if category.description_required:
        parts.append(say(Name("Wymaga opisu.", "A description is required."), lang))
    if category.public_rule == "never":
        parts.append(
            say(
                Name(
                    "Zgłoszenia tej kategorii nie są pokazywane publicznie.",
                    "Reports of this category are never shown publicly.",
                ),
                lang,
            )
        )
    elif category.public_rule == "confirmed_only":
        parts.append(
            say(
                Name(
                    "Na mapie publicznej dopiero po potwierdzeniu przez Policję.",
                    "On the public map only once the police confirm it.",
                ),
                lang,
            )
        )
    return " ".join(parts)


def services(vocab: Vocabulary, lang: str) -> list[dict[str, Any]]:
    """GET services: one service per threat category, in the vocabulary's order."""
    other = "en" if lang == "pl" else "pl"
    answer = []
    for category in vocab.categories:
        group = vocab.group(category.group)
        answer.append(
            {
                "service_code": category.code,
                "service_name": say(category.name, lang),
                "description": _service_description(vocab, category.code, lang),
                "metadata": True,
                "type": "realtime",
                "keywords": f"{category.code}, {say(category.name, other)}",
                "group": say(group.name, lang) if group else "",
            }
        )
    return answer


def known_service(vocab: Vocabulary, code: str) -> str:
    if vocab.category(code) is None:
        raise not_found(
            f"No service with the code {code}; the list: GET services.",
            f"Nie ma usługi o kodzie {code}; lista: GET services.",
        )
    return code


def service_definition(vocab: Vocabulary, code: str, lang: str) -> dict[str, Any]:
    """GET services/{code}: the attributes beside Open311's core fields."""
    known_service(vocab, code)
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "event_date",
                "datatype": "datetime",
                "required": False,
                "datatype_description": say(
                    Name(
                        "RRRR-MM-DD albo data i czas W3C ze strefą "
                        "(np. 2026-11-25T18:30:00+01:00); liczy się dzień w Polsce.",
                        "YYYY-MM-DD or a W3C datetime with its offset "
                        "(e.g. 2026-11-25T18:30:00+01:00); the day in Poland counts.",
                    ),
                    lang,
                ),
                "order": 1,
                "description": say(
                    Name(
                        "Data zdarzenia (nie z przyszłości).",
                        "The date of the event (not in the future).",
                    ),
                    lang,
                ),
                "values": [],
            },
            {
                "variable": True,
                "code": "time_of_day",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "",
                "order": 2,
                "description": say(Name("Pora dnia zdarzenia.", "The time of day."), lang),
                "values": [{"key": t.code, "name": say(t.name, lang)} for t in vocab.times_of_day],
            },
        ],
    }
