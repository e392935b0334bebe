"""Migrations: applied in order, once, each in its own transaction, recorded."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kmzb.db import migrations
from kmzb.errors import MigrationError
from kmzb.settings import SQL_DIR


def test_real_migrations_are_recorded_and_idempotent(db_url: str) -> None:
    assert migrations.apply_all(db_url) == []
    with psycopg.connect(db_url) as conn:
        recorded = [
            row[0]
            for row in conn.execute("SELECT name FROM kmzb.schema_migrations ORDER BY version")
        ]
    assert recorded == sorted(path.name for path in SQL_DIR.glob("*.sql"))


def _write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql, encoding="utf-8")


def test_failing_migration_leaves_nothing_behind(scratch_url: str, tmp_path: Path) -> None:
    _write(tmp_path, "001_first.sql", "CREATE TABLE kmzb.first (id int);")
    _write(
        tmp_path,
        "002_broken.sql",
        "CREATE TABLE kmzb.second (id int); SELECT no_such_function();",
    )
    with pytest.raises(MigrationError, match="002_broken.sql"):
        migrations.apply_all(scratch_url, tmp_path)
    with psycopg.connect(scratch_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM kmzb.schema_migrations")]
        second = conn.execute("SELECT to_regclass('kmzb.second')").fetchone()
    assert versions == [1]
    assert second == (None,)


def test_changed_applied_migration_is_refused(scratch_url: str, tmp_path: Path) -> None:
    _write(tmp_path, "001_first.sql", "CREATE TABLE kmzb.first (id int);")
    assert migrations.apply_all(scratch_url, tmp_path) == ["001_first.sql"]
    assert migrations.apply_all(scratch_url, tmp_path) == []
    _write(tmp_path, "001_first.sql", "CREATE TABLE kmzb.first (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrations.apply_all(scratch_url, tmp_path)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "1_first.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_name.sql"):
        migrations.discover(tmp_path)
