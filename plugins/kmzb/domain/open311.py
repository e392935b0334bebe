"""Open311 GeoReport v2 over the same rules as the processes: a thin mapping.

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

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from kmzb.domain import intake, places, vocabulary
from kmzb.domain.caller import Caller
from kmzb.domain.crs_names import in_envelope_of_poland
from kmzb.domain.errors import DomainError, FieldError, invalid, invalid_query, not_found
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.submission import in_range, out_of_range, unwanted_controls
from kmzb.domain.vocabulary import Name, Vocabulary
from kmzb.settings import Settings

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
UNIT_CODE = re.compile(r"^[A-Z]{2,4}(-[0-9A-Z]{1,8})*$")
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


# ---- POST requests -----------------------------------------------------------------------


@dataclass
class NewRequest:
    inputs: dict[str, Any] = field(default_factory=dict)  # submit-threat's inputs
    details: intake.ClientDetails = intake.ClientDetails()
    api_key: str | None = None
    jurisdiction: str | None = None
    personal: list[str] = field(default_factory=list)  # given, never stored
    placed_at: str | None = None  # the gazetteer place an address_string was placed at


def _single(form: dict[str, list[str]], name: str, errors: list[FieldError]) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        errors.append(
            FieldError(name, f"Pole {name} podano więcej niż raz.", f"{name} was given twice.")
        )
    return values[0] if values else None


def _degrees(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _point(
    lat_text: str | None, long_text: str | None, errors: list[FieldError]
) -> tuple[float, float] | None:
    """(lon, lat) from Open311's lat and long; else the error names the one at fault."""
    lat, lon = _degrees(lat_text), _degrees(long_text)
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


