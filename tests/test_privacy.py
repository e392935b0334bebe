"""Privacy by design for reporters, against the real app and PostGIS.

The daily limit keys on a hash that rotates daily (a per-day key derived from
the secret), an IPv6 address counts as its /64, the client address is the hop
our proxy added, and the hash is purged after the limit window by
`kmzb purge` and the job `kmzb run` schedules, which the reports trigger
allows and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import TEST_DB, fresh_database, running_app
from helpers import token_for
from kmzb.db import connection, migrations
from kmzb.domain import reporters
from kmzb.loaders.all import load_all
from kmzb.runner import _purge_reporter_hashes_periodically
from kmzb.settings import Settings

KMZB = str(Path(sys.executable).with_name("kmzb"))
POZNAN = (16.9252, 52.4064)  # Stary Rynek, KMP Poznań
_places = itertools.count(1)


def next_place() -> dict[str, float]:
    """A point of its own, about 700 m from the last: no two of these make a burst."""
    n = next(_places)
    return {"lon": POZNAN[0] + 0.01 * (n % 20), "lat": POZNAN[1] + 0.01 * (n // 20)}


def submit(api: str, forwarded_for: str, category: str = "begging") -> requests.Response:
    return requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**next_place(), "category": category}},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=60,
    )


def stored(db_url: str, reference: str) -> dict:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """SELECT reporter_hash, version, updated_at, row_to_json(r)::text AS whole
               FROM kmzb.reports r WHERE public_ref = %s""",
            (reference,),
        ).fetchone()
    assert row is not None
    return {"hash": row[0], "version": row[1], "updated_at": row[2], "whole": row[3]}


def count_reports(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]


# --- the hash ------------------------------------------------------------------------


def test_the_key_rotates_daily_and_the_secret_never_hashes_an_address(settings) -> None:
    today = reporters.warsaw_today()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    address = "203.0.113.5"
    hashes = {day: reporters.reporter_hash(settings, address, day) for day in (yesterday, today)}
    assert hashes[today] == reporters.reporter_hash(settings, address)  # today by default
    assert hashes[today] != hashes[yesterday]
    assert reporters.reporter_hash(settings, address, tomorrow) not in hashes.values()
    secret = settings.reporter_key or reporters._local_secret()
    direct = hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()
    assert direct not in hashes.values()
    # the day key is HMAC(secret, 'kmzb-reporter|' + date), and the hash is keyed by it
    key = hmac.new(secret.encode(), f"kmzb-reporter|{today}".encode(), hashlib.sha256).digest()
    assert reporters.day_key(secret, today) == key
    assert hashes[today] == hmac.new(key, address.encode(), hashlib.sha256).hexdigest()
    assert reporters.reporter_hash(settings, "203.0.113.6") != hashes[today]


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:db8:aa:1::1", "2001:db8:aa:1::/64"),
        ("2001:0db8:00aa:0001:ffff:ffff:ffff:fffe", "2001:db8:aa:1::/64"),
        ("2001:db8:aa:2::1", "2001:db8:aa:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_the_limit_keys_ipv4_as_is_and_ipv6_on_its_64(address: str, key: str) -> None:
    assert reporters.limit_key(address) == key


# --- the daily limit over HTTP -------------------------------------------------------


def test_two_addresses_in_one_ipv6_64_share_the_limit_another_64_does_not(
    api: str, db_url: str, settings: Settings
) -> None:
    first = submit(api, "2001:db8:10:1::1")
    assert first.status_code == 200, first.text
    before = count_reports(db_url)
    same_64 = submit(api, "2001:db8:10:1:ffff:ffff:ffff:fffe")
    assert same_64.status_code == 429
    message = same_64.json()["message"]
    assert "Dzienny limit" in message["pl"] and "daily limit" in message["en"]
    assert count_reports(db_url) == before  # nothing stored
    assert submit(api, "2001:db8:10:2::1").status_code == 200  # the next /64 is someone else

    # an IPv4 address and the same address mapped into IPv6 are one reporter
    assert submit(api, "203.0.113.77").status_code == 200
    assert submit(api, "::ffff:203.0.113.77").status_code == 429

    # what is stored is today's keyed hash of the /64, never the address
    row = stored(db_url, first.json()["reference"])
    assert row["hash"] == reporters.reporter_hash(settings, "2001:db8:10:1::1")
    yesterday = reporters.warsaw_today() - timedelta(days=1)
    assert row["hash"] != reporters.reporter_hash(settings, "2001:db8:10:1::1", yesterday)
    assert "2001:db8:10:1" not in row["whole"] and "2001:db8:10:1" not in str(first.json())


@pytest.fixture(scope="module")
def two_hop_app(server: Settings, data_dir: Path, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The app behind two proxies of ours (KMZB_TRUSTED_PROXY_HOPS=2), on a database of
    its own (so no other test's reports from 127.0.0.1 count); yields (base URL, db URL)."""
    name = f"{TEST_DB}_privacy"
    url = fresh_database(server, name)
    try:
        migrations.apply_all(url)
        load_all(url, data_dir, lambda _message: None)
        extra = {"KMZB_TRUSTED_PROXY_HOPS": "2"}
        if server.embedded:
            extra["KMZB_DB_NAME"] = name
        else:
            extra["DATABASE_URL"] = url
            if server.api_database_url:  # the API's own login role, on this database
                extra["KMZB_API_DATABASE_URL"] = connection.api_url(server, name)
        openapi = tmp_path_factory.mktemp("openapi-privacy") / "openapi.yml"
        with running_app(url, server, openapi, extra) as base:
            yield base, url
    finally:
        connection.drop_database(server, name)


