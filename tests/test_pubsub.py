"""Publish-Subscribe advertised the OGC way (issue 14): the pubsub links of the landing
page and of the collections that have alerts, in JSON and HTML; the AsyncAPI document
at /asyncapi, valid under pygeoapi's own AsyncAPI 3.0 schema, its channels and its
message schema; and pygeoapi never connecting to the broker (the API works without one).

The app runs with KMZB_MQTT_PUBLIC_URL pointing at a plain TCP listener of this test:
no broker runs, and every connection pygeoapi would open to "the broker" is counted."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser

import jsonschema
import psycopg
import pytest
import requests
from pygeoapi.asyncapi import validate_asyncapi_document

from conftest import running_app
from helpers import new_address
from kmzb.domain import vocabulary
from kmzb.settings import Settings


class Trap:
    """A TCP listener standing where the broker would be: it accepts and counts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def app(db_url: str, server: Settings, tmp_path_factory, trap: Trap) -> Iterator[str]:
    broker = f"mqtt://127.0.0.1:{trap.port}"
    env = {"KMZB_MQTT_PORT": str(trap.port), "KMZB_MQTT_PUBLIC_URL": broker}
    openapi = tmp_path_factory.mktemp("pubsub") / "openapi.yml"
    with running_app(db_url, server, openapi, extra_env=env) as base:
        yield base


@pytest.fixture(scope="module")
def broker(trap: Trap) -> str:
    return f"mqtt://127.0.0.1:{trap.port}"


@pytest.fixture(scope="module")
def vocab(db_url: str) -> vocabulary.Vocabulary:
    with psycopg.connect(db_url) as conn:
        return vocabulary.read(conn)


@pytest.fixture(scope="module")
def document(app: str) -> dict:
    answer = requests.get(f"{app}/asyncapi?f=json", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/asyncapi+json")
    return answer.json()


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.loads: list[str] = []  # scripts and style sheets
        self.scripts_inline = 0
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self.hrefs.append(found.get("href") or "")
        if tag == "script":
            self._script = not found.get("src")
            if found.get("src"):
                self.loads.append(found["src"] or "")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.loads.append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._script and data.strip():
            self.scripts_inline += 1


def page(url: str) -> Anchors:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    parsed = Anchors()
    parsed.feed(answer.text)
    return parsed


# --- the links -----------------------------------------------------------------------------


def test_the_landing_page_links_the_broker_and_the_asyncapi_document(app: str, broker: str) -> None:
    links = requests.get(f"{app}/?f=json", timeout=30).json()["links"]
    hub = [link for link in links if link["rel"] == "hub"]
    assert hub == [
        {
            "rel": "hub",
            "type": "application/json",
            "title": hub[0]["title"],
            "href": broker,
            "channel": "kmzb/#",
        }
    ]
    described = {(link["rel"], link["type"]): link["href"] for link in links}
    assert described[("service-desc", "application/asyncapi+json")] == f"{app}/asyncapi?f=json"
    assert described[("service-doc", "text/html")] == f"{app}/asyncapi?f=html"
    # and the conformance of the draft standard
    conformance = requests.get(f"{app}/conformance?f=json", timeout=30).json()["conformsTo"]
    assert "https://www.opengis.net/spec/ogcapi-pubsub-1/1.0/conf/discovery" in conformance


def test_the_landing_page_html_offers_the_broker_and_the_topic(app: str, broker: str) -> None:
    html = page(f"{app}/?f=html")
    assert broker in html.hrefs
    assert f"{app}/asyncapi?f=json" in html.hrefs
    assert "kmzb/#" in "".join(html.text)


@pytest.mark.parametrize(
    ("collection", "topic"),
    [("threats", "kmzb/threats/#"), ("crime-rates", "kmzb/statistics/crime-rates/#")],
)
def test_a_collection_with_alerts_links_its_topic(
    app: str, broker: str, collection: str, topic: str
) -> None:
    for url in (f"{app}/collections/{collection}?f=json", f"{app}/collections?f=json"):
        body = requests.get(url, timeout=30).json()
        if "collections" in body:
            body = next(c for c in body["collections"] if c["id"] == collection)
        items = [link for link in body["links"] if link["href"].startswith("mqtt://")]
        assert items == [
            {
                "rel": "items",
                "type": "application/json",
                "title": items[0]["title"],
                "href": broker,
                "channel": topic,
            }
        ], url
        assert topic in items[0]["title"]
    html = page(f"{app}/collections/{collection}?f=html")
    assert broker in html.hrefs
    assert topic in "".join(html.text)


def test_the_link_title_follows_the_language(app: str) -> None:
    def title(lang: str) -> str:
        body = requests.get(f"{app}/collections/threats?f=json&lang={lang}", timeout=30).json()
        return next(
            link["title"]
            for link in body["links"]
            if link["rel"] == "items" and link["href"].startswith("mqtt://")
        )

    assert title("pl").startswith("Powiadomienia MQTT")
    assert title("en").startswith("MQTT notifications")


def test_a_collection_without_alerts_has_no_broker_link(app: str) -> None:
    body = requests.get(f"{app}/collections/gminy?f=json", timeout=30).json()
    assert not [link for link in body["links"] if link["href"].startswith("mqtt")]


# --- the AsyncAPI document -------------------------------------------------------------------


def test_asyncapi_is_valid_under_pygeoapis_schema(document: dict, broker: str) -> None:
    assert validate_asyncapi_document(document) is True
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"] == {
        "kmzb": {
            "host": broker.removeprefix("mqtt://"),
            "protocol": "mqtt",
            "description": document["servers"]["kmzb"]["description"],
        }
    }
    # a broken document is refused by the same check (it is not a rubber stamp)
    broken = {**document, "channels": {"threats": {"address": 7}}}
    with pytest.raises(jsonschema.ValidationError):
        validate_asyncapi_document(broken)