def _event_date(text: str) -> str | FieldError:
    """attribute[event_date] as submit-threat's YYYY-MM-DD (a datetime: its day in Poland)."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    moment = w3c_moment(text)
    if moment is None:
        return FieldError(
            "attribute[event_date]",
            "Data zdarzenia w formacie RRRR-MM-DD albo data i czas W3C ze strefą.",
            "Event date as YYYY-MM-DD or a W3C datetime with its offset.",
        )
    return moment.astimezone(WARSAW).date().isoformat()


def _place(address: str, errors: list[FieldError]) -> tuple[float, float, str] | None:
    """An address_string placed at the one gazetteer place it names (its last part that
    names one: "ul. Floriańska 1, Kraków" is Kraków); else an error that says why."""
    parts = [p.strip() for p in address.split(",") if p.strip()]
    for part in reversed(parts):
        found = places.named_exactly(part)
        if len(found) == 1:
            place = found[0]
            return float(place["lon"]), float(place["lat"]), str(place["name"])
        if len(found) > 1:
            regions = ", ".join(sorted({p["region"] for p in found if p["region"]}))
            errors.append(
                FieldError(
                    "address_string",
                    f"Nazwa {part} jest niejednoznaczna ({len(found)} miejscowości: {regions}); "
                    "podaj lat i long.",
                    f"The name {part} is ambiguous ({len(found)} places: {regions}); "
                    "give lat and long.",
                )
            )
            return None
    errors.append(
        FieldError(
            "address_string",
            "Nie można ustalić miejsca z address_string (KMZB zna nazwy miejscowości, nie "
            "adresy); podaj lat i long.",
            "The place cannot be found from address_string (KMZB knows the names of towns "
            "and villages, not street addresses); give lat and long.",
        )
    )
    return None


def parse_new_request(form: dict[str, list[str]]) -> tuple[NewRequest, list[FieldError]]:
    """Read a POST requests form into submit-threat's inputs; every problem named under
    Open311's field names. Checks of the values themselves are the domain's (intake)."""
    errors: list[FieldError] = []
    new = NewRequest()
    attributes: dict[str, str] = {}
    unknown = []
    for name in form:
        match = ATTRIBUTE_FIELD.match(name)
        if match:
            code = match.group("code")
            if code not in ATTRIBUTES:
                errors.append(
                    FieldError(
                        name,
                        f"Nieznany atrybut {code}; atrybuty: {', '.join(ATTRIBUTES)}.",
                        f"Unknown attribute {code}; the attributes: {', '.join(ATTRIBUTES)}.",
                    )
                )
            else:
                value = _single(form, name, errors)
                if value not in (None, ""):
                    attributes[code] = str(value)
        elif name not in POST_FIELDS:
            unknown.append(name)
    if unknown:
        errors.append(
            FieldError(
                sorted(unknown)[0],
                f"Nieznane pola: {', '.join(sorted(unknown))}.",
                f"Unknown fields: {', '.join(sorted(unknown))}.",
            )
        )
    values = {name: _single(form, name, errors) for name in POST_FIELDS}
    new.personal = [name for name in PERSONAL_FIELDS if values[name]]

    service_code = (values["service_code"] or "").strip()
    if not service_code:
        errors.append(
            FieldError(
                "service_code",
                "Podaj service_code: kod kategorii zagrożenia (lista: GET services).",
                "Give service_code: the code of a threat category (the list: GET services).",
            )
        )
    else:
        new.inputs["category"] = service_code

    address = values["address_string"]
    if address is not None and (
        not address.strip() or len(address) > MAX_ADDRESS or unwanted_controls(address)
    ):
        errors.append(
            FieldError(
                "address_string",
                f"address_string: od 1 do {MAX_ADDRESS} znaków, bez znaków sterujących.",
                f"address_string: 1 to {MAX_ADDRESS} characters, with no control characters.",
            )
        )
        address = None
    address = address.strip() if address else None
    lat_text, long_text = values["lat"], values["long"]
    if lat_text is not None or long_text is not None:
        point = _point(lat_text, long_text, errors)
        if point is not None:
            new.inputs["lon"], new.inputs["lat"] = point
    elif address:
        placed = _place(address, errors)
        if placed is not None:
            new.inputs["lon"], new.inputs["lat"], new.placed_at = placed
    else:
        errors.append(
            FieldError(
                "lat",
                "Podaj miejsce zagrożenia: lat i long (WGS 84) albo address_string.",
                "Give the place of the threat: lat and long (WGS 84), or address_string.",
            )
        )

    description = values["description"]
    if description is not None and description.strip():
        new.inputs["description"] = description
    for code, value in attributes.items():
        if code == "event_date":
            parsed = _event_date(value)
            if isinstance(parsed, FieldError):
                errors.append(parsed)
            else:
                new.inputs["event_date"] = parsed
        else:
            new.inputs[code] = value

    media_url = values["media_url"]
    if media_url:
        if len(media_url) > MAX_MEDIA_URL or not MEDIA_URL.match(media_url):
            errors.append(
                FieldError(
                    "media_url",
                    f"media_url to adres http:// lub https:// (najwyżej {MAX_MEDIA_URL} znaków).",
                    f"media_url is an http:// or https:// address (at most {MAX_MEDIA_URL} "
                    "characters).",
                )
            )
            media_url = None
    new.details = intake.ClientDetails(address_string=address, media_url=media_url or None)

    api_key = values["api_key"]
    if api_key:
        new.api_key = api_key
    jurisdiction = values["jurisdiction_id"]
    if jurisdiction:
        new.jurisdiction = jurisdiction.strip()
    return new, errors


def partner_caller(conn: psycopg.Connection, caller: Caller, api_key: str) -> Caller:
    """The partner institution an api_key speaks for; a 403 for any other key."""
    digest = hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()
    row = None
    if len(api_key) <= MAX_API_KEY:
        row = conn.execute(
            "SELECT key_id, institution FROM kmzb.partner_of_api_key(%s)", (digest,)
        ).fetchone()
    if row is None:
        conn.rollback()
        raise DomainError(
            pl="Nieprawidłowy lub wycofany api_key; nic nie zapisano. Zgłoszenie bez klucza "
            "podlega dziennemu limitowi.",
            en="Invalid or revoked api_key; nothing was stored. A request without a key is "
            "subject to the daily limit.",
            status=HTTPStatus.FORBIDDEN,
            code="Forbidden",
            errors=[FieldError("api_key", "Nieprawidłowy api_key.", "Invalid api_key.")],
        )
    key_id, institution = row
    return Caller(
        subject=f"{institution}/key-{key_id}",
        role="partner",
        institution=institution,
        address=caller.address,
    )


def check_jurisdiction(conn: psycopg.Connection, jurisdiction: str | None) -> str | None:
    """The police unit a jurisdiction_id names (None for the whole service); a 400 for
    one that is neither."""
    if jurisdiction is None or jurisdiction == JURISDICTION:
        return None
    unit = None
    if UNIT_CODE.match(jurisdiction):
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


def _check_point_in_unit(conn: psycopg.Connection, unit: str, lon: Any, lat: Any) -> None:
    """A request for one unit's jurisdiction must lie in that unit's area (its reach)."""
    if not isinstance(lon, float) or not isinstance(lat, float):
        return  # no point: the submission's own check names it
    row = conn.execute(
        f"""SELECT kmzb.police_unit_at(p.geom),
                   kmzb.police_unit_at(p.geom) IN (
                       SELECT r.code FROM kmzb.police_unit_reach(%(unit)s, true) AS r (code))
            FROM (SELECT {intake.POINT_FROM_CRS84} AS geom) p""",
        {"a": lon, "b": lat, "unit": unit},
    ).fetchone()
    if row is not None and row[0] is not None and not row[1]:
        conn.rollback()
        raise invalid(
            [
                FieldError(
                    "jurisdiction_id",
                    f"Miejsce leży poza obszarem jednostki {unit} (obsługuje je {row[0]}).",
                    f"The place is outside the area of {unit} (it is served by {row[0]}).",
                )
            ]
        )


def _source(caller: Caller) -> str | None:
    if caller.role in ("partner", "admin"):
        return "partner"
    if caller.is_police:
        return "police"
    return None  # a citizen


def renamed(error: DomainError) -> DomainError:
    """A domain error with its fields under Open311's names."""
    return replace(
        error,
        errors=[FieldError(OPEN311_FIELD.get(e.field, e.field), e.pl, e.en) for e in error.errors],
    )


