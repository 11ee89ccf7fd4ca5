//! The legacy ingestion exporter against a real loopback server: every event validated
//! against the schemas of `ingestion.yml` (read at test time), the fields checked against
//! CONTRACT.md, request splitting under the size limit, and 207 partial refusals.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::export_support::*;
use observe_runtime::config::{Config, LangfuseApi};
use observe_runtime::export::http::HttpOptions;
use observe_runtime::export::ingestion::{encode_batch, IngestionExporter, MAX_REQUEST_BYTES};
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::model::{Cost, Level, ObservationType, Timestamp, TraceId, Usage};
use observe_runtime::{Client, ObservationUpdate, ScoreRequest, Trace, TraceUpdate};
use serde_json::{json, Value};

const PK: &str = "pk-lf-ingest";
const SK: &str = "sk-lf-ingest";

fn ingestion_client(server: &Server) -> Client {
    Config::from_vars(vars(&[
        ("LANGFUSE_PUBLIC_KEY", PK),
        ("LANGFUSE_SECRET_KEY", SK),
        ("LANGFUSE_HOST", &server.base_url),
        ("OBSERVE_LANGFUSE_API", "ingestion"),
        ("LANGFUSE_TRACING_ENVIRONMENT", "production"),
        ("LANGFUSE_RELEASE", "2026.11.1"),
        ("LANGFUSE_FLUSH_INTERVAL", "0.05"),
    ]))
    .unwrap()
    .build_client()
    .unwrap()
    .unwrap()
}

/// A trace with every observation type and every field. Returns its id.
fn record(client: &Client) -> TraceId {
    let trace = client.trace(
        Trace::new("url_fetch")
            .session_id("analysis_abc123")
            .user_id("user_42")
            .tags(["content-analysis", "production"])
            .metadata(json!({"analysis_id": "abc123", "content_length": 1200}))
            .version("1.4.0")
            .public(false)
            .input(&json!({"url": "https://example.com"})),
    );
    let mut fetch = trace.span("fetch");
    fetch.update(
        ObservationUpdate::new()
            .input(&"https://example.com")
            .output(&json!({"status": 200}))
            .metadata(json!({"attempt": 1})),
    );
    let mut llm = fetch.generation("summarize");
    llm.update(
        ObservationUpdate::new()
            .model("gpt-4o")
            .model_parameters(json!({"temperature": 0.2}))
            .usage(Usage::new(120, 30))
            .cost(Cost::new(0.0012, 0.0009))
            .completion_start_time(Timestamp::now())
            .prompt(("summary-prompt", 3)),
    );
    llm.end();
    fetch.event(
        "cache_miss",
        ObservationUpdate::new().metadata(json!({"key": "k1"})),
    );
    let mut tool = fetch.observation(ObservationType::Tool, "lookup");
    tool.update(
        ObservationUpdate::new()
            .level(Level::Error)
            .status_message("timeout after 5s"),
    );
    tool.end();
    for kind in [
        ObservationType::Agent,
        ObservationType::Chain,
        ObservationType::Retriever,
        ObservationType::Evaluator,
        ObservationType::Guardrail,
    ] {
        fetch.observation(kind, format!("a-{kind}")).end();
    }
    let mut embedding = fetch.observation(ObservationType::Embedding, "embed");
    embedding.update(
        ObservationUpdate::new()
            .model("text-embedding-3-small")
            .usage(Usage::new(64, 0)),
    );
    embedding.end();
    fetch.end();
    trace.update(TraceUpdate::new().output(&"done"));
    trace.score(ScoreRequest::new("quality", true));
    let id = trace.id();
    trace.end();
    id
}

/// The Fern type of an event of `kind`: from `IngestionEvent`'s union in ingestion.yml. The
/// typed observation events (`agent-create`...) are in CONTRACT.md but not in this version of
/// ingestion.yml; the server validates them with the generation body, so they are checked
/// against `CreateGenerationEvent`.
fn event_schema(types: &Value, kind: &str) -> String {
    let entry = &types["IngestionEvent"]["union"][kind];
    match entry {
        Value::String(s) => s.clone(),
        Value::Object(o) => o["type"].as_str().unwrap().to_owned(),
        _ => {
            assert!(
                [
                    "agent-create",
                    "tool-create",
                    "chain-create",
                    "retriever-create",
                    "evaluator-create",
                    "embedding-create",
                    "guardrail-create"
                ]
                .contains(&kind),
                "`{kind}` is neither in ingestion.yml nor in CONTRACT.md"
            );
            "CreateGenerationEvent".to_owned()
        }
    }
}

