"""The AsyncAPI document describes what KMZB really publishes (issue 14): the events
the write paths queue in kmzb.alert_outbox validate with the document's message
schema, and their topics match its channels (addresses, parameters, categories)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import psycopg
import pytest
import requests

from conftest import running_app
from helpers import new_address
from kmzb.domain import alerts
from kmzb.settings import Settings


@pytest.fixture(scope="module")
def app(db_url: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    openapi = tmp_path_factory.mktemp("pubsub-outbox") / "openapi.yml"
    with running_app(db_url, server, openapi) as base:
        yield base


@pytest.fixture(scope="module")
def document(app: str) -> dict:
    answer = requests.get(f"{app}/asyncapi?f=json", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def topic_pattern(document: dict, channel: str) -> re.Pattern[str]:
    """The channel's address as a regular expression: each {parameter} its enum, or one
    topic level."""
    found = document["channels"][channel]
    pattern = re.escape(found["address"])
    for name, parameter in found["parameters"].items():
        choice = "|".join(map(re.escape, parameter.get("enum", []))) or "[^/+#]+"
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?:{choice})")
    return re.compile(pattern)


def validator(document: dict, schema: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        document["components"]["schemas"][schema], format_checker=jsonschema.FormatChecker()
    )


def queued(db_url: str, subject: str) -> list[tuple[str, dict]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT topic, event FROM kmzb.alert_outbox WHERE event->>'subject' = %s"
            " ORDER BY created_at",
            (subject,),
        ).fetchall()


def test_a_published_reports_real_event_matches_the_document(
    app: str, db_url: str, document: dict
) -> None:
    answer = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {"lon": 19.93712, "lat": 50.06143, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    reference = answer.json()["reference"]
    rows = queued(db_url, reference)
    assert len(rows) == 1
    topic, event = rows[0]
    assert topic_pattern(document, "threats").fullmatch(topic), topic
    assert topic.startswith("kmzb/threats/12/1261/1261011/illegal_dumping")
    assert list(validator(document, "ThreatEvent").iter_errors(event)) == []
    assert event["type"] == "pl.kmzb.threat.published"


def test_a_statistics_event_matches_the_document(app: str, db_url: str, document: dict) -> None:
    with psycopg.connect(db_url) as conn:
        alerts.statistics_updated(conn, 2024, app)
        topic, event = conn.execute(
            "SELECT topic, event FROM kmzb.alert_outbox"
            " WHERE event->>'type' = 'pl.kmzb.statistics.updated'"
            " ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        conn.rollback()
    assert topic_pattern(document, "crimeRates").fullmatch(topic), topic
    assert topic == "kmzb/statistics/crime-rates/2024"
    assert list(validator(document, "StatisticsEvent").iter_errors(event)) == []
