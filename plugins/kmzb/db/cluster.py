"""The embedded PostGIS cluster: a private PostgreSQL in var/pg of the checkout.

Used only when DATABASE_URL is unset, so a newcomer needs no database set-up.
It listens on 127.0.0.1 only and asks for a password (generated at initdb and
kept in var/pg/password). PostgreSQL refuses to run as root, so when we are
root the cluster belongs to the unprivileged `postgres` system user.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kmzb.errors import ClusterError
from kmzb.settings import VAR_DIR

CLUSTER_DIR = VAR_DIR / "pg"
DATA_DIR = CLUSTER_DIR / "data"
SOCKET_DIR = CLUSTER_DIR / "run"
LOG_FILE = CLUSTER_DIR / "postgresql.log"
PASSWORD_FILE = CLUSTER_DIR / "password"
SUPERUSER = "kmzb"
UNPRIVILEGED_USER = "postgres"


@dataclass(frozen=True)
class ClusterStatus:
    initialised: bool
    running: bool
    port: int
    data_dir: Path


def find_pg_bindir() -> Path:
    """The newest installed PostgreSQL whose share folder has PostGIS."""
    found: list[tuple[int, Path]] = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bindir.parent.name
        control = Path("/usr/share/postgresql") / version / "extension" / "postgis.control"
        if version.isdigit() and (bindir / "initdb").exists() and control.exists():
            found.append((int(version), bindir))
    if not found:
        raise ClusterError(
            "No PostgreSQL with PostGIS found under /usr/lib/postgresql. "
            "Run `make bootstrap` (installs postgresql-15-postgis-3) or set DATABASE_URL."
        )
    return max(found)[1]


def _as_cluster_owner() -> list[str]:
    """Command prefix that runs a program as the cluster's owner."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", UNPRIVILEGED_USER, "--"]


def _run(args: list[str], what: str) -> str:
    proc = subprocess.run(_as_cluster_owner() + args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise ClusterError(f"{what} failed: {detail}")
    return proc.stdout


def _chown_to_owner(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _check_traversable() -> None:
    """The postgres user must reach var/pg; a checkout under /root it cannot."""
    if os.geteuid() != 0:
        return
    probe = subprocess.run(
        ["runuser", "-u", UNPRIVILEGED_USER, "--", "test", "-x", str(CLUSTER_DIR)],
        check=False,
    )
    if probe.returncode != 0:
        raise ClusterError(
            f"The '{UNPRIVILEGED_USER}' user cannot reach {CLUSTER_DIR}. Put the checkout "
            "in a folder other users can enter (e.g. /srv or /work), or set DATABASE_URL."
        )


def password() -> str:
    try:
        return PASSWORD_FILE.read_text().strip()
    except FileNotFoundError as exc:
        raise ClusterError("The embedded cluster is not initialised: run `kmzb db up`.") from exc


def status(port: int) -> ClusterStatus:
    initialised = (DATA_DIR / "PG_VERSION").exists()
    running = False
    if initialised:
        bindir = find_pg_bindir()
        proc = subprocess.run(
            _as_cluster_owner() + [str(bindir / "pg_ctl"), "-D", str(DATA_DIR), "status"],
            capture_output=True,
            check=False,
        )
        running = proc.returncode == 0
    return ClusterStatus(initialised, running, port, DATA_DIR)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def initialise(port: int) -> None:
    bindir = find_pg_bindir()
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    SOCKET_DIR.mkdir(exist_ok=True)
    for path in (CLUSTER_DIR, SOCKET_DIR):
        _chown_to_owner(path)
    _check_traversable()
    if DATA_DIR.exists() and any(DATA_DIR.iterdir()):
        raise ClusterError(f"{DATA_DIR} exists but holds no cluster; move it away first.")
    PASSWORD_FILE.write_text(secrets.token_urlsafe(24) + "\n")
    PASSWORD_FILE.chmod(0o600)
    _chown_to_owner(PASSWORD_FILE)
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(DATA_DIR),
            "-U",
            SUPERUSER,
            f"--pwfile={PASSWORD_FILE}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        "initdb",
    )
    settings = f"""
# --- KMZB embedded cluster ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{SOCKET_DIR}'
shared_buffers = '512MB'
work_mem = '32MB'
maintenance_work_mem = '256MB'
effective_cache_size = '4GB'
max_connections = 100
timezone = 'Europe/Warsaw'
"""
    conf = DATA_DIR / "postgresql.conf"
    with conf.open("a") as handle:
        handle.write(settings)


def _configured_port() -> int | None:
    conf = DATA_DIR / "postgresql.conf"
    matches = re.findall(r"^port = (\d+)", conf.read_text(), flags=re.M)
    return int(matches[-1]) if matches else None


def start(port: int) -> None:
    """Create the cluster if needed and start it; a running cluster is left alone."""
    if not (DATA_DIR / "PG_VERSION").exists():
        initialise(port)
    configured = _configured_port()
    if configured is not None and configured != port:
        raise ClusterError(
            f"The embedded cluster is configured for port {configured}, not {port}; "
            "set KMZB_PG_PORT to match or remove var/pg."
        )
    if status(port).running:
        return
    if _port_in_use(port):
        raise ClusterError(
            f"Port {port} on 127.0.0.1 is taken by another program; set KMZB_PG_PORT."
        )
    bindir = find_pg_bindir()
    _chown_to_owner(CLUSTER_DIR)
    if not LOG_FILE.exists():
        LOG_FILE.touch()
        _chown_to_owner(LOG_FILE)
    _run(
        [str(bindir / "pg_ctl"), "-D", str(DATA_DIR), "-l", str(LOG_FILE), "-w", "start"],
        f"starting PostgreSQL (see {LOG_FILE})",
    )


def stop() -> bool:
    """Stop the cluster if it runs; returns whether it was running."""
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    bindir = find_pg_bindir()
    proc = subprocess.run(
        _as_cluster_owner() + [str(bindir / "pg_ctl"), "-D", str(DATA_DIR), "status"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return False
    _run([str(bindir / "pg_ctl"), "-D", str(DATA_DIR), "-m", "fast", "-w", "stop"], "stop")
    return True


def remove() -> None:
    """Delete the embedded cluster and its data (used by `kmzb db destroy`)."""
    stop()
    shutil.rmtree(CLUSTER_DIR, ignore_errors=True)