fn body_schema(types: &Value, event_schema: &str) -> String {
    let body = &types[event_schema]["properties"]["body"];
    match body {
        Value::String(s) => s.clone(),
        other => other["type"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn every_event_matches_ingestion_yml_and_the_contract() {
    let server = Server::accepting();
    let client = ingestion_client(&server);
    let trace_id = record(&client);
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");

    let spec = load_yaml("ingestion.yml");
    let types = &spec["types"];
    let events = server.events();
    assert_eq!(
        events.len(),
        1 + 11,
        "one trace-create and one event per observation"
    );

    // The checker itself: a key a schema lacks, a null, and a missing required key fail.
    for (schema, bad) in [
        ("CreateSpanBody", json!({"sessionId": "s"})),
        ("CreateSpanBody", json!({"name": null})),
        ("TraceEvent", json!({"id": "x", "body": {}})),
    ] {
        let refused = std::panic::catch_unwind(|| assert_matches_fern(types, schema, &bad, "x"));
        assert!(refused.is_err(), "{schema} accepted {bad}");
    }

    let mut envelope_ids = BTreeSet::new();
    for event in &events {
        let kind = event["type"].as_str().unwrap();
        let schema = event_schema(types, kind);
        let mut envelope = event.clone();
        envelope.as_object_mut().unwrap().remove("type");
        assert_matches_fern(types, &schema, &envelope, kind);
        assert_matches_fern(types, &body_schema(types, &schema), &event["body"], kind);
        assert_timestamp(&event["timestamp"], "envelope timestamp");
        for key in ["timestamp", "startTime", "endTime", "completionStartTime"] {
            if let Some(v) = event["body"].get(key) {
                assert_timestamp(v, key);
            }
        }
        assert!(
            envelope_ids.insert(event["id"].as_str().unwrap().to_owned()),
            "unique ids"
        );
        assert_eq!(event["body"]["environment"], "production", "{kind}");
    }

    let trace = events.iter().find(|e| e["type"] == "trace-create").unwrap();
    let body = &trace["body"];
    assert_eq!(body["id"], trace_id.to_string());
    assert!(is_lower_hex(body["id"].as_str().unwrap(), 32));
    assert_eq!(body["name"], "url_fetch");
    assert_eq!(body["sessionId"], "analysis_abc123");
    assert_eq!(body["userId"], "user_42");
    assert_eq!(body["tags"], json!(["content-analysis", "production"]));
    assert_eq!(
        body["metadata"],
        json!({"analysis_id": "abc123", "content_length": 1200})
    );
    assert_eq!(body["release"], "2026.11.1");
    assert_eq!(body["version"], "1.4.0");
    assert_eq!(body["public"], false);
    assert_eq!(body["input"], json!({"url": "https://example.com"}));
    assert_eq!(body["output"], "done");

    let obs: HashMap<String, &Value> = events
        .iter()
        .filter(|e| e["type"] != "trace-create")
        .map(|e| (e["body"]["name"].as_str().unwrap().to_owned(), e))
        .collect();
    let id = |name: &str| obs[name]["body"]["id"].as_str().unwrap().to_owned();
    for (name, e) in &obs {
        let b = &e["body"];
        assert!(is_lower_hex(b["id"].as_str().unwrap(), 16), "{name}");
        assert_eq!(b["traceId"], trace_id.to_string(), "{name}");
        assert!(
            b.get("sessionId").is_none() && b.get("userId").is_none(),
            "{name}"
        );
        assert_eq!(b["version"], "1.4.0", "{name}");
    }
    assert!(
        obs["url_fetch"]["body"]
            .get("parentObservationId")
            .is_none(),
        "a top-level observation omits parentObservationId"
    );
    assert_eq!(obs["fetch"]["body"]["parentObservationId"], id("url_fetch"));
    for name in [
        "summarize",
        "cache_miss",
        "lookup",
        "embed",
        "a-agent",
        "a-guardrail",
    ] {
        assert_eq!(
            obs[name]["body"]["parentObservationId"],
            id("fetch"),
            "{name}"
        );
    }
    for (name, kind) in [
        ("url_fetch", "span-create"),
        ("fetch", "span-create"),
        ("summarize", "generation-create"),
        ("cache_miss", "event-create"),
        ("lookup", "tool-create"),
        ("a-agent", "agent-create"),
        ("a-chain", "chain-create"),
        ("a-retriever", "retriever-create"),
        ("a-evaluator", "evaluator-create"),
        ("a-guardrail", "guardrail-create"),
        ("embed", "embedding-create"),
    ] {
        assert_eq!(obs[name]["type"], kind, "{name}");
    }
    assert!(obs["cache_miss"]["body"].get("endTime").is_none());
    assert_eq!(obs["fetch"]["body"]["input"], "https://example.com");
    assert_eq!(obs["fetch"]["body"]["output"], json!({"status": 200}));
    assert_eq!(obs["fetch"]["body"]["metadata"], json!({"attempt": 1}));
    assert_eq!(obs["fetch"]["body"]["level"], "DEFAULT");
    let gen = &obs["summarize"]["body"];
    assert_eq!(gen["model"], "gpt-4o");
    assert_eq!(gen["modelParameters"], json!({"temperature": 0.2}));
    assert_eq!(
        gen["usageDetails"],
        json!({"input": 120, "output": 30, "total": 150})
    );
    assert!((gen["costDetails"]["total"].as_f64().unwrap() - 0.0021).abs() < 1e-12);
    assert_eq!(gen["promptName"], "summary-prompt");
    assert_eq!(gen["promptVersion"], 3);
    assert!(gen["startTime"].as_str() <= gen["endTime"].as_str());
    let tool = &obs["lookup"]["body"];
    assert_eq!(tool["level"], "ERROR");
    assert_eq!(tool["statusMessage"], "timeout after 5s");
    assert_eq!(obs["embed"]["body"]["model"], "text-embedding-3-small");

    // The requests: envelope, headers with underscores, auth; scores to /api/public/scores.
    for r in server.to("/api/public/ingestion") {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.basic_auth(), Some((PK.to_owned(), SK.to_owned())));
        assert_eq!(r.header("x_langfuse_public_key"), Some(PK));
        assert!(!r.header("x_langfuse_sdk_name").unwrap_or("").is_empty());
        assert!(!r.header("x_langfuse_sdk_version").unwrap_or("").is_empty());
        let body = r.json();
        let keys: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&BTreeSet::from(["batch", "metadata"])),
            "{keys:?}"
        );
        assert!(r.raw_body.len() <= MAX_REQUEST_BYTES);
    }
    let scores = server.to("/api/public/scores");
    assert_eq!(scores.len(), 1);
    let score = scores[0].json();
    assert_eq!(score["value"], 1.0);
    assert_eq!(score["dataType"], "BOOLEAN");
    assert_eq!(score["traceId"], trace_id.to_string());
    assert!(events.iter().all(|e| e["type"] != "score-create"));
}

