//! A store file written with an older schema is migrated when a writer opens it, and keeps
//! its data; a reader never changes a file.

use std::borrow::Cow;
use std::sync::Arc;

use observe_runtime::export::store::{Store, StoreError, StoreExporter, SCHEMA_VERSION};
use observe_runtime::export::Batch;
use observe_runtime::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};
use observe_runtime::view::{render_session, ViewOptions};
use rusqlite::types::Value;
use rusqlite::Connection;

/// Makes a current store file (its user totals dropped) a version 3 file.
const BACK_TO_VERSION_3: &str =
    include_str!("../../../observe-store/tests/fixtures/back_to_version_3.sql");

/// The first layout (schema version 1), as an early build wrote it: no `end_time`,
/// `environment` or `observation_count` on traces; no prompt or completion-start columns
/// on observations.
const V1: &str = r#"
CREATE TABLE traces (
    id TEXT PRIMARY KEY NOT NULL, name TEXT, user_id TEXT, session_id TEXT,
    timestamp TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
    latency_ms REAL NOT NULL DEFAULT 0, calculated_total_cost REAL NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', version TEXT,
    release TEXT, public INTEGER, input TEXT, output TEXT,
    has_root INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL);
CREATE INDEX traces_session ON traces(session_id);
CREATE INDEX traces_user ON traces(user_id);
CREATE TABLE observations (
    id TEXT PRIMARY KEY NOT NULL, trace_id TEXT NOT NULL, parent_observation_id TEXT,
    type TEXT NOT NULL, name TEXT NOT NULL, level TEXT NOT NULL, status_message TEXT,
    start_time TEXT NOT NULL, end_time TEXT NOT NULL, start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL, latency_ms REAL NOT NULL, model TEXT, model_parameters TEXT,
    usage_details TEXT, cost_details TEXT, calculated_total_cost REAL NOT NULL DEFAULT 0,
    input TEXT, output TEXT, metadata TEXT, version TEXT);
CREATE INDEX observations_trace ON observations(trace_id);
CREATE TABLE scores (
    id TEXT PRIMARY KEY NOT NULL, trace_id TEXT NOT NULL, observation_id TEXT,
    session_id TEXT, name TEXT NOT NULL, data_type TEXT NOT NULL, value REAL,
    string_value TEXT, comment TEXT, timestamp TEXT NOT NULL);
CREATE INDEX scores_trace ON scores(trace_id);

-- One trace of two observations: 2025-11-27T22:21:06Z to +1.5 s, $0.25.
INSERT INTO traces VALUES ('0af7651916cd43dd8448eb211c80319c', 'old_workflow', 'u1', 's1',
    '2025-11-27T22:21:06.000000Z', 1764282066000000000, 1764282067500000000, 1500.0, 0.25,
    '{"content_type":"article"}', '["legacy"]', NULL, NULL, NULL, NULL, NULL, 1,
    '2025-11-27T22:21:08.000000Z');
INSERT INTO observations VALUES ('b7ad6b7169203331', '0af7651916cd43dd8448eb211c80319c', NULL,
    'span', 'old_workflow', 'DEFAULT', NULL, '2025-11-27T22:21:06.000000Z',
    '2025-11-27T22:21:07.500000Z', 1764282066000000000, 1764282067500000000, 1500.0, NULL, NULL,
    NULL, NULL, 0, NULL, NULL, NULL, NULL);
INSERT INTO observations VALUES ('b7ad6b7169203332', '0af7651916cd43dd8448eb211c80319c',
    'b7ad6b7169203331', 'generation', 'llm', 'DEFAULT', NULL, '2025-11-27T22:21:06.100000Z',
    '2025-11-27T22:21:07.400000Z', 1764282066100000000, 1764282067400000000, 1300.0, 'gpt-4o',
    NULL, '{"input":10,"output":5,"total":15}', '{"total":0.25}', 0.25, '"hi"', '"hello"', NULL,
    NULL);
