"""Every class of bad input to the Open311 facade (/open311/v2), on the real app and
database: the status, the Open311 error shape (JSON list or XML <errors>) with the
field named and Polish and English text, and that nothing was stored. Also: personal
fields of the spec are taken and stored nowhere."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests

from helpers import new_address
from open311_client import (
    BERLIN,
    JURISDICTION,
    KRAKOW,
    NO_PERSONAL_DATA_EN,
    NO_PERSONAL_DATA_PL,
    children,
    count_reports,
    fields_of,
    get,
    open311_errors,
    post_request,
    reports_with_description,
    xml_root,
)

TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
NOW = datetime.now(UTC).replace(microsecond=0)


def attr(code: str) -> set[str]:
    """An attribute's problem may name it as the form field or by its code."""
    return {f"attribute[{code}]", code}


# (id, form fields beside a valid service_code/point/description, the fields one of which
# the error must name, a text the Polish message must hold or None)
POST_CASES: list[tuple[str, dict[str, Any], set[str], str | None]] = [
    ("no service_code", {"service_code": None}, {"service_code"}, None),
    (
        "unknown service_code",
        {"service_code": "nope"},
        {"service_code"},
        "Nieznana kategoria zagrożenia",
    ),
    ("lat without long", {"long": None}, {"long", "lat"}, None),
    ("long without lat", {"lat": None}, {"lat", "long"}, None),
    ("lat not a number", {"lat": "pięćdziesiąt"}, {"lat"}, None),
    ("lat NaN", {"lat": "NaN"}, {"lat"}, None),
    ("long inf", {"long": "inf"}, {"long"}, None),
    ("lat -Infinity", {"lat": "-Infinity"}, {"lat"}, None),
    ("lat out of range", {"lat": "95"}, {"lat"}, None),
    ("long out of range", {"long": "200"}, {"long"}, None),
    ("outside Poland", BERLIN, {"lat"}, "Wskazane miejsce leży poza granicami Polski"),
    # far from Poland, where PostGIS cannot even project the point to EPSG:2180
    ("off the coast of Ecuador", {"lat": "0.0", "long": "-78.87"}, {"lat"}, "poza granicami"),
    ("the antimeridian", {"lat": "-45", "long": "180"}, {"lat"}, "poza granicami"),
    ("the north pole", {"lat": "90", "long": "0"}, {"lat"}, "poza granicami"),
    ("no location", {"lat": None, "long": None}, {"lat", "long", "address_string"}, None),
    (
        "address unplaceable",
        {"lat": None, "long": None, "address_string": "Nieistniejąca 123, Zzzz"},
        {"address_string"},
        None,
    ),
    (
        "address ambiguous",
        {"lat": None, "long": None, "address_string": "Osiek"},  # many villages of this name
        {"address_string"},
        None,
    ),
    (
        "address too long",
        {"lat": None, "long": None, "address_string": "Wieliczka " * 30},
        {"address_string"},
        None,
    ),
    ("description too long", {"description": "ż" * 501}, {"description"}, "najwyżej 500"),
    (
        "description required",
        {"service_code": "dangerous_entertainment", "description": None},
        {"description"},
        "Ta kategoria wymaga opisu zagrożenia",
    ),
    ("time_of_day not in list", {"attribute[time_of_day]": "midnight"}, attr("time_of_day"), None),
    ("event_date malformed", {"attribute[event_date]": "2024-13-45"}, attr("event_date"), None),
    ("event_date words", {"attribute[event_date]": "wczoraj"}, attr("event_date"), None),
    (
        "event_date at the end of time",
        {"attribute[event_date]": "9999-12-31T23:59:59-23:59"},
        attr("event_date"),
        None,
    ),
    (
        "event_date at the start of time",
        {"attribute[event_date]": "0001-01-01T00:00:00+23:59"},
        attr("event_date"),
        None,
    ),
    (
        "event_date in the future",
        {"attribute[event_date]": TOMORROW},
        attr("event_date"),
        "nie może być w przyszłości",
    ),
    ("unknown attribute", {"attribute[foo]": "bar"}, {"attribute[foo]"}, None),
    ("unknown field", {"colour": "czerwony"}, {"colour"}, None),
    ("submit-threat's own input", {"category": "illegal_dumping"}, {"category"}, None),
    ("media_url javascript", {"media_url": "javascript:alert(1)"}, {"media_url"}, None),
    ("media_url ftp", {"media_url": "ftp://example.org/a.jpg"}, {"media_url"}, None),
    ("media_url no url", {"media_url": "zdjęcie na telefonie"}, {"media_url"}, None),
    (
        "media_url too long",
        {"media_url": "https://example.org/" + "a" * 2030},
        {"media_url"},
        None,
    ),
    (
        "unknown jurisdiction",
        {"jurisdiction_id": "miasto.example.org"},
        {"jurisdiction_id"},
        None,
    ),
    (
        "point outside the unit's area",
        {"jurisdiction_id": "KMP-0264"},  # KMP Wrocław, the point is in Kraków
        {"jurisdiction_id", "lat"},
        None,
    ),
]


