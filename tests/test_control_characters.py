"""Control characters in any input: a 400 that names the field, never a 500.

PostgreSQL's text cannot hold NUL (U+0000), so a NUL bound anywhere used to fail
inside the database. The class is refused at the door, for every interface and
every way a value arrives (path, query, form, JSON body), and the domain refuses
other control characters where it stores text (description, note, address).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import psycopg
import pytest
import requests

from helpers import new_address, token_for

KRAKOW = {"lon": 19.9383, "lat": 50.0614}
NUL = "\x00"


def count_reports(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()
        assert row is not None
        return int(row[0])


def named_fields(answer: requests.Response) -> set[str]:
    if answer.headers["Content-Type"].startswith("text/xml"):  # Open311 in XML
        errors = ElementTree.fromstring(answer.content)
        assert errors.tag == "errors"
        return {error.findtext("field") or "" for error in errors}
    body = answer.json()
    if isinstance(body, list):  # Open311's error list
        assert all(e["code"] == answer.status_code and e["pl"] and e["en"] for e in body)
        return {e["field"] for e in body}
    assert body["message"]["pl"] and body["message"]["en"]
    return {e["field"] for e in body.get("errors", [])}


GETS = [
    ("/reports/AAAA-BBBB-CC\x00C", "path"),
    ("/collections/threats/items?category=illegal\x00dumping", "category"),
    ("/collections/threats/items?f=js\x00on", "f"),
    ("/places?q=Kra\x00k", "q"),
    ("/feeds/threats.atom?gmina=12610\x0011", "gmina"),
    ("/open311/v2/requests.json?service_code=illegal\x00dumping", "service_code"),
    ("/open311/v2/requests.xml?jurisdiction_id=KMP\x00", "jurisdiction_id"),
    ("/open311/v2/tokens/AB\x00C.json", "path"),
]


@pytest.mark.parametrize(("path", "field"), GETS, ids=[p for p, _ in GETS])
def test_a_nul_in_a_read_is_a_400_naming_it(api: str, path: str, field: str) -> None:
    answer = requests.get(f"{api}{path}", timeout=30)
    assert answer.status_code == 400, answer.text
    assert field in named_fields(answer)


def test_a_nul_in_a_protected_read_is_a_400(api: str) -> None:
    headers = {"Authorization": f"Bearer {token_for('coordinator', 'KMP-1261')}"}
    for path, field in (
        ("/police/queue?category=speed\x00ing", "category"),
        ("/police/queue?status=new,\x00", "status"),
    ):
        answer = requests.get(f"{api}{path}", headers=headers, timeout=30)
        assert answer.status_code == 400, answer.text
        assert field in named_fields(answer)
    admin = {"Authorization": f"Bearer {token_for('admin', None)}"}
    answer = requests.get(f"{api}/admin/access-log?actor=x\x00", headers=admin, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "actor" in named_fields(answer)


SUBMISSIONS: list[tuple[dict[str, Any], str]] = [
    ({"category": "illegal\x00dumping"}, "inputs.category"),
    ({"description": "opony\x00gruz"}, "inputs.description"),
    ({"event_date": "2026-11-0\x001"}, "inputs.event_date"),
    ({"time_of_day": "night\x00"}, "inputs.time_of_day"),
    ({"attachments": [{"name": "a\x00.jpg", "content": "/9j/"}]}, "inputs.attachments[0].name"),
    ({"descr\x00iption": "x"}, "inputs.descr\x00iption"),
]


@pytest.mark.parametrize(("change", "field"), SUBMISSIONS, ids=[f for _, f in SUBMISSIONS])
def test_a_nul_in_a_submission_is_a_400_and_stores_nothing(
    api: str, db_url: str, change: dict[str, Any], field: str
) -> None:
    before = count_reports(db_url)
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_dumping", **change}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert field in named_fields(answer)
    assert count_reports(db_url) == before


OPEN311_FORMS: list[tuple[dict[str, str], str]] = [
    ({"service_code": "illegal\x00dumping"}, "service_code"),
    ({"description": "opony\x00gruz"}, "description"),
    ({"address_string": "Krak\x00ów"}, "address_string"),
    ({"media_url": "https://example.org/a\x00.jpg"}, "media_url"),
    ({"api_key": "kmzb_\x00"}, "api_key"),
    ({"attribute[time_of_day]": "night\x00"}, "attribute[time_of_day]"),
    ({"email": "jan\x00@example.pl"}, "email"),
]


@pytest.mark.parametrize(("change", "field"), OPEN311_FORMS, ids=[f for _, f in OPEN311_FORMS])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_nul_in_an_open311_form_is_a_400_and_stores_nothing(
    api: str, db_url: str, change: dict[str, str], field: str, fmt: str
) -> None:
    before = count_reports(db_url)
    form = {"service_code": "illegal_dumping", "lat": "50.0614", "long": "19.9383", **change}
    answer = requests.post(
        f"{api}/open311/v2/requests.{fmt}",
        data=form,
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert field in named_fields(answer)
    assert answer.headers["Content-Type"].startswith(
        "application/json" if fmt == "json" else "text/xml"
    )
    assert count_reports(db_url) == before


@pytest.mark.parametrize("text", ["opony\x01gruz", "dzwonek\x07", "esc\x1b[31m", "del\x7f"])
def test_other_control_characters_in_stored_text_are_refused(
    api: str, db_url: str, text: str
) -> None:
    before = count_reports(db_url)
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_dumping", "description": text}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert named_fields(answer) == {"description"}
    answer = requests.post(
        f"{api}/open311/v2/requests.json",
        data={
            "service_code": "illegal_dumping",
            "lat": "50.06",
            "long": "19.94",
            "address_string": text,
        },
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert "address_string" in named_fields(answer)
    assert count_reports(db_url) == before


def test_line_breaks_and_tabs_stay_allowed(api: str) -> None:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={
            "inputs": {
                **KRAKOW,
                "category": "illegal_dumping",
                "description": "Opony:\n\t- przy bramie\r\n\t- przy ławce",
            }
        },
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_a_control_character_in_a_review_note_is_a_400(api: str) -> None:
    submitted = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "speeding"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    reference = submitted.json()["reference"]
    headers = {"Authorization": f"Bearer {token_for('coordinator', 'KMP-1261')}"}
    for note, field in (("patrol\x00", "inputs.note"), ("patrol\x1b", "note")):
        answer = requests.post(
            f"{api}/processes/review-threat/execution",
            json={
                "inputs": {
                    "reference": reference,
                    "status": "verification",
                    "version": 1,
                    "note": note,
                }
            },
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 400, answer.text
        assert field in named_fields(answer)
    status = requests.get(f"{api}/reports/{reference}", timeout=30).json()["status"]
    assert status == "new"  # nothing changed