#[test]
fn batches_are_split_to_stay_under_the_size_limit() {
    // Through the exporter, with a small limit.
    let server = Server::accepting();
    let exporter = IngestionExporter::new(&server.base_url, PK, SK, HttpOptions::default())
        .unwrap()
        .max_request_bytes(20_000);
    let client = Client::builder()
        .exporter(exporter)
        .config(&Config::new().flush_interval(Duration::from_millis(50)))
        .build();
    let trace = client.trace(Trace::new("many"));
    for i in 0..100 {
        let mut s = trace.span(format!("s{i}"));
        s.update(ObservationUpdate::new().input(&"y".repeat(1_000)));
        s.end();
    }
    trace.end();
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let requests = server.to("/api/public/ingestion");
    assert!(requests.len() >= 5, "{} requests", requests.len());
    assert!(requests.iter().all(|r| r.raw_body.len() <= 20_000));
    let names: BTreeSet<String> = server
        .events()
        .iter()
        .filter(|e| e["type"] == "span-create")
        .map(|e| e["body"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 101, "every observation arrived once");

    // The default limit: 3.5 MB per request as the API documents.
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("large"));
    for i in 0..10 {
        let mut s = trace.span(format!("big{i}"));
        s.update(ObservationUpdate::new().input(&"z".repeat(900_000)));
        s.end();
    }
    trace.end();
    client.flush(FLUSH);
    let batch = Batch {
        observations: memory.observations().into_iter().map(Box::new).collect(),
        scores: vec![],
    };
    let bodies = encode_batch(&batch);
    assert!(bodies.len() >= 3);
    let mut events = 0;
    for body in &bodies {
        assert!(body.len() <= 3_500_000);
        let v: Value = serde_json::from_slice(body).unwrap();
        events += v["batch"].as_array().unwrap().len();
        assert_eq!(
            v["metadata"]["batch_size"],
            v["batch"].as_array().unwrap().len()
        );
    }
    assert_eq!(events, 12);
}