def create(
    conn: psycopg.Connection,
    settings: Settings,
    caller: Caller,
    form: dict[str, list[str]],
    lang: str,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """POST requests: a report stored by intake.submit (committed before this returns)."""
    new, errors = parse_new_request(form)
    unit = None
    try:
        unit = check_jurisdiction(conn, new.jurisdiction)
    except DomainError as error:
        errors += error.errors
    # the domain's own checks too, so that one answer names every problem
    checked = intake.parse_and_check(conn, new.inputs)[1]
    named = {e.field for e in errors}
    errors += [e for e in renamed(invalid(checked)).errors if e.field not in named]
    if errors:
        conn.rollback()
        raise invalid(errors)
    if new.api_key is not None:
        caller = partner_caller(conn, caller, new.api_key)
    if unit is not None:
        _check_point_in_unit(conn, unit, new.inputs.get("lon"), new.inputs.get("lat"))
    source = _source(caller)
    if source is not None:
        new.inputs["source"] = source
    try:
        stored = intake.submit(
            conn, settings, caller, new.inputs, idempotency_key, details=new.details
        )
    except DomainError as error:
        raise renamed(error) from None
    notice = [say(EMERGENCY_NOTICE, lang), say(PERSONAL_NOTICE, lang)]
    if new.personal:
        notice.append(
            say(
                Name(
                    f"Pominięto: {', '.join(new.personal)}.",
                    f"Left out: {', '.join(new.personal)}.",
                ),
                lang,
            )
        )
    if new.placed_at:
        notice.append(
            say(
                Name(
                    f"Miejsce ustalono jako środek miejscowości {new.placed_at}; adres "
                    "przekazano Policji.",
                    f"The place was set to the centre of {new.placed_at}; the address was "
                    "passed to the police.",
                ),
                lang,
            )
        )
    return {
        "service_request_id": stored["reference"],
        "service_notice": " ".join(notice),
        "account_id": None,
    }


# ---- GET requests --------------------------------------------------------------------------

REQUEST_COLUMNS = """
SELECT r.public_ref, r.category, r.status, st.open311_status, r.description,
       u.name AS unit_name, r.created_at, r.status_changed_at, g.name AS gmina_name,
       ST_X(ST_Transform(r.geom, 4326)) AS lon, ST_Y(ST_Transform(r.geom, 4326)) AS lat,
       (SELECT CASE WHEN NOT h.note_internal THEN h.note END
        FROM kmzb.report_status_history h WHERE h.report_id = r.id
        ORDER BY h.changed_at DESC, h.id DESC LIMIT 1) AS status_notes,
       EXISTS (SELECT 1 FROM kmzb.public_threats p WHERE p.id = r.public_ref) AS is_public
FROM kmzb.reports r
JOIN kmzb.statuses st ON st.code = r.status
JOIN kmzb.police_units u ON u.code = r.police_unit
LEFT JOIN kmzb.territorial_units g ON g.teryt = r.gmina_teryt
"""

# The list shows what the public map shows: the rows of kmzb.public_threats.
SEARCH = (
    REQUEST_COLUMNS
    + """
WHERE r.public_ref IN (SELECT p.id FROM kmzb.public_threats p)
  AND r.created_at >= %(start)s AND r.created_at <= %(end)s
  AND (%(codes)s::text[] IS NULL OR r.category = ANY (%(codes)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR st.open311_status = ANY (%(statuses)s::text[]))
  AND (%(unit)s::text IS NULL OR r.police_unit IN (
           SELECT x.code FROM kmzb.police_unit_reach(%(unit)s, true) AS x (code)))
  AND (%(lon)s::float8 IS NULL OR ST_DWithin(
           r.geom,
           ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 2180),
           %(radius)s))
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s
"""
)
BY_REFERENCE = REQUEST_COLUMNS + "WHERE r.public_ref = %(ref)s"
LISTED = (
    REQUEST_COLUMNS
    + """
WHERE r.public_ref = ANY (%(refs)s) AND r.public_ref IN (SELECT p.id FROM kmzb.public_threats p)
ORDER BY r.created_at DESC, r.id DESC
"""
)


def as_request(row: dict[str, Any], vocab: Vocabulary, lang: str) -> dict[str, Any]:
    """One request as Open311 shows it. Where the public map does not show the report,
    its holder sees what GET /reports/{ref} shows: no place, no description."""
    category = vocab.category(row["category"])
    public = row["is_public"]
    return {
        "service_request_id": row["public_ref"],
        "status": row["open311_status"],
        "status_notes": row["status_notes"],
        "service_name": say(category.name, lang) if category else row["category"],
        "service_code": row["category"],
        "description": row["description"] if public else None,
        "agency_responsible": row["unit_name"],
        "service_notice": say(EMERGENCY_NOTICE, lang),
        "requested_datetime": w3c(row["created_at"]),
        "updated_datetime": w3c(row["status_changed_at"]),
        "expected_datetime": None,
        "address": row["gmina_name"] if public else None,
        "address_id": None,
        "zipcode": None,
        "lat": round(row["lat"], 6) if public else None,
        "long": round(row["lon"], 6) if public else None,
        "media_url": None,
        "detailed_status": row["status"],
    }


def _references(text: str, pattern: str, errors: list[FieldError]) -> list[str]:
    refs = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [ref for ref in refs if not re.match(pattern, ref)]
    if not refs or bad or len(refs) > MAX_IDS:
        errors.append(
            FieldError(
                "service_request_id",
                f"service_request_id: od 1 do {MAX_IDS} numerów XXXX-XXXX-XXXX po przecinku.",
                f"service_request_id: 1 to {MAX_IDS} references XXXX-XXXX-XXXX, comma separated.",
            )
        )
    return refs


def _moment(args: dict[str, str], name: str, errors: list[FieldError]) -> datetime | None:
    text = args.get(name)
    if text is None:
        return None
    moment = w3c_moment(text)
    if moment is None:
        errors.append(
            FieldError(
                name,
                f"{name}: data i czas W3C ze strefą, np. 2026-11-01T00:00:00+01:00 "
                "albo 2026-11-01T00:00:00Z.",
                f"{name}: a W3C datetime with its offset, e.g. 2026-11-01T00:00:00+01:00 "
                "or 2026-11-01T00:00:00Z.",
            )
        )
        return None
    return moment


def _codes_list(text: str, allowed: list[str], name: str, errors: list[FieldError]) -> list[str]:
    codes = [part.strip() for part in text.split(",") if part.strip()]
    bad = [code for code in codes if code not in allowed]
    if not codes or bad:
        errors.append(
            FieldError(
                name,
                f"{name}: jedno lub więcej z {', '.join(allowed)} po przecinku"
                + (f" (nieznane: {', '.join(bad)})." if bad else "."),
                f"{name}: one or more of {', '.join(allowed)}, comma separated"
                + (f" (unknown: {', '.join(bad)})." if bad else "."),
            )
        )
    return codes


def _whole(
    args: dict[str, str], name: str, low: int, high: int, default: int, errors: list[FieldError]
) -> int:
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
        if not low <= value <= high:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(name, f"{name}: liczba od {low} do {high}.", f"{name}: {low} to {high}.")
        )
        return default
    return value


