"""One connection pool per process (each gunicorn worker makes its own on first use).

It connects as the API's role (kmzb_api, connection.api_url), never as the
administrator: what the API may do is what migration 039 grants that role.
"""

from __future__ import annotations

import atexit
import threading

from psycopg_pool import ConnectionPool

from kmzb.db import connection
from kmzb.settings import load_settings

APPLICATION_NAME = "kmzb-api"  # how its sessions show in pg_stat_activity

_pool: ConnectionPool | None = None
_lock = threading.Lock()


def get_pool() -> ConnectionPool:
    global _pool
    with _lock:
        if _pool is None:
            url = connection.api_url(load_settings())
            _pool = ConnectionPool(
                url,
                min_size=1,
                max_size=8,
                open=True,
                name="kmzb",
                kwargs={
                    "options": "-c jit=off",  # short transactions: never worth JIT
                    "application_name": APPLICATION_NAME,
                },
            )
            # close explicitly at exit: left to the garbage collector, the pool's
            # threads hold a stopping worker for seconds
            atexit.register(_pool.close, timeout=2)
        return _pool
