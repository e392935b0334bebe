"""The `kmzb db` commands, as a newcomer runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kmzb.db import connection
from kmzb.settings import Settings

KMZB = str(Path(sys.executable).with_name("kmzb"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KMZB, *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )


def test_status_says_what_runs_where(server: Settings) -> None:
    result = run("db", "status")
    assert result.returncode == 0
    if server.embedded:
        assert f"running on 127.0.0.1:{server.embedded_port}" in result.stdout
    else:
        assert "DATABASE_URL" in result.stdout


def test_with_database_url_nothing_is_started_or_stopped(db_url: str) -> None:
    status = run("db", "status", DATABASE_URL=db_url)
    assert status.returncode == 0 and "using DATABASE_URL server" in status.stdout
    up = run("db", "up", DATABASE_URL=db_url)
    assert up.returncode == 0, up.stderr
    assert "embedded" not in up.stdout and "none (up to date)" in up.stdout
    down = run("db", "down", DATABASE_URL=db_url)
    assert "not ours to stop" in down.stdout


def test_unreachable_database_url_is_a_clear_error(server: Settings) -> None:
    result = run("db", "up", DATABASE_URL="postgresql://nobody:secret@127.0.0.1:1/nothing")
    assert result.returncode == 1
    assert result.stderr.startswith("kmzb: error: Cannot connect")
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_server_url_names_the_database(server: Settings) -> None:
    assert connection.database_name(connection.server_url(server, "other")) == "other"
