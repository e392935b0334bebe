"""`kmzb run` (what `make run` calls): everything for development, on loopback.

Starts the embedded PostGIS (unless DATABASE_URL is set), applies migrations,
loads the real data (idempotent, a few seconds), then serves pygeoapi through
gunicorn. Ctrl-C stops what this command started, and only that.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from kmzb import alerts_publisher, mqtt_broker, qgis_launcher
from kmzb.db import aggregates, cluster
from kmzb.db.setup import bring_up
from kmzb.domain import idempotency, reporters
from kmzb.loaders.all import load_all
from kmzb.settings import QGIS_BASEMAP_PROJECT_FILE, QGIS_PROJECT_FILE, VAR_DIR, Settings

GUNICORN_WORKERS = 2
# threads per worker (gthread): a submission waits on the database most of its time
# (docs/profile-submission-*.txt); 2 workers x 8 threads measured 3x the sync workers'
# submissions per second in the same run (issue 16, docs/benchmarks.md)
GUNICORN_THREADS = 8
AGGREGATE_REFRESH_SECONDS = 300
REPORTER_PURGE_SECONDS = 900  # a hash outlives its retention by at most this


def _refresh_aggregates_periodically(url: str, stop: threading.Event) -> None:
    """The visibility windows change the public set with no write: refresh on a clock."""
    while not stop.wait(AGGREGATE_REFRESH_SECONDS):
        try:
            aggregates.refresh(url)
        except Exception as exc:  # keep serving; say what failed
            click.echo(f"refreshing map aggregates failed: {exc}", err=True)


def _purge_reporter_hashes_periodically(
    url: str, settings: Settings, stop: threading.Event
) -> None:
    """Reporter hashes live only as long as the daily limit needs them (48 hours);
    idempotency keys 24 hours."""
    while True:
        try:
            purged = reporters.purge_hashes(url, settings)
            if purged:
                click.echo(f"reporter hashes purged: {purged}")
        except Exception as exc:  # keep serving; say what failed
            click.echo(f"purging reporter hashes failed: {exc}", err=True)
        try:  # idempotency keys count 24 hours (kmzb.domain.idempotency)
            expired = idempotency.purge(url)
            if expired:
                click.echo(f"idempotency keys purged: {expired}")
        except Exception as exc:  # keep serving; say what failed
            click.echo(f"purging idempotency keys failed: {exc}", err=True)
        if stop.wait(REPORTER_PURGE_SECONDS):
            return


def _gunicorn(settings: Settings) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [
            str(gunicorn),
            "--bind",
            f"{settings.api_host}:{settings.api_port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            "kmzb.app:app",
        ]
    )


def _wait_until_listening(process: subprocess.Popen, settings: Settings, seconds: float) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException("pygeoapi (gunicorn) exited; see the log above")
        with socket.socket() as sock:
            if sock.connect_ex((settings.api_host, settings.api_port)) == 0:
                return
        time.sleep(0.2)
    raise click.ClickException("pygeoapi did not start listening in time")


def _start_qgis_server(
    settings: Settings, port: int, project: Path, what: str
) -> subprocess.Popen | None:
    """QGIS Server on 127.0.0.1:port for one project; None if it cannot start.

    qgis_mapserver serves one project per process (QGIS_PROJECT_FILE wins over MAP=),
    so the public map (KMZB_WMS_PORT, 5001) and the offline basemap (5002) each get one."""
    try:
        service_file = qgis_launcher.write_service_file(settings)
        log = qgis_launcher.LOG_FILE.with_name(f"qgis-server-{port}.log")
        runtime = VAR_DIR / f"qgis-server-{port}"
        process = qgis_launcher.start(
            service_file, port, runtime_dir=runtime, log=log, project=project
        )
        qgis_launcher.wait_until_ready(process, f"http://127.0.0.1:{port}", 60)
        return process
    except qgis_launcher.QgisServerError as exc:
        click.echo(f"QGIS Server ({what}) not started: {exc}", err=True)
        return None


def _start_broker(settings: Settings) -> subprocess.Popen[bytes] | None:
    """The local Mosquitto on KMZB_MQTT_PORT (not when KMZB_MQTT_URL names a broker)."""
    if not settings.local_broker:
        return None
    try:
        return mqtt_broker.launch(settings)
    except mqtt_broker.BrokerError as exc:
        click.echo(f"MQTT broker not started (alerts wait in the outbox): {exc}", err=True)
        return None


def run_all(settings: Settings) -> None:
    we_started_cluster = settings.embedded and not cluster.status(settings.embedded_port).running
    url = bring_up(settings)
    if settings.embedded:
        click.echo(f"PostGIS (embedded): 127.0.0.1:{settings.embedded_port}")
    if settings.data_dir is None:
        click.echo("KMZB_DATA_DIR is not set and ../shared/data is absent: no data loaded")
    else:
        click.echo(f"loading real data from {settings.data_dir}")
        for summary in load_all(url, settings.data_dir, click.echo):
            click.echo(summary.line())

    aggregates.refresh(url)
    stop_refreshing = threading.Event()
    threading.Thread(
        target=_refresh_aggregates_periodically, args=(url, stop_refreshing), daemon=True
    ).start()
    threading.Thread(
        target=_purge_reporter_hashes_periodically,
        args=(url, settings, stop_refreshing),
        daemon=True,
    ).start()
    broker = _start_broker(settings)
    # the outbox to the broker; visibility windows ending are swept once a minute
    stop_publishing = alerts_publisher.start_thread(
        url, settings, lambda line: click.echo(line, err=True)
    )
    api = _gunicorn(settings)
    wms = _start_qgis_server(settings, settings.wms_port, QGIS_PROJECT_FILE, "WMS")
    basemap = _start_qgis_server(
        settings, settings.basemap_wms_port, QGIS_BASEMAP_PROJECT_FILE, "offline basemap"
    )

    def stop(*_args: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        _wait_until_listening(api, settings, 60)
        base = f"http://{settings.api_host}:{settings.api_port}"
        click.echo("")
        click.echo("KMZB is running:")
        click.echo(f"  web client:          {base}/map/")
        click.echo(f"  OGC API (pygeoapi):  {base}/")
        click.echo(f"  collections:         {base}/collections")
        click.echo(f"  OpenAPI:             {base}/openapi")
        if wms is not None:
            wms_base = f"http://127.0.0.1:{settings.wms_port}/ows/"
            click.echo(f"  WMS (QGIS Server):   {wms_base}?SERVICE=WMS&REQUEST=GetCapabilities")
        if basemap is not None:
            click.echo(
                f"  offline basemap:     {base}/basemap/wms "
                f"(QGIS Server :{settings.basemap_wms_port})"
            )
        click.echo(f"  QGIS Server logs:    {VAR_DIR}/qgis-server-*.log")
        click.echo(f"  alerts (MQTT):       {settings.mqtt_public_url}")
        if broker is not None:
            click.echo(f"    watch them:        {mqtt_broker.subscribe_command(settings)}")
        click.echo("Press Ctrl-C to stop.")
        api.wait()
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        stop_refreshing.set()
        stop_publishing.set()
        if broker is not None:
            mqtt_broker.stop(broker)
        for server in (wms, basemap):
            if server is not None:
                qgis_launcher.stop(server)
        if api.poll() is None:
            api.terminate()
            try:
                api.wait(timeout=20)
            except subprocess.TimeoutExpired:
                api.kill()
        if we_started_cluster:
            cluster.stop()
            click.echo("embedded PostGIS stopped")
