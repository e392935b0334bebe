"""Least privilege in the database (migration 039): each service has its own role.

The API connects as kmzb_api, QGIS Server as kmzb_wms, migrations run as
kmzb_owner; none is a superuser. These tests connect as the services' roles
themselves (their real logins) and through the running app.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from psycopg import errors as pg_errors
from psycopg import sql

from helpers import new_address
from kmzb.auth import tokens
from kmzb.db import aggregates, connection, migrations, pool
from kmzb.settings import SQL_DIR, Settings

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny, KMP Kraków
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
SERVICE_ROLES = ("kmzb_owner", "kmzb_api", "kmzb_wms")
# what the running app's sessions call themselves (pool, our providers, pygeoapi's own)
APP_SESSIONS = (pool.APPLICATION_NAME, "pygeoapi-postgis", "pygeoapi-tiles", "pygeoapi")


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=10)


@pytest.fixture()
def as_api(db_url: str, server: Settings) -> Iterator[psycopg.Connection]:
    """A connection with the API's own login; its work is rolled back."""
    with _connect(connection.api_url(server, connection.database_name(db_url))) as conn:
        yield conn
        conn.rollback()


@pytest.fixture()
def as_wms(db_url: str, server: Settings) -> Iterator[psycopg.Connection]:
    """A connection with QGIS Server's own login; its work is rolled back."""
    with _connect(connection.wms_url(server, connection.database_name(db_url))) as conn:
        yield conn
        conn.rollback()


def _refused(conn: psycopg.Connection, statement: str) -> str:
    """Run a statement that must be refused for lack of privilege; return the message."""
    with pytest.raises(pg_errors.InsufficientPrivilege) as refused:
        with conn.transaction():
            conn.execute(statement)
    return str(refused.value)


def test_the_services_log_in_as_their_own_unprivileged_roles(as_api, as_wms) -> None:
    for conn, role in ((as_api, "kmzb_api"), (as_wms, "kmzb_wms")):
        user, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert (user, superuser) == (role, False)


def test_no_service_role_holds_a_dangerous_attribute_or_role(conn) -> None:
    rows = conn.execute(
        """SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                  r.rolreplication,
                  array(SELECT g.rolname FROM pg_roles g
                        WHERE g.rolname LIKE 'pg\\_%%' AND pg_has_role(r.oid, g.oid, 'MEMBER'))
           FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY 1""",
        (list(SERVICE_ROLES),),
    ).fetchall()
    assert [row[0] for row in rows] == sorted(SERVICE_ROLES)
    for name, *attributes, pg_roles in rows:
        assert attributes == [False] * 5, name
        assert pg_roles == [], name


def test_the_api_role_cannot_read_reporter_hash(as_api) -> None:
    message = _refused(as_api, "SELECT reporter_hash FROM kmzb.reports")
    assert "permission denied" in message
    _refused(as_api, "SELECT * FROM kmzb.reports")
    _refused(as_api, "SELECT count(*) FROM kmzb.reports WHERE reporter_hash IS NOT NULL")
    _refused(as_api, "SELECT r FROM kmzb.reports r")  # the whole row holds the hash


def test_the_api_role_reads_reports_without_the_hash(as_api, conn) -> None:
    total = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]
    rows = as_api.execute("SELECT public_ref, status FROM kmzb.reports").fetchall()
    assert len(rows) == total
    assert as_api.execute("SELECT count(*) FROM kmzb.public_threats").fetchone()[0] >= 0


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE kmzb.reports",
        "DROP VIEW kmzb.public_threats",
        "ALTER TABLE kmzb.reports DISABLE TRIGGER reports_check_row",
        "CREATE TABLE kmzb.x (id integer)",
        "CREATE TABLE public.x (id integer)",
        "CREATE FUNCTION kmzb.f() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
        "TRUNCATE kmzb.reports",
        "TRUNCATE kmzb.report_status_history",
        "DELETE FROM kmzb.reports",
        "DELETE FROM kmzb.report_attachments",
        "DELETE FROM kmzb.police_access_log",
        "UPDATE kmzb.reports SET reporter_hash = NULL",
        "UPDATE kmzb.reports SET created_at = now()",
        "UPDATE kmzb.reports SET police_unit = 'KGP'",
        "UPDATE kmzb.threat_categories SET public_rule = 'policy'",
        "INSERT INTO kmzb.visibility_policy SELECT * FROM kmzb.visibility_policy",
        "REFRESH MATERIALIZED VIEW kmzb.public_threat_cells",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "COPY kmzb.police_units TO '/tmp/kmzb-police-units.csv'",
        "SELECT pg_read_file('/etc/hostname')",
        "ALTER ROLE kmzb_api SUPERUSER",
        "ALTER ROLE kmzb_api CREATEROLE",
        "CREATE ROLE intruder",
        "GRANT kmzb_owner TO kmzb_api",
        "SET ROLE kmzb_owner",
        "SELECT rolpassword FROM pg_authid",
        "SELECT kmzb.purge_reporter_hashes('48 hours')",
        "SELECT kmzb.grant_service_privileges()",
        "SELECT * FROM kmzb.service_privileges",
        "SELECT * FROM kmzb.schema_migrations",
    ],
)
def test_the_api_role_is_refused(as_api, statement: str) -> None:
    _refused(as_api, statement)