def form(description: str, changes: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, Any] = {"service_code": "illegal_dumping", **KRAKOW}
    fields["description"] = description
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


def refused(
    api: str, db_url: str, fields: dict[str, str], status: int, fmt: str = "json", **kw: Any
) -> list[dict[str, Any]]:
    """POST the fields; check the Open311 errors and that nothing was stored."""
    before = count_reports(db_url)
    answer = post_request(api, fields, fmt, **kw)
    errors = open311_errors(answer, status)
    assert count_reports(db_url) == before
    if "description" in fields:
        assert reports_with_description(db_url, fields["description"]) == 0
    return errors


@pytest.mark.parametrize(
    "changes, expected, polish", [c[1:] for c in POST_CASES], ids=[c[0] for c in POST_CASES]
)
def test_each_bad_post_is_a_400_naming_the_field_and_stores_nothing(
    api: str, db_url: str, changes: dict[str, Any], expected: set[str], polish: str | None
) -> None:
    description = f"zła dana {secrets.token_hex(8)}"
    fields = form(description, changes)
    errors = refused(api, db_url, fields, 400)
    named = [e for e in errors if e["field"] in expected]
    assert named, (expected, errors)
    assert named[0]["description"] == named[0]["pl"]  # Polish unless asked otherwise
    if polish is not None:
        assert polish in named[0]["pl"], named[0]


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"lat": "abc"}, {"lat"}),
        ({"attribute[foo]": "bar"}, {"attribute[foo]"}),
        ({"media_url": "javascript:alert(1)"}, {"media_url"}),
        (BERLIN, {"lat"}),
    ],
    ids=["lat", "attribute", "media_url", "Berlin"],
)
def test_bad_posts_in_xml_are_errors_elements(
    api: str, db_url: str, changes: dict[str, str], expected: set[str]
) -> None:
    fields = form(f"xml zła {secrets.token_hex(8)}", changes)
    errors = refused(api, db_url, fields, 400, "xml")
    assert set(fields_of(errors)) & expected, errors


def test_english_errors_when_asked(api: str, db_url: str) -> None:
    fields = form(f"en {secrets.token_hex(8)}", BERLIN)
    errors = refused(api, db_url, fields, 400, headers={"Accept-Language": "en"})
    berlin = next(e for e in errors if e["field"] == "lat")
    assert berlin["description"] == berlin["en"] == "The place is outside Poland."


def test_every_problem_of_one_request_is_listed(api: str, db_url: str) -> None:
    fields = form(
        "ó" * 501,
        {
            "lat": "abc",
            "attribute[time_of_day]": "midnight",
            "media_url": "ftp://example.org/x",
            "attribute[foo]": "bar",
        },
    )
    errors = refused(api, db_url, fields, 400)
    named = set(fields_of(errors))
    assert "lat" in named and "description" in named and "media_url" in named
    assert named & attr("time_of_day") and "attribute[foo]" in named
    assert len(errors) >= 5


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_invalid_api_key_is_403_and_stores_nothing(api: str, db_url: str, fmt: str) -> None:
    fields = form(f"key {secrets.token_hex(8)}", {"api_key": secrets.token_urlsafe(32)})
    errors = refused(api, db_url, fields, 403, fmt)
    assert all(e["field"] in ("api_key", None) for e in errors), errors


