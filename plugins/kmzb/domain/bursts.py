"""The flood guard: a burst of new reports in one small area is held from the public view.

With many addresses (an IPv6 /64, a botnet) an attacker can pass the daily
limit and stack reports on one point. When a citizen report comes in and, with
it, at least KMZB_BURST_THRESHOLD (10) new citizen reports lie within
KMZB_BURST_RADIUS_M (250 m) made within KMZB_BURST_WINDOW_MINUTES (15), the
whole burst is held: stored, readable by reference, in the unit's queue flagged
`burst`, but on no public map, tile, grid or area summary until the police
review it (any status change releases it). The rule is SQL (kmzb.hold_burst,
migration 033); the thresholds are settings. KMZB_BURST_THRESHOLD=0 turns the
guard off. A submission applies it in its own write (kmzb.submit_report, migrations
047 and 051): a report that makes a burst is stored held, the others of the burst are
held with it, and their public alerts are withdrawn. The count reads only the window's
reports (a GiST index on geom and created_at, migration 051).
"""

from __future__ import annotations

from kmzb.settings import Settings


def enabled(settings: Settings) -> bool:
    return settings.burst_threshold > 0
