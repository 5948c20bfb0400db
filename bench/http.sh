#!/usr/bin/env bash
# HTTP load test and cold-start timing for the release `keel` binary.
#
#   bench/http.sh                  # SQLite (fresh temp data dirs)
#   KEEL_BENCH_PG=1 bench/http.sh  # also PostgreSQL on postgres://postgres@127.0.0.1:5432
#
# See bench/README.md for what is measured and the knobs below. Servers listen on 127.0.0.1
# only. Raw wrk output, server logs and a summary go to bench/results/<UTC stamp>/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"

WRK_THREADS="${BENCH_WRK_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
DURATION="${BENCH_DURATION:-15s}"
WARMUP="${BENCH_WARMUP:-2s}"
COLD_RUNS="${BENCH_COLD_RUNS:-5}"
BUILD_TIMEOUT="${BENCH_BUILD_TIMEOUT:-2400}" # seconds; includes waiting for the cargo lock
START_TIMEOUT="${BENCH_START_TIMEOUT:-120}"   # seconds for /healthz to answer after spawn
QUIET_MIN="${BENCH_QUIET_MIN:-90}"            # % of the host idle before a measurement starts...
QUIET_WAIT="${BENCH_QUIET_WAIT:-300}"         # ...waiting at most this many seconds for it (0: don't wait)
PG_HOST=127.0.0.1
PG_PORT=5432
ENDPOINTS=(/healthz /login)

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$ROOT/bench/results/$STAMP"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup (always runs)
# Only what this script started: the server pids, temp dirs and databases it recorded.
SERVER_PIDS=()
TMP_DIRS=()
PG_DBS=()

stop_pid() { # SIGTERM, up to 12 s (actix shutdown_timeout is 10 s), then SIGKILL
  local pid=$1 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "server $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${SERVER_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  SERVER_PIDS=("${keep[@]}")
}

psql_admin() { timeout 60 psql -q -X -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "$1" >/dev/null; }

cleanup() {
  local rc=$? x
  trap - EXIT INT TERM
  for x in "${SERVER_PIDS[@]}"; do stop_pid "$x"; done
  for x in "${PG_DBS[@]}"; do
    psql_admin "DROP DATABASE IF EXISTS \"$x\" WITH (FORCE)" 2>/dev/null || log "warning: could not drop database $x"
  done
  for x in "${TMP_DIRS[@]}"; do rm -rf -- "$x"; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# new_tmp: a fresh temp dir in $TMP (recorded for removal; no subshell so the record sticks).
new_tmp() {
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX")"
  TMP_DIRS+=("$TMP")
}

# free_port: a loopback port nothing answers on, in $PORT.
free_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    PORT=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || return 0
  done
  die "no free loopback port found"
}

# ---------------------------------------------------------------- build and tools
# Default: build the working tree. BENCH_REV=<git rev> instead builds a pristine `git archive`
# export of that revision in a temp dir (its own target dir, $CARGO_TARGET_DIR/bench-rev, so the
# shared one is not disturbed) — use it to measure a commit while the working tree is mid-edit.
if [[ -n ${BENCH_REV:-} ]]; then
  REV="$(git -C "$ROOT" rev-parse --verify "${BENCH_REV}^{commit}")" || die "BENCH_REV=$BENCH_REV is not a commit"
  new_tmp
  SRC=$TMP
  # -m: files get the current mtime, so cargo never mistakes an export of an older commit for
  # already built (git archive stamps files with the commit time).
  git -C "$ROOT" archive --format=tar "$REV" | tar -x -m -C "$SRC"
  BUILD_TARGET="$CARGO_TARGET_DIR/bench-rev"
  log "cargo build --release of $BENCH_REV ($REV) exported to $SRC (target dir $BUILD_TARGET)"
else
  SRC=$ROOT
  BUILD_TARGET=$CARGO_TARGET_DIR
  log "cargo build --release of the working tree (CARGO_TARGET_DIR=$CARGO_TARGET_DIR; may wait for the cargo lock)"
fi
(cd "$SRC" && CARGO_TARGET_DIR="$BUILD_TARGET" timeout "$BUILD_TIMEOUT" cargo build --release --locked) \
  || die "cargo build --release failed or timed out"
