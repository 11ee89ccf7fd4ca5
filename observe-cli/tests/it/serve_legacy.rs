//! `observe serve` taking Langfuse's legacy ingestion API and scores over loopback: the
//! bodies the Langfuse Python SDK 2.x sent (captured in observe-ingest's fixtures) land in
//! the store as the SDK's trees; refused events are counted; scores get ids.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{observe, ok};
use crate::serve_support::{post, JsonBody, Server};

fn captured(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../observe-ingest/tests/fixtures/langfuse-python-2")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// POSTs JSON to `path`, as the SDKs send it.
fn post_json(server: &Server, path: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    post(&server.at(path), "application/json", body, false)
}

fn batch_len(body: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["batch"].as_array().unwrap().len()
}

#[test]
fn the_python_sdk_2_batches_land_in_the_store_as_its_trees() {
    let server = Server::start(&[]);
    for name in ["lowlevel-client.json", "decorator.json"] {
        let body = captured(name);
        let events = batch_len(&body);
        let answer = post_json(&server, "/api/public/ingestion", body);
        assert_eq!(answer.status(), 207, "{name}");
        let answer: Value = answer.json_value().unwrap();
        assert_eq!(answer["errors"], json!([]), "{name}");
        assert_eq!(
            answer["successes"].as_array().unwrap().len(),
            events,
            "{name}"
        );
    }
    // Answered means committed: the session trees are there while the server runs.
    let tree = ok(&observe(Some(&server.db), &["session", "session-abc"]));
    for name in ["retrieve", "cache-miss", "answer", "summarize", "call-tool"] {
        assert!(tree.contains(name), "{name} missing:\n{tree}");
    }
    assert!(tree.contains("timeout after 30s"), "{tree}");
    let tree = ok(&observe(
        Some(&server.db),
        &["session", "session-decorated"],
    ));
    for name in ["call_model", "failing_tool"] {
        assert!(tree.contains(name), "{name} missing:\n{tree}");
    }
    let scores = ok(&observe(
        Some(&server.db),
        &[
            "query",
            "SELECT name, data_type, string_value FROM scores ORDER BY name",
        ],
    ));
    for expected in [
        "helpfulness",
        "tone",
        "friendly",
        "grounded",
        "BOOLEAN",
        "correct",
    ] {
        assert!(scores.contains(expected), "{expected} missing:\n{scores}");
    }
    server.stop();
}

#[test]
fn refused_events_are_counted_and_a_score_without_id_gets_one() {
    let server = Server::start(&[]);
    let t = "2026-12-07T17:00:00.000Z";
    let body = json!({"batch": [
        {"id": "e-good", "type": "tool-create", "timestamp": t,
         "body": {"id": "o-good", "traceId": "t-legacy", "name": "lookup"}},
        {"id": "e-bad", "type": "span-create", "timestamp": t,
         "body": {"id": "o-bad", "traceId": "t-legacy", "level": "fatal"}}
    ]});
    let answer = post_json(
        &server,
        "/api/public/ingestion",
        body.to_string().into_bytes(),
    );
    assert_eq!(answer.status(), 207);
    let answer: Value = answer.json_value().unwrap();
    assert_eq!(answer["errors"][0]["id"], "e-bad");
    assert!(answer["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("\"level\""));

    let answer = post_json(
        &server,
        "/api/public/scores",
        br#"{"traceId": "t-legacy", "name": "useful", "value": 1, "dataType": "BOOLEAN"}"#.to_vec(),
    );
    assert_eq!(answer.status(), 200);
    let id = answer.json_value().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36);
    let scores = ok(&observe(
        Some(&server.db),
        &["query", "SELECT id, name, data_type FROM scores"],
    ));
    assert!(
        scores.contains(&id) && scores.contains("BOOLEAN"),
        "{scores}"
    );

    let refused = post_json(
        &server,
        "/api/public/scores",
        br#"{"traceId": "t-legacy", "value": 1}"#.to_vec(),
    );
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json_value().unwrap();
    assert_eq!(refused["error"][0]["path"], json!(["name"]));
    let out = server.stop();
    // Every record stored counts: the tool, the trace it implies, the score.
    assert!(out.contains("3 spans written (2 requests)"), "{out}");
    assert!(out.contains("1 spans invalid"), "{out}");
}
