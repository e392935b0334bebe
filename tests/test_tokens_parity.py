"""Parity: the same tokens through the API's verifier (this venv's Python and PyJWT) and
through the QGIS Server plugin, imported as QGIS Server imports it (its plugin path on
sys.path, `import kmzb_access`, with QGIS's own Python, /usr/bin/python3, and Debian's
python3-jwt), configured by the environment the launcher (kmzb.qgis_launcher) gives it.

Each token has its expected answer, and both sides must give it: the same caller, or
a refusal (401) for the same reason. Three key sources: the development key pair in
var/keys, a PEM file (KMZB_JWT_PUBLIC_KEY) and an OIDC issuer's JWKS over HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from kmzb import qgis_launcher
from kmzb.auth import tokens, verifier
from kmzb.domain.errors import DomainError
from kmzb.settings import Settings
from unit.token_cases import (
    AUDIENCE,
    ISSUER,
    JWKS_ISSUER,
    Keys,
    claims,
    jwks_cases,
    jwks_document,
    local_cases,
    new_ec_key,
    new_rsa_key,
    pem_private,
    pem_public,
)

QGIS_PYTHON = "/usr/bin/python3"
# What QGIS Server does with a server plugin: its folder on sys.path, the package
# imported, its server module (with the qgis imports) loaded; then the request filter
# calls caller_from_header with the configuration read at load time.
PLUGIN_SIDE = r"""
import json, os, sys
sys.path.insert(0, os.environ["QGIS_SERVER_PLUGINPATH"])
import jwt
import kmzb_access
from kmzb_access import server, tokens
config = tokens.configuration()
results = {}
for name, token in json.load(sys.stdin):
    try:
        caller = tokens.caller_from_header("Bearer " + token, config)
    except tokens.TokenError as refused:
        results[name] = ["refused", refused.reason]
    else:
        results[name] = ["ok", caller.role, caller.unit or "", caller.subject]
json.dump({"python": list(sys.version_info[:2]), "jwt": jwt.__version__,
           "plugin": kmzb_access.__file__, "verifier": tokens.verify.__module__,
           "results": results}, sys.stdout)
"""


def _changed(settings: Settings, **changes: Any) -> Settings:
    if dataclasses.is_dataclass(settings):
        return dataclasses.replace(settings, **changes)
    return settings.model_copy(update=changes)  # type: ignore[attr-defined]


def service_side(settings: Settings, cases: list) -> dict[str, list[str]]:
    results = {}
    for name, token, _expected in cases:
        try:
            caller = tokens.verify(settings, token)
        except DomainError as error:
            assert error.status == 401, name
            assert isinstance(error.__cause__, verifier.TokenRefused), name
            results[name] = ["refused", error.__cause__.reason]
        else:
            results[name] = ["ok", caller.role or "", caller.unit or "", caller.subject or ""]
    return results


def plugin_side(env: dict[str, str], cases: list) -> dict[str, Any]:
    answer = subprocess.run(
        [QGIS_PYTHON, "-c", PLUGIN_SIDE],
        input=json.dumps([[name, token] for name, token, _ in cases]),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


@pytest.fixture(scope="module")
def launcher_env(tmp_path_factory) -> dict[str, str]:
    """The environment kmzb.qgis_launcher starts QGIS Server with (development keys)."""
    folder = tmp_path_factory.mktemp("qgis")
    env = qgis_launcher.environment(folder / "pg_service.conf", folder / "runtime")
    return {**env, "KMZB_JWT_ISSUER": ISSUER, "KMZB_JWT_AUDIENCE": AUDIENCE, "KMZB_JWKS_URL": ""}


@pytest.fixture(scope="module")
def dev_settings(settings: Settings) -> Settings:
    return _changed(
        settings, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=None, jwt_public_key=None
    )


@pytest.fixture(scope="module")
def keys() -> Keys:
    """The development pair is the real one in var/keys (what both sides read)."""
    tokens.ensure_local_keys()
    local = serialization.load_pem_private_key(tokens.PRIVATE_KEY.read_bytes(), password=None)
    return Keys(local=local, other=new_ec_key(), rsa=new_rsa_key(), issuer=new_rsa_key())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def jwks_url(keys: Keys) -> Iterator[str]:
    """A real HTTP server on loopback publishing the issuer's public key as a JWKS."""
    document = jwks_document(keys.issuer).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def assert_parity(cases: list, service: dict, plugin: dict) -> None:
    expected = {name: list(answer) for name, _token, answer in cases}
    assert service == expected  # the API gives each token its answer ...
    assert plugin["results"] == expected  # ... and so does QGIS Server's plugin


def test_development_keys_same_answers(launcher_env, dev_settings, keys) -> None:
    assert launcher_env["KMZB_JWT_PUBLIC_KEY"] == str(tokens.PUBLIC_KEY)
    cases = local_cases(keys)
    plugin = plugin_side(launcher_env, cases)
    assert_parity(cases, service_side(dev_settings, cases), plugin)
    # it really was the other interpreter and PyJWT, running the same file
    assert plugin["python"] == [3, 11] and plugin["jwt"].startswith("2.6")
    assert jwt.__version__ != plugin["jwt"]
    assert plugin["verifier"] == "kmzb_access.verifier"
    assert Path(plugin["plugin"]).parent.parent == Path(launcher_env["QGIS_SERVER_PLUGINPATH"])


def test_a_pem_file_same_answers(launcher_env, dev_settings, keys, tmp_path: Path) -> None:
    pem = tmp_path / "issuer-public.pem"
    pem.write_bytes(pem_public(keys.rsa))
    now = int(time.time())
    good = jwt.encode(claims(now), pem_private(keys.rsa), algorithm="RS256")
    dev = tokens.issue(dev_settings, "officer", "jan", unit="KMP-1261")
    cases = [
        ("RS256 by the PEM file's key", good, ("ok", "officer", "KMP-1261", "jan.kowalski")),
        ("development token, PEM file configured", dev, ("refused", "algorithm")),
        (
            "expired RS256",
            jwt.encode(claims(now, exp=now - 999), pem_private(keys.rsa), algorithm="RS256"),
            ("refused", "expired"),
        ),
    ]
    env = {**launcher_env, "KMZB_JWT_PUBLIC_KEY": str(pem)}
    service = service_side(_changed(dev_settings, jwt_public_key=str(pem)), cases)
    assert_parity(cases, service, plugin_side(env, cases))


def test_jwks_same_answers(launcher_env, dev_settings, keys, jwks_url) -> None:
    cases = jwks_cases(keys)
    env = {**launcher_env, "KMZB_JWKS_URL": jwks_url, "KMZB_JWT_ISSUER": JWKS_ISSUER}
    production = _changed(dev_settings, jwks_url=jwks_url, jwt_issuer=JWKS_ISSUER)
    assert_parity(cases, service_side(production, cases), plugin_side(env, cases))