def test_the_daily_limit_counts_hashes_the_api_cannot_read(as_api) -> None:
    hashed = hashlib.sha256(b"test_roles: one reporter").hexdigest()
    count = "SELECT kmzb.reports_today_by_reporter(%s)"
    assert as_api.execute(count, (hashed,)).fetchone() == (0,)
    # the API's own insert, as submit writes it (no privilege on the identity sequence)
    as_api.execute(
        """INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit,
                                     gmina_teryt, source, reporter_hash)
           SELECT 'TEST-ROLE-0001', 'vandalism', p.geom,
                  (SELECT code FROM kmzb.statuses WHERE is_initial),
                  kmzb.police_unit_at(p.geom), kmzb.gmina_at(p.geom), 'citizen', %s
           FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 2180) AS geom) p""",
        (hashed, KRAKOW["lon"], KRAKOW["lat"]),
    )
    assert as_api.execute(count, (hashed,)).fetchone() == (1,)
    assert as_api.execute(count, ("0" * 64,)).fetchone() == (0,)
    owner, definer = as_api.execute(
        """SELECT pg_get_userbyid(proowner), prosecdef FROM pg_proc
           WHERE oid = 'kmzb.reports_today_by_reporter(text)'::regprocedure"""
    ).fetchone()
    assert (owner, definer) == ("kmzb_owner", True)


def test_the_wms_role_reads_its_views_and_writes_nothing(as_wms, conn) -> None:
    views = [
        row[0]
        for row in conn.execute(
            """SELECT format('kmzb.%I', c.relname) FROM pg_class c
               WHERE c.relnamespace = 'kmzb'::regnamespace AND c.relname LIKE 'wms\\_%'
                 AND c.relkind = 'v' ORDER BY 1"""
        )
    ]
    assert "kmzb.wms_threats" in views and "kmzb.wms_unit_reports" in views
    for view in views:
        as_wms.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()  # noqa: S608 (catalogue)
    # the police layer's filter (kmzb_access plugin) runs the reach rule as this role
    reach = as_wms.execute("SELECT * FROM kmzb.police_unit_reach('KWP-12', true)").fetchall()
    assert ("KMP-1261",) in reach
    for statement in (
        "SELECT public_ref FROM kmzb.reports",
        "SELECT reporter_hash FROM kmzb.reports",
        "INSERT INTO kmzb.reports (public_ref) VALUES ('AAAA-AAAA-AAAA')",
        "UPDATE kmzb.reports SET status = 'confirmed'",
        "UPDATE kmzb.police_units SET name = name",
        "DELETE FROM kmzb.report_status_history",
        "INSERT INTO kmzb.police_access_log (actor, action) VALUES ('x', 'queue')",
        "SELECT * FROM kmzb.report_attachments",
        "SELECT kmzb.reports_today_by_reporter('x')",
        "DROP VIEW kmzb.wms_threats",
        "CREATE TABLE kmzb.x (id integer)",
        "COPY (SELECT 1) TO PROGRAM 'true'",
    ):
        _refused(as_wms, statement)


