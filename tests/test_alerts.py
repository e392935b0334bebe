"""Alerts over MQTT (issue 14): the real app, the outbox in the real PostGIS, the real
publisher (`kmzb alerts publish`), the real Mosquitto and real paho-mqtt subscribers."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import requests
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from helpers import new_address, token_for
from kmzb.domain import alerts

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny: gmina 1261011, KMP Kraków
WROCLAW = {"lon": 17.0320, "lat": 51.1100}  # gmina 0264011, KMP Wrocław
WAIT = 20.0


class Subscriber:
    """An anonymous paho-mqtt client (MQTT v5) collecting what it receives on `topic`."""

    def __init__(self, port: int, topic: str, session: str | None = None) -> None:
        """`session`: a client id whose session the broker keeps (clean start off, 5 min
        expiry), so what arrives while it is away is queued for it."""
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.seen: list[tuple[str, dict[str, Any]]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=session or "", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            (m.topic, json.loads(m.payload))
        )
        self.client.on_subscribe = lambda *_a: subscribed.set()
        properties = Properties(PacketTypes.CONNECT)
        if session:
            properties.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", port, clean_start=session is None, properties=properties)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(10), "the broker did not acknowledge the subscription"

    def wait_for(
        self, subject: str, event_type: str, status: str | None = None, seconds: float = WAIT
    ) -> dict[str, Any]:
        """The message about `subject` of `event_type` (with that public `status`, if
        given), as it arrives; fails after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            for topic, event in self.seen:
                if (
                    event["subject"] == subject
                    and event["type"] == event_type
                    and status in (None, event["data"]["properties"].get("status"))
                ):
                    return {"topic": topic, **event}
            left = deadline - time.monotonic()
            assert left > 0, f"no {event_type} for {subject}; got {[e for _, e in self.seen]}"
            try:
                self.seen.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass

    def subjects(self) -> set[str]:
        while not self.messages.empty():
            self.seen.append(self.messages.get_nowait())
        return {event["subject"] for _, event in self.seen}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def submit(api: str, where: dict[str, float], category: str) -> str:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**where, "category": category, "description": "Alert test"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["reference"])


def review(api: str, unit: str, reference: str, status: str, version: int) -> requests.Response:
    return requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": reference, "status": status, "version": version}},
        headers={"Authorization": f"Bearer {token_for('coordinator', unit)}"},
        timeout=60,
    )


def sent_at(db_url: str, outbox_id: str) -> Any:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT sent_at FROM kmzb.alert_outbox WHERE id = %s", (outbox_id,)
        ).fetchone()
    assert row is not None, "the message names no outbox row"
    return row[0]


