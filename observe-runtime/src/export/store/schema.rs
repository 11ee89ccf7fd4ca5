//! The store's tables, and the migrations that bring an older file up to date.
//!
//! The schema version lives in `PRAGMA user_version`. `MIGRATIONS[i]` takes a file from
//! version `i` to `i + 1`; a new file runs them all. Each migration runs inside one
//! `BEGIN IMMEDIATE` transaction that re-reads the version first, so two processes opening
//! the same file at once migrate it once.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The version this build writes and reads.
pub(crate) const CURRENT_VERSION: i32 = MIGRATIONS.len() as i32;

/// Version 1: the first layout. Traces, observations and scores as Langfuse models them.
const V1: &str = r#"
CREATE TABLE IF NOT EXISTS traces (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    timestamp TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    latency_ms REAL NOT NULL DEFAULT 0,
    calculated_total_cost REAL NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '[]',
    version TEXT,
    release TEXT,
    public INTEGER,
    input TEXT,
    output TEXT,
    has_root INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_session ON traces(session_id);
CREATE INDEX IF NOT EXISTS traces_user ON traces(user_id);

CREATE TABLE IF NOT EXISTS observations (
    id TEXT PRIMARY KEY NOT NULL,
    trace_id TEXT NOT NULL,
    parent_observation_id TEXT,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    status_message TEXT,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    model TEXT,
    model_parameters TEXT,
    usage_details TEXT,
    cost_details TEXT,
    calculated_total_cost REAL NOT NULL DEFAULT 0,
    input TEXT,
    output TEXT,
    metadata TEXT,
    version TEXT
);
CREATE INDEX IF NOT EXISTS observations_trace ON observations(trace_id);

CREATE TABLE IF NOT EXISTS scores (
    id TEXT PRIMARY KEY NOT NULL,
    trace_id TEXT NOT NULL,
    observation_id TEXT,
    session_id TEXT,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    value REAL,
    string_value TEXT,
    comment TEXT,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_trace ON scores(trace_id);
"#;

/// Version 2: the trace's end and environment, its observation count, and the generation
/// fields Langfuse links prompts with; an index on trace start for time-window reports.
const V1_TO_V2: &str = r#"
ALTER TABLE traces ADD COLUMN end_time TEXT;
ALTER TABLE traces ADD COLUMN environment TEXT;
ALTER TABLE traces ADD COLUMN observation_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN completion_start_time TEXT;
ALTER TABLE observations ADD COLUMN prompt_name TEXT;
ALTER TABLE observations ADD COLUMN prompt_version INTEGER;
UPDATE traces SET
    end_time = strftime('%Y-%m-%dT%H:%M:%S', end_ns / 1000000000, 'unixepoch')
        || printf('.%06dZ', (end_ns / 1000) % 1000000),
    observation_count = (SELECT COUNT(*) FROM observations o WHERE o.trace_id = traces.id);
CREATE INDEX IF NOT EXISTS traces_timestamp ON traces(timestamp);
"#;

const MIGRATIONS: &[&str] = &[V1, V1_TO_V2];

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the file to [`CURRENT_VERSION`], or refuses a file from a newer build.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |source| StoreError::sqlite(path, source);
    let found = version(conn).map_err(sqlite)?;
    if found == CURRENT_VERSION {
        return Ok(());
    }
    check_not_newer(found, path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    // Another process may have migrated while this one waited for the lock.
    let found = version(&tx).map_err(sqlite)?;
    check_not_newer(found, path)?;
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step).map_err(sqlite)?;
        tracing::debug!(
            path = %path.display(),
            "observe store: migrated schema {from} -> {}",
            from + 1
        );
    }
    tx.pragma_update(None, "user_version", CURRENT_VERSION)
        .map_err(sqlite)?;
    tx.commit().map_err(sqlite)
}

fn check_not_newer(found: i32, path: &Path) -> Result<(), StoreError> {
    if found > CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    Ok(())
}
