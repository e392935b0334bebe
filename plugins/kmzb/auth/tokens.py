"""JWT bearer tokens: ES256 or RS256, with issuer, audience, expiry and not-before.

Production verifies against the OIDC issuer's JWKS (KMZB_JWKS_URL). Development
uses a local ES256 key pair in var/keys, made on first use; `kmzb token issue`
signs tokens with it.

A partner's token names its institution by code (the `institution` claim,
e.g. SM-KRAKOW, as in kmzb.institutions). This layer has no database: it
checks the code's shape; the domain answers 403 for a code it does not know.
"""

from __future__ import annotations

import os
import time
import uuid
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kmzb.domain.caller import INSTITUTION_CODE, POLICE_ROLES, ROLES, Caller
from kmzb.domain.errors import DomainError, unauthorized
from kmzb.settings import VAR_DIR, Settings

ALGORITHMS = ["ES256", "RS256"]
KEY_DIR = VAR_DIR / "keys"
PRIVATE_KEY = KEY_DIR / "jwt-es256-private.pem"
PUBLIC_KEY = KEY_DIR / "jwt-es256-public.pem"
LOCAL_KEY_ID = "kmzb-dev"


def ensure_local_keys() -> None:
    if PRIVATE_KEY.exists() and PUBLIC_KEY.exists():
        return
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # write apart and rename, so concurrent workers never read half a key
    for path, data, mode in ((PRIVATE_KEY, private, 0o600), (PUBLIC_KEY, public, 0o644)):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        if not path.exists():
            tmp.replace(path)
        else:
            tmp.unlink()


def issue(
    settings: Settings,
    role: str,
    subject: str,
    unit: str | None = None,
    institution: str | None = None,
    ttl_seconds: int = 8 * 3600,
) -> str:
    """A development token signed with the local key."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in POLICE_ROLES and not unit:
        raise ValueError(f"the {role} role needs --unit")
    if role == "partner" and not institution:
        raise ValueError("a partner token needs --institution CODE (e.g. SM-KRAKOW)")
    if institution is not None and not INSTITUTION_CODE.match(institution):
        raise ValueError(
            f"--institution takes an institution code such as SM-KRAKOW, not {institution!r}"
        )
    ensure_local_keys()
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        "role": role,
    }
    if unit:
        claims["unit"] = unit
    if institution:
        claims["institution"] = institution
    return jwt.encode(
        claims, PRIVATE_KEY.read_bytes(), algorithm="ES256", headers={"kid": LOCAL_KEY_ID}
    )


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


@lru_cache(maxsize=1)
def _local_public_key(path: Path, mtime: float) -> bytes:
    return path.read_bytes()


def _verification_key(settings: Settings, token: str):
    if settings.jwks_url:
        return _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
    ensure_local_keys()
    return _local_public_key(PUBLIC_KEY, PUBLIC_KEY.stat().st_mtime)


def _refuse(reason_en: str, reason_pl: str) -> DomainError:
    return unauthorized(f"Invalid token: {reason_en}", f"Nieprawidłowy token: {reason_pl}")


def verify(settings: Settings, token: str) -> Caller:
    """The caller a token names; a 401 DomainError for any flaw."""
    try:
        key = _verification_key(settings, token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "nbf", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError as exc:
        raise _refuse("it has expired", "token wygasł") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _refuse("it is not valid yet", "token nie jest jeszcze ważny") from exc
    except jwt.InvalidIssuerError as exc:
        raise _refuse("wrong issuer", "nieprawidłowy wystawca") from exc
    except jwt.InvalidAudienceError as exc:
        raise _refuse("wrong audience", "nieprawidłowy odbiorca") from exc
    except jwt.InvalidSignatureError as exc:
        raise _refuse("bad signature", "nieprawidłowy podpis") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _refuse(f"missing claim {exc.claim}", f"brak pola {exc.claim}") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise _refuse("malformed token", "token jest uszkodzony") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise _refuse("unknown role", "nieznana rola")
    unit = claims.get("unit")
    if role in POLICE_ROLES and not isinstance(unit, str):
        raise _refuse("a police role needs a unit", "rola policyjna wymaga jednostki")
    institution = claims.get("institution")
    if institution is not None and (
        not isinstance(institution, str) or not INSTITUTION_CODE.match(institution)
    ):
        raise _refuse(
            "the institution claim is not an institution code",
            "pole institution nie jest kodem instytucji",
        )
    return Caller(
        subject=str(claims["sub"]),
        role=role,
        unit=unit if isinstance(unit, str) else None,
        institution=institution,
    )
