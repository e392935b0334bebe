"""KMZB_ENV=production refuses an unsafe configuration: the real app under gunicorn,
started from outside the checkout, exits non-zero with one line naming the setting.
A complete configuration passes and the app serves."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import TEST_DB, running_app
from kmzb.auth import tokens
from kmzb.db import connection
from kmzb.settings import Settings

REPORTER_KEY = secrets.token_urlsafe(48)
JWKS = "https://login.policja.example/realms/kmzb/protocol/openid-connect/certs"
ISSUER = "https://login.policja.example/realms/kmzb"


@pytest.fixture(scope="module")
def safe(server: Settings, db_url: str) -> dict[str, str]:
    """A complete production configuration against the test database."""
    return {
        "KMZB_ENV": "production",
        "KMZB_JWKS_URL": JWKS,
        "KMZB_JWT_ISSUER": ISSUER,
        "KMZB_JWT_AUDIENCE": "kmzb-api",
        "KMZB_REPORTER_KEY": REPORTER_KEY,
        "KMZB_PUBLIC_URL": "https://mapa.example.pl",
        "KMZB_MQTT_PUBLIC_URL": "mqtts://mapa.example.pl:8883",
        "DATABASE_URL": db_url,
        "KMZB_API_DATABASE_URL": connection.api_url(server, TEST_DB),
    }


def clean_environment() -> dict[str, str]:
    """The machine's environment without any KMZB setting or database URL."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KMZB_", "PYGEOAPI_")) and k != "DATABASE_URL"
    }


