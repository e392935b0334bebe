"""Read replicas: hot standbys streaming from the primary, and how far behind they are.

`kmzb db replica up` makes the embedded cluster's standby in var/pg-replica-1
(beside var/pg): `pg_basebackup -C -S kmzb_replica_1 -R` copies the running
primary and creates its replication slot, the copy listens on KMZB_REPLICA_PORT
(default the primary's port + 1) with hot_standby on, and starts as the cluster's
owner like the primary. `kmzb db replica down` stops it (its slot and data stay:
the next `up` resumes streaming where it stopped).

A server of one's own names its standbys in DATABASE_REPLICA_URLS; these are
made and run by their operator, and only read and reported on here.

`states()` is what `kmzb db status` prints per replica: its state, and its replay
lag in bytes (the primary's pg_stat_replication: current WAL position minus the
standby's replay position) and in seconds (on the standby: 0 when it has replayed
all it received, else the age of the last transaction it replayed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

from kmzb.db import cluster, connection
from kmzb.errors import ClusterError
from kmzb.settings import EMBEDDED_REPLICA_DIR, EMBEDDED_REPLICA_NAME, Settings, read_hosts

CONNECT_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Standby:
    """A hot standby on this machine: its slot name, folder and port."""

    name: str  # its replication slot on the primary, and its cluster_name
    folder: Path  # holds data/, run/ and postgresql.log
    port: int

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "run"

    @property
    def log_file(self) -> Path:
        return self.folder / "postgresql.log"

    @property
    def created(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()


@dataclass(frozen=True)
class ReplicaState:
    """One replica as `kmzb db status` reports it."""

    host: str
    port: int
    state: str  # streaming, catchup, stopped (refused), unreachable, not a standby...
    slot: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None

    def line(self) -> str:
        where = f"{self.host}:{self.port}"
        slot = f" (slot {self.slot})" if self.slot else ""
        if self.lag_bytes is None and self.lag_seconds is None:
            return f"replica {where}{slot}: {self.state}"
        lag_bytes = "?" if self.lag_bytes is None else f"{self.lag_bytes}"
        seconds = "?" if self.lag_seconds is None else f"{self.lag_seconds:.3f}"
        return f"replica {where}{slot}: {self.state}, replay lag {lag_bytes} bytes, {seconds} s"


def embedded_standby(settings: Settings) -> Standby:
    return Standby(EMBEDDED_REPLICA_NAME, EMBEDDED_REPLICA_DIR, settings.replica_port)


def _pg_ctl(standby: Standby, *args: str) -> subprocess.CompletedProcess:
    bindir = cluster.find_pg_bindir()
    return subprocess.run(
        cluster._as_cluster_owner() + [str(bindir / "pg_ctl"), "-D", str(standby.data_dir), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )


def running(standby: Standby) -> bool:
    return standby.created and _pg_ctl(standby, "status").returncode == 0


def drop_slot(admin_url: str, name: str) -> bool:
    """Drop a replication slot no standby streams from (left by a removed standby)."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)
        ).fetchone()
        if row is None:
            return False
        if row[0]:
            raise ClusterError(f"The replication slot {name} is in use by a running standby.")
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        return True


