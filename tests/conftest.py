"""Shared fixtures: a fresh database on the real PostGIS, loaded with the real data.

The tests start (or reuse) the embedded cluster, or use the DATABASE_URL
server, and build their own database there, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from kmzb.db import cluster, connection, migrations
from kmzb.loaders.all import load_all
from kmzb.settings import PROJECT_ROOT, Settings, load_settings, reload_settings

TEST_DB = f"kmzb_test_{os.getpid()}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture()
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """monkeypatch for tests that change the environment and read the settings again
    (kmzb.settings.reload_settings); after the test the environment is put back and the
    settings are read from it once more, so the next test sees the real ones."""
    yield monkeypatch
    monkeypatch.undo()
    reload_settings()


@pytest.fixture(scope="session")
def data_dir(settings: Settings) -> Path:
    if settings.data_dir is None or not settings.data_dir.is_dir():
        raise RuntimeError("the real data is needed: set KMZB_DATA_DIR to the shared/data folder")
    return settings.data_dir


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[Settings]:
    """The PostgreSQL server is up; an embedded cluster the tests started is stopped after."""
    started = settings.embedded and not cluster.status(settings.embedded_port).running
    if settings.embedded:
        cluster.start(settings.embedded_port)
    yield settings
    if started:
        cluster.stop()


def fresh_database(settings: Settings, name: str) -> str:
    connection.drop_database(settings, name)
    return connection.ensure_database(settings, name)


@pytest.fixture(scope="session")
def db_url(server: Settings, data_dir: Path) -> Iterator[str]:
    """A fresh database, migrated and loaded with all real data."""
    url = fresh_database(server, TEST_DB)
    migrations.apply_all(url)
    load_all(url, data_dir, lambda _message: None)
    yield url
    connection.drop_database(server, TEST_DB)


@pytest.fixture()
def scratch_url(server: Settings) -> Iterator[str]:
    """An empty database with PostGIS, for tests that build their own schema."""
    name = f"{TEST_DB}_scratch"
    url = fresh_database(server, name)
    yield url
    connection.drop_database(server, name)


@pytest.fixture()
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(db_url) as connection_:
        yield connection_
        connection_.rollback()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(
    db_url: str, server: Settings, openapi: Path, extra_env: dict | None = None
) -> Iterator[str]:
    """The real app (pygeoapi under gunicorn) on the test database, on a free port;
    yields its base URL and stops it after."""
    port = free_port()
    env = app_environment(db_url, server, port)
    env["PYGEOAPI_OPENAPI"] = str(openapi)
    env.update(extra_env or {})
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            # the worker model kmzb run and docker use (kmzb.runner)
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "kmzb.app:app",
        ],
        env=env,
        cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("the app exited during start-up")
            try:
                if requests.get(f"{base}/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or still generating its OpenAPI document
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not answer within 60 s")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# The alerts' broker of this test session (the `mqtt_broker` fixture starts it): the app
# and the publisher get its port and the publisher's password in their environment.
MQTT_PORT = free_port()
MQTT_PASSWORD = secrets.token_urlsafe(18)


def app_environment(db_url: str, server: Settings, port: int) -> dict[str, str]:
    """The environment the app runs with in tests: this one, on the test database."""
    env = dict(os.environ)
    env["KMZB_MQTT_PORT"] = str(MQTT_PORT)
    env["KMZB_MQTT_PASSWORD"] = MQTT_PASSWORD
    env["KMZB_API_PORT"] = str(port)
    env["KMZB_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    # tests speak for many citizens: each request names its address in the header
    env["KMZB_TRUSTED_PROXY_HEADER"] = "X-Forwarded-For"
    # ...and stack many reports on the Rynek within minutes: the flood guard is off here;
    # tests/test_bursts.py runs it with its thresholds on a database of its own
    env["KMZB_BURST_THRESHOLD"] = "0"
    if server.embedded:
        env["KMZB_DB_NAME"] = TEST_DB
    else:
        env["DATABASE_URL"] = db_url
        if server.api_database_url:  # the API's own login role, on the test database
            env["KMZB_API_DATABASE_URL"] = connection.api_url(server, TEST_DB)
    return env


@pytest.fixture(scope="session")
def api(db_url: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    """The real app on the test database; yields its base URL."""
    with running_app(db_url, server, tmp_path_factory.mktemp("openapi") / "openapi.yml") as base:
        yield base


@pytest.fixture(scope="session")
def wms(db_url: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    """The real QGIS Server (qgis_mapserver) with the KMZB project and access plugin,
    on the test database through its own pg_service.conf; yields its base URL."""
    from kmzb import qgis_launcher

    folder = tmp_path_factory.mktemp("qgis-server")
    service_file = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(db_url)
    )
    port = free_port()
    process = qgis_launcher.start(
        service_file, port, runtime_dir=folder / "runtime", log=folder / "server.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        qgis_launcher.wait_until_ready(process, base, 60)
    except Exception:
        qgis_launcher.stop(process)
        raise
    yield base
    qgis_launcher.stop(process)


@pytest.fixture(scope="session")
def basemap_wms(db_url: str, server: Settings, tmp_path_factory) -> Iterator[str]:
    """QGIS Server drawing the offline basemap (kmzb_basemap.qgs) on the test database,
    places loaded; yields its /ows/ URL, for KMZB_BASEMAP_WMS_URL."""
    from kmzb import qgis_launcher
    from kmzb.db import connection
    from kmzb.loaders.places import load_places
    from kmzb.service.basemap import BASEMAP_PROJECT_FILE

    load_places(db_url, lambda _m: None)
    folder = tmp_path_factory.mktemp("qgis-basemap")
    service_file = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(db_url)
    )
    port = free_port()
    process = qgis_launcher.start(
        service_file, port, runtime_dir=folder / "runtime", log=folder / "server.log",
        project=BASEMAP_PROJECT_FILE,
    )  # fmt: skip
    try:
        qgis_launcher.wait_until_ready(process, f"http://127.0.0.1:{port}", 60)
        yield f"http://127.0.0.1:{port}/ows/"
    finally:
        qgis_launcher.stop(process)


class Broker:
    """The real Mosquitto of the session, as `kmzb run` starts it (kmzb.mqtt_broker);
    a test may stop and start it again on the same port."""

    def __init__(self, folder: Path) -> None:
        from kmzb import mqtt_broker

        self.port = MQTT_PORT
        self.url = f"mqtt://127.0.0.1:{MQTT_PORT}"
        self.files = mqtt_broker.write_files(folder, MQTT_PORT, MQTT_PASSWORD)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from kmzb import mqtt_broker

        self.process = mqtt_broker.start(self.files, self.port)
        mqtt_broker.wait_until_ready(self.process, self.port)

    def stop(self) -> None:
        from kmzb import mqtt_broker

        if self.process is not None:
            mqtt_broker.stop(self.process)
            self.process = None


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory) -> Iterator[Broker]:
    """Mosquitto on a free port: anonymous clients read kmzb/#, only kmzb-publisher writes."""
    broker = Broker(tmp_path_factory.mktemp("mqtt"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def alerts_publisher(
    api: str, db_url: str, server: Settings, mqtt_broker: Broker
) -> Iterator[subprocess.Popen]:
    """`kmzb alerts publish` on the test database, sending its outbox to `mqtt_broker`."""
    env = app_environment(db_url, server, int(api.rsplit(":", 1)[1]))
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("kmzb")), "alerts", "publish"],
        env=env,
        cwd=PROJECT_ROOT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
