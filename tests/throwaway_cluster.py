"""A PostgreSQL cluster of a test's own, in a temporary folder on a free port, with the
real data loaded: for the tests that stop, restart or replicate a server
(test_faults, test_replica), which must not touch the session's shared cluster."""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
from psycopg import sql

from kmzb.db import cluster, connection, migrations
from kmzb.loaders.all import load_all
from kmzb.settings import PROJECT_ROOT, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def owned(path: Path) -> None:
    """Hand a path to the cluster's owner when the tests run as root (initdb refuses root)."""
    if os.geteuid() == 0:
        owner = pwd.getpwnam(cluster.UNPRIVILEGED_USER)
        os.chown(path, owner.pw_uid, owner.pw_gid)


@dataclass
class OwnCluster:
    folder: Path
    port: int
    url: str  # the superuser's, on the test's database
    api_url: str  # kmzb_api's, on the test's database

    def pg_ctl(self, action: str, *args: str) -> None:
        """pg_ctl as the cluster's owner; the server's output goes to its log file (a
        pipe would be inherited by the server and never end)."""
        bindir = cluster.find_pg_bindir()
        command = [str(bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args, action]
        if action in ("start", "restart"):
            command[3:3] = ["-l", str(self.folder / "postgresql.log")]
        subprocess.run(
            cluster._as_cluster_owner() + command,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )


@contextmanager
def own_cluster(
    settings: Settings, data_dir: Path, db_name: str, prefix: str, extra_conf: str = ""
) -> Iterator[OwnCluster]:
    """initdb, start, the database migrated and loaded, kmzb_api and kmzb_wms able to log
    in; stopped and removed after. `extra_conf` is appended to postgresql.conf."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    (folder / "run").mkdir()
    for path in (folder, folder / "run"):
        owned(path)
    secret = secrets.token_urlsafe(18)
    password_file = folder / "password"
    password_file.write_text(secret + "\n")
    owned(password_file)
    port = free_port()
    bindir = cluster.find_pg_bindir()
    subprocess.run(
        cluster._as_cluster_owner()
        + [
            str(bindir / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            cluster.SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    with (folder / "data" / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{folder / 'run'}'\n"
            "max_connections = 100\ntimezone = 'Europe/Warsaw'\n"
            # a throwaway cluster survives no machine's crash, only our restarts; commits
            # stay synchronous (an immediate restart must lose no accepted report)
            "fsync = off\nfull_page_writes = off\n" + extra_conf
        )
    url = f"postgresql://{cluster.SUPERUSER}:{quote(secret, safe='')}@127.0.0.1:{port}/{db_name}"
    own = OwnCluster(folder, port, url, "")
    log = folder / "postgresql.log"
    log.touch()
    owned(log)
    own.pg_ctl("start", "-w")
    try:
        own_settings = dataclasses.replace(
            settings, database_url=url, api_database_url=None, wms_database_url=None
        )
        connection.ensure_database(own_settings, db_name)
        api_secret = secrets.token_urlsafe(18)
        with psycopg.connect(url, autocommit=True) as conn:
            for role in ("kmzb_api", "kmzb_wms"):
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(api_secret)
                    )
                )
        own.api_url = (
            f"postgresql://kmzb_api:{quote(api_secret, safe='')}@127.0.0.1:{port}/{db_name}"
        )
        migrations.apply_all(url)
        load_all(url, data_dir, lambda _message: None)
        yield own
    finally:
        try:
            own.pg_ctl("stop", "-m", "immediate", "-w")
        except subprocess.CalledProcessError:
            pass  # already stopped by a failed test
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def gunicorn_app(
    folder: Path, env: dict[str, str], port: int, workers: int
) -> Iterator[subprocess.Popen]:
    """The app under gunicorn on `port` with `env`, its output in folder/app.log; waits
    (60 s at most) until it answers, and stops it after."""
    log = folder / "app.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command + ["--timeout", "30", "kmzb.app:app"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"{base}/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the app did not answer within 60 s"
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