fn recorded_batch() -> Batch {
    let (client, memory) = Client::in_memory();
    record(&client);
    client.flush(FLUSH);
    Batch {
        observations: memory.observations().into_iter().map(Box::new).collect(),
        scores: vec![],
    }
}

#[test]
fn refused_events_in_a_207_are_counted_and_reported() {
    let server = Server::start(|r, _| {
        let body = r.json();
        let events = body["batch"].as_array().cloned().unwrap_or_default();
        let errors: Vec<Value> = events
            .iter()
            .filter(|e| e["type"] == "generation-create" || e["type"] == "tool-create")
            .map(|e| json!({"id": e["id"], "status": 400, "message": "Invalid request data", "error": "bad usage"}))
            .collect();
        let successes: Vec<Value> = events
            .iter()
            .filter(|e| e["type"] != "generation-create" && e["type"] != "tool-create")
            .map(|e| json!({"id": e["id"], "status": 201}))
            .collect();
        Reply::json(207, json!({"successes": successes, "errors": errors}))
    });
    let mut exporter =
        IngestionExporter::new(&server.base_url, PK, SK, HttpOptions::default()).unwrap();
    match exporter.export(&recorded_batch()) {
        Err(ExportError::Partial {
            refused, message, ..
        }) => {
            // The generation is refused for good; the tool, refused as a typed event (a v2
            // server), went again as a span and was taken.
            assert_eq!(refused, 1);
            assert!(message.contains("Invalid request data"), "{message}");
            assert!(message.contains("bad usage"), "{message}");
        }
        other => panic!("expected a partial refusal, got {other:?}"),
    }
    assert_eq!(exporter.retries(), 0, "a 207 is not retried");
    let resent: Vec<Value> = server
        .events()
        .into_iter()
        .filter(|e| {
            e["type"] == "span-create" && e["body"]["metadata"]["observation_type"] == "tool"
        })
        .collect();
    assert_eq!(
        resent.len(),
        1,
        "the tool went again as a span, its type kept"
    );

    // Through the pipeline, each record counts on its own: the refused one failed, the rest
    // (the other observations and the score) exported.
    let client = Client::builder()
        .exporter(IngestionExporter::new(&server.base_url, PK, SK, HttpOptions::default()).unwrap())
        .build();
    record(&client);
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 1, "{report:?}");
    assert_eq!(report.stats.exported, 11, "{report:?}");
    assert!(report.stats.destinations[0].balanced(), "{report:?}");
}

#[test]
fn a_server_refusing_every_event_points_to_otlp() {
    let server = Server::start(|r, _| {
        let errors: Vec<Value> = r.json()["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!({"id": e["id"], "status": 400, "message": "use OTel"}))
            .collect();
        Reply::json(207, json!({"successes": [], "errors": errors}))
    });
    let mut exporter =
        IngestionExporter::new(&server.base_url, PK, SK, HttpOptions::default()).unwrap();
    let err = exporter.export(&recorded_batch()).unwrap_err().to_string();
    assert!(err.contains("refused 11"), "{err}");
    assert!(err.contains("OTLP"), "{err}");
}

#[test]
fn the_api_setting_chooses_the_endpoint() {
    let server = Server::accepting();
    let client = Config::new()
        .keys(PK, SK)
        .base_url(format!("{}/", server.base_url))
        .langfuse_api(LangfuseApi::Ingestion)
        .build_client()
        .unwrap()
        .unwrap();
    client.trace(Trace::new("one")).end();
    client.flush(FLUSH);
    assert_eq!(server.to("/api/public/ingestion").len(), 1);
    assert!(server.to("/v1/traces").is_empty());
    assert_eq!(server.received()[0].path, "/api/public/ingestion");
}
