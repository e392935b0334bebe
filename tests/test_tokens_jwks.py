"""Production key source: an OIDC issuer's JWKS over HTTP, RS256-signed tokens."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import issuer_token
from kmzb.auth import tokens
from kmzb.domain.errors import DomainError

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """A real HTTP server on loopback publishing the issuer's public key as a JWKS."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "issuer-1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document.encode())

        def log_message(self, *_args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def test_rs256_token_verified_against_the_jwks(settings, jwks_url) -> None:
    production = dataclasses.replace(
        settings, jwks_url=jwks_url, jwt_issuer="https://sso.policja.example"
    )
    caller = tokens.verify(production, issuer_token(PEM, settings.jwt_audience))
    assert (caller.role, caller.unit, caller.subject) == ("officer", "KMP-1261", "jan")


def test_a_key_not_in_the_jwks_is_refused(settings, jwks_url) -> None:
    production = dataclasses.replace(
        settings, jwks_url=jwks_url, jwt_issuer="https://sso.policja.example"
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(DomainError) as refused:
        tokens.verify(production, issuer_token(other, settings.jwt_audience))
    assert refused.value.status == 401
    with pytest.raises(DomainError):
        tokens.verify(production, issuer_token(PEM, settings.jwt_audience, kid="unknown-key"))
    with pytest.raises(DomainError):  # the local development key is not trusted then
        tokens.verify(production, tokens.issue(settings, "admin", "dev"))
