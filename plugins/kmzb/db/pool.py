"""One connection pool per process (each gunicorn worker makes its own on first use).

It connects as the API's role (kmzb_api, connection.api_url), never as the
administrator: what the API may do is what migration 039 grants that role.

After PostgreSQL restarts, every pooled connection is dead. The pool checks a
connection before handing it out (`check`: an empty query, one round trip) and
replaces a dead one, so a restart costs no request a broken connection. A
connection given back less than CHECK_IDLE_SECONDS ago is lent without the
check: under load that round trip was 15 % of a submission and most of a 304.
A connection that died in that second fails its request like any database
fault: a read is retried once, a write answered 503 with Retry-After. A
request that finds no connection within `CONNECTION_WAIT_SECONDS` (the server
is still down) gets psycopg_pool's PoolTimeout, an OperationalError, which the
service answers with 503 and Retry-After (kmzb.service.faults).

Public reads take `get_read_pool()`: the same role on libpq's host list, the
read replicas first and the primary last, with target_session_attrs=prefer-standby
(connection.read_conninfo). A new connection goes to a hot standby when one
answers, else to the primary; with the primary stopped, reads still answer from
a replica while writes (get_pool) get 503. With no replica configured the read
pool is the primary's pool. A connection made to the primary while the replicas
were down stays there until the pool replaces it (max_lifetime, an hour).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref

import psycopg
from psycopg_pool import ConnectionPool

from kmzb.db import connection
from kmzb.settings import load_settings

APPLICATION_NAME = "kmzb-api"  # how its sessions show in pg_stat_activity
# How long a request waits for a connection before it is answered 503: about
# as long as PostgreSQL takes to come back from an immediate restart.
CONNECTION_WAIT_SECONDS = 5.0
# A new connection that does not answer in this time is given up (and retried).
CONNECT_TIMEOUT_SECONDS = 5

# A connection given back this recently is lent without the check (see above).
CHECK_IDLE_SECONDS = 1.0
_given_back: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()


def _check_if_idle(conn: psycopg.Connection) -> None:
    """psycopg_pool's check (an empty query), only for a connection idle a while."""
    given_back = _given_back.get(conn)
    if given_back is not None and time.monotonic() - given_back < CHECK_IDLE_SECONDS:
        return
    ConnectionPool.check_connection(conn)


class _CheckedPool(ConnectionPool):
    """psycopg_pool's pool, noting when each connection comes back (for _check_if_idle)."""

    def putconn(self, conn: psycopg.Connection) -> None:
        # before it is back in the pool, where another thread may take it at once
        _given_back[conn] = time.monotonic()
        super().putconn(conn)


_pool: ConnectionPool | None = None
_read_pool: ConnectionPool | None = None
_read_decided = False
_lock = threading.Lock()


def checked_pool(
    conninfo: str, *, name: str, max_size: int, kwargs: dict | None = None
) -> ConnectionPool:
    """A pool that checks each connection idle a while before lending it and waits
    at most CONNECTION_WAIT_SECONDS for one; closed at exit."""
    pool = _CheckedPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=True,
        name=name,
        timeout=CONNECTION_WAIT_SECONDS,
        check=_check_if_idle,
        kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS, **(kwargs or {})},
    )
    # close explicitly at exit: left to the garbage collector, the pool's
    # threads hold a stopping worker for seconds
    atexit.register(pool.close, timeout=2)
    return pool


def get_pool() -> ConnectionPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = checked_pool(
                connection.api_url(load_settings()),
                name="kmzb",
                max_size=8,
                kwargs={
                    "options": "-c jit=off",  # short transactions: never worth JIT
                    "application_name": APPLICATION_NAME,
                },
            )
        return _pool


def get_read_pool() -> ConnectionPool:
    """The pool for public reads: the replicas when one answers, else the primary;
    the primary's own pool when no replica is configured (decided on first use, per
    process). Read-your-writes (the reporter's own status, police and partner views)
    stays on get_pool()."""
    global _read_pool, _read_decided
    if _read_decided:
        return _read_pool or get_pool()
    with _lock:
        if not _read_decided:
            settings = load_settings()
            conninfo = connection.read_conninfo(settings, connection.api_url(settings))
            if conninfo is not None:
                _read_pool = checked_pool(
                    conninfo,
                    name="kmzb-read",
                    max_size=8,
                    kwargs={
                        "options": "-c jit=off",
                        "application_name": APPLICATION_NAME + "-read",
                    },
                )
            _read_decided = True
    return _read_pool or get_pool()
