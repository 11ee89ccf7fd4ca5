//! The store's tables, and the migrations that bring an older file up to date.
//!
//! The schema version lives in `PRAGMA user_version`. `MIGRATIONS[i]` takes a file from
//! version `i` to `i + 1`; a new file runs them all, so a new file and a migrated one have
//! the same layout. Each migration runs inside one `BEGIN IMMEDIATE` transaction that
//! re-reads the version first, so two processes opening the same file at once migrate it
//! once. Only writers migrate ([`migrate`]); readers check the version and change nothing
//! ([`check_readable`]), so pointing a reader at the wrong file cannot damage it.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{NotAStoreReason, StoreError};
use crate::trace_hours::TRACE_HOURS;
use crate::user_totals::USER_TOTALS;
use observe_model::model::ObservationType;

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

/// Version 3: observations find their trace by an integer key that grows with each new
/// trace, instead of by its random text id.
///
/// Why: an index keyed by random ids takes each new entry at a random place, so every
/// batch rewrites index pages spread over the whole file (and copies each into the WAL),
/// more of them as the file grows. Keys that grow put a batch's entries at the end of
/// the index, onto a page or two.
///
/// Each trace row has `seq`, an `INTEGER PRIMARY KEY` (stable across `VACUUM`, unlike
/// a plain rowid), and each observation carries its trace's `seq` as `trace_seq`. The writer
/// gives a new trace a `seq` above every `seq` and every `trace_seq` in the file, so
/// observations left behind by a deleted trace never join a new one. The one unique index
/// on `observations(trace_seq, id)` serves the reads by trace and the skip of a retried
/// batch's rows. `trace_id` stays on every observation for SQL; a query that filters
/// observations by it alone scans the table (join through `traces`, whose `id` is
/// indexed, to go by the index).
///
/// SQLite cannot change a table's key in place, so both tables are rebuilt, keeping their
/// columns in order (the new ones come last) and their rows. An observation whose trace has
/// no row (only a hand-edited file has one) gets a trace row built from its observations,
/// as the writer would have made it.
const V2_TO_V3: &str = r#"
CREATE TABLE traces_v3 (
    id TEXT NOT NULL,
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
    updated_at TEXT NOT NULL,
    end_time TEXT,
    environment TEXT,
    observation_count INTEGER NOT NULL DEFAULT 0,
    seq INTEGER PRIMARY KEY
);
INSERT INTO traces_v3 (
    seq, id, name, user_id, session_id, timestamp, start_ns, end_ns, latency_ms,
    calculated_total_cost, metadata, tags, version, release, public, input, output, has_root,
    updated_at, end_time, environment, observation_count)
SELECT
    rowid, id, name, user_id, session_id, timestamp, start_ns, end_ns, latency_ms,
    calculated_total_cost, metadata, tags, version, release, public, input, output, has_root,
    updated_at, end_time, environment, observation_count
FROM traces ORDER BY rowid;
INSERT INTO traces_v3 (
    id, timestamp, start_ns, end_ns, latency_ms, calculated_total_cost, updated_at, end_time,
    observation_count)
SELECT
    trace_id, MIN(start_time), MIN(start_ns), MAX(end_ns), (MAX(end_ns) - MIN(start_ns)) / 1e6,
    TOTAL(calculated_total_cost), MAX(end_time), MAX(end_time), COUNT(*)
FROM observations WHERE trace_id NOT IN (SELECT id FROM traces)
GROUP BY trace_id ORDER BY MIN(rowid);
-- Made here, so that the copy below finds each observation's trace by it; it follows the
-- table through the rename.
CREATE UNIQUE INDEX traces_id ON traces_v3(id);

CREATE TABLE observations_v3 (
    id TEXT NOT NULL,
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
    version TEXT,
    completion_start_time TEXT,
    prompt_name TEXT,
    prompt_version INTEGER,
    trace_seq INTEGER NOT NULL
);
INSERT INTO observations_v3 (
    id, trace_id, parent_observation_id, type, name, level, status_message, start_time,
    end_time, start_ns, end_ns, latency_ms, model, model_parameters, usage_details,
    cost_details, calculated_total_cost, input, output, metadata, version,
    completion_start_time, prompt_name, prompt_version, trace_seq)