def test_a_confirmation_in_krakow_reaches_a_krakow_subscriber_with_the_envelope(
    api: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#")
    everything = Subscriber(mqtt_broker.port, "kmzb/#")
    try:
        ref = submit(api, KRAKOW, "illegal_dumping")
        published = krakow.wait_for(ref, "pl.kmzb.threat.published")
        assert published["topic"] == "kmzb/threats/12/1261/1261011/illegal_dumping"
        assert published["data"]["properties"]["status"] == "new"
        assert review(api, "KMP-1261", ref, "verification", 1).status_code == 200
        assert review(api, "KMP-1261", ref, "confirmed", 2).status_code == 200
        krakow.wait_for(ref, "pl.kmzb.threat.status-changed", "verification")
        changed = krakow.wait_for(ref, "pl.kmzb.threat.status-changed", "confirmed")
        uuid.UUID(changed["id"])
        assert changed["specversion"] == "1.0"
        assert changed["source"] == api
        assert changed["datacontenttype"] == "application/geo+json"
        assert changed["time"].endswith("Z")
        feature = changed["data"]
        assert feature["type"] == "Feature" and feature["id"] == ref
        lon, lat = feature["geometry"]["coordinates"]
        assert abs(lon - KRAKOW["lon"]) < 1e-5 and abs(lat - KRAKOW["lat"]) < 1e-5
        props = feature["properties"]
        assert props["reference"] == ref and props["category"] == "illegal_dumping"
        assert props["category_name"] == {
            "pl": "Dzikie wysypiska śmieci",
            "en": "Illegal rubbish dumps",
        }
        assert props["status"] == "confirmed" and props["status_name"]["en"]
        assert props["gmina"]["teryt"] == "1261011" and props["gmina"]["name"]
        assert props["powiat"]["teryt"] == "1261" and props["wojewodztwo"]["teryt"] == "12"
        assert props["police_unit"]["code"] == "KMP-1261"
        assert props["changed_at"].endswith("Z")
        assert [(link["rel"], link["type"], link["href"]) for link in feature["links"]] == [
            ("self", "application/geo+json", f"{api}/collections/threats/items/{ref}"),
            ("alternate", "application/json", f"{api}/reports/{ref}"),
            ("alternate", "application/atom+xml", f"{api}/reports/{ref}/feed.atom"),
        ]
        # the public item the self link names is there
        assert requests.get(feature["links"][0]["href"], timeout=30).status_code == 200

        # outside the area: Wrocław reaches `kmzb/#`, not the Kraków subscriber;
        # never public: a drug_use report (category never public) reaches nobody
        hidden = submit(api, KRAKOW, "drug_use")
        elsewhere = submit(api, WROCLAW, "illegal_dumping")
        assert everything.wait_for(elsewhere, "pl.kmzb.threat.published")["topic"] == (
            "kmzb/threats/02/0264/0264011/illegal_dumping"
        )
        marker = submit(api, KRAKOW, "vandalism")  # sent after both: the order is the outbox's
        krakow.wait_for(marker, "pl.kmzb.threat.published")
        everything.wait_for(marker, "pl.kmzb.threat.published")
        assert elsewhere not in krakow.subjects()
        assert hidden not in krakow.subjects() and hidden not in everything.subjects()
        # a review of the hidden report tells nobody either
        assert review(api, "KMP-1261", hidden, "verification", 1).status_code == 200
        second = submit(api, KRAKOW, "vandalism")
        everything.wait_for(second, "pl.kmzb.threat.published")
        assert hidden not in everything.subjects()
    finally:
        krakow.close()
        everything.close()


def test_joke_or_mistake_withdraws_with_the_last_public_status(
    api: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#")
    try:
        ref = submit(api, KRAKOW, "vandalism")
        assert (
            krakow.wait_for(ref, "pl.kmzb.threat.published")["data"]["properties"]["status"]
            == "new"
        )
        assert review(api, "KMP-1261", ref, "verification", 1).status_code == 200
        assert review(api, "KMP-1261", ref, "joke_or_mistake", 2).status_code == 200
        withdrawn = krakow.wait_for(ref, "pl.kmzb.threat.withdrawn")
        # the hidden status is never told: the last public one is
        assert withdrawn["data"]["properties"]["status"] == "verification"
        assert requests.get(f"{api}/collections/threats/items/{ref}", timeout=30).status_code == 404
    finally:
        krakow.close()


def test_an_anonymous_client_may_not_publish(api: str, mqtt_broker: Any) -> None:
    listener = Subscriber(mqtt_broker.port, "kmzb/#")
    acked: queue.Queue[Any] = queue.Queue()
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    intruder.on_publish = lambda _c, _u, _mid, reason, _p: acked.put(reason)
    try:
        intruder.connect("127.0.0.1", mqtt_broker.port)
        intruder.loop_start()
        fake = {"specversion": "1.0", "subject": "FAKE-FAKE-FAKE", "type": "x"}
        intruder.publish(
            "kmzb/threats/12/1261/1261011/illegal_dumping", json.dumps(fake), qos=1
        ).wait_for_publish(10)
        reason = acked.get(timeout=10)
        assert reason.value == 135 and str(reason) == "Not authorized"
        time.sleep(1.0)
        assert "FAKE-FAKE-FAKE" not in listener.subjects()
    finally:
        intruder.loop_stop()
        intruder.disconnect()
        listener.close()


def test_with_the_broker_down_the_alert_waits_in_the_outbox(
    api: str, db_url: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    # a subscriber with a persistent session: the broker keeps its subscription across
    # the restart, so a message sent before it is back is queued for it (no race)
    session = f"outbox-test-{uuid.uuid4().hex[:8]}"
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#", session)
    ref = submit(api, KRAKOW, "vandalism")
    krakow.wait_for(ref, "pl.kmzb.threat.published")
    krakow.close()
    mqtt_broker.stop()
    try:
        answer = review(api, "KMP-1261", ref, "verification", 1)
        assert answer.status_code == 200, answer.text  # the write never waits for MQTT
        with psycopg.connect(db_url) as conn:
            waiting = conn.execute(
                """SELECT count(*) FROM kmzb.alert_outbox
                   WHERE event ->> 'subject' = %s AND sent_at IS NULL
                     AND event ->> 'type' = 'pl.kmzb.threat.status-changed'""",
                (ref,),
            ).fetchone()
        assert waiting == (1,)
        time.sleep(2)  # the publisher retries meanwhile, and keeps the row
    finally:
        mqtt_broker.start()
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#", session)
    try:
        changed = krakow.wait_for(ref, "pl.kmzb.threat.status-changed", seconds=60)
        assert changed["data"]["properties"]["status"] == "verification"
        deadline = time.monotonic() + WAIT  # marked sent once the PUBACK is back
        while sent_at(db_url, changed["id"]) is None:
            assert time.monotonic() < deadline, "the row was never marked sent"
            time.sleep(0.1)
    finally:
        krakow.close()


def test_a_visibility_window_ending_withdraws(
    api: str, db_url: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#")
    try:
        ref = submit(api, KRAKOW, "vandalism")
        assert review(api, "KMP-1261", ref, "verification", 1).status_code == 200
        assert review(api, "KMP-1261", ref, "unconfirmed", 2).status_code == 200
        krakow.wait_for(ref, "pl.kmzb.threat.published")
        # unconfirmed is public for 7 days: let 8 pass (as the owner, with SQL)
        with psycopg.connect(db_url) as conn:
            conn.execute(
                """UPDATE kmzb.reports SET status_changed_at = now() - interval '8 days'
                   WHERE public_ref = %s""",
                (ref,),
            )
        assert alerts.sweep(db_url, api) >= 1  # the periodic job
        withdrawn = krakow.wait_for(ref, "pl.kmzb.threat.withdrawn")
        assert withdrawn["data"]["properties"]["status"] == "unconfirmed"
        assert alerts.sweep(db_url, api) == 0  # told once
    finally:
        krakow.close()


def test_a_statistics_load_announces_each_year_once(db_url: str, alerts_publisher: Any) -> None:
    """The loader queued one `pl.kmzb.statistics.updated` per year it loaded (the session's
    database was loaded from the real files: 2013-2024), and the publisher sent them."""
    with psycopg.connect(db_url) as conn:
        years = conn.execute("SELECT DISTINCT year FROM kmzb.crime_statistics").fetchall()
        rows = conn.execute(
            """SELECT topic, event FROM kmzb.alert_outbox
               WHERE event ->> 'type' = 'pl.kmzb.statistics.updated' ORDER BY topic"""
        ).fetchall()
    assert sorted(topic for topic, _ in rows) == sorted(
        f"kmzb/statistics/crime-rates/{year}" for (year,) in years
    )
    assert len(rows) >= 10
    for topic, event in rows:
        assert event["subject"] == "crime-rates/" + topic.rsplit("/", 1)[1]
        assert event["data"]["properties"]["units"] > 300  # powiaty, województwa, Poland
    deadline = time.monotonic() + WAIT
    while True:
        with psycopg.connect(db_url) as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM kmzb.alert_outbox WHERE sent_at IS NULL"
            ).fetchone()
        if waiting == (0,):
            break
        assert time.monotonic() < deadline, f"{waiting} alerts still wait in the outbox"
        time.sleep(0.2)


def test_the_status_command_counts_what_waits(api: str, db_url: str, server: Any) -> None:
    from conftest import app_environment

    env = app_environment(db_url, server, int(api.rsplit(":", 1)[1]))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kmzb")), "alerts", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with psycopg.connect(db_url) as conn:
        pending, sent = conn.execute(
            """SELECT count(*) FILTER (WHERE sent_at IS NULL),
                      count(*) FILTER (WHERE sent_at IS NOT NULL) FROM kmzb.alert_outbox"""
        ).fetchone()
    assert done.stdout.startswith(f"pending: {pending} ")
    assert done.stdout.rstrip().endswith(f"sent: {sent}") or pending != 0


def notified_ids(listener: psycopg.Connection, seconds: float) -> list[str]:
    """The payloads of the notifications on `kmzb_alerts` arriving within `seconds`."""
    return [note.payload for note in listener.notifies(timeout=seconds)]


def test_a_submission_notifies_no_one_and_a_review_wakes_the_publisher(
    api: str, db_url: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    """A submission queues its event without pg_notify (a notifying commit holds a
    database-wide lock through its WAL flush: submissions would commit one at a time);
    the publisher's poll still sends it within a second. A review notifies, on commit."""
    krakow = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#")
    try:
        with psycopg.connect(db_url, autocommit=True) as listener:
            listener.execute(f"LISTEN {alerts.NOTIFY_CHANNEL}")
            ref = submit(api, KRAKOW, "vandalism")
            submitted = time.monotonic()
            published = krakow.wait_for(ref, "pl.kmzb.threat.published")
            assert time.monotonic() - submitted < 1.0  # polled every 25 ms
            assert published["id"] not in notified_ids(listener, 0.5)
            assert review(api, "KMP-1261", ref, "verification", 1).status_code == 200
            changed = krakow.wait_for(ref, "pl.kmzb.threat.status-changed", "verification")
            assert changed["id"] in notified_ids(listener, 0.5)
    finally:
        krakow.close()


def unsent_or_odd(db_url: str, refs: list[str]) -> tuple[int, int]:
    """How many of these reports' rows are unsent, and how many were marked sent before
    they were queued or after more than one attempt."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE sent_at IS NULL),
                      count(*) FILTER (WHERE sent_at < created_at OR attempts <> 1)
               FROM kmzb.alert_outbox WHERE event ->> 'subject' = ANY(%s)""",
            (refs,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_many_submissions_at_once_each_arrive_once_in_order_and_are_marked_sent(
    api: str, db_url: str, alerts_publisher: Any, mqtt_broker: Any
) -> None:
    """The publisher sends a batch per poll, every message in flight at once, and marks
    the batch sent in one UPDATE: nothing is lost or told twice, one writer's events
    arrive in the order they were queued, and every row is marked sent after its PUBACK."""
    everything = Subscriber(mqtt_broker.port, "kmzb/threats/12/1261/#")
    try:
        # one writer after another: queued, and so sent, in this order
        in_order = [submit(api, KRAKOW, "vandalism") for _ in range(20)]
        # eight writers at once: their commits interleave
        with ThreadPoolExecutor(8) as pool:
            at_once = list(pool.map(lambda _n: submit(api, KRAKOW, "vandalism"), range(40)))
        for ref in in_order + at_once:
            everything.wait_for(ref, "pl.kmzb.threat.published")
        time.sleep(0.5)  # a message told twice would be here by now
        everything.subjects()
        published = [
            event["subject"]
            for _, event in everything.seen
            if event["type"] == "pl.kmzb.threat.published"
            and event["subject"] in set(in_order + at_once)
        ]
        assert sorted(published) == sorted(in_order + at_once)  # each exactly once
        assert [ref for ref in published if ref in in_order] == in_order
        deadline = time.monotonic() + WAIT  # the UPDATE follows the PUBACKs
        while (state := unsent_or_odd(db_url, in_order + at_once)) != (0, 0):
            assert time.monotonic() < deadline, f"unsent, or sent oddly: {state}"
            time.sleep(0.1)
    finally:
        everything.close()
