"""Numbered SQL migrations from sql/, each in its own transaction, recorded in the database.

A file is named NNN_what.sql. Re-running applies nothing; an applied file whose
content changed afterwards is an error (write a new migration instead).

Once the owner role kmzb_owner owns schema kmzb (migration 039 hands it over),
each migration runs as that role (SET LOCAL ROLE), so what it creates belongs
to the owner, not to whoever connected. After a run that applied anything,
kmzb.grant_service_privileges() (039) sets ownership and the services' grants
again, so a migration applied out of order, or by another role, leaves no gap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from kmzb.errors import MigrationError
from kmzb.settings import SQL_DIR

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS kmzb;
CREATE TABLE IF NOT EXISTS kmzb.schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = SQL_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql")
        found.append(Migration(int(match.group(1)), path.name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


OWNER_ROLE = "kmzb_owner"

# Run as the owner when it owns the schema and whoever connected may act as it.
RUN_AS_OWNER = """
SELECT EXISTS (
    SELECT 1 FROM pg_namespace
    WHERE nspname = 'kmzb' AND pg_get_userbyid(nspowner) = %(owner)s
      AND pg_has_role(current_user, nspowner, 'MEMBER')
)
"""


def apply_all(url: str, directory: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations in order; return the names applied."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # One migrator at a time, whoever else starts (tests, `make run`).
        conn.execute("SELECT pg_advisory_lock(hashtext('kmzb.migrations'))")
        try:
            # only when missing: a login that may act as the owner but not create schemas
            # (the periodic jobs' role in production) runs this too
            ledger = conn.execute("SELECT to_regclass('kmzb.schema_migrations')").fetchone()
            if not ledger or ledger[0] is None:
                conn.execute(LEDGER_DDL)
            done = {
                row[0]: row[1]
                for row in conn.execute("SELECT version, checksum FROM kmzb.schema_migrations")
            }
            for migration in discover(directory):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} was changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        as_owner = conn.execute(RUN_AS_OWNER, {"owner": OWNER_ROLE}).fetchone()
                        if as_owner and as_owner[0]:
                            conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
                        conn.execute(migration.text)
                        conn.execute(
                            "INSERT INTO kmzb.schema_migrations (version, name, checksum) "
                            "VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name} failed: {exc}") from exc
                applied_now.append(migration.name)
            if applied_now:
                _grant_service_privileges(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('kmzb.migrations'))")
    return applied_now


def _grant_service_privileges(conn: psycopg.Connection) -> None:
    """Ownership and the services' grants by the rules of migration 039 (when it exists)."""
    exists = conn.execute(
        "SELECT to_regprocedure('kmzb.grant_service_privileges()') IS NOT NULL"
    ).fetchone()
    if not exists or not exists[0]:
        return
    try:
        with conn.transaction():
            conn.execute("SELECT kmzb.grant_service_privileges()")
    except psycopg.Error as exc:
        raise MigrationError(f"granting the services' privileges failed: {exc}") from exc
