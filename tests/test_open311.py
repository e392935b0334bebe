"""The Open311 GeoReport v2 facade (/open311/v2) on the real app and database: reads
through the PyPI `georeport` client, raw spec requests in JSON and XML (XML parsed and
checked against the spec's element names), the daily limit and partner API keys made
with the real CLI, and the way of a request from a municipal system to the police
queue, a coordinator's confirmation, `GET requests` and OGC API Features."""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from georeport import GeoReport

from helpers import new_address, review, token_for
from kmzb.settings import Settings
from open311_client import (
    ATTRIBUTE_ELEMENTS,
    DATATYPES,
    DEFINITION_ELEMENTS,
    DISCOVERY_ELEMENTS,
    ENDPOINT_ELEMENTS,
    JSON_TYPE,
    JURISDICTION,
    KRAKOW,
    KRAKOW_NORTH,
    NO_PERSONAL_DATA_EN,
    NO_PERSONAL_DATA_PL,
    POST_ANSWER_ELEMENTS,
    REFERENCE,
    REQUEST_ELEMENTS,
    REQUEST_EXTENSIONS,
    SERVICE_ELEMENTS,
    TOKEN_ELEMENTS,
    VALUE_ELEMENTS,
    add_partner_key,
    base,
    check_elements,
    count_reports,
    get,
    open311_errors,
    post_request,
    report_row,
    revoke_partner_key,
    text_of,
    xml_root,
)

POLISH = "Zażółć gęślą jaźń — ŻÓŁW, ĆMA, ŹDŹBŁO"


def unique(text: str = "open311") -> str:
    return f"{text} {secrets.token_hex(6)} {POLISH}"


def client(api: str, fmt: str = "json") -> GeoReport:
    return GeoReport(root_address=base(api), jurisdiction=JURISDICTION, output_format=fmt)


def as_list(value: Any) -> list:
    """xmltodict gives one element as a dict and several as a list."""
    return value if isinstance(value, list) else [value]


def submitted(answer: requests.Response) -> str:
    """The reference of a 201 JSON POST answer."""
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert isinstance(body, list) and len(body) == 1, body
    ref = body[0]["service_request_id"]
    assert REFERENCE.match(ref), ref
    return ref


def new_request(api: str, point: dict[str, str], code: str, **fields: str) -> str:
    return submitted(post_request(api, {"service_code": code, **point, **fields}))


def one_request(api: str, ref: str, **headers: str) -> dict[str, Any]:
    answer = get(api, f"requests/{ref}.json", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def listed(api: str, **params: str) -> list[str]:
    answer = get(api, "requests.json", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].lower() == JSON_TYPE
    return [r["service_request_id"] for r in answer.json()]


def w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def unit_name(db_url: str, code: str) -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT name FROM kmzb.police_units WHERE code = %s", (code,)).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def cli_env(api: str, db_url: str, server: Settings) -> dict[str, str]:
    """The environment the app runs with, so the CLI works on the test database."""
    from conftest import app_environment

    return app_environment(db_url, server, int(api.rsplit(":", 1)[1]))


@pytest.fixture(scope="module")
def partner_key(cli_env: dict[str, str], db_url: str) -> str:
    return add_partner_key(cli_env, db_url, "SM-KRAKOW")[0]


# --- reads through the georeport client -------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_lists_the_24_services_with_polish_names_and_groups(
    api: str, db_url: str, fmt: str
) -> None:
    services = as_list(client(api, fmt).get_service_list())
    with psycopg.connect(db_url) as conn:
        names = dict(conn.execute("SELECT code, name_pl FROM kmzb.threat_categories").fetchall())
        groups = {r[0] for r in conn.execute("SELECT name_pl FROM kmzb.category_groups")}
    assert len(services) == 24 == len(names)
    assert {s["service_code"] for s in services} == set(names)
    for service in services:
        assert set(SERVICE_ELEMENTS) <= set(service), service
        assert service["service_name"] == names[service["service_code"]]
        assert service["group"] in groups
        assert service["type"] == "realtime"
        assert service["metadata"] in ((True,) if fmt == "json" else ("true",))
    dumping = next(s for s in services if s["service_code"] == "illegal_dumping")
    assert dumping["service_name"] == "Dzikie wysypiska śmieci"
    assert dumping["group"] == "Środowisko i przyroda"
    vandalism = next(s for s in services if s["service_code"] == "vandalism")
    assert vandalism["group"] == "Porządek publiczny"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_the_definition_of_illegal_dumping(api: str, fmt: str) -> None:
    definition = client(api, fmt).get_service_definition("illegal_dumping")
    if fmt == "json":
        attributes = definition["attributes"]
    else:
        attributes = as_list(definition["attributes"]["attribute"])
    assert definition["service_code"] == "illegal_dumping"
    by_code = {a["code"]: a for a in attributes}
    assert set(by_code) == {"event_date", "time_of_day"}
    event_date, time_of_day = by_code["event_date"], by_code["time_of_day"]
    assert event_date["datatype"] == "datetime"
    assert time_of_day["datatype"] == "singlevaluelist"
    for attribute in attributes:
        assert set(ATTRIBUTE_ELEMENTS) - {"values"} <= set(attribute), attribute
        assert attribute["datatype"] in DATATYPES
        assert attribute["variable"] in (True, "true")
        assert attribute["required"] in (False, "false")
        assert attribute["description"]
    if fmt == "json":
        values = time_of_day["values"]
    else:
        values = as_list(time_of_day["values"]["value"])
    assert [v["key"] for v in values] == ["morning", "afternoon", "evening", "night"]
    assert all(v["name"] for v in values)