def test_the_owner_owns_every_object_of_the_schema(conn) -> None:
    strays = conn.execute(
        """SELECT c.oid::regclass::text FROM pg_class c
           WHERE c.relnamespace = 'kmzb'::regnamespace
             AND pg_get_userbyid(c.relowner) <> 'kmzb_owner'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
           UNION ALL
           SELECT p.oid::regprocedure::text FROM pg_proc p
           WHERE p.pronamespace = 'kmzb'::regnamespace
             AND pg_get_userbyid(p.proowner) <> 'kmzb_owner'
             -- btree_gist (migration 010) may live in kmzb: an extension keeps its owner
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
           UNION ALL
           SELECT 'schema kmzb' FROM pg_namespace
           WHERE nspname = 'kmzb' AND pg_get_userbyid(nspowner) <> 'kmzb_owner'"""
    ).fetchall()
    assert strays == []
    # no SECURITY DEFINER function is callable by every role
    public = conn.execute(
        """SELECT p.oid::regprocedure::text FROM pg_proc p
           WHERE p.pronamespace = 'kmzb'::regnamespace AND p.prosecdef
             AND has_function_privilege('public', p.oid, 'EXECUTE')"""
    ).fetchall()
    assert public == []


def test_later_migrations_run_as_the_owner_and_grant_in_one_line(
    scratch_url: str, tmp_path: Path
) -> None:
    for path in SQL_DIR.glob("*.sql"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "990_probe.sql").write_text(
        """CREATE TABLE kmzb.probe (id integer, secret text, made_by name DEFAULT current_user);
           INSERT INTO kmzb.probe (id) VALUES (1);
           CREATE TABLE kmzb.probe_hidden (id integer);
           SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.probe',
                                               'test_roles', p_except_columns => '{secret}');
        """
    )
    applied = migrations.apply_all(scratch_url, tmp_path)
    # every shipped migration, then the probe, which runs after the roles migration (039)
    assert applied == sorted(path.name for path in SQL_DIR.glob("*.sql")) + ["990_probe.sql"]
    with psycopg.connect(scratch_url) as conn:
        owners = conn.execute(
            """SELECT relname, pg_get_userbyid(relowner) FROM pg_class
               WHERE oid IN ('kmzb.probe'::regclass, 'kmzb.probe_hidden'::regclass)
               ORDER BY 1"""
        ).fetchall()
        assert owners == [("probe", "kmzb_owner"), ("probe_hidden", "kmzb_owner")]
        assert conn.execute("SELECT made_by FROM kmzb.probe").fetchall() == [("kmzb_owner",)]
        allowed = conn.execute(
            """SELECT has_column_privilege('kmzb_api', 'kmzb.probe', 'id', 'SELECT'),
                      has_column_privilege('kmzb_api', 'kmzb.probe', 'secret', 'SELECT'),
                      has_table_privilege('kmzb_api', 'kmzb.probe_hidden', 'SELECT'),
                      has_table_privilege('kmzb_wms', 'kmzb.probe', 'SELECT')"""
        ).fetchone()
        assert allowed == (True, False, False, False)
    assert migrations.apply_all(scratch_url, tmp_path) == []


def test_a_hand_made_grant_of_the_hash_is_taken_back(scratch_url: str) -> None:
    migrations.apply_all(scratch_url)
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON kmzb.reports TO kmzb_api")
        # applying the rules again takes a table-wide SELECT on reports back
        conn.execute("SELECT kmzb.grant_service_privileges()")
        readable = conn.execute(
            "SELECT has_column_privilege('kmzb_api', 'kmzb.reports', 'reporter_hash', 'SELECT')"
        ).fetchone()
        assert readable == (False,)
        assert conn.execute(
            "SELECT has_column_privilege('kmzb_api', 'kmzb.reports', 'status', 'SELECT')"
        ).fetchone() == (True,)


def _app_sessions(db_url: str) -> list[tuple[str, str, bool]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """SELECT a.application_name, a.usename, r.rolsuper
               FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
               WHERE a.datname = %s AND a.application_name = ANY(%s)
               ORDER BY 1, 2""",
            (connection.database_name(db_url), list(APP_SESSIONS)),
        ).fetchall()


