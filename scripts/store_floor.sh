#!/usr/bin/env bash
# The floor under the store's writer on a filled file: the same rows the writer stores
# (observations and their traces), inserted by the plainest SQL there is (`INSERT ... SELECT`
# of rows already in SQLite's format: no binding, no lookup, no merge), in transactions of
# the size the pipeline's destination now commits; once into the file's own schema (every
# index and trigger) and once into the same file with its secondary indexes and its
# triggers dropped (primary keys only). CPU time of the sqlite3 shell (user + system), per
# observation row; load on the machine does not inflate it as it does wall time.
#
#   scripts/store_floor.sh FILLED_DB [ROWS_PER_TRANSACTION] [TRANSACTIONS]
#
# FILLED_DB: a store file, e.g. the one `OBSERVE_BENCH_DIR=DIR cargo bench -p
# observe-benches --bench store_throughput -- filled` leaves in DIR (1M observations);
# it is copied, never changed. The rows are the file's last ROWS observations (8,192 by
# default: 16 batches of 512) and their traces, each transaction's given new trace keys and
# random trace ids, as new traces get. Needs the sqlite3 shell (`apt-get install sqlite3`).
set -euo pipefail
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install sqlite3" >&2; exit 1; }
src=${1:?usage: scripts/store_floor.sh FILLED_DB [ROWS_PER_TRANSACTION] [TRANSACTIONS]}
rows=${2:-8192}
txs=${3:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src" "$work/source.db"
[ -f "$src-wal" ] && cp "$src-wal" "$work/source.db-wal"
sqlite3 "$work/source.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
sqlite3 "$work/source.db" <<SQL
ATTACH '$work/stage.db' AS stage;
CREATE TABLE stage.obs AS
    SELECT * FROM observations WHERE rowid > (SELECT max(rowid) FROM observations) - $rows;
CREATE TABLE stage.tr AS SELECT * FROM traces WHERE seq IN (SELECT trace_seq FROM stage.obs);
SQL
# A column list with some columns replaced by expressions ("name=expression" pairs).
columns() {
    local table=$1
    shift
    sqlite3 "$work/source.db" "SELECT name FROM pragma_table_info('$table') ORDER BY cid" |
        while read -r col; do
            out=$col
            for pair in "$@"; do
                [ "${pair%%=*}" = "$col" ] && out=${pair#*=}
            done
            printf '%s\n' "$out"
        done | paste -sd, -
}
top=$(sqlite3 "$work/source.db" "SELECT max(seq) FROM traces")
obs_rows=$(sqlite3 "$work/stage.db" "SELECT count(*) FROM obs")
trace_rows=$(sqlite3 "$work/stage.db" "SELECT count(*) FROM tr")
for variant in schema no_triggers bare; do
    db="$work/$variant.db"
    cp "$work/source.db" "$db"
    case $variant in
        no_triggers) dropped="'trigger'" ;;
        bare) dropped="'index', 'trigger'" ;;
        *) dropped= ;;
    esac
    if [ -n "$dropped" ]; then
        sqlite3 "$db" "SELECT 'DROP ' || type || ' ' || name || ';' FROM sqlite_master
            WHERE type IN ($dropped) AND sql IS NOT NULL" | sqlite3 "$db"
    fi
    script="$work/$variant.sql"
    {
        echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;"
        echo "ATTACH '$work/stage.db' AS stage;"
        echo ".timer on"
        for t in $(seq 1 "$txs"); do
            off=$((top + t * 10000000))
            echo "BEGIN IMMEDIATE;"
            echo "INSERT INTO traces SELECT $(columns traces "seq=seq + $off" "id=lower(hex(randomblob(16)))") FROM stage.tr;"
            echo "INSERT INTO observations SELECT $(columns observations "trace_seq=trace_seq + $off") FROM stage.obs;"
            echo "COMMIT;"
        done
    } >"$script"
    sqlite3 "$db" <"$script" | awk -v v="$variant" -v n=$((obs_rows * txs)) -v t=$((trace_rows * txs)) '
        /^Run Time/ { cpu += $6 + $8; wall += $4 }
        END {
            printf "%-11s %d observations + %d traces in %d transactions: CPU %.0f ns per observation (%.0f k obs per CPU-second), wall %.0f ns\n",
                v, n, t, '"$txs"', cpu * 1e9 / n, n / cpu / 1e3, wall * 1e9 / n
        }'
done
echo "sqlite3 shell: SQLite $(sqlite3 --version | cut -d' ' -f1) (the store bundles its own)"