def test_the_asyncapi_page_shows_the_broker_and_channels_and_loads_nothing_outside(
    app: str, broker: str
) -> None:
    html = page(f"{app}/asyncapi?f=html")
    text = "".join(html.text)
    assert broker in html.hrefs
    assert f"{app}/asyncapi?f=json" in html.hrefs
    assert "kmzb/threats/{wojewodztwo}/{powiat}/{gmina}/{category}" in text
    assert "kmzb/statistics/crime-rates/{year}" in text
    # pygeoapi's own page loads the AsyncAPI component from unpkg.com: ours, nothing
    assert html.loads
    assert [url for url in html.loads if not url.startswith(f"{app}/")] == []
    assert html.scripts_inline == 0


def test_the_channels_are_the_agreed_topics(document: dict, vocab: vocabulary.Vocabulary) -> None:
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        "kmzb/threats/{wojewodztwo}/{powiat}/{gmina}/{category}",
        "kmzb/statistics/crime-rates/{year}",
    }
    threats = channels["threats"]
    assert set(threats["parameters"]) == {"wojewodztwo", "powiat", "gmina", "category"}
    assert threats["parameters"]["category"]["enum"] == vocab.category_codes
    assert len(vocab.category_codes) == 24
    assert set(channels["crimeRates"]["parameters"]) == {"year"}
    # subscribers receive; nobody is told they may send
    operations = document["operations"]
    assert {o["action"] for o in operations.values()} == {"receive"}
    assert {o["channel"]["$ref"] for o in operations.values()} == {
        "#/channels/threats",
        "#/channels/crimeRates",
    }


def threat_schema(document: dict) -> dict:
    message = document["channels"]["threats"]["messages"]["threatEvent"]
    assert message == {"$ref": "#/components/messages/threatEvent"}
    payload = document["components"]["messages"]["threatEvent"]["payload"]
    assert payload == {"$ref": "#/components/schemas/ThreatEvent"}
    return document["components"]["schemas"]["ThreatEvent"]


