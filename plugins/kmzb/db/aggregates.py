"""Refreshing the precomputed map aggregates (grid cells of public threats)."""

from __future__ import annotations

import time

import psycopg


def refresh(url: str) -> float:
    """Recompute kmzb.public_threat_cells without blocking readers; returns seconds."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        populated = conn.execute(
            "SELECT ispopulated FROM pg_matviews "
            "WHERE schemaname = 'kmzb' AND matviewname = 'public_threat_cells'"
        ).fetchone()
        concurrently = "CONCURRENTLY " if populated and populated[0] else ""
        conn.execute(f"REFRESH MATERIALIZED VIEW {concurrently}kmzb.public_threat_cells")
    return time.monotonic() - started
