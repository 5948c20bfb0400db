#!/usr/bin/env bash
# HTTP load test and cold-start timing for the release `keel` binary.
#
#   bench/http.sh                  # SQLite (fresh temp data dirs)
#   KEEL_BENCH_PG=1 bench/http.sh  # also PostgreSQL on postgres://postgres@127.0.0.1:5432
#
# See bench/README.md for what is measured and the knobs below. Servers listen on 127.0.0.1
# only. Raw wrk output, server logs and a summary go to bench/results/<UTC stamp>/ (git-ignored).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COLD_RUNS="${BENCH_COLD_RUNS:-5}"
ENDPOINTS=(/healthz /login)

bench_init ""
build_keel
need_tools

# ---------------------------------------------------------------- metadata
{
  echo "# Keel HTTP benchmark $STAMP"
  echo
  machine_lines
  echo "- load: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency, after an unrecorded $WARMUP warm-up at the same concurrency; wrk and keel share the same cores"
  echo "- server: keel serve --demo --no-worker --bind 127.0.0.1:PORT (default HTTP threads = one per core)"
  echo
} >"$SUMMARY"

LOAD_ROWS=()
# load_pass BACKEND FILTER DB_URL|"" : one server (fresh data dir, demo data), each endpoint in turn.
# FILTER is a KEEL_LOG value, or "default" to leave KEEL_LOG unset (serve then logs at info, JSON).
load_pass() {
  local backend=$1 filter=$2 db=$3 label path name raw rps p50 p99 non2xx sockerr bytes code logfile idle
  label="KEEL_LOG=$filter"
  [[ $filter == default ]] && label="KEEL_LOG unset (default info: JSON access log line per request)"
  new_tmp
  free_port
  logfile="$TMP/server.log" # same filesystem as bench/results; copied (trimmed) there afterwards
  log "$backend: keel serve --demo --no-worker --bind 127.0.0.1:$PORT ($label)"
  start_server "$logfile" "$TMP" "$db" "${filter/default/}" --demo --no-worker --bind "127.0.0.1:$PORT"
  wait_healthy "$PORT" "$SERVER_PID" "$logfile"
  for path in "${ENDPOINTS[@]}"; do
    code="$(curl -s -o "$OUT/body.tmp" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT$path" || true)"
    bytes="$(wc -c <"$OUT/body.tmp" | tr -d ' ')"
    rm -f "$OUT/body.tmp"
    [[ $code == 200 ]] || die "GET $path answered $code before the load test"
    name="${path#/}"
    raw="$OUT/wrk-$backend-$filter-$name.txt"
    log "$backend: GET $path"
    measure "http://127.0.0.1:$PORT$path" "$SERVER_PID" "$raw"
    rps=$RPS p50=$P50 p99=$P99 non2xx=$NON2XX sockerr=$SOCKERR idle=$IDLE
    LOAD_ROWS+=("| $backend | $label | GET $path | $rps | $p50 | $p99 | ${non2xx:-0} | ${sockerr:-none} | $bytes | $idle | $CPU_SPLIT |")
    log "$backend GET $path: $rps req/s, p50 $p50 ms, p99 $p99 ms; CPU keel/wrk/other: $CPU_SPLIT %"
  done
  stop_pid "$SERVER_PID"
  keep_log "$logfile" "$OUT/server-$backend-$filter.log"
}