def agreed_message(app: str, vocab: vocabulary.Vocabulary, reference: str) -> dict:
    """A message built exactly as the agreed interface of issue 14 says."""
    category = vocab.categories[0]
    status = next(s for s in vocab.statuses if s.is_public)
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": app,
        "type": "pl.kmzb.threat.published",
        "subject": reference,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/geo+json",
        "data": {
            "type": "Feature",
            "id": reference,
            "geometry": {"type": "Point", "coordinates": [19.93712, 50.06143]},
            "properties": {
                "reference": reference,
                "category": category.code,
                "category_name": category.name.as_json(),
                "status": status.code,
                "status_name": status.name.as_json(),
                "gmina": {"teryt": "1261011", "name": "Kraków"},
                "powiat": {"teryt": "1261", "name": "Kraków"},
                "wojewodztwo": {"teryt": "12", "name": "małopolskie"},
                "police_unit": {"code": "KMP-KRAKOW", "name": "KMP w Krakowie"},
                "changed_at": datetime.now(UTC).isoformat(),
            },
            "links": [
                {
                    "rel": "self",
                    "href": f"{app}/collections/threats/items/1",
                    "type": "application/geo+json",
                },
                {
                    "rel": "alternate",
                    "href": f"{app}/reports/{reference}",
                    "type": "application/json",
                },
                {
                    "rel": "alternate",
                    "href": f"{app}/reports/{reference}/feed.atom",
                    "type": "application/atom+xml",
                },
            ],
        },
    }


def real_reference(app: str) -> str:
    answer = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {"lon": 19.93712, "lat": 50.06143, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def test_the_message_schema_takes_the_agreed_message(
    app: str, document: dict, vocab: vocabulary.Vocabulary
) -> None:
    schema = threat_schema(document)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    message = agreed_message(app, vocab, real_reference(app))
    assert list(validator.iter_errors(message)) == []
    for event in ("pl.kmzb.threat.status-changed", "pl.kmzb.threat.withdrawn"):
        assert validator.is_valid({**message, "type": event})


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("envelope", lambda m: m.pop("specversion")),
        ("envelope", lambda m: m.update(type="org.ogc.api.collection.item.create")),
        ("envelope", lambda m: m.update(datacontenttype="text/plain")),
        ("data", lambda m: m["data"].pop("geometry")),
        ("data", lambda m: m["data"]["geometry"].update(coordinates=[19.9])),
        ("props", lambda m: m["data"]["properties"].update(category="no_such_category")),
        ("props", lambda m: m["data"]["properties"].update(status="no_such_status")),
        ("props", lambda m: m["data"]["properties"]["gmina"].update(teryt="12610")),
        ("props", lambda m: m["data"]["properties"].pop("police_unit")),
        ("props", lambda m: m["data"]["properties"]["category_name"].pop("en")),
        ("links", lambda m: m["data"]["links"].pop()),
        ("links", lambda m: m["data"]["links"][0].update(rel="item")),
    ],
)
def test_the_message_schema_refuses_what_was_not_agreed(
    app: str, document: dict, vocab: vocabulary.Vocabulary, where: str, change
) -> None:
    validator = jsonschema.Draft7Validator(threat_schema(document))
    message = agreed_message(app, vocab, "KMZB-TEST-0001")
    assert validator.is_valid(message)
    change(message)
    assert not validator.is_valid(message), where


def test_the_statistics_message_schema(app: str, document: dict) -> None:
    schema = document["components"]["schemas"]["StatisticsEvent"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    now = datetime.now(UTC).isoformat()
    message = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": app,
        "type": "pl.kmzb.statistics.updated",
        "subject": "2024",
        "time": now,
        "datacontenttype": "application/geo+json",
        "data": {
            "type": "Feature",
            "id": "crime-rates-2024",
            "geometry": None,
            "properties": {"year": 2024, "units": 396, "changed_at": now},
            "links": [
                {
                    "rel": "alternate",
                    "type": "application/geo+json",
                    "href": f"{app}/collections/crime-rates/items?year=2024",
                }
            ],
        },
    }
    assert list(validator.iter_errors(message)) == []
    assert not validator.is_valid({**message, "type": "pl.kmzb.threat.published"})
    assert not validator.is_valid({**message, "data": {**message["data"], "properties": {}}})


# --- pygeoapi never connects to the broker -------------------------------------------------


def test_the_api_works_without_a_broker_and_pygeoapi_never_connects(app: str, trap: Trap) -> None:
    before = trap.accepted
    # a process execution: pygeoapi's own MQTT client would connect and publish its result
    reference = real_reference(app)
    assert requests.get(f"{app}/reports/{reference}", timeout=30).status_code == 200
    for path in ("/", "/collections", "/collections/threats/items?limit=5", "/asyncapi"):
        assert requests.get(f"{app}{path}", timeout=30).status_code == 200, path
    assert trap.accepted == before == 0