def test_the_running_app_submits_and_reviews_as_kmzb_api(
    api: str, db_url: str, settings: Settings
) -> None:
    citizen = new_address()
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={
            "inputs": {
                **KRAKOW,
                "category": "illegal_dumping",
                "description": "Worki ze śmieciami przy murach (test_roles)",
                "attachments": [{"name": "zdjęcie.png", "content": base64.b64encode(PNG).decode()}],
            }
        },
        headers={"X-Forwarded-For": citizen},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    assert answer.json()["attachments"] == 1
    # the daily limit still counts this reporter (through the owner's function)
    again = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": citizen},
        timeout=60,
    )
    assert again.status_code == 429, again.text

    coordinator = tokens.issue(settings, "coordinator", "test-roles", unit="KMP-1261")
    police = {"Authorization": f"Bearer {coordinator}"}
    details = requests.get(f"{api}/police/reports/{ref}", headers=police, timeout=30)
    assert details.status_code == 200, details.text
    attachment = details.json()["attachments"][0]
    download = requests.get(
        f"{api}/police/reports/{ref}/attachments/{attachment['id']}", headers=police, timeout=30
    )
    assert download.status_code == 200 and download.content == PNG
    reviewed = requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": ref, "status": "verification", "version": 1}},
        headers=police,
        timeout=60,
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "verification"
    status = requests.get(f"{api}/reports/{ref}", timeout=30).json()
    assert [step["to"] for step in status["history"]] == ["new", "verification"]
    for path in ("/collections/threats/items?limit=5&f=json", "/collections/gminy/items/1261011"):
        assert requests.get(f"{api}{path}", timeout=60).status_code == 200

    sessions = _app_sessions(db_url)
    # our pool and the feature provider's pool (every collection is on our provider)
    assert {name for name, _user, _super in sessions} >= {pool.APPLICATION_NAME, "pygeoapi-postgis"}
    assert {(user, superuser) for _name, user, superuser in sessions} == {("kmzb_api", False)}


def test_a_too_powerful_service_login_is_named(db_url: str, server: Settings) -> None:
    name = connection.database_name(db_url)
    assert connection.service_role_problem(connection.api_url(server, name)) is None
    assert connection.service_role_problem(connection.wms_url(server, name)) is None
    problem = connection.service_role_problem(db_url)
    assert problem and "KMZB_API_DATABASE_URL logs in as" in problem
    # a login that may act as the owner could drop every table
    login = f"kmzb_test_owner_member_{os.getpid()}"
    secret = secrets.token_urlsafe(16)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE kmzb_owner").format(sql.Identifier(login))
        )
        try:
            conn.execute("SELECT set_config('kmzb.role_password', %s, false)", (secret,))
            conn.execute(sql.SQL(connection.SET_LOGIN_PASSWORD).format(role=sql.Literal(login)))
            parts = urlsplit(db_url)
            url = parts._replace(netloc=f"{login}:{secret}@{parts.hostname}:{parts.port}").geturl()
            problem = connection.service_role_problem(url)
            assert problem and "acts as the owner kmzb_owner" in problem
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_production_refuses_an_api_login_that_is_a_superuser(db_url: str, tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KMZB_", "DATABASE_URL", "PYGEOAPI_"))
    }
    env.update(
        KMZB_ENV="production",
        KMZB_JWKS_URL="https://login.example.org/certs",
        KMZB_JWT_ISSUER="https://login.example.org",
        KMZB_JWT_AUDIENCE="kmzb",
        KMZB_REPORTER_KEY="k" * 40,
        KMZB_PUBLIC_URL="https://kmzb.example.org",
        KMZB_MQTT_PUBLIC_URL="mqtts://kmzb.example.org:8883",
        KMZB_VAR_DIR=str(tmp_path),
        DATABASE_URL=db_url,
        KMZB_API_DATABASE_URL=db_url,  # the administrator's login: refused
    )
    run = subprocess.run(
        [sys.executable, "-c", "import kmzb.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 4, run.stderr[-2000:]
    assert "refuses to start: KMZB_API_DATABASE_URL logs in as" in run.stderr


def test_the_jobs_login_acts_as_the_owner_without_being_an_administrator(
    db_url: str, server: Settings
) -> None:
    """Production's periodic jobs (grid refresh, reporter-hash purge) log in as a
    member of kmzb_owner that may create neither databases, schemas nor roles."""
    login = f"kmzb_test_jobs_{os.getpid()}"
    secret = secrets.token_urlsafe(16)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE kmzb_owner").format(sql.Identifier(login))
        )
        try:
            conn.execute("SELECT set_config('kmzb.role_password', %s, false)", (secret,))
            conn.execute(sql.SQL(connection.SET_LOGIN_PASSWORD).format(role=sql.Literal(login)))
            parts = urlsplit(db_url)
            jobs = parts._replace(netloc=f"{login}:{secret}@{parts.hostname}:{parts.port}").geturl()
            as_jobs = dataclasses.replace(server, database_url=jobs)
            name = connection.database_name(db_url)
            assert connection.ensure_database(as_jobs, name) == jobs
            assert migrations.apply_all(jobs) == []
            assert aggregates.refresh(jobs) >= 0
            with psycopg.connect(jobs) as as_owner:
                purged = as_owner.execute("SELECT kmzb.purge_reporter_hashes('48 hours')")
                assert purged.fetchone()[0] >= 0
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
