"""The anonymous reporter: a daily-rotating keyed hash of the client address, and the limit.

What is kept about a reporter is one hash per report, for the daily limit only:

- The address is never stored. It is first reduced to what the limit keys on:
  an IPv4 address as it is (an IPv4-mapped IPv6 address as its IPv4), an IPv6
  address as its /64 network (one subscriber's prefix: a client rotating
  through its /64 is still one reporter).
- The hash is HMAC-SHA256 under a key for one Warsaw day, derived from the
  secret (KMZB_REPORTER_KEY) as HMAC(secret, "kmzb-reporter|" + date). The
  secret itself never hashes an address, and a hash from one day cannot be
  matched with the same address on another day.
- A day key is derived when needed and never stored or cached, so it is gone
  with the request that used it: no key outlives the day it serves, let alone
  48 hours.
- The hash is cleared (kmzb.purge_reporter_hashes, scheduled by `kmzb run`,
  `kmzb purge`) once the report is older than the limit window
  (KMZB_REPORTER_HASH_RETENTION_HOURS, 24 to 48, default 48).

In development, with no KMZB_REPORTER_KEY, a random secret is generated once in
var/reporter-key. It needs no rotation: it never hashes an address, and the
day keys derived from it are never kept. Production refuses to start without
KMZB_REPORTER_KEY (settings.production_problems).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import psycopg

from kmzb.domain.submission import WARSAW
from kmzb.errors import KmzbError
from kmzb.settings import VAR_DIR, Settings

KEY_FILE = VAR_DIR / "reporter-key"
DAY_KEY_LABEL = "kmzb-reporter|"
IPV6_LIMIT_PREFIX = 64
PURGE_BATCH = 10_000  # rows per transaction, so a purge never locks many reports at once
RETENTION_HOURS = range(24, 49)  # at least the daily limit's day, at most two


def _write_once(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    if not path.exists():
        tmp.replace(path)
    else:
        tmp.unlink()


@lru_cache(maxsize=1)
def _local_secret() -> str:
    """The development secret in var/ (generated once); never used in production."""
    if not KEY_FILE.exists():
        _write_once(KEY_FILE, secrets.token_hex(32))
    return KEY_FILE.read_text().strip()


def _secret(settings: Settings) -> str:
    return settings.reporter_key or _local_secret()


def warsaw_today(now: datetime | None = None) -> date:
    return (now or datetime.now(WARSAW)).astimezone(WARSAW).date()


def day_key(secret: str, day: date) -> bytes:
    """The key for one Warsaw day, derived from the secret: never stored."""
    label = f"{DAY_KEY_LABEL}{day.isoformat()}".encode()
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def limit_key(address: str) -> str:
    """What the daily limit keys on: an IPv4 address, or an IPv6 address's /64.

    Anything that is not an IP address (a proxy gave nothing usable) is kept as
    given, so such callers share one limit rather than escape it.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip() or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        network = ipaddress.IPv6Network(
            (int(ip) >> (128 - IPV6_LIMIT_PREFIX) << (128 - IPV6_LIMIT_PREFIX), IPV6_LIMIT_PREFIX)
        )
        return str(network)
    return str(ip)


def reporter_hash(settings: Settings, address: str, day: date | None = None) -> str:
    """HMAC-SHA256 of the address's limit key under the day's key: the address is never
    stored, and the same address hashes differently on another day."""
    key = day_key(_secret(settings), day or warsaw_today())
    return hmac.new(key, limit_key(address).encode(), hashlib.sha256).hexdigest()


def seconds_until_tomorrow(now: datetime | None = None) -> int:
    """Until midnight in Poland, when the daily limit starts again."""
    now = now or datetime.now(WARSAW)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def purge_hashes(url: str, settings: Settings) -> int:
    """Clear the reporter hashes older than the retention (the schema owner's `url`);
    returns how many were cleared. Batches of PURGE_BATCH, each its own transaction."""
    hours = settings.reporter_hash_retention_hours
    if hours not in RETENTION_HOURS:
        raise KmzbError(f"KMZB_REPORTER_HASH_RETENTION_HOURS must be 24 to 48, not {hours}")
    retention = timedelta(hours=hours)
    total = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT kmzb.purge_reporter_hashes(%s, %s)", (retention, PURGE_BATCH)
            ).fetchone()
            purged = int(row[0]) if row else 0
            total += purged
            if purged < PURGE_BATCH:
                return total
