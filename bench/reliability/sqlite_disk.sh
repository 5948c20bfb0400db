#!/usr/bin/env bash
# SQLite on a full disk: Keel's data directory on a 16 MiB tmpfs (needs root for mount). Writes
# (failed sign-ins, each writing a throttle row) and reads (the public status page and its JSON)
# are counted by status while the disk is full and after space is freed; then PRAGMA
# integrity_check and `keel check`. (A read-only remount is refused while Keel holds the file
# open for writing, so that case is covered by the error mapping, not measured here.)
#
#   cargo build --release && sudo bench/reliability/sqlite_disk.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${KEEL_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}/release/keel}"
MNT="$(mktemp -d /tmp/keel-disk.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-sqlite-disk"
mkdir -p "$OUT"
mount -t tmpfs -o size=16m tmpfs "$MNT"
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; sleep 0.2; umount "$MNT" 2>/dev/null || umount -l "$MNT"; rmdir "$MNT"; }
trap cleanup EXIT
export KEEL_DATA_DIR="$MNT" KEEL_DATABASE_URL="sqlite://$MNT/keel.db" KEEL_BIND="127.0.0.1:$PORT" \
  KEEL_BASE_URL="http://127.0.0.1:$PORT" KEEL_LOG=info
"$BIN" serve >"$OUT/keel.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# One round: N sign-in attempts (writes) and N status page reads; prints "writes: codes | reads: codes".
round() {
  local w r
  w=$(for _ in $(seq 20); do signin; done | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  r=$(for _ in $(seq 20); do
    curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/status"
    curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/api/v2/summary.json"
  done | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  echo "writes: $w| reads: $r"
}
# A failed sign-in: writes a throttle row. Prints the status (and the headers to $2 if given).
signin() {
  local jar token
  jar=$(mktemp)
  token=$(curl -s -c "$jar" "http://127.0.0.1:$PORT/login" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
  curl -s -o /dev/null -D "${1:-/dev/null}" -w '%{http_code}\n' -b "$jar" -H "Origin: http://127.0.0.1:$PORT" \
    -H "X-Forwarded-For: 10.$((RANDOM % 250)).$((RANDOM % 250)).$((RANDOM % 250))" -X POST "http://127.0.0.1:$PORT/login" \
    --data-urlencode "email=nobody-$RANDOM@example.com" --data-urlencode 'password=wrong-password-1' \
    --data-urlencode "csrf_token=$token"
  rm -f "$jar"
}
retry_after() {
  local h; h=$(mktemp); signin "$h" >/dev/null; grep -i '^retry-after' "$h" | tr -d '\r' || true; rm -f "$h"
}
{
  echo "healthy:          $(round)"
  dd if=/dev/zero of="$MNT/filler" bs=1M count=64 2>/dev/null || true
  echo "disk full:        $(round) $(retry_after)"
  rm -f "$MNT/filler"
  echo "space freed:      $(round)"
  echo "500s in the log:  $(grep -c '"status":500' "$OUT/keel.log" || true)"
  echo "panics in log:    $(grep -c panicked "$OUT/keel.log" || true)"
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "integrity_check:  $(python3 -c "import sqlite3; print(sqlite3.connect('$MNT/keel.db').execute('PRAGMA integrity_check').fetchone()[0])")"
  echo "keel check:       $("$BIN" check >/dev/null 2>&1 && echo ok || echo FAILED)"
} | tee "$OUT/summary.txt"