def test_client_address_is_the_hop_our_outermost_proxy_added(
    two_hop_app: tuple[str, str], settings: Settings
) -> None:
    api, url = two_hop_app
    # client 203.0.113.10 as seen by our outer proxy; inner proxy 10.0.0.1; left of it: anything
    first = submit(api, "198.18.0.1, 203.0.113.10, 10.0.0.1")
    assert first.status_code == 200, first.text
    assert stored(url, first.json()["reference"])["hash"] == reporters.reporter_hash(
        settings, "203.0.113.10"
    )
    # what the client writes on the left does not make it someone else
    assert submit(api, "198.18.0.2, 203.0.113.10, 10.0.0.2").status_code == 429
    assert submit(api, "203.0.113.10, 10.0.0.2").status_code == 429
    assert submit(api, "203.0.113.11, 10.0.0.1").status_code == 200  # another client
    # no IP address where our proxy writes one, or too few hops: the connection's address
    garbage = submit(api, "203.0.113.12, not-an-address, 10.0.0.1")
    assert garbage.status_code == 200, garbage.text
    assert stored(url, garbage.json()["reference"])["hash"] == reporters.reporter_hash(
        settings, "127.0.0.1"
    )
    assert submit(api, "10.0.0.1").status_code == 429  # one hop only: 127.0.0.1 again
    assert submit(api, "").status_code == 429


def test_one_proxy_a_spoofed_left_part_does_not_escape_the_limit(api: str) -> None:
    assert submit(api, "198.18.0.9, 203.0.113.20").status_code == 200
    assert submit(api, "198.18.0.10, 203.0.113.20").status_code == 429
    assert submit(api, "203.0.113.20, 203.0.113.21").status_code == 200  # the last hop counts


# --- the purge -----------------------------------------------------------------------


