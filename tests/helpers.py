"""Helpers the real-stack tests share, defined once: citizens' client addresses and
tokens. Import them (`from helpers import new_address, token_for`); they are plain
functions, not fixtures.

Client addresses: one allocator for the whole session. The tests share one database
and the daily limit counts per address, so two modules drawing from their own
counters would hand the same address to two citizens. Every module that submits as
a new citizen takes its address here. Fixed addresses that a test reasons about
(tests/test_privacy.py) live in 203.0.113.0/24 and 2001:db8::/32, which this
allocator never hands out.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import jwt
import requests

from kmzb.auth import tokens
from kmzb.settings import Settings, load_settings
from unit.token_cases import JWKS_ISSUER, JWKS_KID, claims

_counter = itertools.count(1)


def new_address() -> str:
    """A distinct IPv4 address in 100.64.0.0/10 (shared address space) per call."""
    n = next(_counter)
    return f"100.{64 + n // 65536}.{(n // 256) % 256}.{n % 256}"


def token_for(
    role: str,
    unit: str | None = None,
    *,
    subject: str | None = None,
    institution: str | None = None,
    ttl_seconds: int = 8 * 3600,
    settings: Settings | None = None,
) -> str:
    """A development token (the local key pair, as `kmzb token` issues) for a role; an
    officer or coordinator needs their unit, a partner an institution. The subject is
    `test-{role}` unless given (audit trails name it)."""
    return tokens.issue(
        settings or load_settings(),
        role,
        subject or f"test-{role}",
        unit=unit,
        institution=institution,
        ttl_seconds=ttl_seconds,
    )


def issuer_token(key: Any, audience: str, kid: str = JWKS_KID, **changes: Any) -> str:
    """An RS256 token as a production OIDC issuer signs it (tests/unit/token_cases'
    officer at https://sso.policja.example), with the key given and `kid` in its header."""
    body = claims(int(time.time()), iss=JWKS_ISSUER, aud=audience, sub="jan", jti=None)
    body.update(changes)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def review(api: str, unit: str, ref: str, status: str, version: int, **extra: object) -> int:
    """A KMP/KWP coordinator of `unit` moves a report on through review-threat; the new
    version."""
    answer = requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": ref, "status": status, "version": version, **extra}},
        headers={"Authorization": f"Bearer {token_for('coordinator', unit)}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["version"]
