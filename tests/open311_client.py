"""A plain Open311 GeoReport v2 client for the tests (requests + ElementTree), the
element names of the spec (http://wiki.open311.org/GeoReport_v2), and the checks
tests/test_open311.py and tests/test_open311_bad_input.py share: the Open311 error
shape, what the database holds, partner keys made with the real `kmzb partners` CLI.

Plain functions, not fixtures: import them (`from open311_client import ...`)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import psycopg
import requests

from helpers import new_address

JURISDICTION = "kmzb.policja.gov.pl"
KRAKOW = {"lat": "50.0614", "long": "19.9383"}  # Rynek Główny: KMP Kraków (KMP-1261)
KRAKOW_NORTH = {"lat": "50.0974", "long": "19.9383"}  # 4 km north of the Rynek, still Kraków
BERLIN = {"lat": "52.5", "long": "13.4"}
KMZB = str(Path(sys.executable).with_name("kmzb"))

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'

# The element names of GeoReport v2, as the spec lists them.
SERVICE_ELEMENTS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
DEFINITION_ELEMENTS = ("service_code", "attributes")
ATTRIBUTE_ELEMENTS = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
)
VALUE_ELEMENTS = ("key", "name")
REQUEST_ELEMENTS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
REQUEST_EXTENSIONS = ("detailed_status",)  # KMZB's own, beside the spec's
POST_ANSWER_ELEMENTS = ("service_request_id", "service_notice", "account_id")
TOKEN_ELEMENTS = ("service_request_id", "token")
DISCOVERY_ELEMENTS = ("changeset", "contact", "key_service", "endpoints")
ENDPOINT_ELEMENTS = ("specification", "url", "changeset", "type", "formats")
ERROR_ELEMENTS = ("code", "description")  # the spec's; KMZB adds field, pl and en
ERROR_EXTENSIONS = ("field", "pl", "en")

DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
REFERENCE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
NO_PERSONAL_DATA_PL = "Nie przechowujemy danych osobowych"
NO_PERSONAL_DATA_EN = "No personal data is stored"


def base(api: str) -> str:
    return f"{api}/open311/v2"


def post_request(
    api: str,
    data: dict[str, str] | list[tuple[str, str]],
    fmt: str = "json",
    address: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST requests.{fmt}, form-encoded, as one citizen (a fresh client address unless given)."""
    sent = {"X-Forwarded-For": address or new_address(), **(headers or {})}
    return requests.post(f"{base(api)}/requests.{fmt}", data=data, headers=sent, timeout=60)


def get(api: str, path: str, params: Any = None, **kwargs: Any) -> requests.Response:
    return requests.get(f"{base(api)}/{path}", params=params, timeout=60, **kwargs)


def xml_root(answer: requests.Response) -> ET.Element:
    """The XML of an answer, after checking its type and declaration."""
    assert answer.headers["Content-Type"].lower() == XML_TYPE, answer.headers["Content-Type"]
    assert answer.content.lower().startswith(XML_DECLARATION), answer.content[:80]
    return ET.fromstring(answer.content)


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def check_elements(
    element: ET.Element, spec: tuple[str, ...], extensions: tuple[str, ...] = ()
) -> None:
    """Every element the spec lists is there, and nothing else but KMZB's extensions."""
    tags = children(element)
    assert set(spec) <= set(tags), f"{element.tag}: missing {set(spec) - set(tags)}"
    assert set(tags) <= set(spec) | set(extensions), (
        f"{element.tag}: unknown {set(tags) - set(spec) - set(extensions)}"
    )
    assert len(tags) == len(set(tags)), f"{element.tag}: repeated elements {tags}"


def text_of(element: ET.Element, name: str) -> str | None:
    found = element.find(name)
    assert found is not None, f"no <{name}> in <{element.tag}>"
    return found.text


def open311_errors(answer: requests.Response, status: int) -> list[dict[str, Any]]:
    """The Open311 errors of an answer (JSON list or XML <errors>), after checking the
    status and the shape: each error has code (the status), description, field, pl, en."""
    assert answer.status_code == status, (answer.status_code, answer.text[:2000])
    content_type = answer.headers["Content-Type"].lower()
    if content_type.startswith("text/xml"):
        root = xml_root(answer)
        assert root.tag == "errors", root.tag
        assert len(root) >= 1
        errors = []
        for error in root:
            assert error.tag == "error"
            check_elements(error, ERROR_ELEMENTS, ERROR_EXTENSIONS)
            errors.append({child.tag: child.text for child in error})
        for error in errors:
            error["code"] = int(error["code"])
    else:
        assert content_type == JSON_TYPE, content_type
        errors = answer.json()
        assert isinstance(errors, list) and errors, errors
    for error in errors:
        assert set(ERROR_ELEMENTS) | {"pl", "en"} <= set(error), error
        assert error["code"] == status, error
        assert error["pl"] and error["en"] and error["pl"] != error["en"], error
        assert error["description"] in (error["pl"], error["en"]), error
    if status == 400:  # one error per problem, each naming its field: no summary item
        assert all(error["field"] for error in errors), errors
    return errors


def fields_of(errors: list[dict[str, Any]]) -> list[str | None]:
    return [error.get("field") for error in errors]


def count_reports(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()
        assert row is not None
        return int(row[0])


def reports_with_description(db_url: str, description: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM kmzb.reports WHERE description = %s", (description,)
        ).fetchone()
        assert row is not None
        return int(row[0])


def report_row(db_url: str, ref: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            """SELECT source, category, description, address_string, media_url, police_unit,
                      status, ST_X(ST_Transform(geom, 4326)), ST_Y(ST_Transform(geom, 4326))
               FROM kmzb.reports WHERE public_ref = %s""",
            (ref,),
        )
        row = cur.fetchone()
        assert row is not None, f"{ref} is not stored"
        names = ("source", "category", "description", "address_string", "media_url")
        names += ("police_unit", "status", "lon", "lat")
        return dict(zip(names, row, strict=True))


def kmzb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KMZB, *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


def add_partner_key(env: dict[str, str], db_url: str, institution: str) -> tuple[str, int]:
    """A new API key for the institution, by `kmzb partners add-key`; (key, its id).

    The key is what the CLI printed that the database holds the SHA-256 of."""
    result = kmzb(env, "partners", "add-key", institution, "--label", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    candidates = set(re.findall(r"[A-Za-z0-9_\-]{20,}", result.stdout))
    with psycopg.connect(db_url) as conn:
        for candidate in candidates:
            digest = hashlib.sha256(candidate.encode()).hexdigest()
            row = conn.execute(
                "SELECT id, institution FROM kmzb.partner_api_keys WHERE key_sha256 = %s",
                (digest,),
            ).fetchone()
            if row is not None:
                assert row[1] == institution
                return candidate, int(row[0])
    raise AssertionError(f"no key printed whose SHA-256 is stored: {result.stdout!r}")


def revoke_partner_key(env: dict[str, str], key_id: int) -> None:
    result = kmzb(env, "partners", "revoke-key", str(key_id))
    assert result.returncode == 0, result.stdout + result.stderr