INSERT INTO scores VALUES ('score1', '0af7651916cd43dd8448eb211c80319c', NULL, 's1', 'quality',
    'NUMERIC', 0.9, NULL, NULL, '2025-11-27T22:21:08.000000Z');
PRAGMA user_version = 1;
"#;

#[test]
fn a_version_1_file_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    Connection::open(&path).unwrap().execute_batch(V1).unwrap();

    let mut store = StoreExporter::open(&path).expect("migrates");
    store.write(&Batch::default()).unwrap();
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 11);
    // The dashboard's roll-up (version 11) is filled from the trace the file held.
    let hour: (String, i64, f64) = conn
        .query_row(
            "SELECT hour_start, traces, cost FROM trace_hours",
            [],
            |r| r.try_into(),
        )
        .unwrap();
    assert_eq!(hour, ("2025-11-27T22:00:00.000000Z".into(), 1, 0.25));
    // Old data kept; the new columns filled in from it.
    let row: (String, String, f64, f64, i64, String) = conn
        .query_row(
            "SELECT name, end_time, latency_ms, calculated_total_cost, observation_count,
                    metadata->>'content_type' FROM traces",
            [],
            |r| r.try_into(),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "old_workflow".into(),
            "2025-11-27T22:21:07.500000Z".into(),
            1500.0,
            0.25,
            2,
            "article".into()
        )
    );
    let prompt: Option<String> = conn
        .query_row(
            "SELECT prompt_name FROM observations WHERE name = 'llm'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(prompt, None);
    let scores: i64 = conn
        .query_row("SELECT COUNT(*) FROM scores", [], |r| r.get(0))
        .unwrap();
    assert_eq!(scores, 1);
    drop(conn);

    // And it reads back as a session tree.
    let observations = Store::open(&path)
        .unwrap()
        .session_observations("s1")
        .unwrap();
    assert_eq!(
        render_session("s1", &observations, &ViewOptions::detailed()),
        "Session: s1 (1.5s, $0.25)\n\
         └── old_workflow (1.5s, $0.25)\n\
         \x20   └── llm [generation] (1.3s, $0.25)\n"
    );
}

/// The second layout (schema version 2), as the build before the integer trace key wrote
/// it: traces keyed by their text id; observations by their own id, indexed by trace id.
const V2: &str = r#"
CREATE TABLE traces (
    id TEXT PRIMARY KEY NOT NULL, name TEXT, user_id TEXT, session_id TEXT,
    timestamp TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
    latency_ms REAL NOT NULL DEFAULT 0, calculated_total_cost REAL NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', version TEXT,
    release TEXT, public INTEGER, input TEXT, output TEXT,
    has_root INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, end_time TEXT,
    environment TEXT, observation_count INTEGER NOT NULL DEFAULT 0);
CREATE INDEX traces_session ON traces(session_id);
CREATE INDEX traces_user ON traces(user_id);
CREATE INDEX traces_timestamp ON traces(timestamp);
CREATE TABLE observations (
    id TEXT PRIMARY KEY NOT NULL, trace_id TEXT NOT NULL, parent_observation_id TEXT,
    type TEXT NOT NULL, name TEXT NOT NULL, level TEXT NOT NULL, status_message TEXT,
    start_time TEXT NOT NULL, end_time TEXT NOT NULL, start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL, latency_ms REAL NOT NULL, model TEXT, model_parameters TEXT,
    usage_details TEXT, cost_details TEXT, calculated_total_cost REAL NOT NULL DEFAULT 0,
    input TEXT, output TEXT, metadata TEXT, version TEXT, completion_start_time TEXT,
    prompt_name TEXT, prompt_version INTEGER);
CREATE INDEX observations_trace ON observations(trace_id);
CREATE TABLE scores (
    id TEXT PRIMARY KEY NOT NULL, trace_id TEXT NOT NULL, observation_id TEXT,
    session_id TEXT, name TEXT NOT NULL, data_type TEXT NOT NULL, value REAL,
    string_value TEXT, comment TEXT, timestamp TEXT NOT NULL);
