//! What users expect of `observe`, run as the real binary on real files: query output that
//! streams and keeps the query's columns and values as written, bounded rows and time,
//! Langfuse's type values, reports by any metadata key, generation details in `observe
//! trace`, an error column and a level filter on `observe traces`, terminal-safe text, and
//! reading that never changes a file.

use crate::common;

use crate::common::{failed, ok};

use std::borrow::Cow;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, Json, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId, Usage,
};

/// Makes a current store file (its user totals dropped) a version 3 file.
const BACK_TO_VERSION_3: &str =
    include_str!("../../../observe-store/tests/fixtures/back_to_version_3.sql");

fn observe(db: &Path, args: &[&str]) -> Output {
    common::observe(Some(db), args)
}

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    common::write_fixture(&path);
    (dir, path)
}

/// Counts up from 1 for ever: a query that holds or sorts its result would never end.
const RUNAWAY: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r";

#[test]
fn a_runaway_query_is_cut_at_the_table_limit_and_streams_as_json() {
    let (_dir, path) = fixture();
    // A table stops at 1,000 rows by default and says so.
    let table = ok(&observe(&path, &["query", "--timeout", "60s", RUNAWAY]));
    assert!(
        table.ends_with(
            "(1000 rows shown; more were cut at --limit 1000: raise --limit (0 for no limit), \
             or use --jsonl to stream every row)\n"
        ),
        "{}",
        &table[table.len().saturating_sub(300)..]
    );
    assert_eq!(table.lines().filter(|l| l.trim() == "1000").count(), 1);
    let five = ok(&observe(&path, &["query", "--limit", "5", RUNAWAY]));
    assert!(
        five.contains("(5 rows shown; more were cut at --limit 5"),
        "{five}"
    );

    // JSON keeps to an explicit limit.
    let three = ok(&observe(
        &path,
        &["--json", "query", "--limit", "3", RUNAWAY],
    ));
    assert_eq!(three, "[\n  {\"n\":1},\n  {\"n\":2},\n  {\"n\":3}\n]\n");

    // JSON lines have no limit: rows arrive while the query runs, and the reader can stop.
    let mut child = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(&path)
        .args(["--jsonl", "query", "--timeout", "60s", RUNAWAY])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Vec<String> = (&mut lines).take(3).map(Result::unwrap).collect();
    assert_eq!(first, [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    drop(lines);
    let status = child.wait().unwrap();
    assert!(status.success(), "a closed pipe ends the output quietly");
}

#[test]
fn a_query_past_its_timeout_is_stopped_with_a_clear_error() {
    let (_dir, path) = fixture();
    let count =
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r";
    let err = failed(&observe(&path, &["query", "--timeout", "200ms", count]));
    assert!(
        err.contains(
            "the query ran longer than 0.2s and was stopped: narrow it (WHERE, LIMIT) or raise --timeout"
        ),
        "{err}"
    );
    let err = failed(&observe(&path, &["query", "--timeout", "soon", "SELECT 1"]));
    assert!(
        err.contains("expected a duration like 500ms, 30s or 5m"),
        "{err}"
    );
}

#[test]
fn query_shows_columns_and_values_as_written() {
    let (_dir, path) = fixture();
    let sql = "SELECT 2 AS b, 1 AS a, 12.5 AS p95_ms, 0.00268045 AS cost, 'x' AS label";
    let json = ok(&observe(&path, &["--json", "query", sql]));
    assert_eq!(
        json,
        "[\n  {\"b\":2,\"a\":1,\"p95_ms\":12.5,\"cost\":0.00268045,\"label\":\"x\"}\n]\n"
    );
    let lines = ok(&observe(&path, &["--jsonl", "query", sql]));
    assert_eq!(
        lines,
        "{\"b\":2,\"a\":1,\"p95_ms\":12.5,\"cost\":0.00268045,\"label\":\"x\"}\n"
    );
    let table = ok(&observe(&path, &["query", sql]));
    let header = table.lines().next().unwrap();
    let words: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(words, ["b", "a", "p95_ms", "cost", "label"], "{table}");
    let row = table.lines().nth(2).unwrap();
    let values: Vec<&str> = row.split_whitespace().collect();
    // Money has one rule in every table, `observe query`'s too; JSON keeps the number.
    assert_eq!(values, ["2", "1", "12.5", "$0.00268", "x"], "{table}");

    // The built-in reports still format their own columns.
    let report = ok(&observe(&path, &["report", "users"]));
    assert!(report.contains("avg_latency") && !report.contains("avg_latency_ms"));
    assert!(report.contains("$0.60"), "{report}");
    assert!(!report.contains("$0.6000"), "{report}");
}

#[test]
fn observation_types_are_spelled_as_langfuse_spells_them() {
    let (_dir, path) = fixture();
    let json = ok(&observe(
        &path,
        &[
            "--json",
            "query",
            "SELECT type, COUNT(*) AS n FROM observations GROUP BY type ORDER BY type",
        ],
    ));
    assert_eq!(
        json,
        "[\n  {\"type\":\"GENERATION\",\"n\":18},\n  {\"type\":\"SPAN\",\"n\":18}\n]\n"
    );
}

#[test]
fn a_report_by_any_metadata_key() {
    let (_dir, path) = fixture();
    let by_key = ok(&observe(
        &path,
        &["--json", "report", "by-metadata", "content_type"],
    ));
    let seed = ok(&observe(&path, &["--json", "report", "content-types"]));
    assert_eq!(by_key, seed);
    assert!(
        seed.starts_with("[\n  {\"content_type\":\"audio\",\"traces\":5,"),
        "{seed}"
    );

    // Another key: each recent trace has its own `fixture` value.
    let table = ok(&observe(&path, &["report", "by-metadata", "fixture"]));
    assert!(
        table.starts_with("Performance by metadata `fixture`, last 30 days\n"),
        "{table}"
    );
    let t5 = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some("t5"));
    let t5 = t5.unwrap_or_else(|| panic!("{table}"));
    assert!(t5.contains("4.0s") && t5.contains("$0.05"), "{t5}");
    assert!(!table.contains(" t4 "), "t4 is 40 days old: {table}");

    let sql = ok(&observe(
        &path,
        &["report", "by-metadata", "model", "--show-sql"],
    ));
    assert!(sql.contains("metadata->>'model'"), "{sql}");
    let err = failed(&observe(&path, &["report", "by-metadata"]));
    assert!(err.contains("by-metadata needs a key"), "{err}");
}

const T0: u64 = 1_764_282_066_000_000_000;
const MS: u64 = 1_000_000;

/// A trace with two `chat` generations that differ by model, usage, cost, prompt,
/// metadata and time to first token, and a failing tool; names, ids and tags carry
/// terminal escape sequences.
fn detailed_store(path: &Path) {
    let attrs = Arc::new(TraceAttributes {
        name: Some("agent\u{1b}[31m".into()),
        session_id: Some("sess\u{1b}]0;pwned\u{7}".into()),
        user_id: Some("user\u{202e}1".into()),
        tags: vec!["tag\u{1b}[2J".into()],
        ..TraceAttributes::default()
    });
    let observation =
        |id: u64, parent: Option<u64>, name: &'static str, kind, start_ms, end_ms| Observation {
            trace_id: TraceId(0xabc),
            id: SpanId(id),
            parent_id: parent.map(SpanId),
            name: Cow::Borrowed(name),
            kind,
            level: Level::Default,
            start: Timestamp(T0 + start_ms * MS),
            end: Timestamp(T0 + end_ms * MS),
            details: None,
            trace: attrs.clone(),
        };
    let chat = |id, start_ms, model: &str, usage, cost, prompt: (&str, i64), attempt: i64| {
        let mut o = observation(
            id,
            Some(1),
            "chat",
            ObservationType::Generation,
            start_ms,
            start_ms + 400,
        );
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("attempt".to_owned(), Json::from_value(&attempt));
        o.details = Some(Box::new(ObservationDetails {
            model: Some(model.to_owned()),
            usage: Some(usage),
            cost: Some(Cost::total_only(cost)),
            prompt_name: Some(prompt.0.to_owned()),
            prompt_version: Some(prompt.1),
            completion_start_time: Some(Timestamp(T0 + (start_ms + 180) * MS)),
            metadata,
            ..ObservationDetails::default()
        }));
        o
    };
    let mut tool = observation(
        3,
        Some(1),
        "fetch\u{1b}[1m",
        ObservationType::Tool,
        100,
        200,
    );
    tool.level = Level::Error;
    tool.details = Some(Box::new(ObservationDetails {
        status_message: Some("boom\u{1b}[2J".into()),
        ..ObservationDetails::default()
    }));
    let mut batch = Batch::default();
    batch.observations.push(Box::new(chat(
        2,
        10,
        "gpt-4o",
        Usage::new(10, 5),
        0.0021,
        ("summarize", 3),
        1,
    )));
    batch.observations.push(Box::new(tool));
    batch.observations.push(Box::new(chat(
        4,
        500,
        "gpt-4o-mini",
        Usage::new(7, 2),
        0.0004,
        ("summarize", 4),
        2,
    )));
    batch.observations.push(Box::new(observation(
        1,
        None,
        "agent",
        ObservationType::Agent,
        0,
        1000,
    )));
    common::record::write_batch(path, &batch);
}

