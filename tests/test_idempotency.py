"""submit-threat's Idempotency-Key over HTTP: a retry gets the first answer back.

The real app under gunicorn on the test database; rows are counted in PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import requests

from helpers import new_address
from kmzb.domain import idempotency

KRAKOW = {"lon": 19.9383, "lat": 50.0614}


def submit(api: str, inputs: dict, key: str | None, address: str) -> requests.Response:
    headers = {"X-Forwarded-For": address}
    if key is not None:
        headers[idempotency.HEADER] = key
    return requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers=headers,
        timeout=60,
    )


def reports_with(db_url: str, description: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT public_ref FROM kmzb.reports WHERE description = %s", (description,)
        ).fetchall()
    return [r[0] for r in rows]


def key_rows(db_url: str, key: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM kmzb.idempotency_keys WHERE key_hash = %s",
            (idempotency.key_hash(key),),
        ).fetchone()[0]


def inputs_for(description: str) -> dict:
    return {**KRAKOW, "category": "illegal_dumping", "description": description}


def test_a_retry_with_the_same_key_gets_the_same_answer_and_one_report(api, db_url) -> None:
    key, text = str(uuid.uuid4()), f"retry {uuid.uuid4()}"
    address = new_address()
    first = submit(api, inputs_for(text), key, address)
    assert first.status_code == 200, first.text
    # the retry comes from another address (NAT, another network): still the same answer
    for retry_address in (address, new_address()):
        again = submit(api, inputs_for(text), key, retry_address)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    assert reports_with(db_url, text) == [first.json()["reference"]]
    assert key_rows(db_url, key) == 1
    # the key itself is not stored, only its hash
    with psycopg.connect(db_url) as conn:
        answer = conn.execute(
            "SELECT answer::text FROM kmzb.idempotency_keys WHERE key_hash = %s",
            (idempotency.key_hash(key),),
        ).fetchone()[0]
    assert key not in answer


def test_a_retry_after_the_daily_limit_is_used_up_is_not_a_429(api, db_url) -> None:
    address = new_address()
    key, text = str(uuid.uuid4()), f"limit {uuid.uuid4()}"
    first = submit(api, inputs_for(text), key, address)
    assert first.status_code == 200, first.text
    other = submit(api, inputs_for(f"another {uuid.uuid4()}"), str(uuid.uuid4()), address)
    assert other.status_code == 429  # the citizen's report of the day is the first one
    again = submit(api, inputs_for(text), key, address)
    assert again.status_code == 200, again.text
    assert again.json()["reference"] == first.json()["reference"]
    # without a key, a second request is a second submission: the limit answers
    assert submit(api, inputs_for(text), None, address).status_code == 429
    assert reports_with(db_url, text) == [first.json()["reference"]]


def test_the_same_key_with_another_body_is_a_422_and_stores_nothing(api, db_url) -> None:
    key, text = str(uuid.uuid4()), f"first body {uuid.uuid4()}"
    assert submit(api, inputs_for(text), key, new_address()).status_code == 200
    other_text = f"other body {uuid.uuid4()}"
    answer = submit(api, inputs_for(other_text), key, new_address())
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "IdempotencyKeyReused"
    assert "Idempotency-Key" in body["description"]
    assert "użyto już" in body["message"]["pl"] and "already used" in body["description"]
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert reports_with(db_url, other_text) == []
    assert key_rows(db_url, key) == 1


def test_a_malformed_key_is_a_400_and_stores_nothing(api, db_url) -> None:
    text = f"bad key {uuid.uuid4()}"
    for bad in ("x" * 256, "klucz-zażółć", "", "a\tb"):
        answer = requests.post(
            f"{api}/processes/submit-threat/execution",
            json={"inputs": inputs_for(text)},
            # requests sends str headers as Latin-1: "ż" cannot be, so send bytes
            headers={"X-Forwarded-For": new_address(), "Idempotency-Key": bad.encode("utf-8")},
            timeout=60,
        )
        assert answer.status_code == 400, (bad, answer.text)
        body = answer.json()
        assert "Idempotency-Key" in body["description"]
        assert "ASCII" in body["description"] and "znaków" in body["message"]["pl"]
    # the longest key allowed is accepted
    longest = "k" * 255
    assert submit(api, inputs_for(text), longest, new_address()).status_code == 200
    assert len(reports_with(db_url, text)) == 1


def test_concurrent_duplicates_make_one_report(api, db_url) -> None:
    key, text = str(uuid.uuid4()), f"concurrent {uuid.uuid4()}"
    answers: list[requests.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        answer = submit(api, inputs_for(text), key, new_address())
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    references = {a.json()["reference"] for a in answers}
    assert len(references) == 1
    assert reports_with(db_url, text) == list(references)
    assert key_rows(db_url, key) == 1


def test_keys_count_24_hours_and_are_purged(api, db_url) -> None:
    key, text = str(uuid.uuid4()), f"old key {uuid.uuid4()}"
    first = submit(api, inputs_for(text), key, new_address())
    assert first.status_code == 200
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE kmzb.idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key_hash = %s",
            (idempotency.key_hash(key),),
        )
    # an expired key counts for nothing: the request is a new one
    again = submit(api, inputs_for(text), key, new_address())
    assert again.status_code == 200
    assert again.json()["reference"] != first.json()["reference"]
    assert key_rows(db_url, key) == 1  # taken over, fresh
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE kmzb.idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key_hash = %s",
            (idempotency.key_hash(key),),
        )
        fresh = conn.execute("SELECT count(*) FROM kmzb.idempotency_keys").fetchone()[0] - 1
    assert idempotency.purge(db_url) >= 1
    assert key_rows(db_url, key) == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM kmzb.idempotency_keys").fetchone()[0] == fresh


def test_the_process_description_advertises_the_header(api) -> None:
    process = requests.get(f"{api}/processes/submit-threat?f=json", timeout=30).json()
    assert "Idempotency-Key" in str(process["description"])
