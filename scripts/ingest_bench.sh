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
# listens; PROFILE_DIR=debug runs debug binaries (to try the script, not for figures).
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
observe="$target/${PROFILE_DIR:-release}/observe"
load="$target/${PROFILE_DIR:-release}/examples/ingest_load"
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
status=0
for api in otlp-protobuf otlp-json ingestion; do
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
    kill -TERM "$server"
    wait "$server" || { echo "the server did not stop cleanly (log: $work/$api.log)"; status=1; }
    server=""
    accepted=$(sed -n 's/.*: \([0-9]*\) spans accepted.*/\1/p' "$out")
    stored=$(sqlite3 "$db" "SELECT count(*) FROM observations")
    echo "stored after SIGTERM: $stored observations (load generator: ${accepted:-?} spans accepted)"
    if [ -z "$accepted" ] || [ "$stored" -lt "$accepted" ]; then
        echo "MISSING: fewer observations stored than spans accepted"
        status=1
    fi
done
exit "$status"
