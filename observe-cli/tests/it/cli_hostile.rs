//! The `observe` command on hostile stores and hostile requests: bytes that are not UTF-8,
//! files that are not stores, traces nested ten thousand deep, tables asked for every row.

use std::path::Path;
use std::sync::Arc;

use crate::common::record::write_batch;
use crate::common::{self, failed, observe, ok};
use observe_model::export::Batch;
use observe_model::model::{
    Json, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId,
};

/// Replaces the user and name of every trace, and every observation's name, with bytes
/// that are not UTF-8, as a foreign writer or a damaged page could leave them.
pub fn write_invalid_utf8(path: &Path) {
    common::write_fixture(path);
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "UPDATE traces SET user_id = CAST(X'75ff73fe' AS TEXT),
                           name = CAST(X'6e80' AS TEXT);
         UPDATE observations SET name = CAST(X'6fff' AS TEXT);",
    )
    .unwrap();
}

#[test]
fn invalid_utf8_in_the_store_is_read_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    write_invalid_utf8(&path);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE traces SET session_id = CAST(X'73c3' AS TEXT) || session_id",
            [],
        )
        .unwrap();
    let sessions = ok(&observe(Some(&path), &["sessions"]));
    assert!(sessions.contains("s\u{fffd}"), "{sessions}");
    assert!(sessions.contains("u\u{fffd}s\u{fffd}"), "{sessions}");
    let traces = ok(&observe(Some(&path), &["--json", "traces"]));
    let traces: serde_json::Value = serde_json::from_str(&traces).unwrap();
    assert_eq!(traces[0]["user"], "u\u{fffd}s\u{fffd}", "{traces}");
    let trace = ok(&observe(Some(&path), &["trace", &common::trace_id(0)]));
    assert!(trace.contains("o\u{fffd}"), "{trace}");
    let query = ok(&observe(
        Some(&path),
        &["query", "SELECT user_id FROM traces LIMIT 1"],
    ));
    assert!(query.contains("u\u{fffd}s\u{fffd}"), "{query}");
}

#[test]
fn files_that_are_not_stores_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just notes\n".repeat(100)).unwrap();
    let err = failed(&observe(Some(&text), &["sessions"]));
    assert!(err.contains("is not an observe store"), "{err}");
    assert!(err.contains("not a SQLite database"), "{err}");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let err = failed(&observe(Some(&empty), &["sessions"]));
    assert!(err.contains("is empty"), "{err}");
    assert!(err.contains("being created"), "{err}");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE traces (id TEXT); CREATE TABLE notes (body TEXT);")
        .unwrap();
    let err = failed(&observe(Some(&other), &["sessions"]));
    assert!(
        err.contains("lacks the tables observations, scores"),
        "{err}"
    );

    let columns = dir.path().join("columns.db");
    common::write_fixture(&columns);
    rusqlite::Connection::open(&columns)
        .unwrap()
        .execute_batch(&format!(
            "{} ALTER TABLE traces DROP COLUMN release",
            observe_store::DROP_TRACE_HOURS
        ))
        .unwrap();
    let err = failed(&observe(Some(&columns), &["sessions"]));
    assert!(
        err.contains("table traces lacks the columns release"),
        "{err}"
    );
}

/// A trace of `depth` spans, each the child of the one before.
fn write_deep_trace(path: &Path, depth: u64) -> TraceId {
    let trace_id = TraceId(0xdee9);
    let attributes = Arc::new(TraceAttributes {
        name: Some("deep".into()),
        session_id: Some("deep_session".into()),
        ..TraceAttributes::default()
    });
    let start = Timestamp::now().as_nanos();
    let observations = (1..=depth)
        .map(|i| {
            Box::new(Observation {
                trace_id,
                id: SpanId(i),
                parent_id: (i > 1).then(|| SpanId(i - 1)),
                name: format!("level_{i}").into(),
                kind: ObservationType::Span,
                level: Level::Default,
                start: Timestamp(start + i * 1_000),
                end: Timestamp(start + 100_000_000 - i * 1_000),
                details: Some(Box::new(ObservationDetails {
                    input: Some(Json::string(&format!("input {i}"))),
                    ..ObservationDetails::default()
                })),
                trace: Arc::clone(&attributes),
            })
        })
        .collect();
    write_batch(
        path,
        &Batch {
            observations,
            scores: vec![],
        },
    );
    trace_id
}

#[test]
fn a_deep_trace_is_cut_at_a_depth_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let id = write_deep_trace(&path, 10_002).to_string();
    for args in [&["trace", &id][..], &["trace", &id, "--io"][..]] {
        let text = ok(&observe(Some(&path), args));
        assert!(
            text.lines().count() < 400,
            "{args:?}: {} lines",
            text.lines().count()
        );
        assert!(text.len() < 200_000, "{args:?}: {} bytes", text.len());
        assert!(text.contains("level_50 "), "{args:?}");
        assert!(!text.contains("level_51 "), "{args:?}");
        assert!(
            text.contains("… 9952 observations below level 50 not shown"),
            "{args:?}: {}",
            &text[text.len().saturating_sub(2000)..]
        );
    }
    let session = ok(&observe(Some(&path), &["session", "deep_session"]));
    assert!(session.contains("… 9952 observations below level 50 not shown"));

    // Shallow enough for parsers with a nesting limit (serde_json stops at 128).
    let json = ok(&observe(Some(&path), &["--json", "trace", &id]));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut node = &value["observations"][0];
    for _ in 1..50 {
        node = &node["children"][0];
    }
    assert_eq!(node["name"], "level_50");
    assert_eq!(node["children"], serde_json::json!([]));
    assert_eq!(node["descendants_not_shown"], 9952);
}

#[test]
fn an_unbounded_table_is_cut_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    common::write_fixture(&path);
    // 40,000 rows of 1,000 characters: 40 MB of cells, more than a table holds.
    let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000) \
               SELECT i, printf('%.1000c', 'x') AS wide FROM n";
    let text = ok(&observe(Some(&path), &["query", "--limit", "0", sql]));
    let last = text.lines().last().unwrap();
    assert!(last.contains("rows shown; cut at"), "{last}");
    assert!(last.contains("--jsonl"), "{last}");
    assert!(text.len() < 24 << 20, "{} bytes", text.len());
    // JSON lines stream every row.
    let lines = ok(&observe(
        Some(&path),
        &["--jsonl", "query", "--limit", "0", sql],
    ));
    assert_eq!(lines.lines().count(), 40_000);
}
