"""JWT bearer tokens for the API: issuing development tokens, verifying any token.

The rules and the key loading are kmzb.auth.verifier's, the one verifier the
QGIS Server plugin runs too; this module passes it the service's settings and
turns its refusals into the API's 401 DomainError.

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
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kmzb.auth import verifier
from kmzb.domain.caller import INSTITUTION_CODE, POLICE_ROLES, ROLES, Caller
from kmzb.domain.errors import DomainError, unauthorized
from kmzb.settings import VAR_DIR, Settings

ALGORITHMS = list(verifier.ALGORITHMS)
KEY_DIR = VAR_DIR / "keys"
PRIVATE_KEY, PUBLIC_KEY = verifier.local_key_paths(VAR_DIR)
LOCAL_KEY_ID = verifier.LOCAL_KEY_ID


def ensure_local_keys() -> None:
    """Make the development key pair in var/keys unless it is there."""
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
    claims: dict[str, object] = {
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


def token_config(settings: Settings) -> verifier.TokenConfig:
    """The verifier's configuration from the service's settings."""
    return verifier.TokenConfig(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url or None,
        public_key_file=Path(settings.jwt_public_key) if settings.jwt_public_key else None,
        var_dir=VAR_DIR,
    )


def verify(settings: Settings, token: str) -> Caller:
    """The caller a token names; a 401 DomainError for any flaw (its __cause__ is
    the verifier's TokenRefused, with the reason's code)."""
    config = token_config(settings)
    if config.jwks_url is None and config.public_key_file is None:
        ensure_local_keys()
    try:
        identity = verifier.verify(config, token)
    except verifier.TokenRefused as refused:
        raise _unauthorized(refused) from refused
    return Caller(
        subject=identity.subject,
        role=identity.role,
        unit=identity.unit,
        institution=identity.institution,
    )


def _unauthorized(refused: verifier.TokenRefused) -> DomainError:
    return unauthorized(f"Invalid token: {refused.en}", f"Nieprawidłowy token: {refused.pl}")
