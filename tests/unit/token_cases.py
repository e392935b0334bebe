"""Keys and tokens for the token tests: the unit tier (test_token_rules.py) and the
parity test (tests/test_tokens_parity.py) use the same cases.

Each case is (name, token, expected): expected is ("ok", role, unit, subject) or
("refused", reason), the reason being kmzb.auth.verifier's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "kmzb-dev"
AUDIENCE = "kmzb"
JWKS_ISSUER = "https://sso.policja.example"
JWKS_KID = "issuer-1"

Expected = tuple[str, ...]
Case = tuple[str, str, Expected]


def pem_private(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key_pair(var_dir: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    """A development key pair under var_dir/keys, as `kmzb token issue` makes it;
    the public key's path."""
    keys = var_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "jwt-es256-private.pem").write_bytes(pem_private(key))
    public = keys / "jwt-es256-public.pem"
    public.write_bytes(pem_public(key))
    return public


def jwks_document(key: rsa.RSAPrivateKey, kid: str = JWKS_KID) -> str:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]})


def claims(now: int, **changes: Any) -> dict[str, Any]:
    """A good officer's claims; a change to None drops the claim."""
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "jan.kowalski",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "c0ffee",
        "role": "officer",
        "unit": "KMP-1261",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(body: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(body).encode())}."