[[ -x $BUILD_TARGET/release/keel ]] || die "no binary at $BUILD_TARGET/release/keel"
# Run a private copy: a concurrent build by someone else cannot swap the binary mid-benchmark.
new_tmp
cp "$BUILD_TARGET/release/keel" "$TMP/keel"
BIN="$TMP/keel"

command -v wrk >/dev/null || timeout 300 apt-get install -y -qq wrk >/dev/null || die "could not install wrk"
command -v curl >/dev/null || die "curl is required"
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  command -v psql >/dev/null || die "KEEL_BENCH_PG=1 needs psql"
  psql_admin 'SELECT 1' || die "cannot reach postgres://postgres@$PG_HOST:$PG_PORT (trust auth expected)"
fi

# ---------------------------------------------------------------- metadata
if [[ -n ${BENCH_REV:-} ]]; then
  COMMIT="$(git -C "$ROOT" rev-parse --short "$REV") (clean export of BENCH_REV=$BENCH_REV)"
else
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  DIRTY="$(git -C "$ROOT" status --porcelain -- src templates static migrations Cargo.toml Cargo.lock build.rs 2>/dev/null | wc -l | tr -d ' ')"
  if ((DIRTY > 0)); then
    COMMIT+=" plus $DIRTY uncommitted change(s) under src/ templates/ static/ migrations/ Cargo.* (built from the working tree)"
  fi
fi
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MEM="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
{
  echo "# Keel HTTP benchmark $STAMP"
  echo
  echo "- date: $(date -u)"
  echo "- commit: $COMMIT"
  echo "- machine: nproc=$(nproc), memory $MEM, CPU: $CPU_MODEL; kernel $(uname -sr)"
  echo "- $(wrk --version 2>&1 | head -1 | sed 's/ *Copyright.*//')"
  echo "- load: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency, after an unrecorded $WARMUP warm-up at the same concurrency; wrk and keel share the same cores"
  echo "- binary: $(du -h "$BIN" | cut -f1) release build, run from a private copy"
  echo "- server: keel serve --demo --no-worker --bind 127.0.0.1:PORT (default HTTP threads = one per core)"
  echo
} >"$SUMMARY"

# ---------------------------------------------------------------- helpers
# Environment for every server: nothing inherited from the caller that changes what is measured.
BASE_ENV=(env -u KEEL_DATABASE_URL -u KEEL_BIND -u KEEL_WORKERS -u KEEL_HTTP_THREADS -u KEEL_ENV
  -u KEEL_SMTP_URL -u KEEL_OBJECT_STORE -u KEEL_BASE_URL -u KEEL_DB_POOL_SIZE -u KEEL_LOG -u RUST_LOG)

# start_server LOGFILE DATA_DIR DB_URL|"" LOG_FILTER|"" ARGS...   (sets SERVER_PID)
start_server() {
  local logfile=$1 data=$2 db=$3 filter=$4
  shift 4
  local envs=("${BASE_ENV[@]}" "KEEL_DATA_DIR=$data")
  if [[ -n $db ]]; then envs+=("KEEL_DATABASE_URL=$db"); fi
  if [[ -n $filter ]]; then envs+=("KEEL_LOG=$filter"); fi
  "${envs[@]}" "$BIN" serve "$@" >"$logfile" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
}

healthz_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/healthz" 2>/dev/null || true; }