def test_a_post_with_a_bad_key_and_bad_fields_still_stores_nothing(api: str, db_url: str) -> None:
    fields = form(f"key {secrets.token_hex(8)}", {"api_key": "x", "lat": "abc"})
    before = count_reports(db_url)
    answer = post_request(api, fields)
    assert answer.status_code in (400, 403), answer.text
    open311_errors(answer, answer.status_code)
    assert count_reports(db_url) == before


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "services.csv"),
        ("get", "services.html"),
        ("get", "services"),
        ("get", "discovery.yaml"),
        ("get", "requests.geojson"),
        ("post", "requests.html"),
        ("post", "requests"),
        ("get", "nothing.json"),
        ("get", "services/illegal_dumping.txt"),
        ("get", "services.json%0A"),  # a line break: no route matches, not even the catch-all
        ("post", "requests.json%0A"),
    ],
)
def test_an_unknown_format_or_path_is_a_404_in_json(
    api: str, db_url: str, method: str, path: str
) -> None:
    before = count_reports(db_url)
    if method == "post":
        fields = form(f"fmt {secrets.token_hex(8)}", {})
        answer = requests.post(
            f"{api}/open311/v2/{path}",
            data=fields,
            headers={"X-Forwarded-For": new_address()},
            timeout=60,
        )
    else:
        answer = get(api, path)
    open311_errors(answer, 404)
    assert count_reports(db_url) == before


def test_unknown_service_request_token_and_service_are_404(api: str) -> None:
    for path in (
        "requests/ZZZZ-ZZZZ-ZZZZ.json",
        "tokens/ZZZZ-ZZZZ-ZZZZ.json",
        "services/nope.json",
    ):
        open311_errors(get(api, path), 404)
    root_errors = open311_errors(get(api, "requests/ZZZZ-ZZZZ-ZZZZ.xml"), 404)
    assert root_errors[0]["pl"] and root_errors[0]["en"]
    open311_errors(get(api, "tokens/ZZZZ-ZZZZ-ZZZZ.xml"), 404)


def test_a_malformed_request_id_in_the_path_is_refused(api: str) -> None:
    answer = get(api, "requests/not-a-ref.json")
    assert answer.status_code in (400, 404), answer.text
    errors = open311_errors(answer, answer.status_code)
    if answer.status_code == 400:
        assert "service_request_id" in fields_of(errors)


def w3c(moment: datetime) -> str:
    return moment.isoformat()


GET_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("start_date without zone", {"start_date": "2026-01-01T00:00:00"}, {"start_date"}),
    ("start_date a date only", {"start_date": "2026-01-01"}, {"start_date"}),
    ("start_date words", {"start_date": "wczoraj"}, {"start_date"}),
    ("end_date without zone", {"end_date": "2026-01-01T00:00:00"}, {"end_date"}),
    (
        "end before start",
        {"start_date": w3c(NOW - timedelta(days=1)), "end_date": w3c(NOW - timedelta(days=2))},
        {"end_date", "start_date"},
    ),
    (
        "span over 90 days",
        {"start_date": w3c(NOW - timedelta(days=120)), "end_date": w3c(NOW)},
        {"end_date", "start_date"},
    ),
    ("status pending", {"status": "pending"}, {"status"}),
    ("status detailed", {"status": "confirmed"}, {"status"}),
    ("service_code nope", {"service_code": "nope"}, {"service_code"}),
    ("radius 0", {**KRAKOW, "radius": "0"}, {"radius"}),
    ("radius 999999", {**KRAKOW, "radius": "999999"}, {"radius"}),
    ("radius abc", {**KRAKOW, "radius": "abc"}, {"radius"}),
    ("lat without long", {"lat": "50.06"}, {"long", "lat"}),
    ("long without lat", {"long": "19.94"}, {"lat", "long"}),
    ("lat not a number", {"lat": "abc", "long": "19.94"}, {"lat"}),
    ("lat NaN", {"lat": "nan", "long": "19.94"}, {"lat"}),
    ("start_date at the end of time", {"start_date": "9999-12-31T00:00:00Z"}, {"start_date"}),
    ("end_date at the start of time", {"end_date": "0001-01-02T00:00:00+00:00"}, {"end_date"}),
    ("max_requests 0", {"max_requests": "0"}, {"max_requests"}),
    ("max_requests 5000", {"max_requests": "5000"}, {"max_requests"}),
    ("max_requests abc", {"max_requests": "abc"}, {"max_requests"}),
    ("malformed service_request_id", {"service_request_id": "not-a-ref"}, {"service_request_id"}),
    ("unknown jurisdiction", {"jurisdiction_id": "miasto.example.org"}, {"jurisdiction_id"}),
]


