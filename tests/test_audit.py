"""The audit trail of police reads, over HTTP against the running app: who opened which
report or attachment, or read a queue, and when; append-only; read by admins only."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests

from helpers import new_address, token_for

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
_places = itertools.count()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def admin() -> str:
    return token_for("admin", subject="audit-admin")


def new_report(api: str, attachments: int = 0) -> str:
    n = next(_places)
    inputs = {
        "lon": 19.91 + 0.007 * (n % 10),
        "lat": 50.02 - 0.007 * (n // 10),
        "category": "illegal_dumping",
        "attachments": [
            {"name": f"zdjęcie-{i}.jpg", "content": base64.b64encode(JPEG).decode()}
            for i in range(attachments)
        ],
    }
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def access_log(api: str, token: str | None, **params) -> requests.Response:
    return requests.get(
        f"{api}/admin/access-log",
        params=params,
        headers=bearer(token) if token else {},
        timeout=30,
    )


def rows_of(db_url: str, actor: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """SELECT l.action, r.public_ref, l.attachment_id, l.actor_unit
               FROM kmzb.police_access_log l LEFT JOIN kmzb.reports r ON r.id = l.report_id
               WHERE l.actor = %s ORDER BY l.id""",
            (actor,),
        ).fetchall()


def test_every_police_read_is_recorded(api: str, db_url: str, admin: str) -> None:
    ref = new_report(api, attachments=1)
    officer = token_for("officer", "KMP-1261", subject="audit-reader")
    started = datetime.now(ZoneInfo("Europe/Warsaw")) - timedelta(seconds=5)

    details = requests.get(f"{api}/police/reports/{ref}", headers=bearer(officer), timeout=30)
    assert details.status_code == 200
    attachment_id = details.json()["attachments"][0]["id"]
    url = f"{api}/police/reports/{ref}/attachments/{attachment_id}"
    assert requests.get(url, headers=bearer(officer), timeout=30).status_code == 200
    queue = requests.get(f"{api}/police/queue", headers=bearer(officer), timeout=30)
    assert queue.status_code == 200

    assert rows_of(db_url, "officer:audit-reader") == [
        ("report", ref, None, "KMP-1261"),
        ("attachment", ref, attachment_id, "KMP-1261"),
        ("queue", None, None, "KMP-1261"),
    ]
    # the admin reads the same, newest first, with when
    answer = access_log(api, admin, actor="officer:audit-reader")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "private, no-store"
    entries = answer.json()["entries"]
    assert [(e["action"], e["reference"], e["attachment_id"]) for e in entries] == [
        ("queue", None, None),
        ("attachment", ref, attachment_id),
        ("report", ref, None),
    ]
    assert all(e["actor_unit"] == "KMP-1261" for e in entries)
    assert all(datetime.fromisoformat(e["at"]) >= started for e in entries)


def test_an_admins_read_is_recorded_too(api: str, db_url: str, admin: str) -> None:
    ref = new_report(api)
    answer = requests.get(f"{api}/police/reports/{ref}", headers=bearer(admin), timeout=30)
    assert answer.status_code == 200
    assert ("report", ref, None, None) in rows_of(db_url, "admin:audit-admin")


def test_a_refused_read_is_not_a_read(api: str, db_url: str) -> None:
    ref = new_report(api, attachments=1)
    wroclaw = token_for("officer", "KMP-0264", subject="audit-outsider")
    assert (
        requests.get(f"{api}/police/reports/{ref}", headers=bearer(wroclaw), timeout=30).status_code
        == 403
    )
    assert (
        requests.get(
            f"{api}/police/reports/{ref}/attachments/1", headers=bearer(wroclaw), timeout=30
        ).status_code
        == 403
    )
    assert rows_of(db_url, "officer:audit-outsider") == []
    # and a missing attachment is not a download
    officer = token_for("officer", "KMP-1261", subject="audit-missing")
    missing = requests.get(
        f"{api}/police/reports/{ref}/attachments/999999999", headers=bearer(officer), timeout=30
    )
    assert missing.status_code == 404
    assert rows_of(db_url, "officer:audit-missing") == []


def test_only_the_admin_reads_the_log(api: str) -> None:
    assert access_log(api, None).status_code == 401
    assert access_log(api, "not-a-token").status_code == 401
    for token in (
        token_for("officer", "KMP-1261", subject="audit-x"),
        token_for("coordinator", "KWP-12", subject="audit-x"),
        token_for("partner", subject="audit-x", institution="ZDMK"),
    ):
        answer = access_log(api, token)
        assert answer.status_code == 403
        assert "administrator" in answer.json()["message"]["pl"]


def test_filters_by_reference_time_and_limit(api: str, admin: str) -> None:
    first, second = new_report(api), new_report(api)
    officer = token_for("officer", "KMP-1261", subject="audit-filters")
    for ref in (first, second, first):
        assert (
            requests.get(
                f"{api}/police/reports/{ref}", headers=bearer(officer), timeout=30
            ).status_code
            == 200
        )

    def references(**params) -> list[str | None]:
        answer = access_log(api, admin, actor="officer:audit-filters", **params)
        assert answer.status_code == 200, answer.text
        return [e["reference"] for e in answer.json()["entries"]]

    assert references() == [first, second, first]
    assert references(reference=first.lower()) == [first, first]
    assert references(limit="1") == [first]
    today = datetime.now(ZoneInfo("Europe/Warsaw")).date()
    assert references(**{"from": today.isoformat()}) == [first, second, first]
    assert references(to=(today - timedelta(days=1)).isoformat()) == []
    assert references(**{"from": (today + timedelta(days=1)).isoformat()}) == []
    now = datetime.now(ZoneInfo("Europe/Warsaw"))
    assert references(to=(now - timedelta(hours=1)).isoformat()) == []
    assert len(references(**{"from": (now - timedelta(hours=1)).isoformat()})) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "dużo"}, "limit"),
        ({"from": "wczoraj"}, "from"),
        ({"to": "2026-13-01"}, "to"),
    ],
)
def test_bad_filters_are_a_400(api: str, admin: str, params: dict, field: str) -> None:
    answer = access_log(api, admin, **params)
    assert answer.status_code == 400
    errors = {e["field"]: e for e in answer.json()["errors"]}
    assert errors[field]["pl"] and errors[field]["en"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE kmzb.police_access_log SET actor = 'someone-else'",
        "DELETE FROM kmzb.police_access_log",
        "TRUNCATE kmzb.police_access_log",
    ],
)
def test_the_log_is_append_only(conn: psycopg.Connection, statement: str) -> None:
    conn.execute(
        "INSERT INTO kmzb.police_access_log (actor, action) VALUES ('officer:audit-db', 'queue')"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(statement)


def test_a_row_names_what_was_read(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="access_names_what_was_read"):
        conn.execute(
            "INSERT INTO kmzb.police_access_log (actor, action) VALUES ('officer:x', 'report')"
        )
