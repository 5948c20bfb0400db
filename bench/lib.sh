# shellcheck shell=bash
# Shared machinery of the bench/*.sh scripts (sourced, not run): settings, cleanup trap,
# release build (working tree or BENCH_REV), starting keel, waiting for a quiet host, wrk runs
# with CPU accounting. See bench/README.md.
#
# A script sources this file, then calls `bench_init NAME` (results dir + EXIT trap) before
# anything that starts a process or makes a temp dir.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"

WRK_THREADS="${BENCH_WRK_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
DURATION="${BENCH_DURATION:-15s}"
WARMUP="${BENCH_WARMUP:-2s}"
BUILD_TIMEOUT="${BENCH_BUILD_TIMEOUT:-2400}" # seconds; includes waiting for the cargo lock
START_TIMEOUT="${BENCH_START_TIMEOUT:-120}"   # seconds for /healthz to answer after spawn
QUIET_MIN="${BENCH_QUIET_MIN:-90}"            # % of the host idle before a measurement starts...
QUIET_WAIT="${BENCH_QUIET_WAIT:-300}"         # ...waiting at most this many seconds for it (0: don't wait)
MAX_OTHER="${BENCH_MAX_OTHER:-10}"            # % of the host used by other processes during a wrk run...
REMEASURE="${BENCH_REMEASURE:-2}"             # ...above which that run is discarded and redone, at most this often
PG_HOST=127.0.0.1
PG_PORT=5432

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# bench_init SUFFIX: results dir bench/results/<UTC stamp><SUFFIX> in $OUT, $SUMMARY, traps.
bench_init() {
  STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
  OUT="$ROOT/bench/results/$STAMP${1:-}"
  mkdir -p "$OUT"
  SUMMARY="$OUT/summary.md"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---------------------------------------------------------------- cleanup (always runs)
# Only what the script started: the pids, temp dirs and databases it recorded.
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
      log "process $pid ignored SIGTERM; sending SIGKILL"
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
  rm -f "$OUT/.times" "$OUT/.c0" "$OUT/.c1" "$OUT/body.tmp" 2>/dev/null
  exit "$rc"
}

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

# wait_port PORT PID WHAT: until something accepts on 127.0.0.1:PORT (bounded by START_TIMEOUT).
wait_port() {
  local port=$1 pid=$2 what=$3 deadline=$((SECONDS + START_TIMEOUT))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "$what exited before listening on 127.0.0.1:$port"
    ((SECONDS < deadline)) || die "$what did not listen on 127.0.0.1:$port within ${START_TIMEOUT}s"
    sleep 0.05
  done
}

# ---------------------------------------------------------------- build and tools
# build_keel: sets BIN (a private copy of the release binary), REV and COMMIT.
# BENCH_REV unset: builds the working tree (shared target dir, may wait for the cargo lock).
# BENCH_REV=<git rev>: builds a pristine `git archive` export of that revision in a temp dir
# (its own target dir, $CARGO_TARGET_DIR/bench-rev, so the shared one is not disturbed) — use
# it to measure a commit while the working tree is mid-edit.
build_keel() {
  local src target dirty
  if [[ -n ${BENCH_REV:-} ]]; then
    REV="$(git -C "$ROOT" rev-parse --verify "${BENCH_REV}^{commit}")" || die "BENCH_REV=$BENCH_REV is not a commit"
    new_tmp
    src=$TMP
    # -m: files get the current mtime, so cargo never mistakes an export of an older commit for
    # already built (git archive stamps files with the commit time).
    git -C "$ROOT" archive --format=tar "$REV" | tar -x -m -C "$src"
    target="$CARGO_TARGET_DIR/bench-rev"
    log "cargo build --release of $BENCH_REV ($REV) exported to $src (target dir $target)"
    COMMIT="$(git -C "$ROOT" rev-parse --short "$REV") (clean export of BENCH_REV=$BENCH_REV)"
  else
    src=$ROOT
    target=$CARGO_TARGET_DIR
    REV="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
    log "cargo build --release of the working tree (CARGO_TARGET_DIR=$CARGO_TARGET_DIR; may wait for the cargo lock)"
    COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    dirty="$(git -C "$ROOT" status --porcelain -- src templates static migrations Cargo.toml Cargo.lock build.rs 2>/dev/null | wc -l | tr -d ' ')"
    if ((dirty > 0)); then
      COMMIT+=" plus $dirty uncommitted change(s) under src/ templates/ static/ migrations/ Cargo.* (built from the working tree)"
    fi
  fi
  (cd "$src" && CARGO_TARGET_DIR="$target" timeout "$BUILD_TIMEOUT" cargo build --release --locked) \
    || die "cargo build --release failed or timed out"
  [[ -x $target/release/keel ]] || die "no binary at $target/release/keel"
  # Run a private copy: a concurrent build by someone else cannot swap the binary mid-benchmark.
  # Its path and name contain no "keel", so a `pkill keel`, `pkill -f 'keel serve'` or
  # `killall keel` someone aims at their dev server does not take the benchmark server down
  # mid-run (it did, twice). `ps` shows it as .../kbench.XXXXXX/kbench-server serve ...
  local bindir
  bindir="$(mktemp -d "${TMPDIR:-/tmp}/kbench.XXXXXX")"
  TMP_DIRS+=("$bindir")
  cp "$target/release/keel" "$bindir/kbench-server"
  BIN="$bindir/kbench-server"
}

