//! The store the `ui` and `dashboard` benches read: 100,000 traces (one session each, one
//! second apart from 2026-01-01T00:00:00Z) and 1M observations; the last trace has 5,000.
//!
//! Generated with SQL once and kept at `target/ui-bench/store-1m-v<schema>.db`.

use std::path::PathBuf;
use std::time::Instant;

use observe_cli::ui::UiServer;
use observe_store::{StoreExporter, SCHEMA_VERSION};
use rusqlite::Connection;

/// Traces (one session each); the last one is the big trace.
pub const TRACES: i64 = 100_000;
/// Observations of every other trace.
const PER_TRACE: i64 = 10;
/// Observations of the big trace.
pub const BIG_TRACE: i64 = 5_000;
/// 2026-01-01T00:00:00Z; traces start one second apart from here.
pub const BASE_SECONDS: i64 = 1_767_225_600;

fn store_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target
        .join("ui-bench")
        .join(format!("store-1m-v{SCHEMA_VERSION}.db"))
}

pub fn big_trace_id() -> String {
    format!("{TRACES:032x}")
}

/// The store, generated when it is not there yet.
pub fn store() -> PathBuf {
    let path = store_path();
    if path.is_file() {
        return path;
    }
    let started = Instant::now();
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    // The writer creates the file with the current schema; SQL fills it.
    drop(StoreExporter::open(&partial).expect("creating the bench store"));
    let conn = Connection::open(&partial).expect("opening the bench store");
    let small = TRACES - 1;
    let sql = format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {TRACES} - 1)
         INSERT INTO traces (seq, id, name, user_id, session_id, timestamp, start_ns, end_ns,
             latency_ms, calculated_total_cost, metadata, tags, updated_at, end_time,
             observation_count, has_root)
         SELECT i + 1, printf('%032x', i + 1), 'bench_trace', 'user_' || (i % 1000),
             printf('session_%06d', i),
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + i, 'unixepoch') || '.000000Z',
             ({BASE_SECONDS} + i) * 1000000000, ({BASE_SECONDS} + i) * 1000000000 + 900000000,
             900.0, 0.001, '{{}}', '[\"bench\"]',
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + i, 'unixepoch') || '.900000Z',
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + i, 'unixepoch') || '.900000Z',
             CASE WHEN i = {TRACES} - 1 THEN {BIG_TRACE} ELSE {PER_TRACE} END, 1
         FROM n;

         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                                 WHERE i < {small} * {PER_TRACE} - 1)
         INSERT INTO observations (id, trace_id, parent_observation_id, type, name, level,
             status_message, start_time, end_time, start_ns, end_ns, latency_ms, model,
             usage_details, calculated_total_cost, input, output, trace_seq)
         SELECT printf('%016x', i + 1), printf('%032x', t + 1),
             CASE WHEN k = 0 THEN NULL ELSE printf('%016x', i - k + 1) END,
             CASE WHEN k = 1 THEN 'GENERATION' ELSE 'SPAN' END,
             CASE WHEN k = 0 THEN 'root' WHEN k = 1 THEN 'llm_call' ELSE 'step_' || k END,
             CASE WHEN k = 5 AND t % 50 = 0 THEN 'ERROR' ELSE 'DEFAULT' END,
             CASE WHEN k = 5 AND t % 50 = 0 THEN 'step failed' END,
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + t, 'unixepoch') || printf('.%06dZ', k * 1000),
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + t, 'unixepoch') || printf('.%06dZ', k * 1000 + 500000),
             ({BASE_SECONDS} + t) * 1000000000 + k * 1000000,
             ({BASE_SECONDS} + t) * 1000000000 + k * 1000000 + 500000000, 500.0,
             CASE WHEN k = 1 THEN 'gpt-4o-mini' END,
             CASE WHEN k = 1 THEN '{{\"input\":100,\"output\":20,\"total\":120}}' END,
             CASE WHEN k = 1 THEN 0.001 ELSE 0 END,
             '{{\"question\":\"what is observed in step ' || k || '?\"}}',
             '{{\"answer\":\"step ' || k || ' done\"}}', t + 1
         FROM (SELECT i, i / {PER_TRACE} AS t, i % {PER_TRACE} AS k FROM n);

         WITH RECURSIVE n(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM n WHERE j < {BIG_TRACE} - 1)
         INSERT INTO observations (id, trace_id, parent_observation_id, type, name, level,
             start_time, end_time, start_ns, end_ns, latency_ms, model, usage_details,
             calculated_total_cost, input, output, trace_seq)
         SELECT printf('%016x', {small} * {PER_TRACE} + j + 1), printf('%032x', {TRACES}),
             CASE WHEN j = 0 THEN NULL ELSE printf('%016x', {small} * {PER_TRACE} + (j - 1) / 8 + 1) END,
             CASE WHEN j % 4 = 1 THEN 'GENERATION' ELSE 'SPAN' END,
             'node_' || j, CASE WHEN j % 997 = 0 AND j > 0 THEN 'ERROR' ELSE 'DEFAULT' END,
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + {small}, 'unixepoch') || '.000000Z',
             strftime('%Y-%m-%dT%H:%M:%S', {BASE_SECONDS} + {small}, 'unixepoch') || '.900000Z',
             ({BASE_SECONDS} + {small}) * 1000000000 + j * 100000,
             ({BASE_SECONDS} + {small}) * 1000000000 + j * 100000 + 1000000, 1.0,
             CASE WHEN j % 4 = 1 THEN 'gpt-4o' END,
             CASE WHEN j % 4 = 1 THEN '{{\"input\":200,\"output\":50,\"total\":250}}' END,
             CASE WHEN j % 4 = 1 THEN 0.002 ELSE 0 END,
             '{{\"node\":' || j || '}}', NULL, {TRACES}
         FROM n;
         COMMIT;"
    );
    conn.execute_batch(&sql).expect("filling the bench store");
    drop(conn);
    std::fs::rename(&partial, &path).expect("keeping the bench store");
    eprintln!("generated {} in {:.1?}", path.display(), started.elapsed());
    path
}

/// Serves the store over loopback from a thread of its own; the API's base URL and a
/// client for it.
pub fn serve() -> (String, reqwest::blocking::Client) {
    let db = store();
    let server = UiServer::bind("127.0.0.1:0".parse().unwrap(), &db).expect("serving the store");
    let api = format!("{}api", server.url());
    std::thread::spawn(move || server.run());
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    (api, client)
}
