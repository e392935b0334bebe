"""The anonymous reporter: a salted hash of the client address, and the daily limit."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from kmzb.domain.submission import WARSAW
from kmzb.settings import VAR_DIR, Settings

SALT_FILE = VAR_DIR / "reporter-salt"


@lru_cache(maxsize=1)
def _local_salt() -> str:
    if not SALT_FILE.exists():
        SALT_FILE.parent.mkdir(parents=True, exist_ok=True)
        tmp = SALT_FILE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        if not SALT_FILE.exists():
            tmp.replace(SALT_FILE)
        else:
            tmp.unlink()
    return SALT_FILE.read_text().strip()


def reporter_hash(settings: Settings, address: str) -> str:
    """HMAC-SHA256 of the address: the address itself is never stored."""
    salt = settings.reporter_key or _local_salt()
    return hmac.new(salt.encode(), address.encode(), hashlib.sha256).hexdigest()


def seconds_until_tomorrow(now: datetime | None = None) -> int:
    """Until midnight in Poland, when the daily limit starts again."""
    now = now or datetime.now(WARSAW)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))
