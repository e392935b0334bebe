#!/bin/bash
# Runs once, when the db container initialises its data folder (after the image's
# own script has created PostGIS): the login roles of KMZB's services, with the
# passwords of docker/.env. Migration 039 finds kmzb_owner, kmzb_api and kmzb_wms
# already there and grants them their privileges; none is a superuser.
#   kmzb_api   the API: public views, reports through the domain (KMZB_API_PASSWORD)
#   kmzb_wms   QGIS Server: its wms_* views, read-only (KMZB_WMS_PASSWORD)
#   kmzb_jobs  the periodic jobs (grid refresh, reporter-hash purge), as kmzb_owner
#              (KMZB_JOBS_PASSWORD)
# Migrations run once per start of the stack as POSTGRES_USER (the `migrate` service).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v api="$KMZB_API_PASSWORD" -v wms="$KMZB_WMS_PASSWORD" -v jobs="$KMZB_JOBS_PASSWORD" <<'SQL'
CREATE ROLE kmzb_owner NOLOGIN;
CREATE ROLE kmzb_api LOGIN PASSWORD :'api';
CREATE ROLE kmzb_wms LOGIN PASSWORD :'wms';
CREATE ROLE kmzb_jobs LOGIN PASSWORD :'jobs' IN ROLE kmzb_owner;
SQL
