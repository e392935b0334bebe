"""Partner institutions' API keys (Open311 `api_key`), managed by the administrator.

A key is 256 random bits, shown once when it is made; only its SHA-256 is kept
(kmzb.partner_api_keys, sql/046). The API checks a key through
kmzb.partner_of_api_key and cannot read the table. These functions run as the
database owner (`kmzb partners ...`), never inside the API.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

from kmzb.domain.caller import INSTITUTION_CODE
from kmzb.errors import KmzbError

KEY_PREFIX = "kmzb_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: int
    institution: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def add(conn: psycopg.Connection, institution: str, label: str = "") -> tuple[int, str]:
    """Make a key for an institution; return its id and the key (never stored)."""
    if not INSTITUTION_CODE.match(institution):
        raise KmzbError(f"{institution!r} is not an institution code (e.g. SM-KRAKOW)")
    if (
        conn.execute("SELECT 1 FROM kmzb.institutions WHERE code = %s", (institution,)).fetchone()
        is None
    ):
        raise KmzbError(f"no institution {institution}; the list: GET /institutions")
    if len(label) > 200:
        raise KmzbError("a label is at most 200 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        """INSERT INTO kmzb.partner_api_keys (institution, key_sha256, label)
           VALUES (%s, %s, %s) RETURNING id""",
        (institution, digest(key), label),
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0]), key


def revoke(conn: psycopg.Connection, key_id: int) -> bool:
    """Revoke a key by its id; False when there is no such key still in force."""
    row = conn.execute(
        """UPDATE kmzb.partner_api_keys SET revoked_at = now()
           WHERE id = %s AND revoked_at IS NULL RETURNING id""",
        (key_id,),
    ).fetchone()
    conn.commit()
    return row is not None


def listing(conn: psycopg.Connection) -> list[ApiKey]:
    rows = conn.execute(
        """SELECT id, institution, label, created_at, revoked_at
           FROM kmzb.partner_api_keys ORDER BY id"""
    ).fetchall()
    return [ApiKey(*row) for row in rows]
