"""A read replica: public reads keep answering from a hot standby while the primary is down.

A PostgreSQL primary of its own (initdb in a temporary folder on a free port, as
tests/test_faults.py makes one: the shared cluster is never touched), migrated and
loaded with the real data, and a hot standby of it made by kmzb.db.replica (the
code of `kmzb db replica up`: pg_basebackup with a slot, its own port). The real
app runs under gunicorn with DATABASE_REPLICA_URLS naming the standby, so public
reads go to it first (libpq's host list, prefer-standby) and writes to the primary.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests

import throwaway_cluster
from helpers import new_address, review
from kmzb import qgis_launcher
from kmzb.db import cluster, connection, replica
from kmzb.qgis_launcher import write_service_file
from kmzb.settings import Settings
from test_wms import decode_png
from throwaway_cluster import OwnCluster, free_port

DB_NAME = "kmzb_replica_test"
SLOT = "kmzb_replica_test"
KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # gmina 1261011, KMP Kraków
UNIT = "KMP-1261"
# z14 at Kraków's Rynek (the points from detail_zoom on) and z8 over Małopolska (grid)
TILES = (
    "/collections/threats/tiles/WebMercatorQuad/14/5552/9099",
    "/collections/threats/tiles/WebMercatorQuad/8/86/142",
)


@dataclass
class Pair(OwnCluster):
    """A throwaway primary (tests/throwaway_cluster.py) and its hot standby."""

    standby: replica.Standby

    def primary(self, action: str, *args: str) -> None:
        self.pg_ctl(action, *args)

    def replica_api_url(self) -> str:
        return connection.replica_url(self.api_url, "127.0.0.1", self.standby.port)

    def standby_admin_url(self) -> str:
        return connection.replica_url(self.url, "127.0.0.1", self.standby.port)

    def replica_setting(self) -> str:
        return f"postgresql://127.0.0.1:{self.standby.port}/{DB_NAME}"


@pytest.fixture(scope="module")
def pair(settings: Settings, data_dir: Path) -> Iterator[Pair]:
    # the embedded cluster's replication settings (kmzb.db.cluster)
    with throwaway_cluster.own_cluster(
        settings, data_dir, DB_NAME, "kmzb-replica-", cluster.REPLICATION_SETTINGS
    ) as own:
        standby = replica.Standby(SLOT, own.folder / "replica", free_port())
        pair = Pair(own.folder, own.port, own.url, own.api_url, standby)
        replica.create(standby, own.url)  # what `kmzb db replica up` does to the embedded one
        replica.start(standby)
        try:
            yield pair
        finally:
            replica.stop(standby, "immediate")


def app_environment(pair: Pair, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": pair.url,
            "KMZB_API_DATABASE_URL": pair.api_url,
            "DATABASE_REPLICA_URLS": pair.replica_setting(),
            "KMZB_API_PORT": str(port),
            "KMZB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PYGEOAPI_OPENAPI": str(pair.folder / "openapi.yml"),
            "KMZB_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def app(pair: Pair) -> Iterator[str]:
    port = free_port()
    env = app_environment(pair, port)
    with throwaway_cluster.gunicorn_app(pair.folder, env, port, workers=2):
        yield f"http://127.0.0.1:{port}"


def submit(app: str, description: str) -> requests.Response:
    return requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_dumping", "description": description}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )


def public_status_on_replica(pair: Pair, ref: str) -> str | None:
    with psycopg.connect(pair.replica_api_url(), connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        row = conn.execute(
            "SELECT status FROM kmzb.public_threats WHERE id = %s", (ref,)
        ).fetchone()
    return row[0] if row else None


def test_a_report_confirmed_on_the_primary_appears_on_the_replica(app: str, pair: Pair) -> None:
    answer = submit(app, "replika: potwierdzone na głównym")
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    version = review(app, UNIT, ref, "verification", 1)
    review(app, UNIT, ref, "confirmed", version)
    deadline = time.monotonic() + 10
    while public_status_on_replica(pair, ref) != "confirmed":
        assert time.monotonic() < deadline, "the confirmation did not reach the replica in 10 s"
        time.sleep(0.05)
    # and the API's public view (read from the replica) shows it
    item = requests.get(f"{app}/collections/threats/items/{ref}?f=json", timeout=30)
    assert item.status_code == 200, item.text
    assert item.json()["properties"]["status"] == "confirmed"


def test_public_reads_are_served_by_the_replica(app: str, pair: Pair) -> None:
    """The providers' and the read pool's sessions are on the standby: pg_stat_activity
    there shows the API's role, and the primary serves none of the public reads."""
    for path in ("/collections/threats/items?limit=5&f=json", "/vocabulary", TILES[0]):
        assert requests.get(f"{app}{path}", timeout=30).status_code == 200, path
    with psycopg.connect(pair.standby_admin_url(), autocommit=True) as conn:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE usename = 'kmzb_api'"
            ).fetchall()
        }
    assert {"pygeoapi-postgis", "pygeoapi-tiles", "kmzb-api-read"} <= names, names
    with psycopg.connect(pair.url, autocommit=True) as conn:
        on_primary = {
            row[0]
            for row in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE usename = 'kmzb_api'"
            ).fetchall()
        }
    assert not {"pygeoapi-postgis", "pygeoapi-tiles", "kmzb-api-read"} & on_primary, on_primary


