#!/usr/bin/env bash
# Submissions per second against a running KMZB, with the no-loss check:
# every 200 answer must be a row in kmzb.reports.
#
#   KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For make run     # in another terminal
#   bench/submissions.sh [duration=30s] [connections=8]
#
# The header lets each request speak for a different citizen, so the daily
# limit of one report per reporter does not stop the load.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-30s}"
CONNECTIONS="${2:-8}"
URL="${KMZB_URL:-http://127.0.0.1:5000}"
DB="$(.venv/bin/kmzb db url)"
command -v wrk >/dev/null || { echo "wrk is missing: make bootstrap installs it" >&2; exit 1; }

before=$(psql "$DB" -Atc "SELECT count(*) FROM kmzb.reports WHERE description LIKE 'wrk %'")
THREADS=$(( CONNECTIONS < 2 ? 1 : 2 ))
out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/submit.lua "$URL")
after=$(psql "$DB" -Atc "SELECT count(*) FROM kmzb.reports WHERE description LIKE 'wrk %'")
echo "$out"
accepted=$(echo "$out" | sed -n 's/^accepted=\([0-9]*\).*/\1/p')
stored=$((after - before))
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; connections: $CONNECTIONS; duration: $DURATION"
echo "accepted answers: $accepted; rows stored: $stored"
# wrk stops counting at the deadline while up to one request per connection is
# still in flight: those may be stored without their answer being counted.
if [ "$stored" -lt "$accepted" ] || [ "$((stored - accepted))" -gt "$CONNECTIONS" ]; then
  echo "LOSS: $accepted accepted answers but $stored rows stored" >&2
  exit 1
fi
echo "no loss: every accepted answer is a stored row ($((stored - accepted)) in flight at the deadline)"