#[test]
fn trace_shows_what_tells_generations_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    detailed_store(&path);
    let id = TraceId(0xabc).to_string();
    let text = ok(&observe(&path, &["trace", &id]));
    assert!(
        text.contains(
            "Generations:\n  chat (00000000): model gpt-4o · usage input 10, output 5, total 15 · \
             cost $0.0021 · prompt summarize v3 · ttft 180ms\n    metadata {\"attempt\":1}\n  \
             chat (00000000): model gpt-4o-mini · usage input 7, output 2, total 9 · cost $0.0004 · \
             prompt summarize v4 · ttft 180ms\n    metadata {\"attempt\":2}\n"
        ),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(&path, &["--json", "trace", &id]))).unwrap();
    let first = &json["observations"][0]["children"][0];
    assert_eq!(first["type"], "GENERATION");
    assert_eq!(first["model"], "gpt-4o");
    assert_eq!(first["usage"]["input"], 10);
    assert_eq!(first["prompt_name"], "summarize");
    assert_eq!(first["prompt_version"], 3);
    assert_eq!(first["time_to_first_token_ms"], 180.0);
    assert_eq!(first["metadata"]["attempt"], 1);
}

#[test]
fn traces_have_an_error_column_and_a_level_filter() {
    let (dir, path) = fixture();
    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(&path, &["--json", "traces", "--limit", "1"]))).unwrap();
    assert_eq!(json[0]["errors"], 0);
    let none = ok(&observe(&path, &["--json", "traces", "--level", "ERROR"]));
    assert_eq!(none, "[]\n");

    let other = dir.path().join("detailed.db");
    detailed_store(&other);
    let json: serde_json::Value = serde_json::from_str(&ok(&observe(
        &other,
        &["--json", "traces", "--level", "error"],
    )))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["errors"], 1);
    let table = ok(&observe(&other, &["traces"]));
    assert!(table.lines().next().unwrap().contains("errors"), "{table}");
    let err = failed(&observe(&other, &["traces", "--level", "fatal"]));
    assert!(err.contains("unknown Level `fatal`"), "{err}");
}