CREATE INDEX scores_trace ON scores(trace_id);

-- Trace A (session s2): a root and a generation, $0.25, 1.5 s.
INSERT INTO traces VALUES ('0af7651916cd43dd8448eb211c80319c', 'workflow_a', 'u1', 's2',
    '2025-11-27T22:21:06.000000Z', 1764282066000000000, 1764282067500000000, 1500.0, 0.25,
    '{"content_type":"article"}', '["v2"]', '1.0', NULL, 1, '"in"', '"out"', 1,
    '2025-11-27T22:21:08.000000Z', '2025-11-27T22:21:07.500000Z', 'production', 2);
-- Trace B (session s2), written first.
INSERT INTO traces VALUES ('1bf7651916cd43dd8448eb211c80319c', 'workflow_b', 'u2', 's2',
    '2025-11-27T22:21:05.000000Z', 1764282065000000000, 1764282065100000000, 100.0, 0.0,
    '{}', '[]', NULL, NULL, NULL, NULL, NULL, 1,
    '2025-11-27T22:21:06.000000Z', '2025-11-27T22:21:05.100000Z', NULL, 1);
INSERT INTO observations VALUES ('b7ad6b7169203331', '0af7651916cd43dd8448eb211c80319c', NULL,
    'span', 'workflow_a', 'DEFAULT', NULL, '2025-11-27T22:21:06.000000Z',
    '2025-11-27T22:21:07.500000Z', 1764282066000000000, 1764282067500000000, 1500.0, NULL, NULL,
    NULL, NULL, 0, '"in"', '"out"', NULL, NULL, NULL, NULL, NULL);
