"""Bearer tokens for QGIS Server: the same rules and keys as the API.

This mirrors kmzb.auth.tokens.verify (the API's side), which QGIS's own Python
(the system Python 3.11, without the project's virtual environment) cannot
import: ES256 or RS256; issuer KMZB_JWT_ISSUER (default kmzb-dev); audience
KMZB_JWT_AUDIENCE (default kmzb); exp, nbf, iss, aud and sub required; 30 s of
leeway; the key from KMZB_JWKS_URL (production: the OIDC issuer's keys) or the
local public key (KMZB_JWT_PUBLIC_KEY, default var/keys/jwt-es256-public.pem of
the checkout). Debian's python3-jwt and python3-cryptography do the crypto.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt

ALGORITHMS = ["ES256", "RS256"]
ROLES = ("officer", "coordinator", "partner", "admin")
POLICE_ROLES = ("officer", "coordinator")
LEEWAY_SECONDS = 30
# A police unit code as the database holds it (KGP, KWP-12, KMP-1261, KRP-I ...).
UNIT_CODE = re.compile(r"^[A-Z]{3}(-[0-9A-Z]{1,8})?$")
# A partner's institution code (kmzb.institutions, as kmzb.domain.caller.INSTITUTION_CODE).
INSTITUTION_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
CHECKOUT = Path(__file__).resolve().parents[3]


class TokenError(Exception):
    """A token was sent and is not valid: the answer is 401."""


@dataclass(frozen=True)
class Caller:
    role: str | None = None
    unit: str | None = None
    subject: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.role is None

    @property
    def is_police(self) -> bool:
        return self.role in POLICE_ROLES

    @property
    def sees_unit_reports(self) -> bool:
        return self.is_police or self.role == "admin"


ANONYMOUS = Caller()


def public_key_path() -> Path:
    configured = os.environ.get("KMZB_JWT_PUBLIC_KEY")
    if configured:
        return Path(configured)
    var_dir = Path(os.environ.get("KMZB_VAR_DIR", CHECKOUT / "var"))
    return var_dir / "keys" / "jwt-es256-public.pem"


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


@lru_cache(maxsize=2)
def _local_key(path: str, mtime: float) -> bytes:
    return Path(path).read_bytes()


def _key(token: str):
    url = os.environ.get("KMZB_JWKS_URL")
    if url:
        return _jwks_client(url).get_signing_key_from_jwt(token).key
    path = public_key_path()
    try:
        return _local_key(str(path), path.stat().st_mtime)
    except OSError as exc:
        raise TokenError(f"no key to verify tokens with ({path})") from exc


def verify(token: str) -> Caller:
    """The caller a token names; TokenError (-> 401) for any flaw."""
    try:
        claims = jwt.decode(
            token,
            _key(token),
            algorithms=ALGORITHMS,
            audience=os.environ.get("KMZB_JWT_AUDIENCE", "kmzb"),
            issuer=os.environ.get("KMZB_JWT_ISSUER", "kmzb-dev"),
            options={"require": ["exp", "nbf", "iss", "aud", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("it has expired / token wygasł") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenError("it is not valid yet / token nie jest jeszcze ważny") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError("wrong issuer / nieprawidłowy wystawca") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError("wrong audience / nieprawidłowy odbiorca") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("bad signature / nieprawidłowy podpis") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"missing claim {exc.claim} / brak pola {exc.claim}") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenError("malformed token / token jest uszkodzony") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError("unknown role / nieznana rola")
    unit = claims.get("unit")
    if role in POLICE_ROLES and not isinstance(unit, str):
        raise TokenError("a police role needs a unit / rola policyjna wymaga jednostki")
    if isinstance(unit, str) and not UNIT_CODE.match(unit):
        raise TokenError("malformed unit code / nieprawidłowy kod jednostki")
    institution = claims.get("institution")
    if institution is not None and (
        not isinstance(institution, str) or not INSTITUTION_CODE.match(institution)
    ):
        raise TokenError(
            "the institution claim is not an institution code / "
            "pole institution nie jest kodem instytucji"
        )
    return Caller(role=role, unit=unit if isinstance(unit, str) else None, subject=claims["sub"])


def caller_from_header(value: str | None) -> Caller:
    """No header: anonymous. A header that is not a valid bearer token: TokenError."""
    if value is None or not value.strip():
        return ANONYMOUS
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("expected 'Authorization: Bearer <token>' / oczekiwano tokenu Bearer")
    return verify(token.strip())