def test_services_speak_english_when_asked(api: str, db_url: str) -> None:
    answer = get(api, "services.json", headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    assert answer.headers["Content-Language"].startswith("en")
    with psycopg.connect(db_url) as conn:
        names = dict(conn.execute("SELECT code, name_en FROM kmzb.threat_categories").fetchall())
    assert {s["service_code"]: s["service_name"] for s in answer.json()} == names
    dumping = next(s for s in answer.json() if s["service_code"] == "illegal_dumping")
    assert dumping["group"] == "Environment and nature"
    polish = get(api, "services.json")
    assert polish.headers["Content-Language"].startswith("pl")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_back_a_request_posted_raw(api: str, db_url: str, fmt: str) -> None:
    description = unique("georeport")
    ref = new_request(api, KRAKOW, "illegal_dumping", description=description)
    reader = client(api, fmt)
    one = reader.get_service_request(ref)
    assert one["service_request_id"] == ref
    assert one["service_code"] == "illegal_dumping"
    assert one["service_name"] == "Dzikie wysypiska śmieci"
    assert one["description"] == description
    assert one["status"] == "open" and one["detailed_status"] == "new"
    assert one["agency_responsible"] == unit_name(db_url, "KMP-1261")
    assert abs(float(one["lat"]) - 50.0614) < 1e-5 and abs(float(one["long"]) - 19.9383) < 1e-5
    many = as_list(reader.get_service_requests(service_request_id=ref))
    assert [r["service_request_id"] for r in many] == [ref]
    by_code = as_list(reader.get_service_requests(service_code="illegal_dumping", status="open"))
    assert ref in [r["service_request_id"] for r in by_code]


# --- raw spec requests: discovery, POST, GET in JSON and XML ----------------------------


def test_discovery_in_json_and_xml(api: str) -> None:
    answer = get(api, "discovery.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].lower() == JSON_TYPE
    body = answer.json()
    assert set(DISCOVERY_ELEMENTS) <= set(body)
    endpoint = body["endpoints"][0]
    assert set(ENDPOINT_ELEMENTS) <= set(endpoint)
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == base(api) and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = xml_root(get(api, "discovery.xml"))
    assert root.tag == "discovery"
    check_elements(root, DISCOVERY_ELEMENTS)
    endpoints = root.find("endpoints")
    assert endpoints is not None and [e.tag for e in endpoints] == ["endpoint"] * len(endpoints)
    check_elements(endpoints[0], ENDPOINT_ELEMENTS)
    formats = endpoints[0].find("formats")
    assert formats is not None
    assert {f.text for f in formats} == {"text/xml", "application/json"}
    assert {f.tag for f in formats} == {"format"}


def test_services_and_definition_in_xml_use_the_spec_names(api: str) -> None:
    root = xml_root(get(api, "services.xml", params={"jurisdiction_id": JURISDICTION}))
    assert root.tag == "services" and len(root) == 24
    for service in root:
        assert service.tag == "service"
        check_elements(service, SERVICE_ELEMENTS)
        assert text_of(service, "metadata") in ("true", "false")
    dumping = next(s for s in root if text_of(s, "service_code") == "illegal_dumping")
    assert text_of(dumping, "service_name") == "Dzikie wysypiska śmieci"  # UTF-8 letters
    definition = xml_root(get(api, "services/illegal_dumping.xml"))
    assert definition.tag == "service_definition"
    check_elements(definition, DEFINITION_ELEMENTS)
    attributes = definition.find("attributes")
    assert attributes is not None and {a.tag for a in attributes} == {"attribute"}
    for attribute in attributes:
        check_elements(attribute, ATTRIBUTE_ELEMENTS)
        assert text_of(attribute, "variable") == "true"
        assert text_of(attribute, "required") == "false"
    time_of_day = next(a for a in attributes if text_of(a, "code") == "time_of_day")
    values = time_of_day.find("values")
    assert values is not None and len(values) == 4
    for value in values:
        assert value.tag == "value"
        check_elements(value, VALUE_ELEMENTS)


def test_post_json_answers_201_with_the_reference_and_notices(api: str, db_url: str) -> None:
    description = unique("post json")
    before = count_reports(db_url)
    answer = post_request(
        api,
        {
            "service_code": "illegal_dumping",
            **KRAKOW,
            "description": description,
            "attribute[event_date]": "2024-05-01",
            "attribute[time_of_day]": "evening",
            "media_url": "https://example.org/zdjecie.jpg",
            "jurisdiction_id": JURISDICTION,
        },
    )
    ref = submitted(answer)
    assert answer.headers["Content-Type"].lower() == JSON_TYPE
    assert answer.headers["Location"].endswith(f"/open311/v2/requests/{ref}.json")
    body = answer.json()[0]
    assert set(body) >= set(POST_ANSWER_ELEMENTS)
    assert body["account_id"] is None
    assert "112" in body["service_notice"]
    assert NO_PERSONAL_DATA_PL in body["service_notice"]
    assert count_reports(db_url) == before + 1
    row = report_row(db_url, ref)
    assert row["description"] == description and row["source"] == "citizen"
    assert row["category"] == "illegal_dumping" and row["police_unit"] == "KMP-1261"
    assert row["media_url"] == "https://example.org/zdjecie.jpg"
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT event_date::text, time_of_day FROM kmzb.reports WHERE public_ref = %s", (ref,)
        ).fetchone()
    assert stored == ("2024-05-01", "evening")
    # the English notice when asked
    english = post_request(
        api,
        {"service_code": "illegal_dumping", **KRAKOW, "description": unique("en")},
        headers={"Accept-Language": "en"},
    )
    submitted(english)
    assert NO_PERSONAL_DATA_EN in english.json()[0]["service_notice"]
    assert "112" in english.json()[0]["service_notice"]


def test_post_xml_answers_the_spec_elements_and_get_returns_utf8_xml(api: str) -> None:
    description = unique("post xml")
    answer = post_request(
        api, {"service_code": "illegal_dumping", **KRAKOW, "description": description}, "xml"
    )
    assert answer.status_code == 201, answer.text
    root = xml_root(answer)
    assert root.tag == "service_requests" and [r.tag for r in root] == ["request"]
    check_elements(root[0], POST_ANSWER_ELEMENTS, ("token",))
    ref = text_of(root[0], "service_request_id")
    assert ref is not None and REFERENCE.match(ref)
    assert not text_of(root[0], "account_id")  # an empty element
    assert "112" in (text_of(root[0], "service_notice") or "")
    assert answer.headers["Location"].endswith(f"/open311/v2/requests/{ref}.xml")
    read = get(api, f"requests/{ref}.xml")
    assert read.status_code == 200
    assert "ż".encode() in read.content  # UTF-8 bytes, not character references
    request = xml_root(read)
    assert request.tag == "service_requests" and len(request) == 1
    check_elements(request[0], REQUEST_ELEMENTS, REQUEST_EXTENSIONS)
    assert text_of(request[0], "service_request_id") == ref
    assert text_of(request[0], "description") == description
    assert text_of(request[0], "service_name") == "Dzikie wysypiska śmieci"
    assert text_of(request[0], "status") == "open"
    assert text_of(request[0], "detailed_status") == "new"
    for empty in ("expected_datetime", "address_id", "zipcode", "media_url"):
        assert not text_of(request[0], empty), empty
    float(text_of(request[0], "lat") or "")
    datetime.fromisoformat(text_of(request[0], "requested_datetime") or "")


def test_a_multipart_post_is_taken_like_a_form(api: str, db_url: str) -> None:
    description = unique("multipart")
    fields = {"service_code": "vandalism", **KRAKOW, "description": description}
    answer = requests.post(
        f"{base(api)}/requests.json",
        files={name: (None, value) for name, value in fields.items()},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    ref = submitted(answer)
    assert report_row(db_url, ref)["description"] == description


def test_get_request_json_has_every_spec_field(api: str, db_url: str) -> None:
    ref = new_request(api, KRAKOW, "illegal_dumping", description=unique("fields"))
    body = one_request(api, ref)
    assert set(REQUEST_ELEMENTS) | set(REQUEST_EXTENSIONS) <= set(body), body
    assert body["expected_datetime"] is None and body["address_id"] is None
    assert body["zipcode"] is None and body["media_url"] is None
    assert isinstance(body["lat"], float) and isinstance(body["long"], float)
    requested = datetime.fromisoformat(body["requested_datetime"])
    assert requested.tzinfo is not None
    assert abs(requested - datetime.now(UTC)) < timedelta(minutes=5)
    assert datetime.fromisoformat(body["updated_datetime"]) >= requested
    assert "112" in body["service_notice"]
    assert body["agency_responsible"] == unit_name(db_url, "KMP-1261")
    # a lower-case reference finds it too (references are case-insensitive elsewhere)
    answer = get(api, f"requests/{ref.lower()}.json")
    assert answer.status_code == 200 and answer.json()[0]["service_request_id"] == ref


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_tokens_answer_the_reference(api: str, fmt: str) -> None:
    ref = new_request(api, KRAKOW, "illegal_dumping", description=unique("token"))
    answer = get(api, f"tokens/{ref}.{fmt}")
    assert answer.status_code == 200, answer.text
    if fmt == "json":
        assert answer.json() == [{"service_request_id": ref, "token": ref}]
    else:
        root = xml_root(answer)
        assert root.tag == "service_requests" and [r.tag for r in root] == ["request"]
        check_elements(root[0], TOKEN_ELEMENTS)
        assert text_of(root[0], "service_request_id") == ref


def test_an_address_string_naming_one_town_is_placed_at_its_centre(api: str, db_url: str) -> None:
    description = unique("wieliczka")
    ref = new_request(
        api, {}, "illegal_dumping", address_string="Wieliczka", description=description
    )
    row = report_row(db_url, ref)
    assert row["address_string"] == "Wieliczka"
    assert abs(row["lon"] - 20.06) < 0.05 and abs(row["lat"] - 49.99) < 0.05, row
    body = one_request(api, ref)
    assert abs(body["long"] - 20.06) < 0.05 and abs(body["lat"] - 49.99) < 0.05
    # with lat/long, the address is kept as text only: the point is the one given
    ref = new_request(
        api, KRAKOW, "illegal_dumping", address_string="Wieliczka", description=unique("text")
    )
    row = report_row(db_url, ref)
    assert row["address_string"] == "Wieliczka"
    assert abs(row["lon"] - 19.9383) < 1e-5 and abs(row["lat"] - 50.0614) < 1e-5


def test_a_unit_as_jurisdiction_accepts_a_point_in_its_area(api: str, db_url: str) -> None:
    ref = new_request(
        api, KRAKOW, "illegal_dumping", jurisdiction_id="KMP-1261", description=unique("unit")
    )
    assert report_row(db_url, ref)["police_unit"] == "KMP-1261"
    assert ref in listed(api, service_code="illegal_dumping", jurisdiction_id="KMP-1261")
    assert ref not in listed(api, service_code="illegal_dumping", jurisdiction_id="KMP-0264")
    assert ref in listed(api, service_code="illegal_dumping", jurisdiction_id=JURISDICTION)


def test_an_idempotency_key_gives_the_first_answer_again(api: str, db_url: str) -> None:
    fields = {"service_code": "illegal_dumping", **KRAKOW, "description": unique("idem")}
    headers = {"Idempotency-Key": secrets.token_urlsafe(16)}
    address = new_address()
    first = post_request(api, fields, address=address, headers=headers)
    ref = submitted(first)
    before = count_reports(db_url)
    again = post_request(api, fields, address=address, headers=headers)
    assert again.status_code in (200, 201), again.text
    assert again.json()[0]["service_request_id"] == ref
    assert count_reports(db_url) == before


# --- the daily limit and partner keys ---------------------------------------------------


def test_a_citizen_s_second_request_of_the_day_is_429(api: str, db_url: str) -> None:
    address = new_address()
    submitted(post_request(api, {"service_code": "illegal_dumping", **KRAKOW}, address=address))
    description = unique("second")
    before = count_reports(db_url)
    answer = post_request(
        api,
        {"service_code": "illegal_dumping", **KRAKOW, "description": description},
        address=address,
    )
    errors = open311_errors(answer, 429)
    assert int(answer.headers["Retry-After"]) > 0
    assert "limit" in errors[0]["pl"].lower() and "limit" in errors[0]["en"].lower()
    assert count_reports(db_url) == before
    xml = post_request(api, {"service_code": "illegal_dumping", **KRAKOW}, "xml", address=address)
    open311_errors(xml, 429)
    assert int(xml.headers["Retry-After"]) > 0


def test_a_partner_key_lifts_the_daily_limit(api: str, db_url: str, partner_key: str) -> None:
    address = new_address()
    refs = []
    for number in range(3):
        answer = post_request(
            api,
            {
                "service_code": "illegal_parking",
                **KRAKOW,
                "api_key": partner_key,
                "description": unique(f"partner {number}"),
            },
            address=address,
        )
        refs.append(submitted(answer))
    assert len(set(refs)) == 3
    assert {report_row(db_url, ref)["source"] for ref in refs} == {"partner"}
    # the key itself is stored nowhere but as its SHA-256
    with psycopg.connect(db_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM kmzb.partner_api_keys k WHERE k::text LIKE %s",
            (f"%{partner_key}%",),
        ).fetchone()
    assert found == (0,)


def test_a_revoked_key_is_refused_and_stores_nothing(
    api: str, db_url: str, cli_env: dict[str, str]
) -> None:
    key, key_id = add_partner_key(cli_env, db_url, "SM-KRAKOW")
    fields = {"service_code": "illegal_parking", **KRAKOW, "api_key": key}
    submitted(post_request(api, {**fields, "description": unique("before revoke")}))
    revoke_partner_key(cli_env, key_id)
    description = unique("after revoke")
    before = count_reports(db_url)
    answer = post_request(api, {**fields, "description": description})
    errors = open311_errors(answer, 403)
    assert "api_key" in [e.get("field") for e in errors] or errors[0]["field"] is None
    assert count_reports(db_url) == before


# --- end to end: Open311 -> police queue -> confirmation -> GET requests, OGC API -------


def test_a_partner_request_goes_to_the_queue_and_closes_with_the_public_note(
    api: str, db_url: str, partner_key: str
) -> None:
    description = unique("e2e")
    answer = post_request(
        api,
        {
            "service_code": "stray_dogs",
            **KRAKOW,
            "description": description,
            "api_key": partner_key,
            "jurisdiction_id": JURISDICTION,
        },
    )
    ref = submitted(answer)
    coordinator = {"Authorization": f"Bearer {token_for('coordinator', 'KMP-1261')}"}
    today = datetime.now(UTC).date()
    queue = requests.get(
        f"{api}/police/queue",
        params={
            "unit": "KMP-1261",
            "category": "stray_dogs",
            "from": (today - timedelta(days=1)).isoformat(),
            "limit": "1000",
        },
        headers=coordinator,
        timeout=60,
    )
    assert queue.status_code == 200, queue.text
    mine = [r for r in queue.json()["reports"] if r["reference"] == ref]
    assert len(mine) == 1 and mine[0]["description"] == description
    assert mine[0]["status"] == "new"

    assert one_request(api, ref)["status"] == "open"
    version = review(api, "KMP-1261", ref, "verification", 1, note="wewnętrzna notatka")
    during = one_request(api, ref)
    assert during["status"] == "open" and during["detailed_status"] == "verification"
    assert "wewnętrzna" not in str(during)
    note = f"Potwierdzone na miejscu, zgłoszono do schroniska {secrets.token_hex(3)}"
    review(api, "KMP-1261", ref, "confirmed", version, note=note, note_public=True)

    closed = one_request(api, ref)
    assert closed["status"] == "closed" and closed["detailed_status"] == "confirmed"
    assert closed["status_notes"] == note
    assert datetime.fromisoformat(closed["updated_datetime"]) >= datetime.fromisoformat(
        closed["requested_datetime"]
    )
    by_list = get(api, "requests.json", params={"service_request_id": ref})
    assert by_list.status_code == 200
    assert [(r["service_request_id"], r["status"], r["status_notes"]) for r in by_list.json()] == [
        (ref, "closed", note)
    ]
    assert ref in listed(api, status="closed", service_code="stray_dogs")
    assert ref not in listed(api, status="open", service_code="stray_dogs")
    xml = xml_root(get(api, "requests.xml", params={"service_request_id": ref}))
    assert text_of(xml[0], "status") == "closed" and text_of(xml[0], "status_notes") == note
    feature = requests.get(f"{api}/collections/threats/items/{ref}", timeout=60)
    assert feature.status_code == 200, feature.text
    assert feature.json()["id"] == ref
    # the georeport client reads it the same way
    assert client(api).get_service_request(ref)["status"] == "closed"


def test_a_request_off_the_public_map_is_not_listed_but_readable_without_place(
    api: str,
) -> None:
    description = unique("drugs")
    ref = new_request(api, KRAKOW, "drug_use", description=description)
    assert ref not in listed(api, service_code="drug_use")
    assert ref not in listed(api, service_request_id=ref)
    body = one_request(api, ref)
    assert body["service_request_id"] == ref and body["status"] == "open"
    for hidden in ("lat", "long", "description", "address"):
        assert body.get(hidden) in (None, ""), (hidden, body)
    assert description not in str(body)
    root = xml_root(get(api, f"requests/{ref}.xml"))
    check_elements(root[0], REQUEST_ELEMENTS, REQUEST_EXTENSIONS)
    for hidden in ("lat", "long", "description", "address"):
        assert not text_of(root[0], hidden), hidden
    assert POLISH not in get(api, f"requests/{ref}.xml").text


def test_a_request_found_a_joke_leaves_the_list_and_its_place_is_hidden(api: str) -> None:
    description = unique("joke")
    ref = new_request(api, KRAKOW, "illegal_dumping", description=description)
    assert ref in listed(api, service_code="illegal_dumping")
    version = review(api, "KMP-1261", ref, "verification", 1)
    review(api, "KMP-1261", ref, "joke_or_mistake", version)
    assert ref not in listed(api, service_code="illegal_dumping")
    body = one_request(api, ref)
    assert body["status"] == "closed" and body["detailed_status"] == "joke_or_mistake"
    for hidden in ("lat", "long", "description", "address"):
        assert body.get(hidden) in (None, ""), (hidden, body)
    assert description not in get(api, f"requests/{ref}.xml").text


def test_lat_long_and_radius_select_nearby_requests(api: str) -> None:
    near = new_request(api, KRAKOW, "vandalism", description=unique("n"))
    far = new_request(api, KRAKOW_NORTH, "vandalism", description=unique("far"))
    around = {**KRAKOW, "service_code": "vandalism"}
    inside = listed(api, **around, radius="500")
    assert near in inside and far not in inside
    wide = listed(api, **around, radius="5000")
    assert near in wide and far in wide
    default = listed(api, **around)  # 1000 m
    assert near in default and far not in default


def test_start_and_end_date_select_the_window(api: str) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    ref = new_request(api, KRAKOW, "illegal_dumping", description=unique("window"))
    time.sleep(1)
    ended = datetime.now(UTC) + timedelta(seconds=2)
    params = {"service_code": "illegal_dumping"}
    assert ref in listed(api, **params, start_date=w3c(started), end_date=w3c(ended))
    zulu = w3c(started).replace("+00:00", "Z")
    assert ref in listed(api, **params, start_date=zulu)
    warsaw = started.astimezone(datetime.now().astimezone().tzinfo)
    assert ref in listed(api, **params, start_date=warsaw.isoformat(timespec="seconds"))
    assert ref not in listed(
        api,
        **params,
        start_date=w3c(started - timedelta(days=10)),
        end_date=w3c(started - timedelta(days=5)),
    )
    later = {"start_date": w3c(ended + timedelta(minutes=1))}
    assert ref not in listed(api, **params, **later, end_date=w3c(ended + timedelta(minutes=2)))
    earlier = {"end_date": w3c(started - timedelta(minutes=1))}  # start: 90 days before
    assert ref not in listed(api, **params, **earlier)
    assert ref in listed(api, **params)  # the default window: the last 90 days


def test_get_requests_xml_parses_newest_first_and_max_requests_limits(api: str) -> None:
    first = new_request(api, KRAKOW, "begging", description=unique("older"))
    time.sleep(1.1)
    second = new_request(api, KRAKOW, "begging", description=unique("newer"))
    root = xml_root(get(api, "requests.xml", params={"service_code": "begging"}))
    assert root.tag == "service_requests"
    assert {r.tag for r in root} == {"request"}
    for request in root:
        check_elements(request, REQUEST_ELEMENTS, REQUEST_EXTENSIONS)
    refs = [text_of(r, "service_request_id") for r in root]
    assert refs.index(second) < refs.index(first)
    stamps = [datetime.fromisoformat(text_of(r, "requested_datetime") or "") for r in root]
    assert stamps == sorted(stamps, reverse=True)
    limited = listed(api, service_code="begging", max_requests="1")
    assert limited == [second]
    both = listed(api, service_request_id=f"{first},{second}")
    assert set(both) == {first, second}


def test_no_personal_field_answer_ever_echoes_it(api: str) -> None:
    # (the per-field check that nothing is stored is in test_open311_bad_input)
    answer = post_request(
        api,
        {
            "service_code": "illegal_dumping",
            **KRAKOW,
            "email": "jan.kowalski@example.org",
            "description": unique("echo"),
        },
    )
    ref = submitted(answer)
    assert "jan.kowalski" not in answer.text
    assert "jan.kowalski" not in get(api, f"requests/{ref}.json").text


def test_an_xml_element_tree_of_every_endpoint_is_well_formed(api: str) -> None:
    ref = new_request(api, KRAKOW, "illegal_dumping", description=unique("wellformed"))
    for path in (
        "discovery.xml",
        "services.xml",
        "services/dangerous_entertainment.xml",
        "requests.xml",
        f"requests/{ref}.xml",
        f"tokens/{ref}.xml",
    ):
        answer = get(api, path)
        assert answer.status_code == 200, (path, answer.text)
        assert isinstance(xml_root(answer), ET.Element)