INSERT INTO observations VALUES ('c7ad6b7169203331', '1bf7651916cd43dd8448eb211c80319c', NULL,
    'span', 'workflow_b', 'DEFAULT', NULL, '2025-11-27T22:21:05.000000Z',
    '2025-11-27T22:21:05.100000Z', 1764282065000000000, 1764282065100000000, 100.0, NULL, NULL,
    NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO observations VALUES ('b7ad6b7169203332', '0af7651916cd43dd8448eb211c80319c',
    'b7ad6b7169203331', 'generation', 'llm', 'WARNING', 'slow', '2025-11-27T22:21:06.100000Z',
    '2025-11-27T22:21:07.400000Z', 1764282066100000000, 1764282067400000000, 1300.0, 'gpt-4o',
    '{"temperature":0.2}', '{"input":10,"output":5,"total":15}', '{"total":0.25}', 0.25, '"hi"',
    '"hello"', '{"k":"v"}', 'v9', '2025-11-27T22:21:06.300000Z', 'summarize', 3);
-- An observation whose trace has no row (a hand-edited file).
INSERT INTO observations VALUES ('d7ad6b7169203331', '2cf7651916cd43dd8448eb211c80319c', NULL,
    'event', 'stray', 'DEFAULT', NULL, '2025-11-27T22:21:09.000000Z',
    '2025-11-27T22:21:09.000000Z', 1764282069000000000, 1764282069000000000, 0.0, NULL, NULL,
    NULL, NULL, 0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO scores VALUES ('score1', '0af7651916cd43dd8448eb211c80319c', NULL, 's2', 'quality',
    'NUMERIC', 0.9, NULL, NULL, '2025-11-27T22:21:08.000000Z');
-- A view of the user's own over both tables.
CREATE VIEW llm_calls AS
    SELECT t.name AS trace, o.name, o.model FROM observations o JOIN traces t ON t.id = o.trace_id
    WHERE o.model IS NOT NULL;
PRAGMA user_version = 2;
"#;

const ROOT_A: u64 = 0xb7ad6b7169203331;
const TRACE_A: u128 = 0x0af7651916cd43dd8448eb211c80319c;

/// An observation of trace A, as a later build would write it.
fn observation_of_a(id: u64, parent: Option<u64>, start_s: u64) -> Box<Observation> {
    let start = Timestamp(1_764_282_066_000_000_000 + start_s * 1_000_000_000);
    Box::new(Observation {
        trace_id: TraceId(TRACE_A),
        id: SpanId(id),
        parent_id: parent.map(SpanId),
        name: Cow::Borrowed("late_step"),
        kind: ObservationType::Span,
        level: Level::Default,
        start,
        end: Timestamp(start.0 + 1_000_000_000),
        details: None,
        trace: Arc::new(TraceAttributes {
            session_id: Some("s2".into()),
            user_id: Some("u1".into()),
            ..TraceAttributes::default()
        }),
    })
}

#[test]
fn a_version_2_file_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let before = Connection::open(&path).unwrap();
    before.execute_batch(V2).unwrap();
    let dump = |conn: &Connection, sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, Value>(i).map(|v| format!("{v:?}")))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let trace_columns = "id, name, user_id, session_id, timestamp, start_ns, end_ns, latency_ms,
        calculated_total_cost, metadata, tags, version, release, public, input, output,
        has_root, updated_at, end_time, environment, observation_count";
    let observation_columns = "id, trace_id, parent_observation_id, type, name, level,
        status_message, start_time, end_time, start_ns, end_ns, latency_ms, model,
        model_parameters, usage_details, cost_details, calculated_total_cost, input, output,
        metadata, version, completion_start_time, prompt_name, prompt_version";
    let traces_before = dump(
        &before,
        &format!("SELECT {trace_columns} FROM traces ORDER BY rowid"),
    );
    // Version 4 spells types as Langfuse does; everything else is kept as it was.
    let observations_before = dump(
        &before,
        &format!(
            "SELECT {} FROM observations ORDER BY rowid",
            observation_columns.replace(" type,", " upper(type),")
        ),
    );
    drop(before);

    let mut store = StoreExporter::open(&path).expect("migrates");
    let conn = Connection::open(&path).unwrap();
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);

    // Every row and value kept, in the same order; the trace keys follow the old rowids.
    let traces_after = dump(
        &conn,
        &format!("SELECT {trace_columns} FROM traces ORDER BY seq"),
    );
    assert_eq!(traces_after[..2], traces_before[..]);
    assert_eq!(
        dump(
            &conn,
            &format!("SELECT {observation_columns} FROM observations ORDER BY rowid")
        ),
        observations_before
    );
    // The stray observation got a trace row made from it.
    assert_eq!(
        dump(
            &conn,
            "SELECT id, session_id, timestamp, end_time, latency_ms, calculated_total_cost,
                    observation_count, metadata, tags, has_root FROM traces WHERE seq = 3"
        ),
        vec![
            "Text(\"2cf7651916cd43dd8448eb211c80319c\")|Null|\
             Text(\"2025-11-27T22:21:09.000000Z\")|Text(\"2025-11-27T22:21:09.000000Z\")|\
             Real(0.0)|Real(0.5)|Integer(1)|Text(\"{}\")|Text(\"[]\")|Integer(0)"
        ]
    );
    // Each observation names its trace's key.
    assert_eq!(
        dump(
            &conn,
            "SELECT o.id, t.seq FROM observations o JOIN traces t ON t.seq = o.trace_seq
             WHERE t.id = o.trace_id ORDER BY o.rowid"
        )
        .len(),
        4
    );
    // The user's view still works, and so do the scores.
    assert_eq!(
        dump(&conn, "SELECT * FROM llm_calls"),
        vec!["Text(\"workflow_a\")|Text(\"llm\")|Text(\"gpt-4o\")"]
    );
    assert_eq!(dump(&conn, "SELECT id FROM scores").len(), 1);
    // Only the new indexes are left.
    let mut indexes = dump(
        &conn,
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('traces', 'observations') ORDER BY name",
    );
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "observations_flagged",
            "observations_generation",
            "observations_trace",
            "observations_usage",
            "traces_id",
            "traces_project",
            "traces_session",
            "traces_timestamp",
            "traces_user"
        ]
        .map(|n| format!("Text(\"{n}\")"))
    );

    // Writing into the migrated file: an old observation sent again merges into its row (the
    // fields it gives replace the stored ones, the cost it lacks is kept) and is not counted
    // twice; a new one of the same trace is merged into its trace's row.
    let mut batch = Batch::default();
    batch
        .observations
        .push(observation_of_a(ROOT_A + 1, Some(ROOT_A), 0));
    batch
        .observations
        .push(observation_of_a(0xe7ad6b7169203331, Some(ROOT_A), 2));
    store.write(&batch).unwrap();
    store.write(&batch).unwrap();
    let (count, latency, cost, seq): (i64, f64, f64, i64) = conn
        .query_row(
            "SELECT observation_count, latency_ms, calculated_total_cost, seq FROM traces
             WHERE id = '0af7651916cd43dd8448eb211c80319c'",
            [],
            |r| r.try_into(),
        )
        .unwrap();
    assert_eq!((count, latency, cost, seq), (3, 3000.0, 0.25, 1));
    drop(store);

    // And it reads back as a session tree.
    let observations = Store::open(&path)
        .unwrap()
        .session_observations("s2")
        .unwrap();
    assert_eq!(
        render_session("s2", &observations, &ViewOptions::detailed()),
        "Session: s2 (4.0s, $0.25)\n\
         ├── workflow_b (100ms)\n\
         └── workflow_a (3.0s, $0.25)\n\
         \x20   ├── late_step (1.0s, $0.25, ttft 300ms)\n\
         \x20   └── late_step (1.0s)\n"
    );
}