def create(standby: Standby, admin_url: str) -> None:
    """Copy the running primary of `admin_url` (a role with REPLICATION) into the
    standby's folder with pg_basebackup, creating its slot, and configure it as a hot
    standby on its own port. A stale slot of the same name is dropped first."""
    if standby.created:
        raise ClusterError(f"{standby.data_dir} already holds a cluster.")
    if standby.port == (urlsplit(admin_url).port or 5432):
        raise ClusterError(
            f"The replica's port {standby.port} is the primary's: set KMZB_REPLICA_PORT."
        )
    drop_slot(admin_url, standby.name)
    standby.folder.mkdir(parents=True, exist_ok=True)
    standby.socket_dir.mkdir(exist_ok=True)
    if standby.data_dir.exists():
        shutil.rmtree(standby.data_dir)  # an interrupted copy (no PG_VERSION)
    for path in (standby.folder, standby.socket_dir):
        cluster._chown_to_owner(path)
    parts = urlsplit(admin_url)
    bindir = cluster.find_pg_bindir()
    env = dict(os.environ, PGPASSWORD=unquote(parts.password or ""), PGCONNECT_TIMEOUT="10")
    proc = subprocess.run(
        cluster._as_cluster_owner()
        + [
            str(bindir / "pg_basebackup"),
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            unquote(parts.username or ""),
            "-D",
            str(standby.data_dir),
            "-C",
            "-S",
            standby.name,
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
            "--no-password",
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise ClusterError(f"pg_basebackup failed: {(proc.stderr or proc.stdout).strip()}")
    with (standby.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# --- KMZB hot standby (kmzb db replica up) ---\n"
            f"port = {standby.port}\n"
            f"unix_socket_directories = '{standby.socket_dir}'\n"
            f"cluster_name = '{standby.name}'\n"
            "hot_standby = on\n"
            # public reads on the standby are not cancelled by the primary's vacuum
            "hot_standby_feedback = on\n"
        )


def start(standby: Standby) -> None:
    """Start the standby (as the cluster's owner); a running one is left alone."""
    if running(standby):
        return
    if not standby.log_file.exists():
        standby.log_file.touch()
        cluster._chown_to_owner(standby.log_file)
    proc = _pg_ctl(standby, "-l", str(standby.log_file), "-w", "start")
    if proc.returncode != 0:
        raise ClusterError(
            f"starting the replica failed (see {standby.log_file}): "
            f"{(proc.stderr or proc.stdout).strip()}"
        )


def stop(standby: Standby, mode: str = "fast") -> bool:
    """Stop the standby if it runs; returns whether it was running."""
    if not running(standby):
        return False
    proc = _pg_ctl(standby, "-m", mode, "-w", "stop")
    if proc.returncode != 0:
        raise ClusterError(f"stopping the replica failed: {(proc.stderr or proc.stdout).strip()}")
    return True


def up(settings: Settings) -> Standby:
    """The embedded cluster's hot standby, created the first time, started."""
    if not settings.embedded:
        raise ClusterError(
            "DATABASE_URL is set: its replicas are its operator's (DATABASE_REPLICA_URLS)."
        )
    cluster.start(settings.embedded_port)
    standby = embedded_standby(settings)
    if not standby.created:
        create(standby, cluster.superuser_url(settings.embedded_port))
    start(standby)
    return standby


def down(settings: Settings) -> bool:
    if not settings.embedded:
        raise ClusterError("DATABASE_URL is set: its replicas are not ours to stop.")
    return stop(embedded_standby(settings))


# On the standby: whether it is one, the slot it streams from, and its replay lag in
# seconds (0 when it has replayed all it received).
STANDBY_QUERY = """
SELECT pg_is_in_recovery(),
       (SELECT slot_name FROM pg_stat_wal_receiver),
       (SELECT status FROM pg_stat_wal_receiver),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
            THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint
"""
# On the primary: each WAL sender's state and how many bytes its standby has yet to replay.
SENDERS_QUERY = """
SELECT s.slot_name, r.state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint
FROM pg_stat_replication r
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
"""


def _senders(admin_url: str) -> dict[str | None, tuple[str, int | None]] | None:
    try:
        with psycopg.connect(
            admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as conn:
            rows = conn.execute(SENDERS_QUERY).fetchall()
    except psycopg.OperationalError:
        return None
    return {slot: (state, lag) for slot, state, lag in rows}


def state_of(admin_url: str, host: str, port: int, senders: dict | None) -> ReplicaState:
    """One replica's state: on the standby (as the administrator, whose role a physical
    replica has too), and its WAL sender on the primary (`senders`, None: primary down)."""
    try:
        with psycopg.connect(
            connection.replica_url(admin_url, host, port),
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        ) as conn:
            row = conn.execute(STANDBY_QUERY).fetchone()
    except psycopg.OperationalError as exc:
        refused = "refused" in str(exc) or "No such file" in str(exc)
        return ReplicaState(host, port, "stopped" if refused else f"unreachable ({exc})".strip())
    assert row is not None
    in_recovery, slot, receiver, seconds, received_not_replayed = row
    if not in_recovery:
        return ReplicaState(host, port, "not a standby (promoted?)")
    sender = (senders or {}).get(slot) if slot else None
    if sender is not None:
        state, lag_bytes = sender
    else:
        # the primary is down or does not see it: what it received and has not replayed
        state = receiver or "not streaming"
        if senders is None:
            state += ", primary unreachable"
        lag_bytes = received_not_replayed
    return ReplicaState(host, port, state, slot, lag_bytes, seconds)


def states(settings: Settings) -> list[ReplicaState]:
    """Every configured replica (DATABASE_REPLICA_URLS, the embedded standby once made)."""
    admin = connection.server_url(settings)
    replicas = read_hosts(admin, settings)[:-1]
    if not replicas:
        return []
    senders = _senders(admin)
    return [state_of(admin, host, port, senders) for host, port in replicas]
