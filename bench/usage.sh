#!/usr/bin/env bash
# Usage metering benchmarks (targets in docs/PERFORMANCE.md):
#   1. in process (examples/bench_usage.rs): ingest of BENCH_EVENTS events (default 1,000,000)
#      for a district of 50 schools in batches of 500 (JSON -> validate -> record), then the
#      rollup page for that district over those events, on SQLite and (KEEL_BENCH_PG=1) PostgreSQL;
#   2. over HTTP against `keel serve --demo` (release): POST /api/v1/events with wrk, batches of
#      500 unique events, and POST /api/v1/entitlements/check at 32 connections.
#
#   bench/usage.sh
#   KEEL_BENCH_PG=1 bench/usage.sh
#   BENCH_EVENTS=200000 bench/usage.sh
#   BENCH_SKIP_INPROCESS=1 bench/usage.sh   # only the HTTP part
#
# Results go to bench/results/<UTC stamp>-usage/ (git-ignored).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EVENTS="${BENCH_EVENTS:-1000000}"
SCHOOLS="${BENCH_SCHOOLS:-50}"
bench_init "-usage"
build_keel
need_tools
log "cargo build --release --example bench_usage"
(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --locked --example bench_usage) || die "build failed"
EX="$CARGO_TARGET_DIR/release/examples/bench_usage"

{
  echo "# Keel usage benchmark $STAMP"
  echo
  machine_lines
  echo
} >"$SUMMARY"

inproc() { # inproc LABEL DB_URL DATA_DIR
  wait_quiet
  log "$1: ingest $EVENTS events for $SCHOOLS schools, then the rollup page"
  "$EX" "$2" "$3" "$EVENTS" "$SCHOOLS" | tee "$OUT/$1-inprocess.txt" | sed "s/^/- $1: /" >>"$SUMMARY"
}

pg_base
if [[ ${BENCH_SKIP_INPROCESS:-0} != 1 ]]; then
  new_tmp
  inproc sqlite "sqlite://$TMP/keel.db" "$TMP"
  if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
    create_db "${PG_BASE}_usage"
    new_tmp
    inproc postgres "$PG_URL" "$TMP"
  fi
fi

http_run() { # http_run LABEL DB_URL|""
  local label=$1 db=$2 data port logfile key raw
  new_tmp
  data=$TMP
  free_port
  port=$PORT
  logfile="$OUT/$label-server.log"
  start_server "$logfile" "$data" "$db" warn --demo --no-worker --bind "127.0.0.1:$port"
  wait_healthy "$port" "$SERVER_PID" "$logfile"
  key="$(cat "$data/demo-ingest-key.txt")"
  wait_quiet
  raw="$OUT/$label-ingest.txt"
  log "$label: wrk -t1 -c4 -d$DURATION POST /api/v1/events (batches of 500)"
  KEEL_KEY=$key timeout 300 wrk -t1 -c4 -d"$DURATION" --latency -s "$ROOT/bench/ingest.lua" "http://127.0.0.1:$port" >"$raw"
  local rps p99 non2xx
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$raw")")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
  echo "- $label HTTP ingest: $(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 500}') events/s ($rps requests/s of 500 events, p99 $p99 ms, non-2xx ${non2xx:-0})" >>"$SUMMARY"
  wait_quiet
  raw="$OUT/$label-entitlement.txt"
  log "$label: wrk -t2 -c32 -d$DURATION POST /api/v1/entitlements/check"
  local url="http://127.0.0.1:$port/api/v1/entitlements/check"
  KEEL_KEY=$key timeout 120 wrk -t2 -c32 -d"$WARMUP" -s "$ROOT/bench/entitlement.lua" "$url" >/dev/null
  KEEL_KEY=$key timeout 300 wrk -t2 -c32 -d"$DURATION" --latency -s "$ROOT/bench/entitlement.lua" "$url" >"$raw"
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
  local p50
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$raw")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$raw")")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
  echo "- $label HTTP entitlement check, 32 connections: $rps requests/s, p50 $p50 ms, p99 $p99 ms (non-2xx ${non2xx:-0})" >>"$SUMMARY"
  stop_pid "$SERVER_PID"
}

http_run sqlite ""
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  create_db "${PG_BASE}_http"
  http_run postgres "$PG_URL"
fi
cat "$SUMMARY"