def search(
    conn: psycopg.Connection, args: dict[str, str], lang: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """GET requests: what the public map shows, newest first, filtered as the spec and
    FixMyStreet's lat/long extension say."""
    vocab = vocabulary.load(conn)
    errors: list[FieldError] = []
    if "service_request_id" in args:  # the spec: it overrides every other parameter
        refs = _references(args["service_request_id"], vocab.limits.reference_pattern, errors)
        if errors:
            raise invalid_query(errors)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(LISTED, {"refs": refs}).fetchall()
        conn.rollback()
        return [as_request(row, vocab, lang) for row in rows]

    jurisdiction = args.get("jurisdiction_id")
    unit = None
    try:
        unit = check_jurisdiction(conn, jurisdiction.strip() if jurisdiction else None)
    except DomainError as error:
        errors += error.errors
    codes = (
        _codes_list(args["service_code"], vocab.category_codes, "service_code", errors)
        if "service_code" in args
        else None
    )
    statuses = (
        _codes_list(args["status"], ["open", "closed"], "status", errors)
        if "status" in args
        else None
    )
    start, end = _moment(args, "start_date", errors), _moment(args, "end_date", errors)
    now = now or datetime.now(WARSAW)
    if start is None and end is None:
        start, end = now - WINDOW, now
    elif end is None:
        end = start + WINDOW if start is not None else now
    elif start is None:
        start = end - WINDOW
    if start is not None and end is not None:
        if end < start:
            errors.append(
                FieldError(
                    "end_date",
                    "end_date jest wcześniejsza niż start_date.",
                    "end_date is before start_date.",
                )
            )
        elif end - start > WINDOW:
            errors.append(
                FieldError(
                    "end_date",
                    "Zakres start_date–end_date może obejmować najwyżej 90 dni.",
                    "The range start_date to end_date may span at most 90 days.",
                )
            )
    lon = lat = None
    if "lat" in args or "long" in args:
        point = _point(args.get("lat"), args.get("long"), errors)
        lon, lat = point if point is not None else (None, None)
    elif "radius" in args:
        errors.append(
            FieldError("radius", "radius wymaga lat i long.", "radius needs lat and long.")
        )
    radius = _whole(args, "radius", 1, MAX_RADIUS_M, DEFAULT_RADIUS_M, errors)
    limit = _whole(args, "max_requests", 1, MAX_REQUESTS, MAX_REQUESTS, errors)
    if errors:
        conn.rollback()
        raise invalid_query(errors)
    if lon is not None and not in_envelope_of_poland(lon, lat):
        return []  # no report lies there (and PostGIS could not project the point)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            SEARCH,
            {
                "start": start,
                "end": end,
                "codes": codes,
                "statuses": statuses,
                "unit": unit,
                "lon": lon,
                "lat": lat,
                "radius": radius,
                "limit": limit,
            },
        ).fetchall()
    conn.rollback()
    return [as_request(row, vocab, lang) for row in rows]