@pytest.mark.parametrize(
    "params, expected", [c[1:] for c in GET_CASES], ids=[c[0] for c in GET_CASES]
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_each_bad_get_requests_parameter_is_a_400_naming_it(
    api: str, params: dict[str, str], expected: set[str], fmt: str
) -> None:
    errors = open311_errors(get(api, f"requests.{fmt}", params=params), 400)
    assert set(fields_of(errors)) & expected, (expected, errors)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "point", [("0.0", "-78.87"), ("-45", "180"), ("90", "0"), ("52.52", "13.40")]
)
def test_a_search_far_from_poland_finds_nothing(api: str, fmt: str, point: tuple[str, str]) -> None:
    lat, long = point
    answer = get(api, f"requests.{fmt}", params={"lat": lat, "long": long, "radius": "50000"})
    assert answer.status_code == 200, answer.text
    if fmt == "json":
        assert answer.json() == []
    else:
        assert children(xml_root(answer)) == []


@pytest.mark.parametrize("path", ["services.json", "services/illegal_dumping.json"])
def test_an_unknown_jurisdiction_is_400_on_every_read(api: str, path: str) -> None:
    errors = open311_errors(get(api, path, params={"jurisdiction_id": "miasto.example.org"}), 400)
    assert "jurisdiction_id" in fields_of(errors)
    answer = get(api, path, params={"jurisdiction_id": JURISDICTION})
    assert answer.status_code == 200


PERSONAL = {
    "email": "kowalski.{tag}@example.org",
    "first_name": "Jan{tag}",
    "last_name": "Kowalski{tag}",
    "phone": "+48600{tag}",
    "device_id": "device-{tag}",
    "account_id": "account-{tag}",
}
# where a submission leaves anything: the report, its history, the idempotency answers,
# the alerts' outbox and state, the police access log, attachments
STORED = (
    "kmzb.reports",
    "kmzb.report_status_history",
    "kmzb.idempotency_keys",
    "kmzb.alert_outbox",
    "kmzb.alert_state",
    "kmzb.police_access_log",
    "kmzb.report_attachments",
)


@pytest.mark.parametrize("name", sorted(PERSONAL))
def test_a_personal_field_is_accepted_and_stored_nowhere(api: str, db_url: str, name: str) -> None:
    tag = str(secrets.randbelow(10**6)).zfill(6) + secrets.token_hex(3).upper()
    if name == "phone":
        tag = str(secrets.randbelow(10**6)).zfill(6)
    value = PERSONAL[name].format(tag=tag)
    description = f"dane osobowe {secrets.token_hex(8)}"
    before = count_reports(db_url)
    answer = post_request(
        api,
        form(description, {name: value}),
        headers={"Idempotency-Key": secrets.token_urlsafe(16)},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()[0]
    assert NO_PERSONAL_DATA_PL in body["service_notice"]
    assert body["account_id"] is None
    assert value not in answer.text
    assert count_reports(db_url) == before + 1
    assert reports_with_description(db_url, description) == 1
    ref = body["service_request_id"]
    assert value not in get(api, f"requests/{ref}.json").text
    with psycopg.connect(db_url) as conn:  # the owner: every column, hashes and all
        for table in STORED:
            found = conn.execute(
                f"SELECT count(*) FROM {table} t WHERE t::text ILIKE %s",  # noqa: S608
                (f"%{value}%",),
            ).fetchone()
            assert found == (0,), (table, value)
    english = post_request(
        api, form(f"en {secrets.token_hex(8)}", {name: value}), headers={"Accept-Language": "en"}
    )
    assert english.status_code == 201, english.text
    assert NO_PERSONAL_DATA_EN in english.json()[0]["service_notice"]


def test_the_event_date_of_today_is_accepted(api: str, db_url: str) -> None:
    # the edge of "not in the future": today in Warsaw
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Warsaw")).date()
    assert isinstance(today, date)
    answer = post_request(
        api, form(f"dziś {secrets.token_hex(8)}", {"attribute[event_date]": today.isoformat()})
    )
    assert answer.status_code == 201, answer.text


def test_a_description_of_exactly_500_characters_is_accepted(api: str) -> None:
    answer = post_request(api, form("ą" * 492 + secrets.token_hex(4), {}))
    assert answer.status_code == 201, answer.text
