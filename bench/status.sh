#!/usr/bin/env bash
# The public status page under load: keel against nginx serving the same bytes, and keel with
# its database gone.
#
#   bench/status.sh                  # SQLite; binary of HEAD (clean export)
#   KEEL_BENCH_PG=1 bench/status.sh  # also PostgreSQL, plus the "database down" case
#   BENCH_REV=e6e3661 bench/status.sh
#
# See bench/README.md. Every server (keel, nginx, the TCP proxy) listens on 127.0.0.1 only.
# Raw wrk output, server logs, the nginx config and a summary go to
# bench/results/<UTC stamp>-status/ (git-ignored).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Unlike http.sh, the default is a clean export of HEAD, never the (shared, mid-edit) working tree.
BENCH_REV="${BENCH_REV:-$(git -C "$ROOT" rev-parse HEAD)}"
NGINX="${BENCH_NGINX:-/usr/sbin/nginx}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-2}"
STALE_TIMEOUT="${BENCH_STALE_TIMEOUT:-90}" # seconds for keel to notice the database is gone
PATHS=(/status /api/v2/summary.json)

bench_init "-status"
build_keel
need_tools
if [[ ! -x $NGINX ]]; then
  log "$NGINX missing: apt-get install nginx-light"
  timeout 300 apt-get install -y -qq nginx-light >/dev/null || die "could not install nginx-light"
fi
[[ -x $NGINX ]] || die "no nginx at $NGINX"
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  PYTHON="$(command -v python3)" || die "KEEL_BENCH_PG=1 needs python3 (TCP proxy for the database-down case)"
fi

{
  echo "# Keel status page benchmark $STAMP"
  echo
  machine_lines
  echo "- nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), worker_processes $NGINX_WORKERS, access_log off, serving the bytes fetched once from keel"
  echo "- load: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency, after an unrecorded $WARMUP warm-up at the same concurrency; wrk, keel and nginx share the same $(nproc) cores"
  echo "- keel: keel serve --demo --no-worker --bind 127.0.0.1:PORT, KEEL_LOG=warn (default HTTP threads = one per core)"
  echo
} >"$SUMMARY"

# ---------------------------------------------------------------- helpers
# fetch PORT PATH DEST: GET once into DEST; sets CODE, CTYPE, BYTES, HBYTES (header bytes).
fetch() {
  local out
  out="$(curl -s -o "$3" -w '%{http_code} %{size_header} %{content_type}' --max-time 10 "http://127.0.0.1:$1$2" || true)"
  CODE="${out%% *}"
  out="${out#* }"
  HBYTES="${out%% *}"
  CTYPE="${out#* }"
  BYTES="$(wc -c <"$3" 2>/dev/null | tr -d ' ' || echo 0)"
}

# start_nginx WWW_DIR: a throwaway nginx (own prefix, own config) serving WWW_DIR with the
# content types in CTYPES[path]; sets NGINX_PID, NGINX_PORT, NGINX_CONF.
declare -A CTYPES
start_nginx() {
  local www=$1 prefix loc="" p
  new_tmp
  prefix=$TMP
  mkdir -p "$prefix/tmp" "$prefix/logs"
  free_port
  NGINX_PORT=$PORT
  for p in "${PATHS[@]}"; do
    loc+="        location = $p { default_type \"${CTYPES[$p]}\"; }"$'\n'
  done
  NGINX_CONF="$prefix/nginx.conf"
  cat >"$NGINX_CONF" <<EOF
# bench/status.sh: throwaway config, not the system one (/etc/nginx is never read).
worker_processes $NGINX_WORKERS;
error_log $prefix/logs/error.log warn;
pid $prefix/nginx.pid;
events { worker_connections 1024; }
http {
    types { }
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    # keel (actix) does not close a keep-alive connection after N requests; nor does this nginx.
    keepalive_requests 1000000;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name _;
        root $www;
$loc        location / { return 404; }
    }
}
EOF
  # Run as root, nginx workers drop to an unprivileged user: they must be able to read the files.
  chmod 755 "$prefix" "$www"
  find "$www" -type d -exec chmod 755 {} + && find "$www" -type f -exec chmod 644 {} +
  timeout 30 "$NGINX" -t -q -p "$prefix" -e "$prefix/logs/error.log" -c "$NGINX_CONF" || die "nginx -t rejected $NGINX_CONF"
  "$NGINX" -p "$prefix" -e "$prefix/logs/error.log" -c "$NGINX_CONF" -g 'daemon off;' >"$prefix/logs/stdout.log" 2>&1 &
  NGINX_PID=$!
  SERVER_PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PORT" "$NGINX_PID" nginx
  NGINX_PREFIX=$prefix
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
# meets RPS_RATIO P99: the spec's target, keel >= 0.5x nginx requests/s and p99 < 10 ms
meets() { awk -v r="$1" -v p="$2" 'BEGIN { print ((r >= 0.5 && p < 10) ? "yes" : "no") }'; }
human_backend() { [[ $1 == postgres ]] && echo "PostgreSQL" || echo "SQLite"; }

