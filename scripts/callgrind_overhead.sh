#!/usr/bin/env bash
# Instructions per call of each overhead case, for observe and each peer, from callgrind
# (instruction counts do not depend on what else runs on the machine).
#
#   scripts/callgrind_overhead.sh [LIB:CASE ...]
#
# Each case runs with $SMALL and $LARGE calls, drained after every chunk of 1,000 as in the
# bench; per call = difference of the counts / difference of the calls. The calling thread is
# counted inside the bench's `measured` function only (`--toggle-collect`), which is exact;
# the other threads (the library's worker or collector) over the whole run, in a second run
# per size: their counts move by a few per call with how often timers wake them. Needs valgrind
# (`apt-get install valgrind`) and the bench built:
# `cargo bench -p observe-benches --bench overhead --no-run`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-target}"
# OVERHEAD_BIN: another build of the bench (e.g. a copy of main's, to compare).
bin=${OVERHEAD_BIN:-$(ls -t "$target"/release/deps/overhead-* 2>/dev/null | grep -v '\.d$' | head -1)}
[ -x "$bin" ] || { echo "no bench binary: cargo bench -p observe-benches --bench overhead --no-run" >&2; exit 1; }
SMALL=${SMALL:-20000}
LARGE=${LARGE:-120000}
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=()
  for lib in observe fastrace tracing tracing_otel; do
    for case in child new_trace sync nested disabled; do cases+=("$lib:$case"); done
  done
  cases+=("observe:capture")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "<caller> <others>": instructions of thread 1 inside `measured`, and of every other
# thread over the whole run.
totals() {
  local spec=$1 calls=$2 dir="$work/$1-$2"
  mkdir -p "$dir/caller" "$dir/all"
  OVERHEAD_PROFILE=$spec OVERHEAD_CALLS=$calls valgrind --tool=callgrind --separate-threads=yes \
    --toggle-collect='*measured*' --callgrind-out-file="$dir/caller/cg.out" "$bin" \
    >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
  OVERHEAD_PROFILE=$spec OVERHEAD_CALLS=$calls valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$dir/all/cg.out" "$bin" >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
  count() {
    awk -v want="$1" '/^(summary|totals):/ && !seen[FILENAME]++ {
           n = FILENAME; sub(/.*-/, "", n); if ((n + 0 == 1) == (want == "caller")) t += $2 }
         END { printf "%d", t }' "$2"/cg.out-*
  }
  echo "$(count caller "$dir/caller") $(count others "$dir/all")"
}

printf '| case | caller instructions per call | other threads per call | total |\n| --- | --- | --- | --- |\n'
for spec in "${cases[@]}"; do
  read -r c1 o1 < <(totals "$spec" "$SMALL")
  read -r c2 o2 < <(totals "$spec" "$LARGE")
  d=$((LARGE - SMALL))
  awk -v s="$spec" -v c=$((c2 - c1)) -v o=$((o2 - o1)) -v d=$d \
    'BEGIN { printf "| `%s` | %.0f | %.0f | %.0f |\n", s, c / d, o / d, (c + o) / d }'
done