/// No character of `text` could drive a terminal (line breaks aside).
fn assert_terminal_safe(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{text:?}"
    );
}

#[test]
fn recorded_text_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    detailed_store(&path);
    let id = TraceId(0xabc).to_string();
    let session = "sess\u{1b}]0;pwned\u{7}";
    for args in [
        vec!["sessions"],
        vec!["traces"],
        vec!["trace", &id],
        vec!["trace", &id, "--io"],
        vec!["session", session],
        vec![
            "query",
            "SELECT name, tags, user_id, session_id FROM traces",
        ],
        vec!["query", "SELECT name, status_message FROM observations"],
        vec!["report", "by-metadata", "x\u{1b}[1m"],
    ] {
        let text = ok(&observe(&path, &args));
        assert_terminal_safe(&text);
    }
    let trace = ok(&observe(&path, &["trace", &id]));
    assert!(
        trace.contains(r"user user\u{202e}1 · session sess\u{1b}]0;pwned\u{7} · tags tag\u{1b}[2J"),
        "{trace}"
    );
    assert!(trace.contains(r"fetch\u{1b}[1m [tool]") && trace.contains(r"ERROR: boom\u{1b}[2J"));
    let err = failed(&observe(&path, &["session", "nope\u{1b}[2J"]));
    assert_terminal_safe(&err);

    // JSON stays JSON: the serializer escapes, and the value reads back exactly.
    let json: serde_json::Value = serde_json::from_str(&ok(&observe(
        &path,
        &["--json", "query", "SELECT session_id FROM traces"],
    )))
    .unwrap();
    assert_eq!(json[0]["session_id"], session);
}

