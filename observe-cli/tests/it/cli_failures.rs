//! One failed request counts once: a trace whose failure marked three observations (two
//! `?` levels and a framework's error event) is one of the session's `errors`, one in the
//! traces list, and `observe session`/`trace` list the three with their messages.

use std::path::Path;

use crate::common::record::Recorder;
use crate::common::{observe, ok};
use observe_model::model::{Level, ObservationDetails, ObservationType, TraceAttributes};

/// Session `s-1`: trace `chat` whose request failed (three observations at ERROR, one
/// WARNING), then trace `chat` that went well. Returns the failed trace's id.
pub(crate) fn write_failed_request(path: &Path) -> String {
    let session = || TraceAttributes {
        session_id: Some("s-1".to_owned()),
        ..TraceAttributes::default()
    };
    let failed = |message: &str| ObservationDetails {
        status_message: Some(message.to_owned()),
        ..ObservationDetails::default()
    };
    let mut recorder = Recorder::new();
    let mut trace = recorder.trace("chat", session());
    let id = trace.id().to_string();
    let call = trace.start(ObservationType::Span, "call_model");
    let handler = trace.start(ObservationType::Span, "handler");
    let event = trace.start(ObservationType::Event, "response failed");
    let slow = trace.start(ObservationType::Span, "retry");
    trace.finish(call, Level::Error, failed("provider returned 503"));
    trace.finish(handler, Level::Error, failed("provider returned 503"));
    trace.finish(event, Level::Error, failed("status=500"));
    trace.finish(slow, Level::Warning, ObservationDetails::default());
    trace.end();
    let mut fine = recorder.trace("chat", session());
    let step = fine.start(ObservationType::Span, "call_model");
    fine.finish(step, Level::Default, ObservationDetails::default());
    fine.end();
    recorder.write(path);
    id
}

#[test]
fn a_failed_request_counts_once_and_its_failures_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let id = write_failed_request(&db);

    let sessions: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "sessions"]))).unwrap();
    assert_eq!(sessions[0]["session"], "s-1");
    assert_eq!(sessions[0]["traces"], 2);
    assert_eq!(sessions[0]["errors"], 1, "{sessions}");

    let traces: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "traces"]))).unwrap();
    let row = |trace: &str| {
        traces
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == trace)
            .unwrap()
            .clone()
    };
    let failed = row(&id);
    assert_eq!(failed["errors"], 1, "{failed}");
    assert_eq!(failed["failed_observations"], 3, "{failed}");
    let other = traces
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] != id.as_str())
        .unwrap();
    assert_eq!(other["errors"], 0);
    assert_eq!(other["failed_observations"], 0);

    // The trace lists its failed observations, in start order, with their messages.
    let text = ok(&observe(Some(&db), &["trace", &id]));
    let at = text
        .find("Failed observations (3):\n")
        .unwrap_or_else(|| panic!("{text}"));
    let listed: Vec<&str> = text[at..].lines().skip(1).take(3).collect();
    let short = &id[..8];
    assert_eq!(
        listed,
        [
            format!("  call_model (span, trace {short}): provider returned 503"),
            format!("  handler (span, trace {short}): provider returned 503"),
            format!("  response failed (event, trace {short}): status=500"),
        ],
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "trace", &id]))).unwrap();
    let names: Vec<&str> = json["failed_observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["call_model", "handler", "response failed"]);
    assert_eq!(json["failed_observations"][2]["type"], "event");
    assert_eq!(
        json["failed_observations"][2]["status_message"],
        "status=500"
    );

    // The session lists the same three.
    let text = ok(&observe(Some(&db), &["session", "s-1"]));
    assert!(text.contains("Failed observations (3):\n"), "{text}");
    assert!(text.contains("  response failed (event, trace "), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "session", "s-1"]))).unwrap();
    assert_eq!(json["failed_observations"].as_array().unwrap().len(), 3);
}