def test_db_status_prints_the_replay_lag(pair: Pair) -> None:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": pair.url,
            "DATABASE_REPLICA_URLS": pair.replica_setting(),
        }
    )
    kmzb = Path(sys.executable).with_name("kmzb")
    done = subprocess.run(
        [str(kmzb), "db", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    line = re.search(
        rf"replica 127\.0\.0\.1:{pair.standby.port} \(slot {SLOT}\): streaming, "
        r"replay lag (\d+) bytes, (\d+\.\d+) s",
        done.stdout,
    )
    assert line, done.stdout
    assert int(line.group(1)) < 16 * 1024 * 1024 and float(line.group(2)) < 10


def test_with_the_primary_down_reads_answer_and_writes_wait(
    app: str, pair: Pair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QGIS Server's service file, as `kmzb run` writes it for these settings
    service_file = pair.folder / "pg_service.conf"
    wms_url = pair.api_url.replace("kmzb_api:", "kmzb_wms:", 1)
    wms_settings = dataclasses.replace(
        settings,
        database_url=pair.url,
        api_database_url=pair.api_url,
        wms_database_url=wms_url,
        database_replica_urls=(pair.replica_setting(),),
    )
    write_service_file(wms_settings, service_file, DB_NAME)
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    # a confirmed report at Kraków's Rynek, on the replica, for the tile and the map
    answer = submit(app, "replika: na mapie")
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    review(app, UNIT, ref, "confirmed", review(app, UNIT, ref, "verification", 1))
    deadline = time.monotonic() + 10
    while public_status_on_replica(pair, ref) != "confirmed":
        assert time.monotonic() < deadline, "the confirmation did not reach the replica in 10 s"
        time.sleep(0.05)
    wms_port = free_port()
    wms = qgis_launcher.start(
        service_file,
        wms_port,
        runtime_dir=pair.folder / "qgis-runtime",
        log=pair.folder / "qgis-server.log",
    )
    try:
        qgis_launcher.wait_until_ready(wms, f"http://127.0.0.1:{wms_port}", 60)
        pair.primary("stop", "-m", "fast", "-w")
        # the public map (WMS) draws from the standby: QGIS Server's sessions are there
        drawn = requests.get(
            f"http://127.0.0.1:{wms_port}/ows/",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetMap",
                "LAYERS": "zagrozenia_punkty",
                "STYLES": "",
                "CRS": "EPSG:2180",
                "BBOX": "242000,564000,246000,568000",
                "WIDTH": "512",
                "HEIGHT": "512",
                "TRANSPARENT": "TRUE",
                "FORMAT": "image/png",
            },
            timeout=60,
        )
        assert drawn.status_code == 200 and drawn.headers["Content-Type"] == "image/png", (
            drawn.text[:500]
        )
        # and it draws the points from there (Kraków, 1:28,000: reports one by one)
        _, _, rows = decode_png(drawn.content)
        drawn_pixels = sum(1 for row in rows for alpha in row[3::4] if alpha)
        assert drawn_pixels > 0, (pair.folder / "qgis-server.log").read_text()[-3000:]
    finally:
        qgis_launcher.stop(wms)
    try:
        for path in ("/collections/threats/items?limit=5&f=json", *TILES, "/vocabulary"):
            answer = requests.get(f"{app}{path}", timeout=30)
            assert answer.status_code in (200, 204), (path, answer.status_code, answer.text[:300])
        assert requests.get(f"{app}{TILES[0]}", timeout=30).status_code == 200
        assert len(requests.get(f"{app}{TILES[0]}", timeout=30).content) > 0
        # QGIS Server's service (the public map, WMS) reaches the standby too
        with psycopg.connect("service=kmzb", connect_timeout=5) as conn:
            found = conn.execute(
                "SELECT pg_is_in_recovery(), count(*) > 0 FROM kmzb.public_threat_categories"
            ).fetchone()
            assert found == (True, True)
        refused = submit(app, "replika: główny zatrzymany")
        assert refused.status_code == 503, refused.text
        assert refused.headers.get("Retry-After", "").isdigit()
    finally:
        pair.primary("start", "-w")
    # the primary is back: a submission succeeds with no restart of the app
    deadline = time.monotonic() + 30
    while True:
        answer = submit(app, "replika: główny wrócił")
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, "submissions did not resume within 30 s"
        time.sleep(0.5)
    ref = answer.json()["reference"]
    deadline = time.monotonic() + 30
    while public_status_on_replica(pair, ref) is None:
        assert time.monotonic() < deadline, "the replica did not resume streaming within 30 s"
        time.sleep(0.1)


def unused_low_port() -> int:
    """A free port below the kernel's ephemeral range (32768-60999), where no outgoing
    connection takes it between our check and the server's bind."""
    for candidate in range(20000 + os.getpid() % 5000, 32000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
        return candidate
    raise RuntimeError("no free port below 32000")


def test_kmzb_db_replica_up_makes_a_streaming_standby_of_the_embedded_cluster() -> None:
    """The commands a newcomer types, on an embedded cluster of their own (its own var
    folder and ports): `db up` makes a primary that allows replication, `db replica up`
    its standby, `db status` shows it streaming, `db replica down` stops it."""
    var = Path(tempfile.mkdtemp(prefix="kmzb-replica-var-"))
    var.chmod(0o755)
    primary_port = unused_low_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KMZB_", "PYGEOAPI_"))
        and k not in ("DATABASE_URL", "DATABASE_REPLICA_URLS")
    }
    env.update(
        {
            "KMZB_VAR_DIR": str(var),
            "KMZB_PG_PORT": str(primary_port),
            "KMZB_DB_NAME": "kmzb_replica_cli",
        }
    )
    kmzb = Path(sys.executable).with_name("kmzb")

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(kmzb), *args], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        run("db", "up")
        # an older cluster, made before replication was set up: `db up` brings it there
        admin = (
            f"postgresql://{cluster.SUPERUSER}:"
            f"{quote((var / 'pg' / 'password').read_text().strip(), safe='')}"
            f"@127.0.0.1:{primary_port}/postgres"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET wal_level = 'minimal'")
            conn.execute("ALTER SYSTEM SET max_wal_senders = 0")
            conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = -1")
        bindir = cluster.find_pg_bindir()
        subprocess.run(
            cluster._as_cluster_owner()
            + [str(bindir / "pg_ctl"), "-D", str(var / "pg" / "data"), "-m", "fast", "-w"]
            + ["-l", str(var / "pg" / "postgresql.log"), "restart"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        with psycopg.connect(admin) as conn:
            assert conn.execute("SHOW wal_level").fetchone() == ("minimal",)
        run("db", "up")
        with psycopg.connect(admin) as conn:
            assert conn.execute("SHOW wal_level").fetchone() == ("replica",)
            assert conn.execute("SHOW max_wal_senders").fetchone() == ("10",)
            assert conn.execute("SHOW max_slot_wal_keep_size").fetchone() == ("4GB",)
        env["KMZB_REPLICA_PORT"] = str(unused_low_port())
        up = run("db", "replica", "up")
        assert f"127.0.0.1:{env['KMZB_REPLICA_PORT']}" in up
        assert (var / "pg-replica-1" / "data" / "standby.signal").is_file()
        status = run("db", "status")
        assert re.search(
            rf"replica 127\.0\.0\.1:{env['KMZB_REPLICA_PORT']} \(slot kmzb_replica_1\): "
            r"streaming, replay lag \d+ bytes, \d+\.\d+ s",
            status,
        ), status
        assert "embedded read replica stopped" in run("db", "replica", "down")
        assert re.search(r"replica 127\.0\.0\.1:\d+: stopped", run("db", "status"))
        run("db", "replica", "up")  # again: the same data and slot, streaming resumes
        assert "streaming" in run("db", "status")
    finally:
        subprocess.run([str(kmzb), "db", "replica", "down"], env=env, capture_output=True)
        subprocess.run([str(kmzb), "db", "down"], env=env, capture_output=True)
        shutil.rmtree(var, ignore_errors=True)