def start(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.run(
        [str(gunicorn), "--bind", "127.0.0.1:0", "--workers", "1", "kmzb.app:app"],
        env={**clean_environment(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def without(config: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in config.items() if k not in names}


UNSAFE = {
    "no JWKS URL": (lambda c: without(c, "KMZB_JWKS_URL"), "KMZB_JWKS_URL is not set"),
    "JWKS over http": (
        lambda c: {**c, "KMZB_JWKS_URL": JWKS.replace("https", "http")},
        "KMZB_JWKS_URL must be an https:// URL",
    ),
    "no issuer": (lambda c: without(c, "KMZB_JWT_ISSUER"), "KMZB_JWT_ISSUER is not set"),
    "the development issuer": (
        lambda c: {**c, "KMZB_JWT_ISSUER": "kmzb-dev"},
        "the development issuer 'kmzb-dev' is refused",
    ),
    "no audience": (lambda c: without(c, "KMZB_JWT_AUDIENCE"), "KMZB_JWT_AUDIENCE is not set"),
    "a development key file": (
        lambda c: {**c, "KMZB_JWT_PUBLIC_KEY": str(tokens.PUBLIC_KEY)},
        "KMZB_JWT_PUBLIC_KEY is a development key file",
    ),
    "no reporter key": (
        lambda c: without(c, "KMZB_REPORTER_KEY"),
        "KMZB_REPORTER_KEY is not set",
    ),
    "a short reporter key": (
        lambda c: {**c, "KMZB_REPORTER_KEY": "krotki-sekret"},
        "KMZB_REPORTER_KEY is shorter than 32 characters",
    ),
    "an http public URL": (
        lambda c: {**c, "KMZB_PUBLIC_URL": "http://mapa.example.pl"},
        "KMZB_PUBLIC_URL must be https://",
    ),
    "a loopback public URL": (
        lambda c: {**c, "KMZB_PUBLIC_URL": "https://127.0.0.1:5000"},
        "KMZB_PUBLIC_URL names a loopback host",
    ),
    "localhost as the public URL": (
        lambda c: {**c, "KMZB_PUBLIC_URL": "https://localhost"},
        "KMZB_PUBLIC_URL names a loopback host",
    ),
    "no public broker URL": (
        lambda c: without(c, "KMZB_MQTT_PUBLIC_URL"),
        "KMZB_MQTT_PUBLIC_URL is not set",
    ),
    "a loopback public broker": (
        lambda c: {**c, "KMZB_MQTT_PUBLIC_URL": "mqtt://127.0.0.1:1883"},
        "KMZB_MQTT_PUBLIC_URL names a loopback host",
    ),
    "the flood guard off": (
        lambda c: {**c, "KMZB_BURST_THRESHOLD": "1"},
        "KMZB_BURST_THRESHOLD is under 2",
    ),
    "reporter hashes kept too long": (
        lambda c: {**c, "KMZB_REPORTER_HASH_RETENTION_HOURS": "72"},
        "KMZB_REPORTER_HASH_RETENTION_HOURS must be between 24 and 48",
    ),
    "no DATABASE_URL": (
        lambda c: without(c, "DATABASE_URL", "KMZB_API_DATABASE_URL"),
        "DATABASE_URL is not set",
    ),
    "no API role": (
        lambda c: without(c, "KMZB_API_DATABASE_URL"),
        "KMZB_API_DATABASE_URL is not set",
    ),
    "the API as a superuser": (
        lambda c: {**c, "KMZB_API_DATABASE_URL": c["DATABASE_URL"]},
        "KMZB_API_DATABASE_URL logs in as",
    ),
    "an unknown environment": (
        lambda c: {**c, "KMZB_ENV": "prod"},
        "KMZB_ENV is 'development' or 'production', not 'prod'",
    ),
    "a malformed number": (
        lambda c: {**c, "KMZB_DAILY_REPORT_LIMIT": "jeden"},
        "KMZB_DAILY_REPORT_LIMIT must be a whole number",
    ),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_production_refuses_an_unsafe_configuration(safe, tmp_path: Path, case: str) -> None:
    change, expected = UNSAFE[case]
    finished = start(change(safe), tmp_path)
    assert finished.returncode != 0, finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.startswith("kmzb: error:")]
    assert len(lines) == 1, finished.stderr
    assert expected in lines[0], lines[0]
    assert "; " not in lines[0]  # this one problem, no other
    assert "Traceback" not in finished.stderr
    assert REPORTER_KEY not in finished.stderr  # secrets are never echoed
    assert "App failed to load" in finished.stderr  # gunicorn stopped, no worker loop


def test_every_problem_at_once_is_one_line(tmp_path: Path) -> None:
    finished = start({"KMZB_ENV": "production"}, tmp_path)
    assert finished.returncode != 0
    lines = [line for line in finished.stderr.splitlines() if line.startswith("kmzb: error:")]
    assert len(lines) == 1, finished.stderr
    for setting in (
        "KMZB_JWKS_URL",
        "KMZB_JWT_ISSUER",
        "KMZB_JWT_AUDIENCE",
        "KMZB_REPORTER_KEY",
        "KMZB_PUBLIC_URL",
        "DATABASE_URL",
    ):
        assert setting in lines[0]


def test_a_complete_configuration_has_no_problem(safe, tmp_path: Path) -> None:
    check = (
        "from kmzb.settings import load_settings, production_problems\n"
        "settings = load_settings()\n"
        "assert settings.production\n"
        "print(production_problems(settings))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", check],
        env={**clean_environment(), **safe},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def production_app(
    db_url: str, server: Settings, safe: dict[str, str], tmp_path_factory
) -> Iterator[str]:
    openapi = tmp_path_factory.mktemp("openapi-production") / "openapi.yml"
    # running_app's test defaults that production refuses, put back to the defaults
    defaults = {"KMZB_JWT_PUBLIC_KEY": "", "KMZB_REPORTER_SALT": "", "KMZB_BURST_THRESHOLD": ""}
    with running_app(db_url, server, openapi, {**defaults, **safe}) as base:
        yield base


def test_a_complete_configuration_starts_and_serves(
    production_app: str, settings: Settings
) -> None:
    collections = requests.get(f"{production_app}/collections?f=json", timeout=60)
    assert collections.status_code == 200
    assert "threats" in {c["id"] for c in collections.json()["collections"]}
    # links name the public URL, not the loopback address the app listens on
    assert "https://mapa.example.pl" in collections.text
    # tokens are checked against the issuer's JWKS only: one signed with the local
    # development key, even with the right issuer and audience, is refused
    forged = tokens.issue(
        dataclasses.replace(settings, jwt_issuer=ISSUER, jwt_audience="kmzb-api"),
        "admin",
        "dev-key",
    )
    answer = requests.get(
        f"{production_app}/police/queue",
        headers={"Authorization": f"Bearer {forged}"},
        timeout=60,
    )
    assert answer.status_code == 401
