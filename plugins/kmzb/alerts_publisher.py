"""The alerts publisher (issue 14): the outbox (kmzb.alert_outbox) to the MQTT broker.

On start it sends every unsent row in order; then it looks for unsent rows every
POLL_SECONDS (25 ms; a submission queues its row without a notification, see
migration 050; after a second with nothing to send, every IDLE_POLL_SECONDS),
and at once when a review's pg_notify on `kmzb_alerts` arrives (delivered on
commit). What it finds goes out as one batch: paho-mqtt 2.x, MQTT
v5, QoS 1, retain false, as `kmzb-publisher`, every message of the batch in
flight at once, and `sent_at` marked in one UPDATE only for the rows whose PUBACK
came back. While the broker is down the rows wait and the sending is retried
with backoff (1 s doubling to 30 s); the API's writes never wait for it (they
only insert the row). Every SWEEP_SECONDS it also queues what changed with no
write (kmzb.sync_public_alerts: visibility windows ending). `kmzb run` runs it
as a thread; production runs `kmzb alerts publish`.
"""

from __future__ import annotations

import secrets
import select
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kmzb import mqtt_broker
from kmzb.domain import alerts
from kmzb.settings import MQTT_PUBLISHER_USER, Settings

PUBACK_SECONDS = 10.0
SWEEP_SECONDS = 60.0
IDLE_SECONDS = 5.0  # the longest wait for the broker before the outbox is tried again
# Submissions notify nobody (migration 050): the outbox is polled this often, and
# what is unsent then goes out in one batch of up to BATCH rows.
POLL_SECONDS = 0.025
BATCH = 500
# Idle, a poll every 25 ms cost 2 % of a core (the publisher and its backend); after
# IDLE_AFTER_SECONDS with nothing sent it polls every IDLE_POLL_SECONDS instead.
IDLE_AFTER_SECONDS = 1.0
IDLE_POLL_SECONDS = 0.1
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0

Echo = Callable[[str], None]


def broker_credentials(settings: Settings) -> tuple[str, int, bool, str, str]:
    """host, port, tls, user, password of KMZB_MQTT_URL (the local broker's by default)."""
    parts = urlsplit(settings.mqtt_url)
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    user = unquote(parts.username or MQTT_PUBLISHER_USER)
    if parts.password is not None:
        password = unquote(parts.password)
    else:
        password = mqtt_broker.publisher_password(settings)
    return parts.hostname or "127.0.0.1", port, tls, user, password


class Publisher:
    """Sends the outbox of the database at `db_url` (the owner's) to the broker."""

    def __init__(self, db_url: str, settings: Settings, echo: Echo = print) -> None:
        self.db_url = db_url
        self.settings = settings
        self.echo = echo
        self.connected = threading.Event()
        self.sent = 0
        host, port, tls, user, password = broker_credentials(settings)
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"kmzb-publisher-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=int(BACKOFF_MAX))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self.echo(f"alerts: the broker refused the publisher: {reason}")
            self.connected.clear()
        else:
            self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()

    def _send(self, conn: psycopg.Connection, rows: list[alerts.Pending]) -> bool:
        """Publish the rows in order, QoS 1, all in flight at once; then mark the
        acknowledged ones sent in one UPDATE (after their PUBACK, never before).
        False: some were not sent (they stay unsent, to be sent again). `conn` is
        in autocommit."""
        if not self.connected.is_set():
            return False
        sent: list[str] = []
        failed: dict[str, list[str]] = {}
        flight = [
            (row, self.client.publish(row.topic, row.payload, qos=1, retain=False)) for row in rows
        ]
        deadline = time.monotonic() + PUBACK_SECONDS
        for row, info in flight:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:  # not connected; the queue is full
                failed.setdefault(str(exc), []).append(row.id)
                continue
            if info.is_published():
                sent.append(row.id)
            else:
                failed.setdefault("no PUBACK in time", []).append(row.id)
        if sent:
            alerts.mark_sent(conn, sent)
        for error, ids in failed.items():
            alerts.mark_failed(conn, ids, error)
        self.sent += len(sent)
        return not failed

    def drain(self, conn: psycopg.Connection) -> int | None:
        """Send the unsent rows in order, a batch at a time, until a batch is not
        full; how many were sent, None when the broker stopped it."""
        sent = 0
        while True:
            rows = alerts.pending(conn, BATCH)
            if rows and not self._send(conn, rows):
                return None
            sent += len(rows)
            if len(rows) < BATCH:
                return sent

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: drain every POLL_SECONDS (IDLE_POLL_SECONDS when
        idle), or at once when a review's notification comes; sweep now and then."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        backoff = BACKOFF_FIRST
        next_sweep = last_sent = time.monotonic()
        try:
            with (
                psycopg.connect(self.db_url, autocommit=True) as listener,
                psycopg.connect(self.db_url, autocommit=True) as conn,
            ):
                # each statement its own transaction: a poll is one round trip. No
                # wait for the WAL flush of a sent_at: one lost in a crash re-sends
                # its rows (QoS 1 is at least once already), never loses one
                conn.execute("SET synchronous_commit = off")
                listener.execute(f"LISTEN {alerts.NOTIFY_CHANNEL}")
                while not stop.is_set():
                    if time.monotonic() >= next_sweep:
                        try:
                            alerts.sweep(self.db_url, self.settings.public_url)
                        except psycopg.Error as exc:
                            self.echo(f"alerts: the sweep failed: {exc}")
                        next_sweep = time.monotonic() + SWEEP_SECONDS
                    self.connected.wait(timeout=min(backoff, IDLE_SECONDS))
                    sent = self.drain(conn)
                    if sent is not None:
                        backoff = BACKOFF_FIRST
                        now = time.monotonic()
                        if sent:
                            last_sent = now
                        idle = now - last_sent > IDLE_AFTER_SECONDS
                        poll = IDLE_POLL_SECONDS if idle else POLL_SECONDS
                        # the next poll, or at once on a review's notification: a select
                        # on the socket (notifies() with a timeout cost ~0.5 ms of CPU a
                        # call, 40 times a second)
                        if select.select([listener.fileno()], [], [], poll)[0]:
                            for _note in listener.notifies(timeout=0):
                                pass
                    else:
                        if stop.wait(backoff):
                            break
                        backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self.client.loop_stop()
            self.client.disconnect()


def start_thread(db_url: str, settings: Settings, echo: Echo = print) -> threading.Event:
    """Run a Publisher in a daemon thread (`kmzb run`); set the returned event to stop it."""
    stop = threading.Event()
    publisher = Publisher(db_url, settings, echo)

    def work() -> None:
        while not stop.is_set():
            try:
                publisher.run(stop)
            except Exception as exc:  # the database went away: say so, retry
                if stop.is_set():
                    return
                echo(f"alerts: the publisher stopped ({exc}); restarting in 5 s")
                stop.wait(5)

    threading.Thread(target=work, name="kmzb-alerts-publisher", daemon=True).start()
    return stop
