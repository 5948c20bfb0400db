#!/bin/sh
# Builds and runs the fuzz targets one after another (see README.md).
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 600 seconds each, every target
# Each target's libFuzzer log is left in fuzz/logs/<target>/fuzz-0.log (its last line holds the
# totals); new inputs go to fuzz/corpus/<target>/, crashes to fuzz/artifacts/<target>/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-$(cargo fuzz list --fuzz-dir "$root/fuzz")}
# libFuzzer builds need nightly-only flags (-Zsanitizer=address); this lets stable rustc take them.
export RUSTC_BOOTSTRAP=1
cargo fuzz build --fuzz-dir "$root/fuzz" --target-dir "$root/fuzz/target"
for t in $targets; do
    case $t in
        usage_events) len=32768 ;; # the dead-letter payload is cut at 16 KiB
        usage_backfill) len=16384 ;;
        *) len=4096 ;;
    esac
    mkdir -p "$root/fuzz/logs/$t"
    (cd "$root/fuzz/logs/$t" && nice -n 10 cargo fuzz run --fuzz-dir "$root/fuzz" --target-dir "$root/fuzz/target" \
        "$t" -- -max_total_time="$secs" -jobs=1 -timeout=10 -max_len="$len")
    tail -n 1 "$root/fuzz/logs/$t/fuzz-0.log"
done