# wait_healthy PORT PID LOGFILE: polls GET /healthz back to back (no sleep) until it answers 200.
wait_healthy() {
  local port=$1 pid=$2 logfile=$3 deadline=$((SECONDS + START_TIMEOUT))
  while [[ $(healthz_code "$port") != 200 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "server exited before answering; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      die "server did not start"
    fi
    ((SECONDS < deadline)) || die "/healthz did not answer within ${START_TIMEOUT}s (see $logfile)"
  done
}

# wrk latency (812.00us, 1.23ms, 2.00s, 1.00m) -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "") { print "?"; exit }
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# cpu_idle_pct: share of all cores idle over one second (other work on the host skews figures).
cpu_idle_pct() {
  local a b
  a="$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}

# CPU accounting over a wrk run, in % of the whole host (all cores = 100): the server, wrk
# (this shell's reaped children), and everything else (another build or test run sharing the host).
host_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
children_secs() { # `times` must run in this shell (not a pipe/subshell) to see its reaped children
  times >"$OUT/.times"
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.2f", t }' "$OUT/.times"
}
CLK_TCK="$(getconf CLK_TCK)"
cpu_begin() { read -r H0_BUSY H0_TOTAL < <(host_ticks); S0="$(proc_ticks "$1")"; children_secs >"$OUT/.c0"; C0="$(<"$OUT/.c0")"; }
cpu_end() { # sets CPU_SPLIT "keel / wrk / other"
  local hb ht s1 c1
  read -r hb ht < <(host_ticks)
  s1="$(proc_ticks "$1")"
  children_secs >"$OUT/.c1"
  c1="$(<"$OUT/.c1")"
  CPU_SPLIT="$(awk -v hb="$((hb - H0_BUSY))" -v ht="$((ht - H0_TOTAL))" -v s="$((s1 - S0))" \
    -v c="$(awk -v a="$C0" -v b="$c1" -v k="$CLK_TCK" 'BEGIN {print (b - a) * k}')" 'BEGIN {
      srv = 100 * s / ht; w = 100 * c / ht; o = 100 * hb / ht - srv - w; if (o < 0) o = 0
      printf "%.0f / %.0f / %.0f", srv, w, o }')"
}

# wait_quiet: waits (bounded by QUIET_WAIT) until the host is at least QUIET_MIN% idle, so
# another build or test run does not share the cores with the measurement. Sets IDLE to the
# last sample; a measurement that starts on a busy host is still taken, and flagged.
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) said=
  while :; do
    IDLE="$(cpu_idle_pct)"
    ((IDLE >= QUIET_MIN)) && return 0
    if ((SECONDS >= deadline)); then
      log "warning: host only $IDLE% idle after waiting ${QUIET_WAIT}s; measuring anyway (flagged in the table)"
      return 0
    fi
    [[ -n $said ]] || log "host only $IDLE% idle; waiting up to ${QUIET_WAIT}s for it to reach ${QUIET_MIN}%"
    said=1
  done
}

# keep_log SRC DEST: copy a server log into the results, trimmed when large (the info-level
# access log of a load run is hundreds of MB); the number of access-log lines is kept.
keep_log() {
  local src=$1 dest=$2 lines size
  size="$(wc -c <"$src" | tr -d ' ')"
  if ((size <= 1048576)); then
    cp "$src" "$dest"
  else
    lines="$(wc -l <"$src" | tr -d ' ')"
    {
      head -n 40 "$src"
      echo "... [bench: trimmed; full log had $lines lines, $size bytes, $(grep -c '"keel::access"' "$src" || true) access-log lines] ..."
      tail -n 5 "$src"
    } >"$dest"
  fi
}

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
    wait_quiet
    idle=$IDLE
    name="${path#/}"
    raw="$OUT/wrk-$backend-$filter-$name.txt"
    log "$backend: warm-up $WARMUP, then wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency $path"
    timeout 120 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$PORT$path" >/dev/null
    cpu_begin "$SERVER_PID"
    timeout 300 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
      "http://127.0.0.1:$PORT$path" >"$raw"
    cpu_end "$SERVER_PID"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$raw")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$raw")")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
    sockerr="$(awk -F'Socket errors: ' '/Socket errors:/ {print $2}' "$raw")"
    [[ -n $rps ]] || die "could not parse wrk output $raw"
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
  PG_BASE="keel_bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
  log "postgres: databases ${PG_BASE}* on $PG_HOST:$PG_PORT (dropped at exit)"
  create_db() { # create_db NAME -> $PG_URL
    PG_DBS+=("$1")
    psql_admin "CREATE DATABASE \"$1\"" || die "could not create database $1"
    PG_URL="postgres://postgres@$PG_HOST:$PG_PORT/$1"
  }
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
rm -f "$OUT/.times" "$OUT/.c0" "$OUT/.c1"
cat "$SUMMARY"
log "raw wrk output, server logs and summary.md: $OUT"
