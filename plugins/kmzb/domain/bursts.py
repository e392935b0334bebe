"""The flood guard: a burst of new reports in one small area is held from the public view.

With many addresses (an IPv6 /64, a botnet) an attacker can pass the daily
limit and stack reports on one point. When a citizen report comes in and, with
it, at least KMZB_BURST_THRESHOLD (10) new citizen reports lie within
KMZB_BURST_RADIUS_M (250 m) made within KMZB_BURST_WINDOW_MINUTES (15), the
whole burst is held: stored, readable by reference, in the unit's queue flagged
`burst`, but on no public map, tile, grid or area summary until the police
review it (any status change releases it). The rule is SQL (kmzb.hold_burst,
migration 033); the thresholds are settings. KMZB_BURST_THRESHOLD=0 turns the
guard off.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

from kmzb.domain import alerts
from kmzb.settings import Settings


def enabled(settings: Settings) -> bool:
    return settings.burst_threshold > 0


def hold_if_burst(conn: psycopg.Connection, settings: Settings, report_id: int) -> int:
    """Hold the burst the new report belongs to, in the caller's transaction.

    Returns how many reports were held now (0: no burst, or the guard is off).
    Held reports announced as public are withdrawn (kmzb.domain.alerts), in the same
    transaction; the release is a review, which announces them again.
    """
    if not enabled(settings):
        return 0
    row = conn.execute(
        "SELECT kmzb.hold_burst(%s, %s, %s, %s)",
        (
            report_id,
            float(settings.burst_radius_m),
            timedelta(minutes=settings.burst_window_minutes),
            settings.burst_threshold,
        ),
    ).fetchone()
    held = int(row[0]) if row else 0
    if held:
        alerts.sync_announced(conn, settings.public_url)
    return held
