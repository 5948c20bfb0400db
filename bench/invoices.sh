#!/usr/bin/env bash
# Issue + render + store 1,000 invoices (target: median < 50 ms per invoice).
#
#   bench/invoices.sh                     # SQLite
#   KEEL_BENCH_PG=1 bench/invoices.sh     # SQLite, then PostgreSQL
#   BENCH_INVOICES=200 bench/invoices.sh  # fewer invoices
#
# Builds examples/bench_invoices.rs (release) from the working tree and runs it on a fresh
# database and data dir: one district with a complete profile and a verified contact, N drafts
# of 3 lines, then N sequential `invoice::issue_now` calls (the admin page's path: number,
# PDF render, store by SHA-256 on local disk, freeze, outbox email, audit; one transaction
# each). Output and a summary go to bench/results/<UTC stamp>-invoices/ (git-ignored).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT="${BENCH_INVOICES:-1000}"
bench_init "-invoices"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$ROOT" status --porcelain -- src templates static migrations examples Cargo.toml Cargo.lock 2>/dev/null | wc -l | tr -d ' ')"
((dirty > 0)) && COMMIT+=" plus $dirty uncommitted change(s) (built from the working tree)"
log "cargo build --release --example bench_invoices (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --locked --example bench_invoices) || die "build failed"
BIN="$CARGO_TARGET_DIR/release/examples/bench_invoices"
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  command -v psql >/dev/null || die "KEEL_BENCH_PG=1 needs psql"
  psql_admin 'SELECT 1' || die "cannot reach postgres://postgres@$PG_HOST:$PG_PORT"
fi
wait_quiet

{
  echo "# Keel invoice issuing benchmark $STAMP"
  echo
  echo "- date: $(date -u)"
  echo "- commit: $COMMIT"
  echo "- machine: nproc=$(nproc), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); kernel $(uname -sr)"
  echo "- invoices: $COUNT, 3 lines each, issued one after another; each includes number, PDF render, local file store, outbox email, audit"
  echo
} >"$SUMMARY"

run() { # run LABEL DATABASE_URL DATA_DIR
  log "$1: issuing $COUNT invoices"
  local line
  line="$("$BIN" "$2" "$3" "$COUNT" | tee "$OUT/$1.txt" | tail -1)"
  [[ $line == *numbers_gapless=true* ]] || die "$1: numbers were not gapless: $line"
  echo "- $1: $line" >>"$SUMMARY"
}

new_tmp
run sqlite "sqlite://$TMP/keel.db" "$TMP"
if [[ ${KEEL_BENCH_PG:-0} == 1 ]]; then
  pg_base
  create_db "${PG_BASE}_invoices"
  new_tmp
  run postgres "$PG_URL" "$TMP"
fi
cat "$SUMMARY"