def age(db_url: str, reference: str, hours: int) -> None:
    """Move a report's creation back in time (the trigger refuses it: bypassed here)."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            """UPDATE kmzb.reports SET created_at = created_at - %s,
                      status_changed_at = status_changed_at - %s, updated_at = updated_at - %s
               WHERE public_ref = %s""",
            (timedelta(hours=hours),) * 3 + (reference,),
        )


def refused(db_url: str, sql: str, params: tuple) -> str:
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    return str(caught.value)


def test_the_trigger_allows_only_clearing_an_expired_hash(api: str, db_url: str) -> None:
    old = submit(api, "203.0.113.30").json()["reference"]
    fresh = submit(api, "203.0.113.31").json()["reference"]
    age(db_url, old, 49)
    change = "UPDATE kmzb.reports SET reporter_hash = %s WHERE public_ref = %s"
    assert "never changes" in refused(db_url, change, ("a" * 64, old))
    assert "never changes" in refused(db_url, change, (None, fresh))
    assert "never changes" in refused(db_url, change, ("a" * 64, fresh))
    before = stored(db_url, old)
    with psycopg.connect(db_url) as conn:
        conn.execute(change, (None, old))  # the one change allowed; rolled back here
        version, updated = conn.execute(
            "SELECT version, updated_at FROM kmzb.reports WHERE public_ref = %s", (old,)
        ).fetchone()
        assert (version, updated) == (before["version"], before["updated_at"])
        conn.rollback()
    for retention in ("23 hours", "49 hours", "3 days"):
        message = refused(db_url, "SELECT kmzb.purge_reporter_hashes(%s::interval)", (retention,))
        assert "24 to 48 hours" in message
    assert stored(db_url, old)["hash"] is not None and stored(db_url, fresh)["hash"] is not None


def test_kmzb_purge_clears_expired_hashes_and_keeps_versions_and_the_limit(
    api: str, db_url: str, settings: Settings
) -> None:
    answer = submit(api, "203.0.113.40")
    old, unit = answer.json()["reference"], answer.json()["police_unit"]
    fresh = submit(api, "203.0.113.41").json()["reference"]
    recent = submit(api, "203.0.113.42").json()["reference"]
    age(db_url, old, 49)  # past the 48-hour window
    age(db_url, recent, 30)  # a day old, still inside it
    before = {ref: stored(db_url, ref) for ref in (old, fresh, recent)}

    result = subprocess.run(
        [KMZB, "purge"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": db_url},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "reporter hashes older than 48 h cleared:" in result.stdout
    assert int(result.stdout.rsplit(":", 1)[1]) >= 1

    after = {ref: stored(db_url, ref) for ref in (old, fresh, recent)}
    assert after[old]["hash"] is None
    assert after[fresh]["hash"] == before[fresh]["hash"] is not None
    assert after[recent]["hash"] == before[recent]["hash"] is not None
    for ref in (old, fresh, recent):  # housekeeping is not a change of the report
        assert (after[ref]["version"], after[ref]["updated_at"]) == (
            before[ref]["version"],
            before[ref]["updated_at"],
        )
    # the police's optimistic locking still holds: the version they saw is current
    review = requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": old, "status": "verification", "version": 1}},
        headers={
            "Authorization": f"Bearer {token_for('officer', unit, subject=f'test-officer@{unit}')}"
        },
        timeout=60,
    )
    assert review.status_code == 200, review.text
    assert review.json()["version"] == 2
    # the daily limit still works for today's reporters
    assert submit(api, "203.0.113.41").status_code == 429
    # a second purge finds nothing more
    again = subprocess.run(
        [KMZB, "purge"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": db_url},
        check=False,
    )
    assert again.returncode == 0 and again.stdout.strip().endswith("cleared: 0")


def test_kmzb_run_purges_on_its_clock(api: str, db_url: str, settings: Settings) -> None:
    old = submit(api, "203.0.113.50").json()["reference"]
    age(db_url, old, 49)
    stop = threading.Event()
    stop.set()  # one round, then stop: the loop purges first and then waits
    _purge_reporter_hashes_periodically(db_url, settings, stop)
    assert stored(db_url, old)["hash"] is None


def test_a_retention_outside_24_to_48_hours_is_refused(db_url: str) -> None:
    result = subprocess.run(
        [KMZB, "purge"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": db_url, "KMZB_REPORTER_HASH_RETENTION_HOURS": "72"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "kmzb: error: KMZB_REPORTER_HASH_RETENTION_HOURS must be 24 to 48, not 72"
    )


def test_the_api_role_can_neither_purge_nor_touch_a_hash(api: str, db_url: str, server) -> None:
    """Only the schema's owner clears hashes (kmzb run, kmzb purge); the API's role cannot."""
    old = submit(api, "203.0.113.60").json()["reference"]
    age(db_url, old, 49)
    as_api = connection.api_url(server, connection.database_name(db_url))
    for sql, params in (
        ("SELECT kmzb.purge_reporter_hashes(%s::interval)", ("48 hours",)),
        ("UPDATE kmzb.reports SET reporter_hash = NULL WHERE public_ref = %s", (old,)),
    ):
        with psycopg.connect(as_api) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql, params)
    assert stored(db_url, old)["hash"] is not None
