"""Idempotency keys: a retried submission gets its first answer, not a second report.

As payment APIs do (Stripe's `Idempotency-Key`): the client draws a key (1-255
printable ASCII characters, e.g. a UUID) for a request and sends it again, with
the same body, whenever it did not get an answer (a timeout, a reset
connection, a 503). The first request that completes stores its answer under
the key in the same transaction as the report; a retry with the same key and
body gets that answer back (the same reference and status), even when the
daily limit is used up meanwhile. The same key with another body is a 422. Two
requests with one key at once: the second waits for the first (a transaction
lock on the key) and then gets its answer.

Keys are global, not per address (a citizen's address changes behind NAT or
between networks): a key is random and the client's secret, and only its
SHA-256 is stored. A key counts for 24 hours; `kmzb run` purges older rows.
Table and grants: sql/040_idempotency_keys.sql.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from kmzb.domain.errors import DomainError, FieldError

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")  # printable ASCII, as Stripe takes them
RETENTION = timedelta(hours=24)
LOCK_SEED = 40  # keeps these transaction locks apart from the daily limit's (seed 0)


@dataclass(frozen=True)
class Claim:
    """A key this transaction holds: the answer is stored under it before commit."""

    key_hash: bytes
    fingerprint: bytes


def parse_key(raw: str | None) -> str | None:
    """The header's key, or None when none was sent; a malformed key is a 400."""
    if raw is None:
        return None
    if not KEY_PATTERN.match(raw) or not raw.strip():
        raise DomainError(
            pl="Nagłówek Idempotency-Key to od 1 do 255 drukowalnych znaków ASCII "
            "(np. UUID). Nic nie zapisano.",
            en="The Idempotency-Key header is 1 to 255 printable ASCII characters "
            "(e.g. a UUID). Nothing was stored.",
            errors=[
                FieldError(
                    HEADER,
                    "Od 1 do 255 drukowalnych znaków ASCII.",
                    "1 to 255 printable ASCII characters.",
                )
            ],
        )
    return raw


def key_hash(key: str) -> bytes:
    return hashlib.sha256(b"kmzb-idempotency-key\0" + key.encode("ascii")).digest()


def fingerprint(process: str, actor: str, inputs: Any) -> bytes:
    """The request a key stands for: the process, who calls it, and its inputs
    (canonical JSON: key order and spacing do not matter)."""
    canonical = json.dumps(
        {"process": process, "actor": actor, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def key_reused() -> DomainError:
    return DomainError(
        pl="Ten klucz Idempotency-Key użyto już z inną treścią żądania. Nowe zgłoszenie "
        "wysyłaj z nowym kluczem. Nic nie zapisano.",
        en="This Idempotency-Key was already used with a different request. Send a new "
        "report with a new key. Nothing was stored.",
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        code="IdempotencyKeyReused",
        errors=[
            FieldError(
                HEADER,
                "Klucz należy do innego żądania.",
                "The key belongs to another request.",
            )
        ],
    )


def begin(conn: psycopg.Connection, key: str, request_fingerprint: bytes) -> tuple[Claim, Any]:
    """In the caller's transaction: wait for any other request holding this key, then
    the answer stored under it (None: none yet, go on and `record` one before commit).
    A key stored for another request rolls back and raises 422."""
    hashed = key_hash(key)
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(encode(%s, 'hex'), %s))",
        (hashed, LOCK_SEED),
    )
    row = conn.execute(
        """SELECT fingerprint, answer FROM kmzb.idempotency_keys
           WHERE key_hash = %s AND created_at > now() - %s""",
        (hashed, RETENTION),
    ).fetchone()
    claim = Claim(hashed, request_fingerprint)
    if row is None:
        return claim, None
    if bytes(row[0]) != request_fingerprint:
        conn.rollback()
        raise key_reused()
    return claim, row[1]


def record(conn: psycopg.Connection, claim: Claim, answer: Any, status: int = 200) -> None:
    """Store the answer under the key, in the transaction that made it (a key older
    than RETENTION is taken over)."""
    conn.execute(
        """INSERT INTO kmzb.idempotency_keys (key_hash, fingerprint, status_code, answer)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (key_hash) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
                   answer = EXCLUDED.answer, created_at = now()
               WHERE kmzb.idempotency_keys.created_at <= now() - %s""",
        (claim.key_hash, claim.fingerprint, status, Jsonb(answer), RETENTION),
    )


def purge(url: str) -> int:
    """Delete the keys older than RETENTION (the schema owner's `url`: the API's
    role deletes nothing); returns how many."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(
            "DELETE FROM kmzb.idempotency_keys WHERE created_at <= now() - %s", (RETENTION,)
        )
        return cur.rowcount
