"""Launching QGIS Server for development: `qgis_mapserver` with the KMZB project and the
access plugin. (The plugin itself is plugins/qgis_server/kmzb_access, a different thing.)

The project (qgis_projects/kmzb_public.qgs) names only the PostgreSQL service
`kmzb`; this module writes the pg_service.conf that says where that service
is (the embedded cluster or DATABASE_URL) and starts QGIS's development
server with the access-control plugin (plugins/qgis_server/kmzb_access).
Production runs qgis_mapserv.fcgi behind nginx instead (docker/).

The public map's status colours, names and pictograms come from the database's
vocabulary: in a checkout, the project is built from the database the server
will read (scripts/build_qgis_project.py, 1-2 s) before the server starts, so a
migration that changes the vocabulary changes the map with no other step; an
installed package serves the shipped project (tests/test_vocabulary.py checks
that the shipped one is the migrations' vocabulary).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from kmzb.auth import tokens
from kmzb.db import connection
from kmzb.errors import KmzbError
from kmzb.settings import (
    HOME,
    QGIS_PLUGIN_DIR,
    QGIS_PROJECT_FILE,
    VAR_DIR,
    Settings,
    load_settings,
    read_hosts,
)

SERVICE_NAME = "kmzb"
PROJECT_FILE = QGIS_PROJECT_FILE
PLUGIN_DIR = QGIS_PLUGIN_DIR
SERVICE_FILE = VAR_DIR / "pg_service.conf"
LOG_FILE = VAR_DIR / "qgis-server.log"
PROJECT_BUILDER = HOME / "scripts" / "build_qgis_project.py"
QGIS_PYTHON = "/usr/bin/python3"  # the builder needs python3-qgis, Debian's Python


class QgisServerError(KmzbError):
    """QGIS Server could not be started."""


def write_service_file(
    settings: Settings, path: Path = SERVICE_FILE, dbname: str | None = None
) -> Path:
    """A pg_service.conf with the service `kmzb` for this installation (mode 0600),
    as QGIS Server's read-only role kmzb_wms (connection.wms_url).

    The public map is a public read: with read replicas (DATABASE_REPLICA_URLS, or the
    embedded hot standby of `kmzb db replica up`) the service names libpq's host list,
    replicas first and the primary last, with target_session_attrs=prefer-standby, so
    the map keeps answering from a replica while the primary is down."""
    url = connection.wms_url(settings, dbname)
    parts = urlsplit(url)
    hosts = read_hosts(url, settings)
    entries = {
        "host": ",".join(host for host, _ in hosts),
        "port": ",".join(str(port) for _, port in hosts),
        "dbname": unquote(parts.path.lstrip("/")),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "application_name": "kmzb-qgis-server",
        "target_session_attrs": "prefer-standby" if len(hosts) > 1 else "",
    }
    lines = [f"[{SERVICE_NAME}]"] + [f"{key}={value}" for key, value in entries.items() if value]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def environment(
    service_file: Path, runtime_dir: Path, project: Path = PROJECT_FILE
) -> dict[str, str]:
    """The environment of a QGIS Server process for a KMZB project (the public map by
    default; qgis_projects/kmzb_basemap.qgs for a server of the offline basemap).

    The access plugin runs in QGIS's own Python and cannot import kmzb.settings: it
    gets the token settings as variables, written here from the validated settings."""
    settings = load_settings()
    tokens.ensure_local_keys()  # the plugin verifies with the same public key as the API
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    env = dict(os.environ)
    env.update(
        {
            "QT_QPA_PLATFORM": "offscreen",
            "XDG_RUNTIME_DIR": str(runtime_dir),
            "HOME": str(runtime_dir),
            "PGSERVICEFILE": str(service_file),
            "QGIS_PROJECT_FILE": str(project),
            "QGIS_PLUGINPATH": str(PLUGIN_DIR),
            "QGIS_SERVER_PLUGINPATH": str(PLUGIN_DIR),
            "QGIS_SERVER_TRUST_LAYER_METADATA": "1",
            "QGIS_SERVER_LOG_STDERR": "1",
            "QGIS_SERVER_LOG_LEVEL": env.get("QGIS_SERVER_LOG_LEVEL", "1"),
            # the same key as the API: KMZB_JWT_PUBLIC_KEY, else the local development pair
            "KMZB_JWT_PUBLIC_KEY": settings.jwt_public_key or str(tokens.PUBLIC_KEY),
            "KMZB_JWT_ISSUER": settings.jwt_issuer,
            "KMZB_JWT_AUDIENCE": settings.jwt_audience,
            "KMZB_VAR_DIR": str(settings.var_dir),
        }
    )
    env.pop("KMZB_JWKS_URL", None)
    if settings.jwks_url:
        env["KMZB_JWKS_URL"] = settings.jwks_url
    return env


def start(
    service_file: Path,
    port: int,
    host: str = "127.0.0.1",
    runtime_dir: Path | None = None,
    log: Path | None = None,
    project: Path = PROJECT_FILE,
) -> subprocess.Popen:
    """Start qgis_mapserver on host:port for a project (the public map by default);
    wait_until_ready() before using it."""
    binary = shutil.which("qgis_mapserver")
    if binary is None:
        raise QgisServerError(
            "qgis_mapserver is not installed: run `make bootstrap` (Debian package qgis-server)"
        )
    runtime_dir = runtime_dir or VAR_DIR / "qgis-server"
    if project == PROJECT_FILE:
        project = project_from_database(service_file, runtime_dir)
    if not project.exists():
        raise QgisServerError(f"{project} is missing; see scripts/build_qgis_project.py")
    with socket.socket() as sock:
        if sock.connect_ex((host, port)) == 0:
            raise QgisServerError(f"port {port} on {host} is taken; set KMZB_WMS_PORT")
    env = environment(service_file, runtime_dir, project)
    output = log.open("ab") if log else None
    return subprocess.Popen(
        [binary, "-l", "1", f"{host}:{port}"],
        env=env,
        cwd=HOME,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )


def project_from_database(service_file: Path, runtime_dir: Path) -> Path:
    """The public map's project as the database's vocabulary draws it (see above)."""
    if not PROJECT_BUILDER.is_file():
        return PROJECT_FILE
    target = runtime_dir / PROJECT_FILE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PGSERVICEFILE": str(service_file), "QT_QPA_PLATFORM": "offscreen"}
    built = subprocess.run(
        [QGIS_PYTHON, str(PROJECT_BUILDER), "--output", str(target)],
        env=env,
        cwd=HOME,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 or not target.is_file():
        tail = (built.stderr or built.stdout).strip().splitlines()[-3:]
        raise QgisServerError(f"building the WMS project failed: {' | '.join(tail)}")
    return target


def wait_until_ready(process: subprocess.Popen, url: str, seconds: float = 60) -> None:
    """Until GetCapabilities answers (the project and the plugin are loaded)."""
    deadline = time.monotonic() + seconds
    capabilities = f"{url}/?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise QgisServerError("qgis_mapserver exited during start-up; see its log")
        try:
            if requests.get(capabilities, timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.2)
    raise QgisServerError(f"QGIS Server did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
