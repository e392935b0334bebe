#!/bin/sh
# QGIS Server's container: write the pg_service.conf the project names (service
# `kmzb`, as the read-only role kmzb_wms of KMZB_WMS_DATABASE_URL), then run
# QGIS_FCGI_PROCESSES qgis_mapserv.fcgi processes on one FastCGI socket.
# nginx passes PGSERVICEFILE=/var/lib/qgis/pg_service.conf with each request
# (libpq reads it from the FastCGI request's environment).
set -eu
: "${KMZB_WMS_DATABASE_URL:?KMZB_WMS_DATABASE_URL is not set (docker/.env)}"
umask 077
python3 - <<'PY'
import os
from urllib.parse import unquote, urlsplit

url = urlsplit(os.environ["KMZB_WMS_DATABASE_URL"])
entries = {
    "host": url.hostname or "db",
    "port": str(url.port or 5432),
    "dbname": unquote(url.path.lstrip("/")) or "kmzb",
    "user": unquote(url.username or ""),
    "password": unquote(url.password or ""),
    "sslmode": os.environ.get("KMZB_WMS_SSLMODE", "prefer"),
    "application_name": "kmzb-qgis-server",
}
lines = ["[kmzb]"] + [f"{k}={v}" for k, v in entries.items() if v]
with open("/var/lib/qgis/pg_service.conf", "w") as f:
    f.write("\n".join(lines) + "\n")
PY
# spawn-fcgi binds the socket and execs multiwatch, which keeps that many
# processes alive (each draws one map at a time: about one per CPU)
exec spawn-fcgi -n -a 0.0.0.0 -p 9993 -- \
    /usr/bin/multiwatch -f "$QGIS_FCGI_PROCESSES" -- /usr/lib/cgi-bin/qgis_mapserv.fcgi