COLD_ROWS=()
# cold_start BACKEND CASE PREPARE_FN : PREPARE_FN RUN sets PREP_DATA and PREP_DB ("" = SQLite default).
# Times spawn of `keel serve --bind ...` (no --demo) until GET /healthz first answers 200.
cold_start() {
  local backend=$1 case=$2 prepare=$3 i logfile t0 t1 ms samples=() sorted median idle
  wait_quiet
  idle=$IDLE
  log "$backend: cold start, $case ($COLD_RUNS runs; host $idle% idle before)"
  for ((i = 1; i <= COLD_RUNS; i++)); do
    "$prepare" "$i"
    free_port
    logfile="$OUT/server-$backend-cold-${case// /-}-$i.log"
    t0=$EPOCHREALTIME
    start_server "$logfile" "$PREP_DATA" "$PREP_DB" "" --bind "127.0.0.1:$PORT"
    wait_healthy "$PORT" "$SERVER_PID" "$logfile"
    t1=$EPOCHREALTIME
    stop_pid "$SERVER_PID"
    ms="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) * 1000}')"
    samples+=("$ms")
    log "$backend cold start ($case) run $i: $ms ms"
  done
  sorted="$(printf '%s\n' "${samples[@]}" | sort -n)"
  median="$(awk -v n="$COLD_RUNS" 'NR == int((n + 1) / 2) {print}' <<<"$sorted")"
  COLD_ROWS+=("| $backend | $case | $median | $(head -1 <<<"$sorted") | $(tail -1 <<<"$sorted") | ${samples[*]} | $idle |")
}

# ---------------------------------------------------------------- SQLite
load_pass sqlite warn ""
load_pass sqlite default ""

prep_sqlite_empty() { new_tmp; PREP_DATA=$TMP; PREP_DB=""; }
cold_start sqlite "empty data dir" prep_sqlite_empty

new_tmp
SQLITE_SEEDED=$TMP
"${BASE_ENV[@]}" KEEL_DATA_DIR="$SQLITE_SEEDED" KEEL_LOG=warn timeout 300 "$BIN" demo seed >"$OUT/seed-sqlite.log" 2>&1 \
  || die "keel demo seed failed (see $OUT/seed-sqlite.log)"
prep_sqlite_existing() { PREP_DATA=$SQLITE_SEEDED; PREP_DB=""; }
cold_start sqlite "existing demo database" prep_sqlite_existing

# ---------------------------------------------------------------- PostgreSQL (optional)
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  pg_base
  log "postgres: databases ${PG_BASE}* on $PG_HOST:$PG_PORT (dropped at exit)"
  create_db "${PG_BASE}"
  load_pass postgres warn "$PG_URL"
  create_db "${PG_BASE}_default_log"
  load_pass postgres default "$PG_URL"

  prep_pg_empty() { new_tmp; PREP_DATA=$TMP; create_db "${PG_BASE}_cold$1"; PREP_DB=$PG_URL; }
  cold_start postgres "empty database" prep_pg_empty

  new_tmp
  PG_SEEDED_DIR=$TMP
  create_db "${PG_BASE}_seeded"
  PG_SEEDED_URL=$PG_URL
  "${BASE_ENV[@]}" KEEL_DATA_DIR="$PG_SEEDED_DIR" KEEL_DATABASE_URL="$PG_SEEDED_URL" KEEL_LOG=warn \
    timeout 300 "$BIN" demo seed >"$OUT/seed-postgres.log" 2>&1 || die "keel demo seed (postgres) failed"
  prep_pg_existing() { PREP_DATA=$PG_SEEDED_DIR; PREP_DB=$PG_SEEDED_URL; }
  cold_start postgres "existing demo database" prep_pg_existing
fi

# ---------------------------------------------------------------- report
{
  echo "## Throughput and latency (wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency)"
  echo
  echo '| Backend | Server logging | Endpoint | Requests/s | p50 (ms) | p99 (ms) | Non-2xx/3xx | Socket errors | Body bytes | Host idle before (%) | CPU during run: keel / wrk / other (% of host) |'
  echo '|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|'
  printf '%s\n' "${LOAD_ROWS[@]}"
  echo
  echo "## Cold start: spawn of \`keel serve\` until GET /healthz first answers 200 ($COLD_RUNS runs)"
  echo
  echo '| Backend | Start state | Median (ms) | Min (ms) | Max (ms) | All runs (ms) | Host idle before (%) |'
  echo '|---|---|---:|---:|---:|---|---:|'
  printf '%s\n' "${COLD_ROWS[@]}"
} >>"$SUMMARY"
cat "$SUMMARY"
log "raw wrk output, server logs and summary.md: $OUT"