SELECT
    o.id, o.trace_id, o.parent_observation_id, o.type, o.name, o.level, o.status_message,
    o.start_time, o.end_time, o.start_ns, o.end_ns, o.latency_ms, o.model,
    o.model_parameters, o.usage_details, o.cost_details, o.calculated_total_cost, o.input,
    o.output, o.metadata, o.version, o.completion_start_time, o.prompt_name,
    o.prompt_version, t.seq
FROM observations o JOIN traces_v3 t ON t.id = o.trace_id ORDER BY o.rowid;

-- Renamed the old way: a view the user made over these tables follows the name, and is
-- not checked against the moment between the drop and the rename.
PRAGMA legacy_alter_table = ON;
DROP TABLE observations;
DROP TABLE traces;
ALTER TABLE traces_v3 RENAME TO traces;
ALTER TABLE observations_v3 RENAME TO observations;
PRAGMA legacy_alter_table = OFF;
CREATE INDEX traces_session ON traces(session_id);
CREATE INDEX traces_user ON traces(user_id);
CREATE INDEX traces_timestamp ON traces(timestamp);
CREATE UNIQUE INDEX observations_trace ON observations(trace_seq, id);
"#;

/// Version 4: observation types spelled as Langfuse stores them (`GENERATION`, `SPAN`, ...),
/// like `level` already was, so SQL written for Langfuse (`WHERE type = 'GENERATION'`) finds
/// the same rows here.
const V3_TO_V4: &str = "UPDATE observations SET type = upper(type);";

/// Version 5: costs observe computed from usage and a model price list, told apart from
/// the costs callers gave. `observations.cost_computed` is 1 when the row's `cost_details`
/// and `calculated_total_cost` were computed; `traces.computed_cost` is the part of the
/// trace's `calculated_total_cost` that was. Rows written before keep the cost they had
/// (none computed).
const V4_TO_V5: &str = "
ALTER TABLE observations ADD COLUMN cost_computed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traces ADD COLUMN computed_cost REAL NOT NULL DEFAULT 0;
";

/// Version 6: which traces `observe push` sent where. One row per destination and trace,
/// written only once the destination accepted every record of the trace, so that a second
/// push sends only what is new. Nothing else reads it: readers of version 5 files, which
/// lack it, read them as they are ([`OLDEST_READABLE`]).
const V5_TO_V6: &str = "
CREATE TABLE IF NOT EXISTS pushed (
    destination TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    pushed_at TEXT NOT NULL,
    PRIMARY KEY (destination, trace_id)
) WITHOUT ROWID;
";

/// Version 7: the project a row belongs to, for a store that `observe serve` fills for
/// several projects (its keys map to one each). `NULL` for the library's own local writes
/// and for every row written before. Appended last, so rows keep their column order. The
/// views filter traces by it (`observe --project NAME`), hence the index; observations and
/// scores carry it for SQL.
const V6_TO_V7: &str = "
ALTER TABLE traces ADD COLUMN project_id TEXT;
ALTER TABLE observations ADD COLUMN project_id TEXT;
ALTER TABLE scores ADD COLUMN project_id TEXT;
CREATE INDEX IF NOT EXISTS traces_project ON traces(project_id, timestamp);
";

/// Version 8: the index by user also holds what the users page adds up per user (sessions,
/// costs, latency, last start, observation count), so that page reads the index alone.
///
/// Why: the page groups every trace by user. Through an index of `user_id` alone, each
/// trace costs a lookup into its table row (wide: metadata, input, output), about 150 ms of
/// CPU for 100,000 traces; from a covering index the same answer reads one small entry per
/// trace, in user order, half of that or less (BENCHMARKS.md, "`observe ui` endpoints on 1M
/// observations"). It keeps its name and replaces the old index (a prefix of it), so the
/// writer still maintains one index by user: the trace merge sets `user_id` on every
/// update, so that index was rewritten with each merge already.
const V7_TO_V8: &str = "
DROP INDEX IF EXISTS traces_user;
CREATE INDEX traces_user ON traces(user_id, session_id, calculated_total_cost, computed_cost,
    latency_ms, timestamp, observation_count);
";

