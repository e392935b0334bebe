"""Settings: every variable typed and validated in kmzb.settings, read once per process.

A malformed value is one line naming the variable (SettingsError): in this process,
from the `kmzb` command (status 1) and from the real app under gunicorn (status 4,
the app-load error that stops gunicorn). No module under plugins/kmzb but settings.py
reads a KMZB_* variable from the environment.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import app_environment, free_port
from kmzb import settings as settings_module
from kmzb.settings import (
    CONFIG_FILE,
    PYGEOAPI_PLACEHOLDERS,
    SECRET_VARIABLES,
    Environment,
    Settings,
    SettingsError,
    load_settings,
    pygeoapi_environment,
    reload_settings,
)

KMZB = str(Path(sys.executable).with_name("kmzb"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
APP_LOAD_ERROR = 4
SECRET = "tajne-haslo-9f3c"

# A malformed value of every variable, and a piece of the message it must give.
BAD = [
    ("KMZB_ENV", "prod", "KMZB_ENV is 'development' or 'production', not 'prod'"),
    ("KMZB_ENV", "staging", "KMZB_ENV is 'development' or 'production', not 'staging'"),
    ("DATABASE_URL", f"mysql://kmzb:{SECRET}@db/kmzb", "DATABASE_URL must be a postgresql:// URL"),
    ("DATABASE_URL", f"postgresql://kmzb:{SECRET}@db:port/kmzb", "DATABASE_URL must be a"),
    ("KMZB_API_DATABASE_URL", f"kmzb_api:{SECRET}@db", "KMZB_API_DATABASE_URL must be a"),
    ("KMZB_WMS_DATABASE_URL", "http://db.example/kmzb", "KMZB_WMS_DATABASE_URL must be a"),
    ("KMZB_PG_PORT", "piątka", "KMZB_PG_PORT must be a whole number, not 'piątka'"),
    ("KMZB_PG_PORT", "0", "KMZB_PG_PORT must be at least 1, not '0'"),
    ("KMZB_REPLICA_PORT", "5434x", "KMZB_REPLICA_PORT must be a whole number, not '5434x'"),
    ("KMZB_REPLICA_PORT", "70000", "KMZB_REPLICA_PORT must be at most 65535, not '70000'"),
    (
        "DATABASE_REPLICA_URLS",
        f"postgresql://r1:{SECRET}@r1/kmzb,",
        "DATABASE_REPLICA_URLS must be",
    ),
    ("DATABASE_REPLICA_URLS", "postgresql://r1/kmzb,mysql://r2/kmzb", "DATABASE_REPLICA_URLS must"),
    ("DATABASE_REPLICA_URLS", "postgresql:///kmzb", "DATABASE_REPLICA_URLS must be a comma list"),
    ("KMZB_DB_NAME", "kmzb DROP", "KMZB_DB_NAME must be a database name"),
    ("KMZB_DB_NAME", "x" * 64, "KMZB_DB_NAME must be a database name"),
    ("KMZB_API_HOST", "127.0.0.1 ::1", "KMZB_API_HOST must not contain spaces"),
    ("KMZB_API_PORT", "abc", "KMZB_API_PORT must be a whole number, not 'abc'"),
    ("KMZB_API_PORT", "5000.0", "KMZB_API_PORT must be a whole number, not '5000.0'"),
    ("KMZB_API_PORT", "65536", "KMZB_API_PORT must be at most 65535, not '65536'"),
    ("KMZB_PUBLIC_URL", "mapa.example.pl", "KMZB_PUBLIC_URL must be an http:// or https://"),
    ("KMZB_PUBLIC_URL", "ftp://mapa.example.pl", "KMZB_PUBLIC_URL must be an http:// or https://"),
    ("KMZB_PUBLIC_URL", "https://", "KMZB_PUBLIC_URL must be an http:// or https:// URL with"),
    ("KMZB_WMS_PORT", "-1", "KMZB_WMS_PORT must be at least 1, not '-1'"),
    ("KMZB_WMS_URL", "localhost:5001/ows/", "KMZB_WMS_URL must be an http:// or https://"),
    ("KMZB_BASEMAP_WMS_PORT", "pięć", "KMZB_BASEMAP_WMS_PORT must be a whole number"),
    ("KMZB_BASEMAP_WMS_URL", "/ows/", "KMZB_BASEMAP_WMS_URL must be an http:// or https://"),
    ("KMZB_JWT_ISSUER", "kmzb dev", "KMZB_JWT_ISSUER must not contain spaces"),
    ("KMZB_JWT_AUDIENCE", "kmzb api", "KMZB_JWT_AUDIENCE must not contain spaces"),
    ("KMZB_JWKS_URL", "file:///etc/jwks.json", "KMZB_JWKS_URL must be an http:// or https://"),
    ("KMZB_DAILY_REPORT_LIMIT", "jeden", "KMZB_DAILY_REPORT_LIMIT must be a whole number"),
    ("KMZB_DAILY_REPORT_LIMIT", "0", "KMZB_DAILY_REPORT_LIMIT must be at least 1, not '0'"),
    ("KMZB_TRUSTED_PROXY_HEADER", "X Forwarded", "KMZB_TRUSTED_PROXY_HEADER must be an HTTP"),
    ("KMZB_TRUSTED_PROXY_HOPS", "-1", "KMZB_TRUSTED_PROXY_HOPS must be at least 1, not '-1'"),
    ("KMZB_TRUSTED_PROXY_HOPS", "dwa", "KMZB_TRUSTED_PROXY_HOPS must be a whole number"),
    ("KMZB_BURST_RADIUS_M", "nan", "KMZB_BURST_RADIUS_M must be a finite number, not 'nan'"),
    ("KMZB_BURST_RADIUS_M", "inf", "KMZB_BURST_RADIUS_M must be a finite number, not 'inf'"),
    ("KMZB_BURST_RADIUS_M", "250m", "KMZB_BURST_RADIUS_M must be a number, not '250m'"),
    ("KMZB_BURST_RADIUS_M", "0", "KMZB_BURST_RADIUS_M must be more than 0, not '0'"),
    ("KMZB_BURST_WINDOW_MINUTES", "0", "KMZB_BURST_WINDOW_MINUTES must be at least 1"),
    ("KMZB_BURST_THRESHOLD", "-5", "KMZB_BURST_THRESHOLD must be at least 0, not '-5'"),
    ("KMZB_BURST_THRESHOLD", "1e3", "KMZB_BURST_THRESHOLD must be a whole number, not '1e3'"),
    ("KMZB_REPORTER_HASH_RETENTION_HOURS", "2d", "KMZB_REPORTER_HASH_RETENTION_HOURS must be a"),
    ("KMZB_MQTT_PORT", "70000", "KMZB_MQTT_PORT must be at most 65535, not '70000'"),
    ("KMZB_MQTT_URL", f"tcp://kmzb-publisher:{SECRET}@broker", "KMZB_MQTT_URL must be an mqtt://"),
    ("KMZB_MQTT_PUBLIC_URL", "https://mqtt.example.pl", "KMZB_MQTT_PUBLIC_URL must be an mqtt://"),
    ("KMZB_MQTT_PASSWORD", "krótkie", "KMZB_MQTT_PASSWORD must be at least 8 characters"),
]


def variables() -> set[str]:
    """Every variable kmzb.settings reads (the aliases of Environment's fields)."""
    return settings_module._environment_names()


def test_every_variable_has_a_bad_value_tested() -> None:
    untested = variables() - {name for name, _, _ in BAD}
    # paths take any text; the reporter key any secret (production checks its length)
    assert untested == {
        "KMZB_DATA_DIR",
        "KMZB_WEB_DIR",
        "KMZB_BASEMAPS_FILE",
        "KMZB_JWT_PUBLIC_KEY",
        "KMZB_REPORTER_KEY",
        "KMZB_REPORTER_SALT",
    }


@pytest.mark.parametrize("name, value, expected", BAD, ids=lambda v: str(v)[:40])
def test_a_bad_value_is_one_line_naming_the_variable(
    settings_env: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    settings_env.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        reload_settings()
    message = str(refused.value)
    assert expected in message, message
    assert message.startswith(name + " ")
    assert "\n" not in message and "; " not in message  # this one problem, one line
    assert SECRET not in message  # a secret in a URL is never echoed
    if name in SECRET_VARIABLES:
        assert value not in message


def test_every_problem_is_named_on_one_line(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("KMZB_API_PORT", "abc")
    settings_env.setenv("KMZB_ENV", "prod")
    settings_env.setenv("KMZB_BURST_RADIUS_M", "nan")
    with pytest.raises(SettingsError) as refused:
        reload_settings()
    message = str(refused.value)
    assert "\n" not in message
    for name in ("KMZB_API_PORT", "KMZB_ENV", "KMZB_BURST_RADIUS_M"):
        assert name in message


def test_the_reporter_key_is_never_echoed(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("KMZB_REPORTER_KEY", SECRET)
    settings_env.setenv("KMZB_API_PORT", "abc")
    with pytest.raises(SettingsError) as refused:
        reload_settings()
    assert SECRET not in str(refused.value)


def test_values_are_typed_and_empty_means_the_default(settings_env: pytest.MonkeyPatch) -> None:
    for name in variables():
        settings_env.delenv(name, raising=False)
    settings_env.setenv("KMZB_API_PORT", " 5050 ")
    settings_env.setenv("KMZB_ENV", "Production")
    settings_env.setenv("KMZB_BURST_RADIUS_M", "125.5")
    settings_env.setenv("KMZB_WMS_PORT", "6001")
    settings_env.setenv("KMZB_PUBLIC_URL", "https://mapa.example.pl/")
    settings_env.setenv("KMZB_REPORTER_SALT", SECRET)  # the old name of KMZB_REPORTER_KEY
    settings_env.setenv("KMZB_DAILY_REPORT_LIMIT", "")  # empty: the default
    settings_env.setenv("KMZB_WEB_DIR", "/srv/kmzb/web")
    settings_env.setenv("KMZB_MQTT_PORT", "1884")
    read = reload_settings()
    assert read.api_port == 5050
    assert read.production
    assert read.burst_radius_m == 125.5
    assert (read.wms_port, read.wms_url) == (6001, "http://127.0.0.1:6001/ows/")
    assert (read.basemap_wms_port, read.basemap_wms_url) == (6002, "http://127.0.0.1:6002/ows/")
    assert read.public_url == "https://mapa.example.pl"
    assert read.reporter_key == SECRET
    assert read.daily_report_limit == 1
    assert read.web_dir == Path("/srv/kmzb/web")
    assert read.jwt_issuer == "kmzb-dev" and read.jwt_audience == "kmzb"
    assert read.embedded and read.db_name == "kmzb" and read.embedded_port == 5433
    assert read.mqtt_url == "mqtt://kmzb-publisher@127.0.0.1:1884" and read.local_broker
    assert read.mqtt_public_url == "mqtt://127.0.0.1:1884" and read.mqtt_password is None
    assert "KMZB_JWT_ISSUER" not in read.given and "KMZB_API_PORT" in read.given
    assert "KMZB_DAILY_REPORT_LIMIT" not in read.given


def test_settings_are_read_once(settings_env: pytest.MonkeyPatch) -> None:
    first = load_settings()
    assert load_settings() is first
    settings_env.setenv("KMZB_API_PORT", str(first.api_port + 1))
    settings_env.setenv("KMZB_ENV", "nonsense")  # not even read, so not refused
    assert load_settings() is first
    assert load_settings().api_port == first.api_port
    settings_env.setenv("KMZB_ENV", "development")
    assert reload_settings().api_port == first.api_port + 1


def test_a_running_app_reads_its_settings_once(db_url: str, server: Settings, tmp_path) -> None:
    """The real app (its WSGI object, in a process of its own): KMZB_WEB_DIR changed after
    start-up changes nothing, the page still comes from the folder it started with."""
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(f"<p>{name}</p>", encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import os
        from kmzb.app import app
        client = app.test_client()
        print(client.get("/map/").get_data(as_text=True))
        os.environ["KMZB_WEB_DIR"] = {str(tmp_path / "second")!r}
        os.environ["KMZB_API_PORT"] = "not a port"
        print(client.get("/map/").get_data(as_text=True))
        """
    )
    env = app_environment(db_url, server, free_port())
    env["KMZB_WEB_DIR"] = str(tmp_path / "first")
    env["PYGEOAPI_OPENAPI"] = str(tmp_path / "openapi.yml")
    finished = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["<p>first</p>", "<p>first</p>"]


def clean_environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KMZB_", "PYGEOAPI_"))
        and k not in ("DATABASE_URL", "DATABASE_REPLICA_URLS")
    }


@pytest.mark.parametrize(
    "name, value",
    [("KMZB_API_PORT", "abc"), ("KMZB_TRUSTED_PROXY_HOPS", "-1"), ("KMZB_BURST_RADIUS_M", "nan")],
)
def test_the_app_refuses_a_bad_value_with_status_4(tmp_path: Path, name: str, value: str) -> None:
    finished = subprocess.run(
        [GUNICORN, "--bind", "127.0.0.1:0", "--workers", "1", "kmzb.app:app"],
        env={**clean_environment(), name: value},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == APP_LOAD_ERROR, finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.startswith("kmzb: error:")]
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"kmzb: error: {name} "), lines[0]
    assert "Traceback" not in finished.stderr


def test_the_command_refuses_a_bad_value_with_one_line(tmp_path: Path) -> None:
    finished = subprocess.run(
        [KMZB, "db", "status"],
        env={**clean_environment(), "KMZB_PG_PORT": "piątka"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr == "kmzb: error: KMZB_PG_PORT must be a whole number, not 'piątka'\n"


# --- pygeoapi-config.yml: its placeholders are outputs of the settings, never inputs -----


def test_the_pygeoapi_placeholders_are_no_input() -> None:
    text = CONFIG_FILE.read_text(encoding="utf-8")
    import re

    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text))
    assert used == set(PYGEOAPI_PLACEHOLDERS)
    assert not used & variables()
    assert not any(name.startswith("KMZB_") for name in used)
    assert set(pygeoapi_environment("postgresql://u:p@h:1/d")) == used


def test_pygeoapi_loads_one_shared_database_block(settings_env: pytest.MonkeyPatch) -> None:
    """pygeoapi's own loader substitutes ${...} and keeps the YAML anchor: the data block is
    written once and every provider gets the same values."""
    from pygeoapi.util import yaml_load

    settings_env.setenv("KMZB_PUBLIC_URL", "https://mapa.example.pl/")
    reload_settings()
    url = "postgresql://kmzb_api:p%40ss%3Aw%7Drd@db.example:6543/kmzb_prod"
    for name, value in pygeoapi_environment(url).items():
        settings_env.setenv(name, value)
    with CONFIG_FILE.open(encoding="utf-8") as handle:
        config = yaml_load(handle)
    text = CONFIG_FILE.read_text(encoding="utf-8")
    assert text.count("${PYGEOAPI_KMZB_DB_PASSWORD}") == 1
    blocks = [
        provider["data"]
        for resource in config["resources"].values()
        for provider in resource.get("providers", [])
    ]
    assert len(blocks) == 10
    expected = {
        "host": "db.example",
        "port": 6543,
        "dbname": "kmzb_prod",
        "user": "kmzb_api",
        "password": "p@ss:w}rd",
        "search_path": ["kmzb", "public"],
        # public reads: the replicas first (none here), the primary last, prefer-standby
        "target_session_attrs": "prefer-standby",
    }
    assert all(block == expected for block in blocks)
    assert config["server"]["url"] == "https://mapa.example.pl"
    assert config["server"]["map"]["url"] == "https://mapa.example.pl/wms"
    assert config["server"]["templates"]["path"] == f"{settings_module.HOME}/web/pygeoapi/templates"


# --- no module but settings.py reads a setting from the environment -----------------------

PACKAGE = Path(settings_module.__file__).parent


def _is_environ(node: ast.AST) -> bool:
    """os.environ, or environ imported from os."""
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _setting_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value.startswith("KMZB_") or node.value in (
            "DATABASE_URL",
            "DATABASE_REPLICA_URLS",
        ):
            return node.value
    return None


def environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each read of a KMZB_* variable (or DATABASE_URL) from os.environ:
    os.environ[...], .get, .setdefault, .pop, `in`, os.getenv(...)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            if isinstance(node.ctx, ast.Load):
                name = _setting_name(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            reads = ("get", "setdefault", "pop", "__getitem__", "__contains__")
            if func.attr in reads and _is_environ(func.value) and node.args:
                name = _setting_name(node.args[0])
            elif func.attr == "getenv" and isinstance(func.value, ast.Name) and node.args:
                name = _setting_name(node.args[0]) if func.value.id == "os" else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "getenv" and node.args:
                name = _setting_name(node.args[0])
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            name = _setting_name(node.left)
        if name:
            found.append((getattr(node, "lineno", 0), name))
    return found


def test_the_scan_finds_each_kind_of_read() -> None:
    source = textwrap.dedent(
        """
        import os
        from os import environ, getenv
        a = os.environ["KMZB_A"]
        b = os.environ.get("KMZB_B", "x")
        c = os.getenv("KMZB_C")
        d = getenv("DATABASE_URL")
        e = "KMZB_E" in os.environ
        f = os.environ.setdefault("KMZB_F", "1")
        g = environ.get("KMZB_G")
        os.environ["KMZB_WRITTEN"] = "1"
        h = os.environ.get("HOME")
        """
    )
    names = [name for _, name in environment_reads(ast.parse(source))]
    assert sorted(names) == [
        "DATABASE_URL",
        "KMZB_A",
        "KMZB_B",
        "KMZB_C",
        "KMZB_E",
        "KMZB_F",
        "KMZB_G",
    ]


def test_no_module_but_settings_reads_a_setting_from_the_environment() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(settings_module.__file__):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offenders += [
            f"{path.relative_to(PACKAGE.parent)}:{line} reads {name}"
            for line, name in environment_reads(tree)
        ]
    assert offenders == [], "\n".join(offenders)


def test_every_variable_read_is_a_field() -> None:
    """Each alias of Environment is an exact, upper-case variable name (case_sensitive)."""
    for name in variables():
        assert name == name.upper()
        assert name.startswith("KMZB_") or name in ("DATABASE_URL", "DATABASE_REPLICA_URLS")
    assert Environment.model_config.get("case_sensitive") is True


def test_the_qgis_launcher_hands_the_plugin_the_validated_token_settings(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The access plugin runs in QGIS's own Python, without kmzb.settings: the launcher
    writes its variables from the settings, so both verify tokens alike."""
    from kmzb import qgis_launcher

    settings_env.setenv("KMZB_JWT_ISSUER", "https://sso.policja.example")
    settings_env.setenv("KMZB_JWT_AUDIENCE", "kmzb-api")
    settings_env.setenv("KMZB_JWKS_URL", "https://sso.policja.example/certs")
    read = reload_settings()
    env = qgis_launcher.environment(tmp_path / "pg_service.conf", tmp_path / "runtime")
    assert env["KMZB_JWT_ISSUER"] == read.jwt_issuer == "https://sso.policja.example"
    assert env["KMZB_JWT_AUDIENCE"] == "kmzb-api"
    assert env["KMZB_JWKS_URL"] == "https://sso.policja.example/certs"
    assert env["KMZB_VAR_DIR"] == str(read.var_dir)
    settings_env.delenv("KMZB_JWT_ISSUER")
    settings_env.delenv("KMZB_JWKS_URL")
    reload_settings()
    env = qgis_launcher.environment(tmp_path / "pg_service.conf", tmp_path / "runtime")
    assert env["KMZB_JWT_ISSUER"] == "kmzb-dev"  # the default, written out
    assert "KMZB_JWKS_URL" not in env


def test_every_field_read_reaches_the_settings() -> None:
    """Environment (what is read) and Settings (what the code uses) cannot drift apart:
    each variable's field is a field of Settings, under the same name."""
    used = {item.name for item in dataclasses.fields(Settings)}
    assert set(Environment.model_fields) <= used
    assert used - set(Environment.model_fields) == {"home", "var_dir", "given"}


def test_public_reads_go_to_the_replicas_first(settings_env: pytest.MonkeyPatch) -> None:
    """DATABASE_REPLICA_URLS: libpq's host list for reads names the replicas in order, then
    the primary; their roles are the primary's (only host and port are taken)."""
    settings_env.setenv("DATABASE_URL", "postgresql://kmzb@primary.example:6543/kmzb")
    settings_env.setenv(
        "DATABASE_REPLICA_URLS",
        f"postgresql://r:{SECRET}@replica-1.example:6544/kmzb, postgresql://replica-2.example/kmzb",
    )
    settings = reload_settings()
    assert settings.database_replica_urls == (
        f"postgresql://r:{SECRET}@replica-1.example:6544/kmzb",
        "postgresql://replica-2.example/kmzb",
    )
    values = pygeoapi_environment("postgresql://kmzb_api:s@primary.example:6543/kmzb", settings)
    assert values["PYGEOAPI_KMZB_READ_DB_HOST"] == (
        "replica-1.example,replica-2.example,primary.example"
    )
    assert values["PYGEOAPI_KMZB_READ_DB_PORT"] == "6544,5432,6543"
    assert (values["PYGEOAPI_KMZB_DB_HOST"], values["PYGEOAPI_KMZB_DB_PORT"]) == (
        "primary.example",
        "6543",
    )
    settings_env.delenv("DATABASE_REPLICA_URLS")
    alone = pygeoapi_environment(
        "postgresql://kmzb_api:s@primary.example:6543/kmzb", reload_settings()
    )
    assert alone["PYGEOAPI_KMZB_READ_DB_HOST"] == "primary.example"
    settings_env.setenv("KMZB_PG_PORT", "6000")
    assert reload_settings().replica_port == 6001
