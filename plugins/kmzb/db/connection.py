"""Where the database is and how to reach it (embedded cluster or DATABASE_URL)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kmzb.db import cluster
from kmzb.errors import ClusterError
from kmzb.settings import Settings


def server_url(settings: Settings, dbname: str | None = None) -> str:
    """A libpq URL for the configured server and the given (or default) database."""
    if settings.database_url:
        if dbname is None:
            return settings.database_url
        parts = urlsplit(settings.database_url)
        return urlunsplit(parts._replace(path="/" + quote(dbname)))
    name = dbname or settings.db_name
    secret = quote(cluster.password(), safe="")
    return (
        f"postgresql://{cluster.SUPERUSER}:{secret}@127.0.0.1:{settings.embedded_port}/"
        f"{quote(name)}"
    )


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        safe = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
        raise ClusterError(f"Cannot connect to {safe}: {exc}".strip()) from exc


def ensure_database(settings: Settings, dbname: str | None = None) -> str:
    """Create the database (and PostGIS in it) if missing; return its URL."""
    url = server_url(settings, dbname)
    name = database_name(url)
    maintenance = server_url(settings, "postgres")
    with connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def drop_database(settings: Settings, dbname: str) -> None:
    maintenance = server_url(settings, "postgres")
    with connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