/// Version 9: partial indexes for the dashboard's widgets that look into observations
/// (tokens, generation latency, time to first token, errors and warnings).
///
/// Why: those widgets join the range's traces to their observations, and without these
/// each request read all of `observations` (1M rows in the bench store, 260-590 ms of CPU)
/// to keep the tenth or less they use. Each index holds only the rows one widget keeps,
/// with the columns it reads, so the widget reads the index alone, and an observation that
/// none keeps (most spans) costs the writers nothing: SQLite maintains a partial index
/// only for the rows its `WHERE` admits, whichever writer path stored them. The indexes
/// are the same in PostgreSQL's migration 4 (`postgres/schema.rs`). The generations' index
/// holds `type` although its `WHERE` fixes it: SQLite reads a column a query names from the
/// index only when the index holds it, else it visits the table row (with its input and
/// output) for every generation.
const V8_TO_V9: &str = "
CREATE INDEX IF NOT EXISTS observations_generation
    ON observations(trace_seq, type, latency_ms, completion_start_time, start_time)
    WHERE type = 'GENERATION';
CREATE INDEX IF NOT EXISTS observations_usage ON observations(trace_seq, usage_details)
    WHERE usage_details IS NOT NULL;
CREATE INDEX IF NOT EXISTS observations_flagged ON observations(trace_seq, level)
    WHERE level IN ('ERROR', 'WARNING');
";

const MIGRATIONS: &[&str] = &[
    V1,
    V1_TO_V2,
    V2_TO_V3,
    V3_TO_V4,
    V4_TO_V5,
    V5_TO_V6,
    V6_TO_V7,
    V7_TO_V8,
    V8_TO_V9,
    USER_TOTALS,
    TRACE_HOURS,
];

/// The version that added the per-user totals ([`crate::user_totals`]); the users page
/// groups the traces themselves on older files.
pub(crate) const USER_TOTALS_VERSION: i32 = 10;

/// The version that added the dashboard's hourly roll-up ([`crate::trace_hours`]); the
/// dashboard reads the traces themselves on older files.
pub(crate) const TRACE_HOURS_VERSION: i32 = 11;

/// The kept aggregates that carry a `project_id` and are limited to a project as
/// [`PROJECT_TABLES`] are, on files of [`TRACE_HOURS_VERSION`] or later.
pub(crate) const PROJECT_ROLLUPS: [&str; 2] = ["trace_hours", "trace_hour_latencies"];

/// The version that added `project_id`.
pub(crate) const PROJECTS_VERSION: i32 = 7;

/// The tables whose rows carry a `project_id`.
pub(crate) const PROJECT_TABLES: [&str; 3] = ["traces", "observations", "scores"];

/// Columns readers do without, for files of the versions before the one that added them:
/// a reader leaves them out of what it checks, and a read that needs one (a project
/// filter) says the file is too old.
const OPTIONAL_COLUMNS: [&str; 1] = ["project_id"];

/// The oldest version readers take as it is: version 6 only added the `pushed` table, which
/// no reader needs (`observe push` reads it when it is there), and version 7 the
/// `project_id` columns ([`OPTIONAL_COLUMNS`]), which only a project filter needs, and
/// versions 8 and 9 only widened or added indexes (reads are slower without them, never
/// wrong), and versions 10 and 11 only added the users page's totals and the dashboard's
/// roll-up (read when they are there), so a store
/// an older application keeps writing stays readable.
pub(crate) const OLDEST_READABLE: i32 = 5;

/// The `type` value the store keeps for an observation type: Langfuse's uppercase spelling.
pub(crate) fn stored_type(kind: ObservationType) -> &'static str {
    use ObservationType::*;
    match kind {
        Span => "SPAN",
        Generation => "GENERATION",
        Event => "EVENT",
        Agent => "AGENT",
        Tool => "TOOL",
        Chain => "CHAIN",
        Retriever => "RETRIEVER",
        Evaluator => "EVALUATOR",
        Embedding => "EMBEDDING",
        Guardrail => "GUARDRAIL",
        // A type added to the model after this store: Langfuse keeps unknown types as spans.
        _ => "SPAN",
    }
}

/// The tables every store has; a file without them is not a store.
const STORE_TABLES: [&str; 3] = ["traces", "observations", "scores"];

