"""Alert latency: from a review's answer to the MQTT subscribers' messages.

    .venv/bin/python bench/alerts.py [--reviews 200] [--subscribers 100]

Builds its own database (kmzb_bench_alerts: migrations and the real data, on the
embedded cluster or DATABASE_URL's server), starts Mosquitto (kmzb.mqtt_broker),
the app under gunicorn (2 workers) and `kmzb alerts publish`, all on loopback,
and connects N anonymous paho-mqtt subscribers on wildcard topics (kmzb/threats/#,
kmzb/threats/12/#, kmzb/threats/12/1261/#, kmzb/threats/+/+/+/vandalism). Each
round submits a report in Kraków (not timed) and a coordinator reviews it
(new -> verification); the clock starts when the execution's answer arrives (the
review is committed by then) and stops when a subscriber receives that report's
`pl.kmzb.threat.status-changed`. Prints p50, p95, p99 and max over every delivery
and over the first delivery of each review, and the same from the request's start.
A review wakes the publisher (pg_notify); a submission does not (migration 050):
its `pl.kmzb.threat.published` waits for the publisher's next poll of the outbox
(every 25 ms), and is measured too, from the submission's answer.
Drops its database at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion

from kmzb import mqtt_broker
from kmzb.auth import tokens
from kmzb.db import connection, migrations
from kmzb.loaders.all import load_all
from kmzb.settings import PROJECT_ROOT, load_settings

DB = "kmzb_bench_alerts"
KRAKOW = {"lon": 19.9383, "lat": 50.0614, "category": "vandalism"}
TOPICS = (
    "kmzb/threats/#",
    "kmzb/threats/12/#",
    "kmzb/threats/12/1261/#",
    "kmzb/threats/+/+/+/vandalism",
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 0.95):.1f} "
        f"| {percentile(ms, 0.99):.1f} | {max(ms):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()
    settings = load_settings()
    work = Path(tempfile.mkdtemp(prefix="kmzb-bench-alerts-"))
    mqtt_port, api_port = free_port(), free_port()
    password = "bench-" + os.urandom(12).hex()
    connection.drop_database(settings, DB)
    url = connection.ensure_database(settings, DB)
    migrations.apply_all(url)
    load_all(url, settings.data_dir, lambda _m: None)
    env = dict(os.environ)
    env.update(
        KMZB_MQTT_PORT=str(mqtt_port),
        KMZB_MQTT_PASSWORD=password,
        KMZB_API_PORT=str(api_port),
        KMZB_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        KMZB_TRUSTED_PROXY_HEADER="X-Forwarded-For",
        KMZB_BURST_THRESHOLD="0",
        KMZB_DAILY_REPORT_LIMIT="1000000",
    )
    if settings.embedded:
        env["KMZB_DB_NAME"] = DB
    else:
        env["DATABASE_URL"] = url
        if settings.api_database_url:
            env["KMZB_API_DATABASE_URL"] = connection.api_url(settings, DB)
    files = mqtt_broker.write_files(work / "mqtt", mqtt_port, password)
    broker = mqtt_broker.start(files, mqtt_port)
    mqtt_broker.wait_until_ready(broker, mqtt_port)
    bin_dir = Path(sys.executable).parent
    app = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{api_port}", "--workers", "2"]
        + ["kmzb.app:app"],
        env={**env, "PYGEOAPI_OPENAPI": str(work / "openapi.yml")},
        cwd=PROJECT_ROOT,
        stderr=subprocess.DEVNULL,
    )
    publisher = subprocess.Popen(
        [str(bin_dir / "kmzb"), "alerts", "publish"], env=env, cwd=PROJECT_ROOT
    )
    clients: list[mqtt.Client] = []
    try:
        base = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.5)

        arrivals: dict[str, list[float]] = {}
        published: dict[str, list[float]] = {}
        lock = threading.Lock()

        def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
            now = time.perf_counter()
            event = json.loads(message.payload)
            if event["type"] == "pl.kmzb.threat.status-changed":
                with lock:
                    arrivals.setdefault(event["subject"], []).append(now)
            elif event["type"] == "pl.kmzb.threat.published":
                with lock:
                    published.setdefault(event["subject"], []).append(now)

        for n in range(args.subscribers):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.on_message = on_message
            client.connect("127.0.0.1", mqtt_port)
            client.subscribe(TOPICS[n % len(TOPICS)], qos=1)
            client.loop_start()
            clients.append(client)
        time.sleep(1)
        coordinator = tokens.issue(settings, "coordinator", "bench", unit="KMP-1261")
        session = requests.Session()
        from_answer: list[float] = []
        first_from_answer: list[float] = []
        from_request: list[float] = []
        before_answer = 0  # delivered before the HTTP answer reached the client (counted as 0)
        submitted_at: dict[str, float] = {}
        for n in range(args.reviews):
            submitted = session.post(
                f"{base}/processes/submit-threat/execution",
                json={"inputs": KRAKOW},
                headers={"X-Forwarded-For": f"100.100.{n // 256}.{n % 256}"},
                timeout=60,
            )
            submitted.raise_for_status()
            ref = submitted.json()["reference"]
            submitted_at[ref] = started = time.perf_counter()
            answer = session.post(
                f"{base}/processes/review-threat/execution",
                json={"inputs": {"reference": ref, "status": "verification", "version": 1}},
                headers={"Authorization": f"Bearer {coordinator}"},
                timeout=60,
            )
            answered = time.perf_counter()
            answer.raise_for_status()
            wait_until = time.monotonic() + 30
            while True:
                with lock:
                    got = list(arrivals.get(ref, []))
                if len(got) >= args.subscribers or time.monotonic() > wait_until:
                    break
                time.sleep(0.001)
            if len(got) < args.subscribers:
                raise RuntimeError(f"{ref}: {len(got)} of {args.subscribers} subscribers got it")
            before_answer += sum(1 for t in got if t < answered)
            from_answer += [max(0.0, t - answered) for t in got]
            first_from_answer.append(max(0.0, min(got) - answered))
            from_request += [t - started for t in got]
        time.sleep(1)
        with lock:
            first_published = [
                max(0.0, min(published[ref]) - at) for ref, at in submitted_at.items()
            ]
        print(
            f"{args.reviews} reviews, {args.subscribers} subscribers on {len(TOPICS)} "
            "wildcard topics, QoS 1, loopback, 2 gunicorn workers, 1 publisher"
        )
        print("| latency (ms) | deliveries | p50 | p95 | p99 | max |")
        print("|---|---|---|---|---|---|")
        print(line("review answer -> each subscriber", from_answer))
        print(line("review answer -> first subscriber", first_from_answer))
        print(line("review request -> each subscriber", from_request))
        print(line("submission answer -> first subscriber", first_published))
        print(f"{before_answer} deliveries arrived before the review's answer (counted as 0 ms)")
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
        publisher.terminate()
        app.terminate()
        publisher.wait(30)
        app.wait(30)
        mqtt_broker.stop(broker)
        connection.drop_database(settings, DB)


if __name__ == "__main__":
    main()