def by_id(conn: psycopg.Connection, reference: str, lang: str) -> list[dict[str, Any]]:
    """GET requests/{id}: one request, for anyone holding its reference."""
    vocab = vocabulary.load(conn)
    ref = reference.strip().upper()
    if not re.match(vocab.limits.reference_pattern, ref):
        raise invalid_query(
            [
                FieldError(
                    "service_request_id",
                    "Numer zgłoszenia ma postać XXXX-XXXX-XXXX.",
                    "A report reference looks like XXXX-XXXX-XXXX.",
                )
            ]
        )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(BY_REFERENCE, {"ref": ref}).fetchall()
    conn.rollback()
    if not rows:
        raise not_found(
            f"No service request with the id {ref}.",
            f"Nie ma zgłoszenia o numerze {ref}.",
        )
    return [as_request(rows[0], vocab, lang)]


def token(conn: psycopg.Connection, value: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: requests are stored at once, so a token is the reference."""
    ref = value.strip().upper()
    pattern = vocabulary.load(conn).limits.reference_pattern
    found = None
    if re.match(pattern, ref):
        found = conn.execute("SELECT 1 FROM kmzb.reports WHERE public_ref = %s", (ref,)).fetchone()
    conn.rollback()
    if found is None:
        raise not_found(f"No token {value}.", f"Nie ma tokenu {value}.")
    return [{"service_request_id": ref, "token": ref}]
