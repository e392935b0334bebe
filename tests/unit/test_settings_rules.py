"""The settings' rules (kmzb.settings), pure: read_environment on an environment the test
sets (no KMZB_* of the machine), production's refusals, pygeoapi's placeholder values.
tests/test_settings.py checks every variable's bad value, the cache and the running app."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kmzb.settings import (
    PYGEOAPI_PLACEHOLDERS,
    Settings,
    SettingsError,
    check_production,
    production_problems,
    pygeoapi_environment,
    read_environment,
)

SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
PRODUCTION = {
    "KMZB_ENV": "production",
    "DATABASE_URL": f"postgresql://kmzb_owner:{SECRET}@db.internal:5432/kmzb",
    "KMZB_API_DATABASE_URL": f"postgresql://kmzb_api:{SECRET}@db.internal/kmzb",
    "KMZB_JWKS_URL": "https://sso.policja.example/jwks.json",
    "KMZB_JWT_ISSUER": "https://sso.policja.example",
    "KMZB_JWT_AUDIENCE": "kmzb",
    "KMZB_REPORTER_KEY": SECRET,
    "KMZB_PUBLIC_URL": "https://mapa.example.pl",
    "KMZB_MQTT_PUBLIC_URL": "mqtts://mapa.example.pl:8883",
    "KMZB_BURST_THRESHOLD": "10",
}


def read(env: pytest.MonkeyPatch, **values: str) -> Settings:
    for name, value in values.items():
        env.setenv(name, value)
    return read_environment()


def test_nothing_set_is_the_development_defaults(clean_environment: pytest.MonkeyPatch) -> None:
    settings = read(clean_environment)
    assert not settings.production and settings.embedded
    assert (settings.api_host, settings.api_port, settings.embedded_port) == (
        "127.0.0.1",
        5000,
        5433,
    )
    assert settings.public_url == "http://127.0.0.1:5000" and not settings.tls
    assert settings.wms_url == "http://127.0.0.1:5001/ows/"
    assert settings.basemap_wms_url == "http://127.0.0.1:5002/ows/"
    assert (settings.jwt_issuer, settings.jwt_audience) == ("kmzb-dev", "kmzb")
    assert settings.given == frozenset()
    assert production_problems(settings)  # development defaults are no production setup
    check_production(settings)  # ...and development does not ask


def test_a_complete_production_setup_has_no_problem(clean_environment: pytest.MonkeyPatch) -> None:
    settings = read(clean_environment, **PRODUCTION)
    assert settings.production and settings.tls and not settings.embedded
    assert production_problems(settings) == []
    check_production(settings)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"KMZB_JWKS_URL": None}, "KMZB_JWKS_URL is not set"),
        ({"KMZB_JWKS_URL": "http://sso.example/jwks"}, "KMZB_JWKS_URL must be an https://"),
        ({"KMZB_JWT_ISSUER": None}, "KMZB_JWT_ISSUER is not set"),
        ({"KMZB_JWT_ISSUER": "kmzb-dev"}, "KMZB_JWT_ISSUER is not set"),
        ({"KMZB_JWT_AUDIENCE": None}, "KMZB_JWT_AUDIENCE is not set"),
        ({"KMZB_JWT_PUBLIC_KEY": "/srv/dev.pem"}, "KMZB_JWT_PUBLIC_KEY is a development key"),
        ({"KMZB_REPORTER_KEY": None}, "KMZB_REPORTER_KEY is not set"),
        ({"KMZB_REPORTER_KEY": "short"}, "KMZB_REPORTER_KEY is shorter than 32"),
        ({"KMZB_PUBLIC_URL": "http://mapa.example.pl"}, "KMZB_PUBLIC_URL must be https://"),
        ({"KMZB_PUBLIC_URL": "https://localhost"}, "KMZB_PUBLIC_URL names a loopback"),
        ({"KMZB_PUBLIC_URL": "https://127.0.0.2"}, "KMZB_PUBLIC_URL names a loopback"),
        ({"KMZB_BURST_THRESHOLD": "1"}, "KMZB_BURST_THRESHOLD is under 2"),
        ({"KMZB_REPORTER_HASH_RETENTION_HOURS": "72"}, "KMZB_REPORTER_HASH_RETENTION_HOURS must"),
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"KMZB_API_DATABASE_URL": None}, "KMZB_API_DATABASE_URL is not set"),
    ],
)
def test_production_names_each_unsafe_setting(
    clean_environment: pytest.MonkeyPatch, change: dict[str, str | None], problem: str
) -> None:
    values = {k: v for k, v in {**PRODUCTION, **change}.items() if v is not None}
    settings = read(clean_environment, **values)
    problems = production_problems(settings)
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    with pytest.raises(SettingsError) as refused:
        check_production(settings)
    message = str(refused.value)
    assert message.startswith("KMZB_ENV=production refuses to start: " + problem)
    assert "\n" not in message and SECRET not in message


def test_a_bad_value_is_one_line_naming_it_secrets_never_echoed(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("KMZB_API_PORT", "70000")
    clean_environment.setenv("DATABASE_URL", f"mysql://kmzb:{SECRET}@db/kmzb")
    clean_environment.setenv("KMZB_TRUSTED_PROXY_HEADER", "X Forwarded")
    with pytest.raises(SettingsError) as refused:
        read_environment()
    message = str(refused.value)
    assert "KMZB_API_PORT must be at most 65535, not '70000'" in message
    assert "DATABASE_URL must be a postgresql:// URL" in message
    assert "KMZB_TRUSTED_PROXY_HEADER must be an HTTP header name" in message
    assert "\n" not in message and SECRET not in message


def test_pygeoapi_gets_the_database_from_the_url_and_no_kmzb_input(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = read(clean_environment, KMZB_PUBLIC_URL="https://mapa.example.pl/")
    values = pygeoapi_environment("postgresql://kmzb_api:p%40ss@db.internal:6543/kmzb_9", settings)
    assert tuple(values) == PYGEOAPI_PLACEHOLDERS
    assert not any(name.startswith("KMZB_") for name in values)
    assert values["PYGEOAPI_KMZB_DB_HOST"] == "db.internal"
    assert values["PYGEOAPI_KMZB_DB_PORT"] == "6543"
    assert values["PYGEOAPI_KMZB_DB_NAME"] == "kmzb_9"
    assert values["PYGEOAPI_KMZB_DB_USER"] == "kmzb_api"
    assert values["PYGEOAPI_KMZB_DB_PASSWORD"] == "p@ss"
    assert values["PYGEOAPI_KMZB_PUBLIC_URL"] == "https://mapa.example.pl"
    assert values["PYGEOAPI_KMZB_HOME"] == str(settings.home)
    defaults = pygeoapi_environment("postgresql:///kmzb", replace(settings))
    assert (defaults["PYGEOAPI_KMZB_DB_HOST"], defaults["PYGEOAPI_KMZB_DB_PORT"]) == (
        "127.0.0.1",
        "5432",
    )
