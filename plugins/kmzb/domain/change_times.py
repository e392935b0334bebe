"""When the data behind a public read last changed: the state of its sources
(migration 048, kmzb.change_times) and, for reads of reports, the last time a report
left the public view by itself (its public_until passed, with no write).

One query, read before any data: the HTTP validators (kmzb.service.http_cache) are
made from it. Read in its own snapshot before the data's, a state is never newer than
the data answered with it (at worst older, which costs one needless 200 later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

SOURCES = ("reports", "places", "vocabulary", "statistics", "cells")

# one round trip; the expiry is served by reports_public_until_idx (one descent from
# the index's end) and computed once (an uncorrelated subquery)
_STATE = """
SELECT source, sum(changes)::bigint AS changes, max(changed_at) AS changed_at,
       CASE WHEN %(expiry)s THEN (SELECT max(public_until) FROM kmzb.reports
                                  WHERE public_until <= now() AND public_until > '-infinity')
       END AS expired_at
FROM kmzb.change_times WHERE source = ANY(%(sources)s) GROUP BY source ORDER BY source
"""


@dataclass(frozen=True)
class State:
    """The sources' write counters, the newest write, and (for reports) the last
    public_until passed."""

    changes: tuple[tuple[str, int], ...]
    changed_at: datetime | None
    expired_at: datetime | None

    @property
    def token(self) -> str:
        """Names this state: equal tokens, equal data."""
        parts = [f"{source}={count}" for source, count in self.changes]
        if self.expired_at is not None:
            parts.append(f"expired={self.expired_at.isoformat()}")
        return ";".join(parts)

    @property
    def last_modified(self) -> datetime | None:
        times = [t for t in (self.changed_at, self.expired_at) if t is not None]
        return max(times, default=None)


def current_state(conn: psycopg.Connection, sources: tuple[str, ...], expiry: bool) -> State:
    """The state of `sources` (names from SOURCES); `expiry`: also the last
    public_until passed (reads of the public reports)."""
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown change-time sources: {sorted(unknown)}")
    rows = conn.execute(_STATE, {"sources": list(sources), "expiry": expiry}).fetchall()
    changes = tuple((str(row[0]), int(row[1])) for row in rows)
    changed_at = max((row[2] for row in rows), default=None)
    expired_at = rows[0][3] if rows else None
    return State(changes, changed_at, expired_at)
