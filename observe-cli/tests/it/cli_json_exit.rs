//! What scripts rely on: `observe trace --json` and `observe session --json` carry the
//! trace's user, tags and metadata beside what the tree shows, under the names docs/CLI.md
//! lists; and the exit codes are the documented ones (`ExitStatus`).

use std::path::Path;

use crate::common::record::Recorder;
use crate::common::{observe, ok};
use observe_model::model::{Json, Level, ObservationDetails, ObservationType, TraceAttributes};

/// One trace of session `s-json` for user `u-7`, tagged, with metadata, input and output:
/// a generation and a failed span. Returns its id.
fn write_tagged_trace(path: &Path) -> String {
    let mut recorder = Recorder::new();
    let mut trace = recorder.trace(
        "answer",
        TraceAttributes {
            session_id: Some("s-json".to_owned()),
            user_id: Some("u-7".to_owned()),
            tags: vec!["beta".to_owned(), "eu".to_owned()],
            metadata: [("content_type".to_owned(), Json::string("audio"))].into(),
            release: Some("r42".to_owned()),
            environment: Some("staging".to_owned()),
            input: Some(Json::string("question")),
            output: Some(Json::string("reply")),
            ..TraceAttributes::default()
        },
    );
    let id = trace.id().to_string();
    trace.generation(
        "llm",
        ObservationDetails {
            model: Some("gpt-4o".to_owned()),
            ..ObservationDetails::default()
        },
    );
    let step = trace.start(ObservationType::Tool, "lookup");
    trace.finish(
        step,
        Level::Error,
        ObservationDetails {
            status_message: Some("no such order".to_owned()),
            ..ObservationDetails::default()
        },
    );
    trace.end();
    recorder.write(path);
    id
}

fn json(db: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&observe(Some(db), &all))).unwrap()
}

#[test]
fn trace_json_carries_user_tags_metadata_and_the_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let id = write_tagged_trace(&db);

    let trace = json(&db, &["trace", &id]);
    assert_eq!(trace["id"], id.as_str());
    assert_eq!(trace["name"], "answer");
    assert_eq!(trace["session_id"], "s-json");
    assert_eq!(trace["user_id"], "u-7");
    assert_eq!(trace["tags"], serde_json::json!(["beta", "eu"]));
    assert_eq!(trace["metadata"]["content_type"], "audio");
    assert_eq!(trace["release"], "r42");
    assert_eq!(trace["environment"], "staging");
    for key in [
        "start",
        "end",
        "latency_ms",
        "cost",
        "cost_computed",
        "observations",
    ] {
        assert!(trace.get(key).is_some(), "{key} missing: {trace}");
    }
    // Inputs and outputs only when asked for, as in the tree.
    assert!(trace.get("input").is_none(), "{trace}");
    let with_io = json(&db, &["trace", &id, "--io"]);
    assert_eq!(with_io["input"], "question");
    assert_eq!(with_io["output"], "reply");

    let failed = trace["failed_observations"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{trace}");
    assert_eq!(failed[0]["name"], "lookup");
    assert_eq!(failed[0]["status_message"], "no such order");
    assert!(failed[0]["start"].as_str().is_some(), "{trace}");

    // The session's traces carry the same attributes.
    let session = json(&db, &["session", "s-json"]);
    assert_eq!(session["traces"][0]["user_id"], "u-7");
    assert_eq!(
        session["traces"][0]["tags"],
        serde_json::json!(["beta", "eu"])
    );
    assert_eq!(session["traces"][0]["metadata"]["content_type"], "audio");

    // The listing's row: the table's columns under the same names, tags as an array.
    let rows = json(&db, &["traces"]);
    assert_eq!(rows[0]["user"], "u-7", "{rows}");
    assert_eq!(rows[0]["tags"], serde_json::json!(["beta", "eu"]), "{rows}");
    assert_eq!(rows[0]["errors"], 1, "{rows}");
}

#[test]
fn exit_codes_are_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    write_tagged_trace(&db);
    let code = |args: &[&str]| observe(Some(&db), args).status.code();

    assert_eq!(code(&["sessions"]), Some(0));
    assert_eq!(code(&["--help"]), Some(0));
    // A command that could not do what was asked.
    assert_eq!(
        code(&["trace", "ffffffffffffffffffffffffffffffff"]),
        Some(1)
    );
    assert_eq!(code(&["session", "no-such-session"]), Some(1));
    assert_eq!(code(&["query", "SELECT nope FROM nowhere"]), Some(1));
    // A wrong command line.
    assert_eq!(code(&["sessions", "--no-such-flag"]), Some(2));
    assert_eq!(code(&["no-such-command"]), Some(2));
    assert_eq!(code(&["sessions", "--limit", "many"]), Some(2));
    // An answer that is "not everything": a model without a price.
    assert_eq!(code(&["prices", "no-such-model-anywhere"]), Some(3));
}
