#!/usr/bin/env bash
# `observe serve` ingest at full speed: for OTLP protobuf, OTLP/JSON and Langfuse's legacy
# ingestion API in turn, a fresh store and server, `ingest_load` posting requests of 512
# spans on 4 connections for SECONDS, sampling the server's RSS every second; then a
# SIGTERM, and a check that every span accepted is in the store. Prints spans/s, refused
# requests, the server's CPU time and RSS first/last/peak for each. Not a timed test: run
# it by hand on a quiet machine (BENCHMARKS.md, "observe serve ingest").
#
#   scripts/ingest_bench.sh [seconds] [connections]
#
# Builds the binaries first, in the bench profile (release with debug info, for profilers;
# set NO_BUILD=1 to use those already built under $CARGO_TARGET_DIR, or target/). Needs curl
# and sqlite3 (apt-get install curl sqlite3). PORT (default 3912) is where the server
# listens; PROFILE_DIR=debug runs debug binaries (to try the script, not for figures);
# OBSERVE=PATH runs another build of the server (a before/after pair with the same load
# generator); APIS="otlp-protobuf ingestion" runs only those. Before each server stops,
# its CPU time per span is printed by thread: the connections' (reading, inflating,
# decoding, mapping), the writer's, and the freeing and checkpoint threads'.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
connections="${2:-4}"
port="${PORT:-3912}"
target="${CARGO_TARGET_DIR:-target}"
for tool in curl sqlite3; do
    command -v "$tool" >/dev/null || { echo "ingest_bench: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --profile bench -p observe-cli --bin observe --example ingest_load
fi
observe="${OBSERVE:-$target/${PROFILE_DIR:-release}/observe}"
load="${LOAD:-$target/${PROFILE_DIR:-release}/examples/ingest_load}"
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# The server's CPU time per span by thread (utime + stime from /proc, since it started), read
# before the SIGTERM while the long-lived threads still run. A connection's thread ends with
# its request, and what ended threads used stays only in the process's total: the
# connections' share is that total less the threads still there (the writer, the freeing
# and checkpoint threads, the accepting thread, the view's idle workers).
thread_cpu() {
    local pid=$1 spans=$2 tck total
    tck=$(getconf CLK_TCK)
    total=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    for task in /proc/"$pid"/task/*; do
        printf '%s %s\n' "$(tr ' ' '_' <"$task/comm")" \
            "$(sed 's/.*) //' "$task/stat" | awk '{ print $12 + $13 }')"
    done | awk -v total="$total" -v tck="$tck" -v spans="$spans" '
        { live += $2 }
        $1 ~ /^observe-serve-c/ { by["connections"] += $2; next }
        { by[$1] += $2 }
        END {
            by["connections"] += total - live
            for (name in by) {
                printf "  cpu %-32s %7.1f s  %6.2f us/span\n", name, by[name] / tck,
                    (spans > 0 ? by[name] / tck / spans * 1e6 : 0)
            }
            printf "  cpu %-32s %7.1f s  %6.2f us/span\n", "whole server", total / tck,
                (spans > 0 ? total / tck / spans * 1e6 : 0)
        }' | sort
}
status=0
for api in ${APIS:-otlp-protobuf otlp-json ingestion}; do
    db="$work/$api.db"
    "$observe" --db "$db" serve --port "$port" >"$work/$api.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/api/public/health" >/dev/null && break
        sleep 0.1
    done
    echo "== $api, ${seconds}s, $connections connections, server pid $server"
    out="$work/$api.out"
    if ! "$load" --url "http://127.0.0.1:$port" --api "$api" --connections "$connections" \
        --seconds "$seconds" --pid "$server" | tee "$out"; then
        status=1
    fi
    accepted=$(sed -n 's/.*: \([0-9]*\) spans accepted.*/\1/p' "$out")
    thread_cpu "$server" "${accepted:-0}"
    kill -TERM "$server"
    wait "$server" || { echo "the server did not stop cleanly (log: $work/$api.log)"; status=1; }
    server=""
    stored=$(sqlite3 "$db" "SELECT count(*) FROM observations")
    echo "stored after SIGTERM: $stored observations (load generator: ${accepted:-?} spans accepted)"
    if [ -z "$accepted" ] || [ "$stored" -lt "$accepted" ]; then
        echo "MISSING: fewer observations stored than spans accepted"
        status=1
    fi
done
exit "$status"