RAW_ROWS=()  # one per wrk run
CMP_ROWS=()  # keel vs nginx, per backend and path
DOWN_ROWS=() # database down
declare -A KEEL_RPS NGINX_RPS

# ---------------------------------------------------------------- keel vs nginx
# status_pass BACKEND DB_URL|"" : keel on a fresh data dir (and database), its two pages
# fetched once and served by nginx, then each path measured against keel and against nginx.
status_pass() {
  local backend=$1 db=$2 data www logfile path name raw k_rps k_p50 k_p99 n_rps n_p50 n_p99 r
  new_tmp
  data=$TMP
  free_port
  local kport=$PORT
  logfile="$data/server.log"
  log "$backend: keel serve --demo --no-worker --bind 127.0.0.1:$kport (KEEL_LOG=warn)"
  start_server "$logfile" "$data" "$db" warn --demo --no-worker --bind "127.0.0.1:$kport"
  local kpid=$SERVER_PID
  wait_healthy "$kport" "$kpid" "$logfile"

  new_tmp
  www=$TMP
  declare -A kbytes khdr nhdr
  for path in "${PATHS[@]}"; do
    mkdir -p "$www$(dirname "$path")"
    fetch "$kport" "$path" "$www$path"
    [[ $CODE == 200 ]] || die "$backend: keel GET $path answered $CODE"
    CTYPES[$path]=$CTYPE
    kbytes[$path]=$BYTES
    khdr[$path]=$HBYTES
    cp "$www$path" "$OUT/body-$backend-${path//\//_}"
    log "$backend: GET $path -> 200, $BYTES bytes, Content-Type: $CTYPE"
  done
  start_nginx "$www"
  cp "$NGINX_CONF" "$OUT/nginx-$backend.conf"
  for path in "${PATHS[@]}"; do
    fetch "$NGINX_PORT" "$path" "$OUT/body.tmp"
    [[ $CODE == 200 ]] || die "nginx GET $path answered $CODE (see $NGINX_PREFIX/logs/error.log)"
    [[ $CTYPE == "${CTYPES[$path]}" ]] || die "nginx GET $path: Content-Type '$CTYPE', keel sends '${CTYPES[$path]}'"
    cmp -s "$OUT/body.tmp" "$www$path" || die "nginx GET $path: body differs from keel's"
    nhdr[$path]=$HBYTES
  done
  rm -f "$OUT/body.tmp"

  for path in "${PATHS[@]}"; do
    name="${path//\//_}"
    raw="$OUT/wrk-$backend-keel$name.txt"
    log "$backend: keel GET $path"
    measure "http://127.0.0.1:$kport$path" "$kpid" "$raw"
    k_rps=$RPS k_p50=$P50 k_p99=$P99
    RAW_ROWS+=("| $(human_backend "$backend") | GET $path | keel | $RPS | $P50 | $P99 | $NON2XX | $SOCKERR | ${kbytes[$path]} | ${khdr[$path]} | $IDLE | $CPU_SPLIT | $DISCARDED |")
    log "$backend keel GET $path: $RPS req/s, p50 $P50 ms, p99 $P99 ms, non-2xx $NON2XX; CPU server/wrk/other: $CPU_SPLIT %"

    raw="$OUT/wrk-$backend-nginx$name.txt"
    log "$backend: nginx GET $path"
    measure "http://127.0.0.1:$NGINX_PORT$path" "$NGINX_PID" "$raw"
    n_rps=$RPS n_p50=$P50 n_p99=$P99
    RAW_ROWS+=("| $(human_backend "$backend") | GET $path | nginx | $RPS | $P50 | $P99 | $NON2XX | $SOCKERR | ${kbytes[$path]} | ${nhdr[$path]} | $IDLE | $CPU_SPLIT | $DISCARDED |")
    log "$backend nginx GET $path: $RPS req/s, p50 $P50 ms, p99 $P99 ms, non-2xx $NON2XX; CPU server/wrk/other: $CPU_SPLIT %"

    r="$(ratio "$k_rps" "$n_rps")"
    KEEL_RPS[$backend$path]=$k_rps
    NGINX_RPS[$backend$path]=$n_rps
    CMP_ROWS+=("| $(human_backend "$backend") | GET $path | ${kbytes[$path]} | $k_rps | $n_rps | $r | $k_p50 | $n_p50 | $k_p99 | $n_p99 | $(meets "$r" "$k_p99") |")
  done
  stop_pid "$NGINX_PID"
  cp "$NGINX_PREFIX/logs/error.log" "$OUT/nginx-$backend-error.log" 2>/dev/null || true
  stop_pid "$kpid"
  keep_log "$logfile" "$OUT/server-$backend.log"
}