/// Checks that a file opened for reading is a store of a version from [`OLDEST_READABLE`] to
/// [`CURRENT_VERSION`], without changing it: a reader never migrates (only a writer may
/// change a file's layout), so an older store is refused with what to run. Returns the
/// version found.
pub(crate) fn check_readable(conn: &Connection, path: &Path) -> Result<i32, StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    let not_a_store = |reason| StoreError::NotAStore {
        path: path.to_owned(),
        reason,
    };
    let found = match version(conn) {
        Ok(found) => found,
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(not_a_store(NotAStoreReason::NotSqlite))
        }
        Err(e) => return Err(sqlite(e)),
    };
    check_not_newer(found, path)?;
    let tables = column_names(conn, "SELECT name FROM sqlite_schema WHERE type = 'table'")
        .map_err(sqlite)?;
    if tables.is_empty() {
        return Err(not_a_store(NotAStoreReason::Empty));
    }
    let missing: Vec<String> = STORE_TABLES
        .iter()
        .filter(|t| !tables.iter().any(|have| have == *t))
        .map(|t| (*t).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(not_a_store(NotAStoreReason::MissingTables(missing)));
    }
    if found == 0 {
        return Err(not_a_store(NotAStoreReason::NoVersion));
    }
    if found < OLDEST_READABLE {
        return Err(StoreError::OlderSchema {
            path: path.to_owned(),
            found,
            supported: OLDEST_READABLE,
        });
    }
    for (table, expected) in current_columns() {
        let have = table_columns(conn, table).map_err(sqlite)?;
        let missing: Vec<String> = expected
            .iter()
            .filter(|c| !have.contains(c) && !OPTIONAL_COLUMNS.contains(&c.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(not_a_store(NotAStoreReason::MissingColumns {
                table: (*table).to_owned(),
                missing,
            }));
        }
    }
    Ok(found)
}

/// The columns of each of [`STORE_TABLES`] at [`CURRENT_VERSION`], from the migrations run
/// once on an in-memory database: the layout is stated once, in the migrations.
pub(crate) fn current_columns() -> &'static [(&'static str, Vec<String>)] {
    static COLUMNS: std::sync::OnceLock<Vec<(&'static str, Vec<String>)>> =
        std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        let Ok(conn) = Connection::open_in_memory() else {
            return Vec::new();
        };
        if MIGRATIONS.iter().any(|m| conn.execute_batch(m).is_err()) {
            return Vec::new();
        }
        STORE_TABLES
            .iter()
            .map(|t| (*t, table_columns(&conn, t).unwrap_or_default()))
            .collect()
    })
}

fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |row| row.get(0))?;
    names.collect()
}

