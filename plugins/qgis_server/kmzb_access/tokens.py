"""Bearer tokens for QGIS Server: the API's own verifier, configured from the environment.

verifier.py here is a symbolic link to kmzb/auth/verifier.py (the wheel bundles
its content): the same rules, keys and reasons as the API, run by QGIS's own
Python (Debian's 3.11 with python3-jwt and python3-cryptography, without the
project's virtual environment).

configuration() is the one place the plugin reads its settings: the KMZB_*
variables that the launcher (kmzb.qgis_launcher.environment) or the docker image
passes to QGIS Server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .verifier import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    POLICE_ROLES,
    TokenConfig,
    TokenRefused,
    verify,
)

CHECKOUT = Path(__file__).resolve().parents[3]


class TokenError(Exception):
    """A token was sent and is not valid: the answer is 401."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


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


def configuration(environ: Mapping[str, str] = os.environ) -> TokenConfig:
    """The verifier's configuration: KMZB_JWT_ISSUER (default kmzb-dev),
    KMZB_JWT_AUDIENCE (default kmzb), KMZB_JWKS_URL (production: the OIDC
    issuer's keys), else the PEM file KMZB_JWT_PUBLIC_KEY, else the development
    public key under KMZB_VAR_DIR (default: var/ of the checkout)."""
    public_key = environ.get("KMZB_JWT_PUBLIC_KEY")
    return TokenConfig(
        issuer=environ.get("KMZB_JWT_ISSUER", DEFAULT_ISSUER),
        audience=environ.get("KMZB_JWT_AUDIENCE", DEFAULT_AUDIENCE),
        jwks_url=environ.get("KMZB_JWKS_URL") or None,
        public_key_file=Path(public_key) if public_key else None,
        var_dir=Path(environ.get("KMZB_VAR_DIR") or CHECKOUT / "var"),
    )


def caller_from_token(token: str, config: TokenConfig) -> Caller:
    """The caller a token names; TokenError (-> 401) for any flaw."""
    try:
        identity = verify(config, token)
    except TokenRefused as refused:
        raise TokenError(str(refused), refused.reason) from refused
    return Caller(role=identity.role, unit=identity.unit, subject=identity.subject)


def caller_from_header(value: str | None, config: TokenConfig) -> Caller:
    """No header: anonymous. A header that is not a valid bearer token: TokenError."""
    if value is None or not value.strip():
        return ANONYMOUS
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError(
            "expected 'Authorization: Bearer <token>' / oczekiwano tokenu Bearer", "scheme"
        )
    return caller_from_token(token.strip(), config)
