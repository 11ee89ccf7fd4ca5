#!/usr/bin/env bash
# Overload: producers flat out into a slow and into an unreachable destination. Shows that
# the caller never blocks, that peak memory (VmHWM) stays under the bound the queue size
# sets, and that drops are counted. Not a timed test: run it by hand (see BENCHMARKS.md).
#
#   scripts/overload.sh [seconds] [queue_capacity]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
capacity="${2:-65536}"
cargo build --release -p observe --example overload
target="${CARGO_TARGET_DIR:-target}"
status=0
for mode in slow unreachable; do
    echo "== $mode, ${seconds}s, queue_capacity $capacity"
    "$target"/release/examples/overload "$mode" "$seconds" "$capacity" || status=1
done
exit "$status"
