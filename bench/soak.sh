#!/usr/bin/env bash
# A soak of a running KMZB: mixed public reads and submissions at half the measured
# maximum (or at a rate given), for 30 minutes (or the duration given). Prints a
# Markdown report: errors by status, p50/p99 and throughput per minute, the resident
# memory of every process of the stack at start and end, and the no-loss check.
#
#   KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For make run     # in another terminal
#   bench/soak.sh [duration=30m] [rate=auto] [bench/soak.py options]
#   bench/soak.sh 2m                                        # a quick run
#   bench/soak.sh 30m 150 --report var/bench/soak.md        # at 150 requests/s
#
# KMZB_URL (default http://127.0.0.1:5000) names the API; the database is the one
# `kmzb db url` gives for the same environment (or SOAK_DB_URL). Each submission comes
# from its own X-Forwarded-For address, so the daily limit does not stop the load: the
# stack must trust that header. See bench/soak.py for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: make bootstrap installs it" >&2; exit 1; }
exec .venv/bin/python bench/soak.py --command "bench/soak.sh $*" "$@"
