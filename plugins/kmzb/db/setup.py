"""Bring the database to a usable state: server up, database created, migrated."""

from __future__ import annotations

from kmzb.db import cluster, connection, migrations
from kmzb.settings import Settings


def bring_up(settings: Settings) -> str:
    """Start (embedded) or reach (DATABASE_URL) the server, create the roles (and, in
    the embedded cluster, the services' logins) and the database, migrate.

    Returns the administrator's database URL (migrations, loaders, jobs); the
    services connect with connection.api_url and connection.wms_url.
    """
    if settings.embedded:
        cluster.start(settings.embedded_port)
    url = connection.ensure_database(settings)
    migrations.apply_all(url)
    return url