# ---------------------------------------------------------------- database down (PostgreSQL)
# keel reaches PostgreSQL through bench/tcp_proxy.py; after a warm-up the proxy is killed (the
# PostgreSQL server itself is untouched), keel is given time to notice (its snapshot is marked
# stale), then both paths are measured again.
health_stale() { curl -s --max-time 2 "http://127.0.0.1:$1/api/status/health" 2>/dev/null | grep -o '"stale":[a-z]*' | cut -d: -f2 || true; }

db_down_pass() {
  local dbname="${PG_BASE}_down" data logfile ppid pport kport kpid path name raw t0 waited stale before after
  create_db "$dbname"
  free_port
  pport=$PORT
  "$PYTHON" "$ROOT/bench/tcp_proxy.py" "$pport" "$PG_PORT" >"$OUT/tcp-proxy.log" 2>&1 &
  ppid=$!
  SERVER_PIDS+=("$ppid")
  wait_port "$pport" "$ppid" "tcp proxy"
  log "postgres (database down): proxy 127.0.0.1:$pport -> 127.0.0.1:$PG_PORT (pid $ppid)"

  new_tmp
  data=$TMP
  free_port
  kport=$PORT
  logfile="$data/server.log"
  start_server "$logfile" "$data" "postgres://postgres@$PG_HOST:$pport/$dbname" warn --demo --no-worker --bind "127.0.0.1:$kport"
  kpid=$SERVER_PID
  wait_healthy "$kport" "$kpid" "$logfile"
  for path in "${PATHS[@]}"; do
    fetch "$kport" "$path" "$OUT/body.tmp"
    [[ $CODE == 200 ]] || die "database down pass: GET $path answered $CODE with the database up"
    log "postgres (database down): warm-up $WARMUP on $path with the database reachable"
    timeout 120 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$kport$path" >/dev/null \
      || die "database down pass: warm-up on $path failed"
  done
  stale="$(health_stale "$kport")"
  [[ $stale == false ]] || log "warning: /api/status/health says stale=$stale before the database went away"

  log "postgres (database down): killing the proxy (pid $ppid)"
  stop_pid "$ppid"
  if (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null; then
    die "something still accepts on 127.0.0.1:$pport after the proxy was stopped"
  fi
  t0=$SECONDS
  while [[ $(health_stale "$kport") != true ]] && ((SECONDS - t0 < STALE_TIMEOUT)); do sleep 0.5; done
  waited=$((SECONDS - t0))
  stale="$(health_stale "$kport")"
  if [[ $stale == true ]]; then
    DOWN_NOTE="keel marked its snapshot stale ${waited}s after the proxy was killed (\`/api/status/health\` \"stale\": true); measured after that"
  else
    DOWN_NOTE="keel had NOT marked its snapshot stale ${waited}s after the proxy was killed (\`/api/status/health\` stale=${stale:-no answer}); measured anyway"
  fi
  log "postgres (database down): $DOWN_NOTE"

  for path in "${PATHS[@]}"; do
    fetch "$kport" "$path" "$OUT/body.tmp"
    before="$CODE, $BYTES bytes"
    name="${path//\//_}"
    raw="$OUT/wrk-postgres-dbdown-keel$name.txt"
    log "postgres (database down): keel GET $path (answered $before just before)"
    kill -0 "$kpid" 2>/dev/null || die "keel exited after the database went away (see $logfile)"
    measure "http://127.0.0.1:$kport$path" "$kpid" "$raw"
    fetch "$kport" "$path" "$OUT/body.tmp"
    after="$CODE"
    DOWN_ROWS+=("| GET $path | $RPS | $P50 | $P99 | $NON2XX | $SOCKERR | $(ratio "$RPS" "${KEEL_RPS[postgres$path]:-0}") | $(ratio "$RPS" "${NGINX_RPS[postgres$path]:-0}") | $before / $after | $IDLE | $CPU_SPLIT | $DISCARDED |")
    log "postgres (database down) GET $path: $RPS req/s, p50 $P50 ms, p99 $P99 ms, non-2xx $NON2XX, socket errors $SOCKERR"
  done
  rm -f "$OUT/body.tmp"
  DOWN_NOTE+="; keel logged $(grep -c '"level":"WARN"' "$logfile" || true) WARN and $(grep -c '"level":"ERROR"' "$logfile" || true) ERROR lines while the database was down or before"
  stop_pid "$kpid"
  keep_log "$logfile" "$OUT/server-postgres-dbdown.log"
}

# ---------------------------------------------------------------- run
status_pass sqlite ""
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  pg_base
  log "postgres: databases ${PG_BASE}* on $PG_HOST:$PG_PORT (dropped at exit)"
  create_db "$PG_BASE"
  status_pass postgres "$PG_URL"
  db_down_pass
fi

# ---------------------------------------------------------------- report
{
  echo "## keel vs nginx (wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency)"
  echo
  echo '| Backend | URL | Body bytes | keel req/s | nginx req/s | keel/nginx | keel p50 (ms) | nginx p50 (ms) | keel p99 (ms) | nginx p99 (ms) | Target met (≥ 0.5×, p99 < 10 ms) |'
  echo '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|'
  printf '%s\n' "${CMP_ROWS[@]}"
  echo
  echo "## Every run"
  echo
  echo "| Backend | URL | Server | Requests/s | p50 (ms) | p99 (ms) | Non-2xx/3xx | Socket errors | Body bytes | Header bytes | Host idle before (%) | CPU during run: server / wrk / other (% of host) | Runs discarded (other > $MAX_OTHER %) |"
  echo '|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|'
  printf '%s\n' "${RAW_ROWS[@]}"
  echo
  echo "## Database down"
  echo
  if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
    echo "PostgreSQL through a TCP proxy that was killed after the warm-up. $DOWN_NOTE."
    echo
    echo "| URL | keel req/s | p50 (ms) | p99 (ms) | Non-2xx/3xx | Socket errors | vs keel, database up | vs nginx | Status before / after the run | Host idle before (%) | CPU during run: keel / wrk / other (% of host) | Runs discarded (other > $MAX_OTHER %) |"
    echo '|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|'
    printf '%s\n' "${DOWN_ROWS[@]}"
  else
    echo "Not measured: needs KEEL_BENCH_PG=1."
  fi
  echo
  echo "SQLite: no database-down variant (making keel.db unreadable under a running server is not a reliable way to take SQLite away)."
} >>"$SUMMARY"
cat "$SUMMARY"
log "raw wrk output, bodies, nginx configs, server logs and summary.md: $OUT"
