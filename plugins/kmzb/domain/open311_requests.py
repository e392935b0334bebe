"""Open311 POST requests: a form read into submit-threat's inputs and stored by
kmzb.domain.intake.submit, the same checks and messages under Open311's field names;
a partner's api_key; personal fields named in the answer, never stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date
from http import HTTPStatus
from typing import Any

import psycopg

from kmzb.domain import intake, places
from kmzb.domain.caller import Caller
from kmzb.domain.errors import DomainError, FieldError, invalid
from kmzb.domain.notices import EMERGENCY_NOTICE
from kmzb.domain.open311 import (
    ATTRIBUTE_FIELD,
    ATTRIBUTES,
    MAX_ADDRESS,
    MAX_API_KEY,
    MAX_MEDIA_URL,
    MEDIA_URL,
    OPEN311_FIELD,
    PERSONAL_FIELDS,
    PERSONAL_NOTICE,
    POST_FIELDS,
    WARSAW,
    check_jurisdiction,
    lon_lat,
    say,
    w3c_moment,
)
from kmzb.domain.submission import unwanted_controls
from kmzb.domain.vocabulary import Name
from kmzb.settings import Settings


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
        found = lon_lat(lat_text, long_text, errors)
        if found is not None:
            new.inputs["lon"], new.inputs["lat"] = found
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
