"""The one JWT verifier of KMZB: the API and the QGIS Server plugin both run this file.

It is imported as kmzb.auth.verifier by the service (Python >= 3.12, the venv's
PyJWT) and as kmzb_access.verifier by the QGIS Server plugin (Debian's
/usr/bin/python3 3.11 with python3-jwt 2.6 and python3-cryptography), where
plugins/qgis_server/kmzb_access/verifier.py is a symbolic link to this file and
the wheel (setup.py) bundles its content. So: the standard library, PyJWT and
cryptography only; no kmzb import; Python 3.11 syntax; and no os.environ: each
side passes its settings in a TokenConfig.

PyJWT only checks the signature and the algorithm here. Every claim rule
(issuer, audience, expiry, not-before, issued-at, leeway, subject, role, the
unit and institution codes) is checked below, so that the two PyJWT versions
(2.6 and 2.10+, which differ on `sub`, `iat` and `crit`) give the same answer.
tests/test_tokens_parity.py runs one set of tokens through both sides.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHMS = ("ES256", "RS256")
ROLES = ("officer", "coordinator", "partner", "admin")
POLICE_ROLES = ("officer", "coordinator")
REQUIRED_CLAIMS = ("exp", "nbf", "iss", "aud", "sub")
LEEWAY_SECONDS = 30
DEFAULT_ISSUER = "kmzb-dev"  # the development issuer (`kmzb token issue`)
DEFAULT_AUDIENCE = "kmzb"
# A police unit code as the database holds it (KGP, KWP-12, KMP-1261, KRP-I ...).
UNIT_CODE = re.compile(r"^[A-Z]{3}(-[0-9A-Z]{1,8})?$")
# A partner's institution code, as kmzb.institutions.code's CHECK has it (sql/035).
INSTITUTION_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
# The development key pair, under the var folder.
LOCAL_KEY_ID = "kmzb-dev"
LOCAL_PRIVATE_KEY = Path("keys") / "jwt-es256-private.pem"
LOCAL_PUBLIC_KEY = Path("keys") / "jwt-es256-public.pem"
JWKS_LIFESPAN_SECONDS = 3600


@dataclass(frozen=True)
class TokenConfig:
    """Where the keys are and what the claims must say.

    The key is taken from `jwks_url` (production: the OIDC issuer's keys), else
    from the PEM file `public_key_file`, else from the development pair's public
    key in `var_dir`."""

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_url: str | None = None
    public_key_file: Path | None = None
    var_dir: Path | None = None
    leeway_seconds: int = LEEWAY_SECONDS

    def key_file(self) -> Path | None:
        """The PEM file verified against when there is no JWKS URL."""
        if self.public_key_file is not None:
            return self.public_key_file
        if self.var_dir is not None:
            return self.var_dir / LOCAL_PUBLIC_KEY
        return None


@dataclass(frozen=True)
class Identity:
    """Who a valid token names."""

    subject: str
    role: str
    unit: str | None = None  # a police unit code, for officers and coordinators
    institution: str | None = None  # an institution code, for partners


class TokenRefused(Exception):
    """A token was sent and is not valid: the answer is 401.

    `reason` is a stable code (the parity test compares it), `en` and `pl` the
    reason in words."""

    def __init__(self, reason: str, en: str, pl: str) -> None:
        super().__init__(f"{en} / {pl}")
        self.reason = reason
        self.en = en
        self.pl = pl


def _refused(reason: str) -> TokenRefused:
    en, pl = REASONS[reason]
    return TokenRefused(reason, en, pl)


REASONS: dict[str, tuple[str, str]] = {
    "malformed": ("malformed token", "token jest uszkodzony"),
    "algorithm": ("algorithm not accepted", "niedozwolony algorytm"),
    "critical_header": ("unsupported critical header", "nieobsługiwany nagłówek krytyczny"),
    "no_key": ("no key to verify tokens with", "brak klucza do weryfikacji tokenu"),
    "unknown_key": (
        "no trusted key for it (an unknown key id, or the issuer's keys are unreachable)",
        "brak zaufanego klucza (nieznany identyfikator klucza lub klucze wystawcy niedostępne)",
    ),
    "signature": ("bad signature", "nieprawidłowy podpis"),
    "expired": ("it has expired", "token wygasł"),
    "not_yet_valid": ("it is not valid yet", "token nie jest jeszcze ważny"),
    "issuer": ("wrong issuer", "nieprawidłowy wystawca"),
    "audience": ("wrong audience", "nieprawidłowy odbiorca"),
    "missing_exp": ("missing claim exp", "brak pola exp"),
    "missing_nbf": ("missing claim nbf", "brak pola nbf"),
    "missing_iss": ("missing claim iss", "brak pola iss"),
    "missing_aud": ("missing claim aud", "brak pola aud"),
    "missing_sub": ("missing claim sub", "brak pola sub"),
    "subject": ("the sub claim is not a name", "pole sub nie jest nazwą"),
    "role": ("unknown role", "nieznana rola"),
    "police_unit": ("a police role needs a unit", "rola policyjna wymaga jednostki"),
    "unit": ("malformed unit code", "nieprawidłowy kod jednostki"),
    "institution": (
        "the institution claim is not an institution code",
        "pole institution nie jest kodem instytucji",
    ),
}


# --- keys


def local_key_paths(var_dir: Path) -> tuple[Path, Path]:
    """(private, public) PEM files of the development key pair."""
    return var_dir / LOCAL_PRIVATE_KEY, var_dir / LOCAL_PUBLIC_KEY


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=JWKS_LIFESPAN_SECONDS)


@lru_cache(maxsize=4)
def _pem_key(path: str, mtime: float) -> Any:
    return serialization.load_pem_public_key(Path(path).read_bytes())


def verification_key(config: TokenConfig, token: str) -> Any:
    """The public key (a cryptography key object) the token must be signed with."""
    if config.jwks_url:
        try:
            return _jwks_client(config.jwks_url).get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:  # no such kid, or the JWKS is unreachable
            raise _refused("unknown_key") from exc
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise _refused("malformed") from exc
    path = config.key_file()
    if path is None:
        raise _refused("no_key")
    try:
        return _pem_key(str(path), path.stat().st_mtime)
    except (OSError, ValueError, TypeError) as exc:
        raise _refused("no_key") from exc


def _algorithm_of(key: Any) -> str | None:
    """The one algorithm a key may verify: ES256 for a P-256 key, RS256 for RSA."""
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    return None


# --- claims


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_claims(config: TokenConfig, claims: dict[str, Any], now: float) -> Identity:
    """The claims' rules, on claims whose signature is already verified."""
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise _refused(f"missing_{name}")
    leeway = config.leeway_seconds
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _number(claims[name]):
            raise _refused("malformed")
    if claims["exp"] <= now - leeway:
        raise _refused("expired")
    if claims["nbf"] > now + leeway or ("iat" in claims and claims["iat"] > now + leeway):
        raise _refused("not_yet_valid")
    if claims["iss"] != config.issuer:
        raise _refused("issuer")
    audience = claims["aud"]
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise _refused("audience")
    if config.audience not in audiences:
        raise _refused("audience")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise _refused("subject")
    role = claims.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise _refused("role")
    unit = claims.get("unit")
    if role in POLICE_ROLES and unit is None:
        raise _refused("police_unit")
    if unit is not None and (not isinstance(unit, str) or not UNIT_CODE.match(unit)):
        raise _refused("unit")
    institution = claims.get("institution")
    if institution is not None and (
        not isinstance(institution, str) or not INSTITUTION_CODE.match(institution)
    ):
        raise _refused("institution")
    return Identity(subject=subject, role=role, unit=unit, institution=institution)


BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def _base64url(segment: str) -> bytes:
    """A base64url segment, decoded strictly: the alphabet, no padding, and canonical
    (Python's base64 of 3.11 and 3.13 differ on stray trailing bits)."""
    if not BASE64URL.match(segment) or len(segment) % 4 == 1:
        raise _refused("malformed")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != segment:
        raise _refused("malformed")
    return data


def _parts(token: str) -> tuple[dict[str, Any], bytes]:
    """The JOSE header and the signature of a compact JWS, read here: the versions
    of PyJWT disagree on what they refuse before the signature."""
    segments = token.split(".")
    if len(segments) != 3:
        raise _refused("malformed")
    header_bytes, _payload, signature = (_base64url(segment) for segment in segments)
    try:
        header = json.loads(header_bytes)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _refused("malformed") from exc
    if not isinstance(header, dict):
        raise _refused("malformed")
    return header, signature


def _signature_length(key: Any) -> int:
    """ES256: r and s, 32 bytes each; RS256: the modulus' length."""
    if isinstance(key, rsa.RSAPublicKey):
        return (key.key_size + 7) // 8
    return 64


def verify(config: TokenConfig, token: str, now: float | None = None) -> Identity:
    """Who a token names; TokenRefused (-> 401) for any flaw."""
    if not isinstance(token, str) or not token:
        raise _refused("malformed")
    header, signature = _parts(token)
    if header.get("alg") not in ALGORITHMS:
        raise _refused("algorithm")
    if "crit" in header:  # no JWS extension is understood here (RFC 7515, 4.1.11)
        raise _refused("critical_header")
    key = verification_key(config, token)
    algorithm = _algorithm_of(key)
    if algorithm is None or header["alg"] != algorithm:
        raise _refused("algorithm")
    if len(signature) != _signature_length(key):
        raise _refused("signature")
    try:
        payload = jwt.PyJWS().decode(token, key, algorithms=[algorithm])
    except jwt.InvalidSignatureError as exc:
        raise _refused("signature") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise _refused("algorithm") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise _refused("malformed") from exc
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise _refused("malformed") from exc
    if not isinstance(claims, dict):
        raise _refused("malformed")
    return check_claims(config, claims, time.time() if now is None else now)