# need_tools: wrk (installed with apt if missing), curl; PostgreSQL reachable when KEEL_BENCH_PG=1.
need_tools() {
  command -v wrk >/dev/null || timeout 300 apt-get install -y -qq wrk >/dev/null || die "could not install wrk"
  command -v curl >/dev/null || die "curl is required"
  if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
    command -v psql >/dev/null || die "KEEL_BENCH_PG=1 needs psql"
    psql_admin 'SELECT 1' || die "cannot reach postgres://postgres@$PG_HOST:$PG_PORT (trust auth expected)"
  fi
}

# machine_lines: the date/commit/machine/wrk/binary lines every summary starts with.
machine_lines() {
  local cpu mem
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "- date: $(date -u)"
  echo "- commit: $COMMIT"
  echo "- machine: nproc=$(nproc), memory $mem, CPU: $cpu; kernel $(uname -sr)"
  echo "- $(wrk --version 2>&1 | head -1 | sed 's/ *Copyright.*//')"
  echo "- binary: $(du -h "$BIN" | cut -f1) release build, run from a private copy"
}

# ---------------------------------------------------------------- PostgreSQL databases
# create_db NAME -> $PG_URL (recorded; dropped WITH (FORCE) at exit)
create_db() {
  PG_DBS+=("$1")
  psql_admin "CREATE DATABASE \"$1\"" || die "could not create database $1"
  PG_URL="postgres://postgres@$PG_HOST:$PG_PORT/$1"
}
# pg_base: a random keel_bench_<hex> prefix in $PG_BASE
pg_base() { PG_BASE="keel_bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"; }

# ---------------------------------------------------------------- keel servers
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

# ---------------------------------------------------------------- measuring
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

# CPU accounting over a wrk run, in % of the whole host (all cores = 100): the server (the
# process and its direct children, e.g. nginx workers), wrk (this shell's reaped children), and
# everything else (another build or test run sharing the host).
host_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() {
  local t=0 p n
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    n="$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || true)"
    t=$((t + ${n:-0}))
  done
  echo "$t"
}
children_secs() { # `times` must run in this shell (not a pipe/subshell) to see its reaped children
  times >"$OUT/.times"
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.2f", t }' "$OUT/.times"
}
CLK_TCK="$(getconf CLK_TCK)"
cpu_begin() { read -r H0_BUSY H0_TOTAL < <(host_ticks); S0="$(proc_ticks "$1")"; children_secs >"$OUT/.c0"; C0="$(<"$OUT/.c0")"; }
cpu_end() { # sets CPU_SPLIT "server / wrk / other"
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

# measure URL PID RAW: waits for a quiet host, an unrecorded $WARMUP warm-up, then
# wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency URL > RAW with CPU accounting for PID.
# A run during which other processes (someone's build) used more than MAX_OTHER % of the host is
# kept as RAW.discarded-N and redone, at most REMEASURE times; the last run is reported.
# Sets RPS P50 P99 (ms) NON2XX SOCKERR IDLE CPU_SPLIT DISCARDED.
measure() {
  local url=$1 pid=$2 raw=$3 other
  DISCARDED=0
  while :; do
    kill -0 "$pid" 2>/dev/null || die "the server (pid $pid) for $url is not running"
    wait_quiet
    log "warm-up $WARMUP, then wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency $url"
    timeout 120 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null \
      || die "warm-up against $url failed (server gone?)"
    cpu_begin "$pid"
    timeout 300 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$raw"
    cpu_end "$pid"
    if ! kill -0 "$pid" 2>/dev/null; then # its figures (and the CPU split) would be meaningless
      local st=0
      wait "$pid" 2>/dev/null || st=$?
      die "the server (pid $pid) exited during the measurement of $url (wait status $st; 137 = SIGKILL, 143 = SIGTERM); nothing recorded"
    fi
    other="${CPU_SPLIT##* / }"
    if ((other > MAX_OTHER && DISCARDED < REMEASURE)); then
      DISCARDED=$((DISCARDED + 1))
      mv "$raw" "$raw.discarded-$DISCARDED"
      log "other processes used $other % of the host during that run (> $MAX_OTHER %): discarded, measuring again ($DISCARDED/$REMEASURE)"
      continue
    fi
    break
  done
  RPS="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
  P50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$raw")")"
  P99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$raw")")"
  NON2XX="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
  NON2XX="${NON2XX:-0}"
  SOCKERR="$(awk -F'Socket errors: ' '/Socket errors:/ {print $2}' "$raw")"
  SOCKERR="${SOCKERR:-none}"
  [[ -n $RPS ]] || die "could not parse wrk output $raw"
}
