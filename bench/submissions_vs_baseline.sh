#!/usr/bin/env bash
# Submissions per second of this checkout against the code of an earlier commit, in
# one run on one machine: the ratio the benchmarks report (issue 16).
#
#   bench/submissions_vs_baseline.sh [rev=8d9d80a] [duration=30s] [rounds=2] [demo reports=50000]
#
# 8d9d80a is the code the issue measured (142-279 submissions/s), the last commit
# before issue 16's work. Each side is a whole `kmzb run` (API, QGIS Server, MQTT
# broker, alerts publisher) on an embedded cluster of its own, fresh, loaded with the
# same real data and the same number of demo reports, so neither meets the other's
# rows. The baseline's code comes from `git archive`; it runs in this checkout's
# virtualenv (its Python dependencies are a subset). Ports are below the kernel's
# ephemeral range. bench/submissions.sh drives each side in turn, the order
# alternating per round, with its no-loss check; the medians and the ratio are printed
# as a Markdown table. KMZB_BENCH_DIR (default /tmp/kmzb-bench-baseline) holds both
# sides' code and clusters; KEEP=1 leaves them there for another run.
set -euo pipefail
cd "$(dirname "$0")/.."
HERE="$PWD"
REV="${1:-8d9d80a}"
DURATION="${2:-30s}"
ROUNDS="${3:-2}"
DEMO="${4:-50000}"
WORK="${KMZB_BENCH_DIR:-/tmp/kmzb-bench-baseline}"
mkdir -p "$WORK"

# side name -> environment of its stack
side_env() {
  case "$1" in
    baseline) echo "PYTHONPATH=$WORK/baseline-code/plugins KMZB_HOME=$WORK/baseline-code" \
      "KMZB_VAR_DIR=$WORK/baseline-var KMZB_PG_PORT=25455 KMZB_API_PORT=25099" \
      "KMZB_WMS_PORT=25098 KMZB_BASEMAP_WMS_PORT=25097 KMZB_MQTT_PORT=21899" ;;
    current) echo "KMZB_VAR_DIR=$WORK/current-var KMZB_PG_PORT=25456 KMZB_API_PORT=25199" \
      "KMZB_WMS_PORT=25198 KMZB_BASEMAP_WMS_PORT=25197 KMZB_MQTT_PORT=21999" ;;
  esac
}
side_url() { [ "$1" = baseline ] && echo http://127.0.0.1:25099 || echo http://127.0.0.1:25199; }

if [ ! -d "$WORK/baseline-code/sql" ]; then
  mkdir -p "$WORK/baseline-code"
  git archive "$REV" | tar -x -C "$WORK/baseline-code"
  # the pages are not measured; the app only needs the folder to exist
  rm -rf "$WORK/baseline-code/web/dist"
  ln -s "$HERE/web/dist" "$WORK/baseline-code/web/dist"
fi

pids=()
stop_all() {
  # TERM: a background job of a script ignores SIGINT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then
    for side in baseline current; do
      env $(side_env $side) .venv/bin/kmzb db down >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
  fi
}
trap stop_all EXIT

for side in baseline current; do
  env $(side_env $side) KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For \
    .venv/bin/kmzb run >"$WORK/$side.log" 2>&1 &
  pids+=($!)
done
for side in baseline current; do
  for _ in $(seq 600); do
    curl -sf -o /dev/null "$(side_url $side)/processes" && break
    sleep 1
  done
  curl -sf -o /dev/null "$(side_url $side)/processes" || { tail -20 "$WORK/$side.log"; exit 1; }
  if [ "$DEMO" -gt 0 ] && [ ! -e "$WORK/$side-var/demo-loaded" ]; then
    env $(side_env $side) .venv/bin/kmzb load demo --reports "$DEMO" >/dev/null
    touch "$WORK/$side-var/demo-loaded"
  fi
done

results="$WORK/results.txt"
: >"$results"
for round in $(seq "$ROUNDS"); do
  order="baseline current"
  [ $((round % 2)) = 0 ] && order="current baseline"
  for side in $order; do
    out=$(env $(side_env $side) KMZB_URL="$(side_url $side)" \
      bench/submissions.sh "$DURATION" 8 2>&1) || { echo "$out"; exit 1; }
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    stored=$(echo "$out" | sed -n 's/^accepted answers: \([0-9]*\); rows stored: \([0-9]*\)/\1 \2/p')
    echo "$side $round $rps $p50 $p99 $stored" | tee -a "$results"
  done
done

python3 - "$results" "$REV" "$DURATION" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def value(text):  # wrk prints 812.00us, 24.31ms or 1.20s; in ms
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
def med(side, i):
    return statistics.median(value(r[i]) for r in rows if r[0] == side)
base, cur = med("baseline", 2), med("current", 2)
print(f"\n| code | submissions/s (median of {len(rows)//2}) | p50 ms | p99 ms |")
print("|---|---|---|---|")
for side, name in (("baseline", sys.argv[2]), ("current", "this checkout")):
    print(f"| {name} | {med(side, 2):.0f} | {med(side, 3):.1f} | {med(side, 4):.1f} |")
print(f"\nratio this checkout / {sys.argv[2]}: {cur / base:.2f}x "
      f"({sys.argv[3]} per run, 8 connections; accepted and stored per run above, 0 lost)")
EOF