#[test]
fn reading_a_foreign_file_leaves_it_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    for command in [&["sessions"][..], &["traces"], &["query", "SELECT 1"]] {
        let err = failed(&observe(&path, command));
        assert!(
            err.contains(&format!(
                "{} is not an observe store (it lacks the tables traces, observations, \
                 scores): check --db / OBSERVE_STORE_PATH",
                path.display()
            )),
            "{err}"
        );
    }
    // Nor does `observe migrate` turn it into a store.
    let err = failed(&observe(&path, &["migrate"]));
    assert!(err.contains("is not an observe store"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "no -wal or -shm file beside it");

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "just some text, long enough to look like a header....",
    )
    .unwrap();
    let err = failed(&observe(&text, &["sessions"]));
    assert!(err.contains("is not an observe store"), "{err}");
}

#[test]
fn an_older_store_is_read_after_observe_migrate() {
    let (_dir, path) = fixture();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(observe_store::DROP_TRACE_HOURS).unwrap();
        conn.execute_batch(observe_store::DROP_USER_TOTALS).unwrap();
        conn.execute_batch(BACK_TO_VERSION_3).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = failed(&observe(&path, &["sessions"]));
    assert!(
        err.contains(
            "has schema version 3, older than this observe reads (5): run `observe migrate`"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "a reader changed it");

    let said = ok(&observe(&path, &["migrate"]));
    assert!(
        said.ends_with(&format!(
            "migrated to schema version {}\n",
            observe_store::SCHEMA_VERSION
        )),
        "{said}"
    );
    let json = ok(&observe(
        &path,
        &[
            "--jsonl",
            "query",
            "SELECT DISTINCT type FROM observations ORDER BY 1",
        ],
    ));
    assert_eq!(json, "{\"type\":\"GENERATION\"}\n{\"type\":\"SPAN\"}\n");
    let again = ok(&observe(&path, &["migrate"]));
    assert!(
        again.ends_with(&format!(
            "is already at schema version {}\n",
            observe_store::SCHEMA_VERSION
        )),
        "{again}"
    );

    // A file from a newer observe says to upgrade.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = failed(&observe(&path, &["traces"]));
    assert!(
        err.contains(&format!(
            "newer than this observe knows ({}): upgrade observe",
            observe_store::SCHEMA_VERSION
        )),
        "{err}"
    );
}