def hs256(body: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with `secret` (PyJWT refuses a PEM key as an HMAC secret)."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}."
    signing_input += _b64(json.dumps(body).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    return f"{header}.{_b64(json.dumps(body).encode())}.{signature}"


@dataclass(frozen=True)
class Keys:
    local: ec.EllipticCurvePrivateKey  # the development pair the verifier trusts
    other: ec.EllipticCurvePrivateKey  # a key nobody trusts
    rsa: rsa.RSAPrivateKey  # an RSA key nobody trusts (for RS256 against an EC key)
    issuer: rsa.RSAPrivateKey  # the OIDC issuer's key, published as a JWKS

    @classmethod
    def new(cls) -> Keys:
        return cls(new_ec_key(), new_ec_key(), new_rsa_key(), new_rsa_key())


def local_cases(keys: Keys, now: int | None = None) -> list[Case]:
    """Tokens for a verifier that trusts keys.local (issuer kmzb-dev, audience kmzb)."""
    now = int(time.time()) if now is None else now
    local = pem_private(keys.local)

    def es256(headers: dict[str, Any] | None = None, **changes: Any) -> str:
        return jwt.encode(
            claims(now, **changes), local, algorithm="ES256", headers=headers or {"kid": "kmzb-dev"}
        )

    good = es256()
    officer: Expected = ("ok", "officer", "KMP-1261", "jan.kowalski")
    return [
        ("good officer", good, officer),
        (
            "good coordinator",
            es256(role="coordinator", unit="KWP-12"),
            ("ok", "coordinator", "KWP-12", "jan.kowalski"),
        ),
        (
            "good admin, no unit",
            es256(role="admin", unit=None),
            ("ok", "admin", "", "jan.kowalski"),
        ),
        (
            "good partner",
            es256(role="partner", unit=None, institution="SM-KRAKOW"),
            ("ok", "partner", "", "jan.kowalski"),
        ),
        ("Roman-numeral unit", es256(unit="KRP-I"), ("ok", "officer", "KRP-I", "jan.kowalski")),
        ("audience list holding ours", es256(aud=["other", AUDIENCE]), officer),
        ("expired an hour ago", es256(exp=now - 3600), ("refused", "expired")),
        ("expired within the leeway", es256(exp=now - 10), officer),
        ("wrong issuer", es256(iss="https://evil.example"), ("refused", "issuer")),
        ("wrong audience", es256(aud="someone-else"), ("refused", "audience")),
        ("alg none", unsigned(claims(now)), ("refused", "algorithm")),
        (
            "HS256 keyed with the public key",
            hs256(claims(now), pem_public(keys.local)),
            ("refused", "algorithm"),
        ),
        (
            "RS256 against the EC key",
            jwt.encode(claims(now), pem_private(keys.rsa), algorithm="RS256"),
            ("refused", "algorithm"),
        ),
        ("tampered payload", tampered(good, role="admin"), ("refused", "signature")),
        (
            "signed by another key",
            jwt.encode(claims(now), pem_private(keys.other), algorithm="ES256"),
            ("refused", "signature"),
        ),
        ("bad unit code", es256(unit="KMP-1261') OR TRUE --"), ("refused", "unit")),
        ("lower-case unit code", es256(unit="kmp-1261"), ("refused", "unit")),
        ("unit that is not text", es256(unit=1261), ("refused", "unit")),
        ("police role without a unit", es256(unit=None), ("refused", "police_unit")),
        ("missing role", es256(role=None), ("refused", "role")),
        ("unknown role", es256(role="superuser"), ("refused", "role")),
        (
            "bad institution",
            es256(role="partner", unit=None, institution="sm krakow"),
            ("refused", "institution"),
        ),
        ("future nbf", es256(nbf=now + 3600), ("refused", "not_yet_valid")),
        ("nbf within the leeway", es256(nbf=now + 10), officer),
        ("future iat", es256(iat=now + 3600), ("refused", "not_yet_valid")),
        ("missing exp", es256(exp=None), ("refused", "missing_exp")),
        ("missing sub", es256(sub=None), ("refused", "missing_sub")),
        ("sub that is a number", es256(sub=42), ("refused", "subject")),
        ("exp that is text", es256(exp="tomorrow"), ("refused", "malformed")),
        (
            "critical header",
            es256(headers={"crit": ["exp"], "exp": 1}),
            ("refused", "critical_header"),
        ),
        ("not a JWT", "abc.def", ("refused", "malformed")),
        ("four segments", good + ".e30", ("refused", "malformed")),
        # Python 3.11's and 3.13's base64 disagree on stray bits: read strictly
        ("signature + 'x' (stray bits)", good + "x", ("refused", "malformed")),
        ("signature + 'A' (65 bytes)", good + "A", ("refused", "signature")),
        ("signature + 'xx' (66 bytes)", good + "xx", ("refused", "signature")),
        ("signature + 'AAA' (bad length)", good + "AAA", ("refused", "malformed")),
        ("signature cut short (63 bytes)", good[:-2], ("refused", "signature")),
        ("no signature", good.rsplit(".", 1)[0] + ".", ("refused", "signature")),
        ("padded signature", good + "==", ("refused", "malformed")),
        ("header not JSON", "bm90IGpzb24" + good[good.index(".") :], ("refused", "malformed")),
    ]


def jwks_cases(keys: Keys, now: int | None = None) -> list[Case]:
    """Tokens for a verifier that trusts the JWKS of keys.issuer (issuer JWKS_ISSUER)."""
    now = int(time.time()) if now is None else now

    def rs256(key: Any = keys.issuer, kid: str = JWKS_KID, **changes: Any) -> str:
        body = claims(now, iss=JWKS_ISSUER, **changes)
        return jwt.encode(body, pem_private(key), algorithm="RS256", headers={"kid": kid})

    return [
        ("JWKS-signed", rs256(), ("ok", "officer", "KMP-1261", "jan.kowalski")),
        ("JWKS: unknown kid", rs256(kid="unknown-key"), ("refused", "unknown_key")),
        ("JWKS: right kid, wrong key", rs256(key=keys.rsa), ("refused", "signature")),
        (
            "JWKS: development token",
            jwt.encode(
                claims(now), pem_private(keys.local), algorithm="ES256", headers={"kid": JWKS_KID}
            ),
            ("refused", "algorithm"),
        ),
        ("JWKS: expired", rs256(exp=now - 3600), ("refused", "expired")),
        ("JWKS: bad unit code", rs256(unit="KMP 1261"), ("refused", "unit")),
    ]
