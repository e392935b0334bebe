"""Alerts (issue 14): the outbox of what the public may see, for the MQTT publisher.

A write that changes a report's public row calls `sync` in its own transaction:
kmzb.sync_public_alert (migrations 044, 050) compares the row with what was
announced last and queues one CloudEvents 1.0 event (published, status-changed,
withdrawn) in kmzb.alert_outbox. Nothing is queued for a report the public may
not see. The periodic `sweep` catches what changes with no write (a visibility
window ending). kmzb.alerts_publisher sends the rows, found by a short poll of
the outbox; nothing here talks to MQTT.

Only `sync` (a review: rare, and a person waits for its message) also wakes the
publisher with pg_notify('kmzb_alerts'), delivered on commit. A submission
(kmzb.submit_report) does not: a notifying transaction holds a database-wide
lock from its commit's start to its WAL flush's end, which serialised every
submission's commit behind the previous one's fsync (migration 050).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

NOTIFY_CHANNEL = "kmzb_alerts"
EVENT_TYPES = (
    "pl.kmzb.threat.published",
    "pl.kmzb.threat.status-changed",
    "pl.kmzb.threat.withdrawn",
    "pl.kmzb.statistics.updated",
)


@dataclass(frozen=True)
class Pending:
    """An outbox row not yet acknowledged by the broker; `payload` is the event as
    PostgreSQL writes the jsonb (UTF-8 JSON, sent as it is: no parse and dump)."""

    id: str
    topic: str
    payload: bytes
    attempts: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.payload))


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    oldest_pending_age: timedelta | None
    sent: int


def sync(conn: psycopg.Connection, report_id: int, public_url: str) -> str | None:
    """Queue the alert of report `report_id`'s public change, in the caller's transaction.

    Returns the outbox row's id, or None when the public sees no change. A queued
    event wakes the publisher on commit (a review's message is sent at once)."""
    row = conn.execute(
        """SELECT q.id::text, CASE WHEN q.id IS NOT NULL
                                   THEN pg_notify(%s, q.id::text) END
           FROM (SELECT kmzb.sync_public_alert(%s, %s) AS id OFFSET 0) q""",
        (NOTIFY_CHANNEL, report_id, public_url),
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def sync_announced(conn: psycopg.Connection, public_url: str) -> int:
    """Queue the alerts of every announced report whose public row changed, in the
    caller's transaction (a burst held). Returns how many."""
    row = conn.execute("SELECT kmzb.sync_public_alerts(%s)", (public_url,)).fetchone()
    return int(row[0]) if row else 0


def sweep(url: str, public_url: str) -> int:
    """Queue the alerts of announced reports whose public row changed without a
    write (visibility windows ending); the owner's `url`. Returns how many."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT kmzb.sync_public_alerts(%s)", (public_url,)).fetchone()
        conn.commit()
    return int(row[0]) if row else 0


def statistics_updated(conn: psycopg.Connection, year: int, public_url: str) -> str:
    """Queue one `pl.kmzb.statistics.updated` for `year`, in the caller's transaction."""
    row = conn.execute(
        "SELECT kmzb.queue_statistics_alert(%s, %s)::text", (year, public_url)
    ).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("kmzb.queue_statistics_alert returned nothing")
    return str(row[0])


def pending(conn: psycopg.Connection, limit: int = 500) -> list[Pending]:
    """The unsent rows, oldest first (the order they were queued in), up to `limit`."""
    rows = conn.execute(
        """SELECT id::text, topic, event::text, attempts FROM kmzb.alert_outbox
           WHERE sent_at IS NULL ORDER BY seq LIMIT %s""",
        (limit,),
    ).fetchall()
    return [Pending(str(r[0]), str(r[1]), str(r[2]).encode(), int(r[3])) for r in rows]


def mark_sent(conn: psycopg.Connection, outbox_ids: list[str]) -> None:
    """These rows were acknowledged by the broker (PUBACK): one statement for a batch."""
    conn.execute(
        """UPDATE kmzb.alert_outbox SET sent_at = clock_timestamp(), attempts = attempts + 1,
                  last_error = NULL
           WHERE id = ANY(%s::uuid[]) AND sent_at IS NULL""",
        (outbox_ids,),
    )


def mark_failed(conn: psycopg.Connection, outbox_ids: list[str], error: str) -> None:
    conn.execute(
        """UPDATE kmzb.alert_outbox SET attempts = attempts + 1, last_error = left(%s, 500)
           WHERE id = ANY(%s::uuid[]) AND sent_at IS NULL""",
        (error, outbox_ids),
    )


def status(conn: psycopg.Connection) -> OutboxStatus:
    row = conn.execute(
        """SELECT count(*) FILTER (WHERE sent_at IS NULL),
                  now() - min(created_at) FILTER (WHERE sent_at IS NULL),
                  count(*) FILTER (WHERE sent_at IS NOT NULL)
           FROM kmzb.alert_outbox"""
    ).fetchone()
    if row is None:
        return OutboxStatus(0, None, 0)
    return OutboxStatus(int(row[0]), row[1], int(row[2]))
