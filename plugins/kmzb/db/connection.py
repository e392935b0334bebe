"""Where the database is and how to reach it (embedded cluster or DATABASE_URL), as whom.

Three kinds of connection, each with its own role (migration 039):

- `server_url`: the administrator (the embedded cluster's superuser, or
  DATABASE_URL's role): creates the database and PostGIS, runs the migrations
  (as kmzb_owner once that role owns the schema), the loaders and the jobs;
- `api_url`: the API (pool, pygeoapi's providers) as kmzb_api;
- `wms_url`: QGIS Server as kmzb_wms.

Public reads use the same service roles on libpq's multi-host list, the read
replicas first and the primary last, with target_session_attrs=prefer-standby
(`read_conninfo`; the replicas are kmzb.settings.read_hosts: DATABASE_REPLICA_URLS
and the embedded hot standby of `kmzb db replica up`).

No service connects as the administrator. In the embedded cluster kmzb_api and
kmzb_wms log in with passwords generated into var/pg; with DATABASE_URL the
operator gives their URLs (KMZB_API_DATABASE_URL, KMZB_WMS_DATABASE_URL).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from kmzb.db import cluster
from kmzb.errors import ClusterError
from kmzb.settings import Settings, read_hosts

LOGGER = logging.getLogger(__name__)

OWNER_ROLE = "kmzb_owner"
API_ROLE = "kmzb_api"
WMS_ROLE = "kmzb_wms"
ROLES = (OWNER_ROLE, API_ROLE, WMS_ROLE)


def with_database(url: str, dbname: str | None) -> str:
    """The same URL naming another database (None: unchanged)."""
    if dbname is None:
        return url
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(dbname)))


def server_url(settings: Settings, dbname: str | None = None) -> str:
    """The administrator's libpq URL for the given (or default) database."""
    if settings.database_url:
        return with_database(settings.database_url, dbname)
    return _embedded_url(settings, cluster.SUPERUSER, cluster.password(), dbname)


def _embedded_url(settings: Settings, user: str, secret: str, dbname: str | None) -> str:
    name = dbname or settings.db_name
    return (
        f"postgresql://{user}:{quote(secret, safe='')}@127.0.0.1:{settings.embedded_port}/"
        f"{quote(name)}"
    )


def _service_url(
    settings: Settings, role: str, configured: str | None, variable: str, dbname: str | None
) -> str:
    if configured:
        return with_database(configured, dbname)
    if settings.embedded:
        return _embedded_url(settings, role, cluster.service_password(role), dbname)
    # DATABASE_URL without the service's own URL: development only (production
    # refuses to start without KMZB_API_DATABASE_URL, settings.production_problems)
    LOGGER.warning(
        "%s is not set: connecting with DATABASE_URL's role instead of %s", variable, role
    )
    return server_url(settings, dbname)


def api_url(settings: Settings, dbname: str | None = None) -> str:
    """The API's URL: role kmzb_api (or KMZB_API_DATABASE_URL's login role)."""
    return _service_url(
        settings, API_ROLE, settings.api_database_url, "KMZB_API_DATABASE_URL", dbname
    )


def wms_url(settings: Settings, dbname: str | None = None) -> str:
    """QGIS Server's URL: role kmzb_wms (or KMZB_WMS_DATABASE_URL's login role)."""
    return _service_url(
        settings, WMS_ROLE, settings.wms_database_url, "KMZB_WMS_DATABASE_URL", dbname
    )


def read_conninfo(settings: Settings, url: str) -> str | None:
    """A service URL turned into libpq's multi-host conninfo for public reads: the
    replicas first, the primary last (kmzb.settings.read_hosts), prefer-standby. None
    when there is no replica: reads then share the primary's connections."""
    hosts = read_hosts(url, settings)
    if len(hosts) < 2:
        return None
    return psycopg.conninfo.make_conninfo(
        url,
        host=",".join(host for host, _ in hosts),
        port=",".join(str(port) for _, port in hosts),
        target_session_attrs="prefer-standby",
    )


def replica_url(url: str, host: str, port: int) -> str:
    """The same URL (role, password, database) on another server: a physical replica
    has the primary's roles."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    bracketed = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{netloc}{bracketed}:{port}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        safe = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
        raise ClusterError(f"Cannot connect to {safe}: {exc}".strip()) from exc


# What a service's login must not be: a superuser, a role maker, or able to act as the owner.
SERVICE_ROLE_CHECK = """
SELECT current_user,
       r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication,
       EXISTS (SELECT 1 FROM pg_roles o
               WHERE o.rolname = %s AND pg_has_role(current_user, o.oid, 'MEMBER'))
FROM pg_roles r WHERE r.rolname = current_user
"""


def service_role_problem(url: str, variable: str = "KMZB_API_DATABASE_URL") -> str | None:
    """Why the login of this service URL is too powerful (None: it is not, or the
    server cannot be reached now, which the service will report itself)."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute(SERVICE_ROLE_CHECK, (OWNER_ROLE,)).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    user, powerful, owner = row
    if powerful:
        return (
            f"{variable} logs in as {user}, a superuser or a role that creates roles or "
            f"databases: a service connects as its own role ({API_ROLE}, {WMS_ROLE})"
        )
    if owner:
        return (
            f"{variable} logs in as {user}, which acts as the owner {OWNER_ROLE} (it may "
            f"drop or change any table): a service connects as its own role"
        )
    return None


def _can_log_in(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=10):
            return True
    except psycopg.OperationalError:
        return False


# The password is a bound parameter; the DO block hands it to ALTER ROLE, which takes none.
SET_LOGIN_PASSWORD = """
DO $$BEGIN
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', {role},
                   current_setting('kmzb.role_password'));
END$$
"""


def ensure_roles(settings: Settings) -> None:
    """The cluster-wide roles of migration 039 exist before any migration runs (so a
    migration may grant to them); in the embedded cluster kmzb_api and kmzb_wms log in
    with the passwords kept in var/pg."""
    with connect(server_url(settings, "postgres"), autocommit=True) as conn:
        with conn.transaction():
            # one process at a time (tests and `kmzb run` may start together)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('kmzb.roles'))")
            for role in ROLES:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    continue
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                except (pg_errors.DuplicateObject, pg_errors.UniqueViolation):
                    pass  # made meanwhile by a migration in another database
                except pg_errors.InsufficientPrivilege as exc:
                    raise ClusterError(
                        f"The database role {role} is missing and this role may not create "
                        f"it: create {', '.join(ROLES)} (NOLOGIN) and GRANT {OWNER_ROLE} to "
                        "DATABASE_URL's role, or give that role CREATEROLE."
                    ) from exc
        if not settings.embedded:
            return
        for role in (API_ROLE, WMS_ROLE):
            secret = cluster.ensure_service_password(role)
            if _can_log_in(_embedded_url(settings, role, secret, "postgres")):
                continue
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kmzb.roles'))")
                conn.execute("SELECT set_config('kmzb.role_password', %s, true)", (secret,))
                conn.execute(sql.SQL(SET_LOGIN_PASSWORD).format(role=sql.Literal(role)))


def ensure_database(settings: Settings, dbname: str | None = None) -> str:
    """Create the roles, the database and PostGIS in it if missing; return its
    (administrator's) URL."""
    ensure_roles(settings)
    url = server_url(settings, dbname)
    name = database_name(url)
    maintenance = server_url(settings, "postgres")
    with connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with connect(url, autocommit=True) as conn:
        # only when missing: a login that may not create extensions gets here too (jobs)
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def drop_database(settings: Settings, dbname: str) -> None:
    maintenance = server_url(settings, "postgres")
    with connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
