//! A store file written with an older schema is migrated when opened, and keeps its data.

use observe_runtime::export::store::rusqlite::Connection;
use observe_runtime::export::store::{Store, StoreError, StoreExporter, SCHEMA_VERSION};
use observe_runtime::export::Batch;
use observe_runtime::view::{render_session, ViewOptions};

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
    assert_eq!(SCHEMA_VERSION, 2);
    // Old data kept; the new columns filled in from it.
    let row: (String, String, f64, f64, i64, String) = conn
        .query_row(
            "SELECT name, end_time, latency_ms, calculated_total_cost, observation_count,
                    metadata->>'content_type' FROM traces",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
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
        Store::open(dir.path().join("missing.db")),
        Err(StoreError::NotFound { .. })
    ));
}
