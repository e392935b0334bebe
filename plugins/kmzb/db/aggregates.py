"""Refreshing the precomputed map aggregates (grid cells of public threats)."""

from __future__ import annotations

import time

import psycopg


def refresh(url: str) -> float:
    """Recompute kmzb.public_threat_cells without blocking readers; returns seconds.
    The refresh time is recorded in the same transaction (kmzb.change_times, source
    'cells'): the grid's tiles are cached until the next refresh (kmzb.service.http_cache)."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        populated = conn.execute(
            "SELECT ispopulated FROM pg_matviews "
            "WHERE schemaname = 'kmzb' AND matviewname = 'public_threat_cells'"
        ).fetchone()
        concurrently = "CONCURRENTLY " if populated and populated[0] else ""
        with conn.transaction():
            conn.execute(f"REFRESH MATERIALIZED VIEW {concurrently}kmzb.public_threat_cells")
            # the grid's change time (migration 048): its tiles' validators follow it
            conn.execute("SELECT kmzb.note_change('cells')")
    return time.monotonic() - started
