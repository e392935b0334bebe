#!/usr/bin/env bash
# Copy the whole public threats collection with GDAL, as a new user would:
#   ogr2ogr -f GPKG threats.gpkg OAPIF:<url> threats
# and time a page at the start and at the end of the collection, by keyset cursor
# (what the next links carry) and by offset (what they carried before), in the same run.
#
#   KMZB_DB_NAME=kmzb_paging bench/ogr2ogr_copy.sh [page_size] [port]
#
# Starts its own app (gunicorn, 2 sync workers: GDAL asks one page at a time) on the database named by
# the usual settings (KMZB_DB_NAME / DATABASE_URL), with an access log that records each
# request's time; reads the time of every page of the copy from that log. Make the data
# first, e.g. KMZB_DB_NAME=kmzb_paging .venv/bin/kmzb db up && kmzb load all &&
# kmzb load demo --reports 2000000 (a third of demo reports are public).
#
# GDAL before 3.8 pages at 10 items unless told: the copy passes -oo PAGE_SIZE (3.8 and
# later read limit's maximum from the OpenAPI document instead).
set -euo pipefail

PAGE=${1:-10000}
PORT=${2:-5391}
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$HERE/.venv}
BASE="http://127.0.0.1:$PORT"
ITEMS="$BASE/collections/threats/items"
WORK=$(mktemp -d /tmp/kmzb-ogr2ogr.XXXXXX)
ACCESS="$WORK/access.log"

cd "$HERE"
KMZB_PUBLIC_URL="$BASE" PYGEOAPI_OPENAPI="$WORK/openapi.yml" \
  "$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --timeout 300 \
  --access-logfile "$ACCESS" --access-logformat '%(r)s %(s)s %(D)s' \
  kmzb.app:app >"$WORK/app.log" 2>&1 &
APP=$!
trap 'kill $APP 2>/dev/null; wait $APP 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf -o /dev/null "$BASE/" && break
  sleep 1
done

seconds() { curl -s -o /dev/null -w '%{time_total}' "$1"; }
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
time_page() { median3 "$(seconds "$1")" "$(seconds "$1")" "$(seconds "$1")"; }
cursor_after() {  # the cursor the service would put in a next link after item $1
  printf '{"c":"public_threats","k":"%s"}' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

MATCHED=$(curl -s "$ITEMS?resultType=hits&f=json" |
  "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["numberMatched"])')
REPORTS=$("$VENV/bin/python" - <<'EOF'
import psycopg
from kmzb.db import connection
from kmzb.settings import load_settings
with psycopg.connect(connection.server_url(load_settings())) as conn:
    print(conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0])
EOF
)
LAST=$((MATCHED - PAGE))
# the id just before the last page, read once (by offset, one item)
BEFORE_LAST=$(curl -s "$ITEMS?offset=$((LAST - 1))&limit=1&skipGeometry=true&f=json" |
  "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["features"][0]["id"])')

echo "reports: $REPORTS; public (numberMatched): $MATCHED; page size: $PAGE"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores; other sessions may be running)"
echo
echo "| page of $PAGE | by offset (s) | by cursor (s) |"
echo "|---|---:|---:|"
FIRST_OFFSET=$(time_page "$ITEMS?offset=0&limit=$PAGE&f=json")
FIRST_CURSOR=$(time_page "$ITEMS?limit=$PAGE&f=json")
echo "| first (item 1) | $FIRST_OFFSET | $FIRST_CURSOR |"
MID=$((MATCHED / 2))
MID_ID=$(curl -s "$ITEMS?offset=$((MID - 1))&limit=1&skipGeometry=true&f=json" |
  "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["features"][0]["id"])')
MID_OFFSET=$(time_page "$ITEMS?offset=$MID&limit=$PAGE&f=json")
MID_CURSOR=$(time_page "$ITEMS?limit=$PAGE&f=json&cursor=$(cursor_after "$MID_ID")")
echo "| middle (item $MID) | $MID_OFFSET | $MID_CURSOR |"
LAST_OFFSET=$(time_page "$ITEMS?offset=$LAST&limit=$PAGE&f=json")
LAST_CURSOR=$(time_page "$ITEMS?limit=$PAGE&f=json&cursor=$(cursor_after "$BEFORE_LAST")")
echo "| last (item $LAST) | $LAST_OFFSET | $LAST_CURSOR |"
PAGES=$(((MATCHED + PAGE - 1) / PAGE))
# offset's page cost grows linearly with depth: a copy by offset sums the line
ESTIMATE=$("$VENV/bin/python" -c "print(round($PAGES * ($FIRST_OFFSET + $LAST_OFFSET) / 2))")
echo
echo "a copy by offset ($PAGES pages, cost growing from first to last): about $ESTIMATE s"

echo
: >"$ACCESS"
START=$(date +%s.%N)
CPL_DEBUG=OFF ogr2ogr -f GPKG "$WORK/threats.gpkg" "OAPIF:$BASE" threats \
  -oo PAGE_SIZE="$PAGE" 2>"$WORK/ogr2ogr.err"
END=$(date +%s.%N)
COPIED=$(ogrinfo -so "$WORK/threats.gpkg" threats | sed -n 's/^Feature Count: //p')
DISTINCT=$(ogrinfo -q "$WORK/threats.gpkg" -sql "SELECT count(DISTINCT id) AS n FROM threats" |
  sed -n 's/^ *n (Integer[^)]*) = //p')
echo "ogr2ogr -f GPKG threats.gpkg OAPIF:$BASE threats -oo PAGE_SIZE=$PAGE"
echo "  copied $COPIED of $MATCHED features ($DISTINCT distinct ids) in $(
  "$VENV/bin/python" -c "print(round($END - $START, 1))") s"
grep -c 'collections/threats/items' "$ACCESS" | sed 's/^/  item requests: /'
# each page's server time, from the access log: the first 3 and the last 3 full pages
grep 'GET /collections/threats/items' "$ACCESS" | awk '{print $(NF)/1e6}' >"$WORK/pages.txt"
echo "  server time per page (s), first pages: $(head -3 "$WORK/pages.txt" | tr '\n' ' ')"
echo "  server time per page (s), last pages: $(tail -4 "$WORK/pages.txt" | head -3 | tr '\n' ' ')"
echo "  (work folder: $WORK)"