fn column_names(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let names = stmt.query_map([], |row| crate::text::lossy_text(row, 0))?;
    Ok(names.filter_map(|n| n.ok().flatten()).collect())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Why `conn` is not a readable store, if it is not.
    fn reason(conn: &Connection) -> Option<NotAStoreReason> {
        match check_readable(conn, Path::new("x.db")) {
            Err(StoreError::NotAStore { reason, .. }) => Some(reason),
            Err(other) => panic!("{other}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn files_that_are_not_stores_say_why() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(reason(&conn), Some(NotAStoreReason::Empty));
        conn.execute_batch("CREATE TABLE traces (id TEXT)").unwrap();
        assert_eq!(
            reason(&conn),
            Some(NotAStoreReason::MissingTables(vec![
                "observations".into(),
                "scores".into()
            ]))
        );
        conn.execute_batch("CREATE TABLE observations (id TEXT); CREATE TABLE scores (id TEXT)")
            .unwrap();
        assert_eq!(reason(&conn), Some(NotAStoreReason::NoVersion));
        conn.pragma_update(None, "user_version", CURRENT_VERSION)
            .unwrap();
        let Some(NotAStoreReason::MissingColumns { table, missing }) = reason(&conn) else {
            panic!("columns not checked");
        };
        assert_eq!(table, "traces");
        assert!(missing.contains(&"session_id".to_owned()), "{missing:?}");

        let mut store = Connection::open_in_memory().unwrap();
        migrate(&mut store, Path::new("x.db")).unwrap();
        assert_eq!(reason(&store), None);
    }

    #[test]
    fn a_version_6_file_gets_projects_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let mut conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..6] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 6;
             INSERT INTO traces (id, timestamp, start_ns, end_ns, updated_at, seq)
                 VALUES ('t', '2025-01-01T00:00:00.000000Z', 0, 0, 'x', 1);
             INSERT INTO observations (id, trace_id, type, name, level, start_time, end_time,
                 start_ns, end_ns, latency_ms, trace_seq)
                 VALUES ('o', 't', 'SPAN', 'n', 'DEFAULT', 'a', 'b', 0, 0, 0, 1);
             INSERT INTO scores (id, trace_id, name, data_type, timestamp)
                 VALUES ('s', 't', 'q', 'NUMERIC', 'x');",
        )
        .unwrap();
        // A reader takes it as it is, without projects.
        assert_eq!(check_readable(&conn, &path).unwrap(), 6);

        migrate(&mut conn, &path).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT_VERSION);
        for table in PROJECT_TABLES {
            let columns = table_columns(&conn, table).unwrap();
            assert_eq!(
                columns.last().map(String::as_str),
                Some("project_id"),
                "{table}"
            );
            let nulls: i64 = conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM {table} WHERE project_id IS NULL"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(nulls, 1, "{table} keeps its row, with no project");
        }
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM traces WHERE project_id = 'p'
                 ORDER BY timestamp DESC",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("traces_project"), "{plan}");
    }

    #[test]
    fn a_version_7_file_gets_the_users_covering_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        let mut conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..7] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 7;
             INSERT INTO traces (id, user_id, session_id, timestamp, start_ns, end_ns,
                 updated_at, seq)
                 VALUES ('t', 'u', 's', '2025-01-01T00:00:00.000000Z', 0, 0, 'x', 1);",
        )
        .unwrap();
        let columns = |conn: &Connection| -> Vec<String> {
            let mut stmt = conn.prepare("PRAGMA index_info('traces_user')").unwrap();
            stmt.query_map([], |r| r.get(2))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(columns(&conn), ["user_id"]);

        migrate(&mut conn, &path).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT_VERSION);
        assert_eq!(
            columns(&conn),
            [
                "user_id",
                "session_id",
                "calculated_total_cost",
                "computed_cost",
                "latency_ms",
                "timestamp",
                "observation_count"
            ]
        );
        let user: String = conn
            .query_row("SELECT user_id FROM traces WHERE id = 't'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(user, "u");
    }

    #[test]
    fn a_version_8_file_gets_the_dashboard_indexes_with_its_rows_in_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v8.db");
        let mut conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..8] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 8;
             INSERT INTO traces (id, timestamp, start_ns, end_ns, updated_at, seq)
                 VALUES ('t', '2025-01-01T00:00:00.000000Z', 0, 0, 'x', 1);
             INSERT INTO observations (id, trace_id, type, name, level, start_time, end_time,
                 start_ns, end_ns, latency_ms, usage_details, trace_seq) VALUES
                 ('g', 't', 'GENERATION', 'llm', 'DEFAULT', 'a', 'b', 0, 0, 7, '{\"input\":3}', 1),
                 ('s', 't', 'SPAN', 'step', 'ERROR', 'a', 'b', 0, 0, 0, NULL, 1),
                 ('w', 't', 'SPAN', 'step', 'WARNING', 'a', 'b', 0, 0, 0, NULL, 1),
                 ('d', 't', 'SPAN', 'step', 'DEFAULT', 'a', 'b', 0, 0, 0, NULL, 1);",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT_VERSION);
        // Each index holds the rows stored before the migration that its widget keeps,
        // and no others.
        let held = |index: &str, condition: &str| -> Vec<String> {
            let sql = format!(
                "SELECT id FROM observations INDEXED BY {index} WHERE {condition} ORDER BY id"
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(
            held("observations_generation", "type = 'GENERATION'"),
            ["g"]
        );
        assert_eq!(
            held("observations_usage", "usage_details IS NOT NULL"),
            ["g"]
        );
        assert_eq!(
            held("observations_flagged", "level IN ('ERROR', 'WARNING')"),
            ["s", "w"]
        );
        // The widgets' joins read them instead of the whole table.
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<String> = stmt
                .query_map([], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.join("; ")
        };
        let join = "FROM traces JOIN observations o ON o.trace_seq = traces.seq
            WHERE traces.timestamp >= '2025-01-01'";
        for (select, condition, index) in [
            (
                "SUM(o.latency_ms)",
                "o.type = 'GENERATION'",
                "observations_generation",
            ),
            (
                "SUM(length(o.usage_details))",
                "o.usage_details IS NOT NULL",
                "observations_usage",
            ),
            (
                "COUNT(DISTINCT traces.seq)",
                "o.level IN ('ERROR', 'WARNING')",
                "observations_flagged",
            ),
        ] {
            let plan = plan(&format!("SELECT {select} {join} AND {condition}"));
            assert!(plan.contains(&format!("COVERING INDEX {index}")), "{plan}");
        }
    }

    #[test]
    fn every_observation_type_is_stored_in_langfuse_spelling() {
        for kind in observe_model::model::ObservationType::ALL {
            assert_eq!(
                super::stored_type(*kind),
                kind.as_str().to_ascii_uppercase(),
                "{kind:?} needs its stored spelling"
            );
        }
    }
}