#[test]
fn reopening_a_current_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(StoreExporter::open(&path).unwrap());
    drop(StoreExporter::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_file_from_a_newer_build_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
        .unwrap();
    let err = StoreExporter::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade observe"));
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }));
}

#[test]
fn a_file_that_is_not_a_store_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(
        &path,
        b"this is not a database, just text that is long enough to look like a header",
    )
    .unwrap();
    assert!(matches!(
        StoreExporter::open(&path),
        Err(StoreError::Sqlite { .. })
    ));
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open(dir.path().join("missing.db")),
        Err(StoreError::NotFound { .. })
    ));
}

/// Writes one generation under a span through the current writer, then turns the file back
/// into a version 3 file (lowercase types), as the previous build left it.
fn version_3_file(path: &std::path::Path) {
    let mut store = StoreExporter::open(path).unwrap();
    let mut batch = Batch::default();
    batch.observations.push(observation_of_a(ROOT_A, None, 0));
    let mut llm = observation_of_a(ROOT_A + 1, Some(ROOT_A), 1);
    llm.kind = ObservationType::Generation;
    batch.observations.push(llm);
    store.write(&batch).unwrap();
    drop(store);
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(observe_runtime::export::store::DROP_TRACE_HOURS)
        .unwrap();
    conn.execute_batch(observe_runtime::export::store::DROP_USER_TOTALS)
        .unwrap();
    conn.execute_batch(BACK_TO_VERSION_3).unwrap();
}

#[test]
fn a_version_3_file_gets_langfuse_type_values_from_a_writer_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    version_3_file(&path);
    let bytes = std::fs::read(&path).unwrap();

    // A reader refuses it, says what to run, and leaves it as it was.
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::OlderSchema { found: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("observe migrate"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    drop(StoreExporter::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let types: Vec<String> = conn
        .prepare("SELECT type FROM observations ORDER BY start_ns")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(types, ["SPAN", "GENERATION"]);
    let generations: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE type = 'GENERATION'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(generations, 1);
    // And the reader opens it now, reading the types back.
    let observations = Store::open(&path)
        .unwrap()
        .trace_observations(&format!("{TRACE_A:032x}"))
        .unwrap();
    assert_eq!(observations[1].kind, ObservationType::Generation);
}

#[test]
fn a_reader_leaves_a_foreign_sqlite_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("is not an observe store"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["other.sqlite"], "no -wal or -shm file made");
}
