//! The OTLP exporter against a real loopback server: the gzipped protobuf Langfuse receives,
//! decoded with `opentelemetry-proto`, checked field by field against CONTRACT.md; the headers
//! and auth; scores to `/api/public/scores` checked against the OpenAPI spec; a plain OTLP
//! collector; masking, truncation and sampling as seen on the wire.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::export_support::*;
use observe_runtime::config::Config;
use observe_runtime::export::otlp::{encode_batch, Resource};
use observe_runtime::export::{Batch, Exporter};
use observe_runtime::model::{Cost, Json, Level, ObservationType, Timestamp, TraceId, Usage};
use observe_runtime::{
    observe, update_current_observation, update_current_trace, Client, ObservationUpdate,
    ScoreRequest, Trace, TraceUpdate,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use prost::Message;
use serde_json::{json, Value};

const PK: &str = "pk-lf-test-public";
const SK: &str = "sk-lf-test-secret";

fn langfuse_client(server: &Server) -> Client {
    Config::new()
        .keys(PK, SK)
        .base_url(&server.base_url)
        .environment("staging")
        .release("r-2026.11")
        .version("v-9")
        .flush_interval(Duration::from_millis(50))
        .build_client()
        .expect("valid config")
        .expect("enabled")
}

/// A trace with every kind of field, built with the low-level API. Returns its id.
fn record_rich_trace(client: &Client) -> TraceId {
    let trace = client.trace(
        Trace::new("url_fetch")
            .session_id("analysis_abc123")
            .user_id("user_42")
            .tags(["content-analysis", "production"])
            .metadata(json!({"analysis_id": "abc123", "content_length": 1200}))
            .public(true)
            .input(&json!({"url": "https://example.com"})),
    );
    let mut fetch = trace.span("fetch");
    fetch.update(
        ObservationUpdate::new()
            .input(&"https://example.com")
            .metadata(json!({"attempt": 1, "cache": {"hit": false}})),
    );
    let mut llm = fetch.generation("summarize");
    llm.update(
        ObservationUpdate::new()
            .model("gpt-4o")
            .model_parameters(json!({"temperature": 0.2, "max_tokens": 256}))
            .usage(Usage::new(120, 30).with("cache_read_input_tokens", 7))
            .cost(Cost::new(0.0012, 0.0009))
            .completion_start_time(Timestamp::now())
            .prompt(("summary-prompt", 3))
            .output(&"a short summary"),
    );
    llm.score(ScoreRequest::new("relevance", 0.75));
    llm.end();
    let mut tool = fetch.observation(ObservationType::Tool, "lookup");
    tool.update(
        ObservationUpdate::new()
            .level(Level::Error)
            .status_message("timeout after 5s"),
    );
    tool.end();
    fetch.event(
        "cache_miss",
        ObservationUpdate::new().metadata(json!({"key": "k1"})),
    );
    fetch.end();
    trace.observation(ObservationType::Agent, "planner").end();
    trace.update(
        TraceUpdate::new()
            .tags(["late-tag"])
            .output(&json!({"ok": true})),
    );
    trace.score(ScoreRequest::new("quality", 0.9).comment("clear and complete"));
    let id = trace.id();
    trace.end();
    id
}

fn by_name(spans: &[Span]) -> HashMap<String, Span> {
    spans.iter().map(|s| (s.name.clone(), s.clone())).collect()
}

#[test]
fn every_span_carries_the_contract_attributes() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    let trace_id = record_rich_trace(&client);
    let report = client.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.stats.failed, 0, "{report:?}");

    let spans = server.spans();
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let s = by_name(&spans);

    // Ids: 16-byte trace id shared by all, 8-byte unique span ids, parents as built.
    let ids: BTreeSet<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), 6);
    for span in &spans {
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(hex(&span.trace_id), trace_id.to_string());
        assert!(is_lower_hex(&hex(&span.trace_id), 32));
        assert_eq!(span.span_id.len(), 8);
        assert_ne!(span.span_id, vec![0; 8]);
        assert!(span.start_time_unix_nano > 1_600_000_000_000_000_000);
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
    }
    let id = |name: &str| s[name].span_id.clone();
    assert!(
        s["url_fetch"].parent_span_id.is_empty(),
        "the root has no parent"
    );
    assert_eq!(s["fetch"].parent_span_id, id("url_fetch"));
    assert_eq!(s["planner"].parent_span_id, id("url_fetch"));
    assert_eq!(s["summarize"].parent_span_id, id("fetch"));
    assert_eq!(s["lookup"].parent_span_id, id("fetch"));
    assert_eq!(s["cache_miss"].parent_span_id, id("fetch"));
    assert_eq!(
        s["cache_miss"].start_time_unix_nano,
        s["cache_miss"].end_time_unix_nano
    );

    // The trace's attributes on every span.
    for span in &spans {
        let what = &span.name;
        assert_eq!(
            attr_str(span, "session.id").as_deref(),
            Some("analysis_abc123"),
            "{what}"
        );
        assert_eq!(
            attr_str(span, "user.id").as_deref(),
            Some("user_42"),
            "{what}"
        );
        assert_eq!(
            attr_str(span, "langfuse.trace.name").as_deref(),
            Some("url_fetch"),
            "{what}"
        );
        let tags = attr_strings(span, "langfuse.trace.tags").unwrap();
        assert!(
            tags.starts_with(&["content-analysis".into(), "production".into()]),
            "{what}: {tags:?}"
        );
        assert_eq!(
            attr_str(span, "langfuse.trace.metadata.analysis_id").as_deref(),
            Some("\"abc123\""),
            "{what}: metadata values are JSON-encoded, strings quoted"
        );
        assert_eq!(
            attr_json(span, "langfuse.trace.metadata.content_length"),
            Some(json!(1200))
        );
        assert_eq!(
            attr_str(span, "langfuse.environment").as_deref(),
            Some("staging"),
            "{what}"
        );
        assert_eq!(
            attr_str(span, "langfuse.release").as_deref(),
            Some("r-2026.11"),
            "{what}"
        );
        assert_eq!(
            attr_str(span, "langfuse.version").as_deref(),
            Some("v-9"),
            "{what}"
        );
        assert_eq!(
            attrs(span).get("langfuse.trace.public"),
            Some(&Any::BoolValue(true)),
            "{what}"
        );
        assert_eq!(
            attr_json(span, "langfuse.trace.input"),
            Some(json!({"url": "https://example.com"})),
            "{what}"
        );
        let level = attr_str(span, "langfuse.observation.level").unwrap();
        assert!(["DEBUG", "DEFAULT", "WARNING", "ERROR"].contains(&level.as_str()));
    }
    // The root ends last: it carries the final attributes.
    let root = &s["url_fetch"];
    assert_eq!(
        attr_strings(root, "langfuse.trace.tags").unwrap(),
        ["content-analysis", "production", "late-tag"]
    );
    assert_eq!(
        attr_json(root, "langfuse.trace.output"),
        Some(json!({"ok": true}))
    );

    // Types.
    for (name, ty) in [
        ("url_fetch", "span"),
        ("fetch", "span"),
        ("summarize", "generation"),
        ("lookup", "tool"),
        ("cache_miss", "event"),
        ("planner", "agent"),
    ] {
        assert_eq!(
            attr_str(&s[name], "langfuse.observation.type").as_deref(),
            Some(ty),
            "{name}"
        );
    }

    // Observation fields.
    let fetch = &s["fetch"];
    assert_eq!(
        attr_str(fetch, "langfuse.observation.input").as_deref(),
        Some("https://example.com"),
        "a plain string input as-is"
    );
    assert_eq!(
        attr_json(fetch, "langfuse.observation.metadata.attempt"),
        Some(json!(1))
    );
    assert_eq!(
        attr_json(fetch, "langfuse.observation.metadata.cache"),
        Some(json!({"hit": false}))
    );
    let gen = &s["summarize"];
    assert_eq!(
        attr_str(gen, "langfuse.observation.model.name").as_deref(),
        Some("gpt-4o")
    );
    assert_eq!(
        attr_json(gen, "langfuse.observation.model.parameters"),
        Some(json!({"temperature": 0.2, "max_tokens": 256}))
    );
    let usage = attr_json(gen, "langfuse.observation.usage_details").unwrap();
    assert_eq!(
        usage,
        json!({"input": 120, "output": 30, "total": 150, "cache_read_input_tokens": 7})
    );
    assert!(
        usage.as_object().unwrap().values().all(Value::is_u64),
        "integers"
    );
    let cost = attr_json(gen, "langfuse.observation.cost_details").unwrap();
    assert!((cost["input"].as_f64().unwrap() - 0.0012).abs() < 1e-12);
    assert!((cost["output"].as_f64().unwrap() - 0.0009).abs() < 1e-12);
    assert!((cost["total"].as_f64().unwrap() - 0.0021).abs() < 1e-12);
    assert_timestamp(
        &attr_json(gen, "langfuse.observation.completion_start_time").unwrap(),
        "completion_start_time",
    );
    assert_eq!(
        attr_str(gen, "langfuse.observation.prompt.name").as_deref(),
        Some("summary-prompt")
    );
    assert_eq!(
        attrs(gen).get("langfuse.observation.prompt.version"),
        Some(&Any::IntValue(3))
    );
    assert_eq!(
        attr_str(gen, "langfuse.observation.output").as_deref(),
        Some("a short summary")
    );

    // Levels: ERROR also sets the OTel status; the others leave it unset.
    let tool = &s["lookup"];
    assert_eq!(
        attr_str(tool, "langfuse.observation.level").as_deref(),
        Some("ERROR")
    );
    assert_eq!(
        attr_str(tool, "langfuse.observation.status_message").as_deref(),
        Some("timeout after 5s")
    );
    let status = tool.status.as_ref().expect("an ERROR span has a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "timeout after 5s");
    for name in ["url_fetch", "fetch", "summarize", "cache_miss", "planner"] {
        assert!(s[name].status.is_none(), "{name}");
        assert_eq!(
            attr_str(&s[name], "langfuse.observation.level").as_deref(),
            Some("DEFAULT")
        );
    }
}

#[test]
fn requests_carry_langfuse_headers_auth_and_scope() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    record_rich_trace(&client);
    client.flush(FLUSH);

    let requests = server.to("/v1/traces");
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/public/otel/v1/traces");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.basic_auth(), Some((PK.to_owned(), SK.to_owned())));
        assert_eq!(r.header("x-langfuse-ingestion-version"), Some("4"));
        assert_eq!(r.header("x-langfuse-public-key"), Some(PK));
        assert!(!r.header("x-langfuse-sdk-name").unwrap_or("").is_empty());
        assert!(!r.header("x-langfuse-sdk-version").unwrap_or("").is_empty());
        let request = r.otlp();
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().expect("a resource");
            assert!(resource
                .attributes
                .iter()
                .any(|kv| kv.key == "service.name"));
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref().expect("a scope");
                assert!(scope.name.starts_with("langfuse-sdk"), "{}", scope.name);
                assert_eq!(scope.name, "langfuse-sdk-rust-observe");
            }
        }
    }
}

#[test]
fn scores_go_to_the_scores_endpoint_as_create_score_requests() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    let trace_id = record_rich_trace(&client);
    client.flush(FLUSH);

    let spans = server.spans();
    let generation_id = hex(&by_name(&spans)["summarize"].span_id);
    let openapi = load_yaml("openapi.yml");
    let schema = &openapi["components"]["schemas"]["CreateScoreRequest"];
    let properties: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let required: Vec<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();

    let scores = server.to("/api/public/scores");
    assert_eq!(scores.len(), 2);
    let mut seen = BTreeSet::new();
    for r in &scores {
        assert_eq!(r.method, "POST");
        assert_eq!(r.basic_auth(), Some((PK.to_owned(), SK.to_owned())));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.json();
        for k in &required {
            assert!(body.get(k).is_some(), "required `{k}` missing: {body}");
        }
        for (k, v) in body.as_object().unwrap() {
            assert!(properties.contains(k), "`{k}` is not in CreateScoreRequest");
            assert!(!v.is_null());
        }
        assert_eq!(body["traceId"], trace_id.to_string());
        assert_eq!(body["dataType"], "NUMERIC");
        assert_eq!(body["environment"], "staging");
        assert!(is_lower_hex(body["id"].as_str().unwrap(), 32));
        seen.insert(body["name"].as_str().unwrap().to_owned());
        match body["name"].as_str().unwrap() {
            "quality" => {
                assert_eq!(body["value"], 0.9);
                assert_eq!(body["comment"], "clear and complete");
                assert!(body.get("observationId").is_none());
            }
            "relevance" => {
                assert_eq!(body["value"], 0.75);
                assert_eq!(body["observationId"], generation_id);
            }
            other => panic!("unexpected score {other}"),
        }
    }
    assert_eq!(seen.len(), 2);
}

#[observe(as_type = "generation")]
async fn summarize(text: &str) -> String {
    update_current_observation(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .usage(Usage::new(40, 8))
            .cost(Cost::new(0.0004, 0.0002)),
    );
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[observe(as_type = "agent")]
async fn agent(name: &str, text: &str) -> String {
    summarize(text).await + name
}

#[observe(name = "content_analysis_workflow")]
async fn workflow(analysis_id: &str, user: &str, text: &str) -> usize {
    update_current_trace(
        TraceUpdate::new()
            .session_id(format!("analysis_{analysis_id}"))
            .user_id(user)
            .metadata(json!({"analysis_id": analysis_id}))
            .tags(["content-analysis"]),
    );
    let parts = futures::future::join_all(["a", "b", "c"].map(|n| agent(n, text))).await;
    parts.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_functions_export_session_and_user_on_every_span() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    assert_eq!(
        client
            .attach(workflow("xyz", "user_7", "one two three four"))
            .await,
        3
    );
    let flush_client = client.clone();
    tokio::task::spawn_blocking(move || flush_client.flush(FLUSH))
        .await
        .unwrap();
    let spans = server.spans();
    assert_eq!(spans.len(), 7);
    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(root.name, "content_analysis_workflow");
    for span in &spans {
        assert_eq!(
            attr_str(span, "session.id").as_deref(),
            Some("analysis_xyz")
        );
        assert_eq!(attr_str(span, "user.id").as_deref(), Some("user_7"));
        assert_eq!(
            attr_str(span, "langfuse.trace.metadata.analysis_id").as_deref(),
            Some("\"xyz\"")
        );
        assert_eq!(span.trace_id, root.trace_id);
    }
    let generations: Vec<_> = spans
        .iter()
        .filter(|s| attr_str(s, "langfuse.observation.type").as_deref() == Some("generation"))
        .collect();
    assert_eq!(generations.len(), 3);
    for g in generations {
        let parent = spans
            .iter()
            .find(|s| s.span_id == g.parent_span_id)
            .unwrap();
        assert_eq!(
            attr_str(parent, "langfuse.observation.type").as_deref(),
            Some("agent")
        );
        assert_eq!(parent.parent_span_id, root.span_id);
        assert_eq!(
            attr_json(g, "langfuse.observation.usage_details"),
            Some(json!({"input": 40, "output": 8, "total": 48}))
        );
    }
}

#[test]
fn a_plain_collector_gets_its_headers_and_no_langfuse_auth_or_scores_api() {
    let server = Server::accepting();
    let endpoint = server.base_url.clone();
    let client = Config::from_vars(vars(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=abc%3D%3D, authorization=Bearer%20tok",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
        ("LANGFUSE_FLUSH_INTERVAL", "0.05"),
    ]))
    .unwrap()
    .build_client()
    .unwrap()
    .unwrap();
    record_rich_trace(&client);
    client.flush(FLUSH);

    assert!(
        server.to("/api/public/scores").is_empty(),
        "Langfuse's scores API is Langfuse-only (a collector gets evaluation events)"
    );
    let requests = server.to("/v1/traces");
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.header("x-api-key"), Some("abc=="));
        assert_eq!(r.header("authorization"), Some("Bearer tok"));
        assert!(r.header("x-langfuse-public-key").is_none());
        let request = r.otlp();
        let resource = request.resource_spans[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"
            && kv.value.as_ref().and_then(|v| v.value.clone())
                == Some(Any::StringValue("checkout".into()))));
    }
    // Scores that met their span in a batch are events on it; one that did not is a span of
    // its own (`evaluation <name>`, genai_conventions.rs has both cases).
    let spans = server.spans();
    let observed = spans
        .iter()
        .filter(|s| !s.name.starts_with("evaluation "))
        .count();
    let events: usize = spans.iter().map(|s| s.events.len()).sum();
    assert_eq!(observed, 6, "{spans:#?}");
    assert_eq!(events, 2, "the two scores, once each: {spans:#?}");
}

#[test]
fn langfuse_and_a_collector_at_once_both_get_everything() {
    let langfuse = Server::accepting();
    let collector = Server::accepting();
    let client = Config::from_vars(vars(&[
        ("LANGFUSE_PUBLIC_KEY", PK),
        ("LANGFUSE_SECRET_KEY", SK),
        ("LANGFUSE_BASE_URL", &langfuse.base_url),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{}/custom/path", collector.base_url),
        ),
        ("LANGFUSE_FLUSH_INTERVAL", "0.05"),
    ]))
    .unwrap()
    .build_client()
    .unwrap()
    .unwrap();
    record_rich_trace(&client);
    client.flush(FLUSH);
    assert_eq!(langfuse.spans().len(), 6);
    assert_eq!(
        collector.to("/custom/path").len(),
        collector.received().len()
    );
    let collected: usize = collector
        .to("/custom/path")
        .iter()
        .flat_map(|r| r.otlp().resource_spans[0].scope_spans[0].spans.clone())
        .filter(|s| !s.name.starts_with("evaluation "))
        .count();
    assert_eq!(collected, 6);
}

#[test]
fn the_encoder_output_decodes_and_reencodes_to_the_same_bytes() {
    let (client, memory) = Client::in_memory();
    for _ in 0..3 {
        record_rich_trace(&client);
    }
    client.flush(FLUSH);
    let mut observations = memory.observations();
    // An observation with non-ASCII text and escapes, and an odd metadata key.
    let mut odd = observations[0].clone();
    odd.name = "naïve \"quoted\" ✓".into();
    odd.details_mut().input = Some(Json::string("line\nbreak \u{1F600}"));
    odd.details_mut()
        .metadata
        .insert("ключ".into(), Json::from_value(&json!([1, "two", null])));
    observations.push(odd);
    let batch = Batch {
        observations: observations.into_iter().map(Box::new).collect(),
        scores: vec![],
    };
    let resource = Resource::new("svc").with("deployment.environment", "test");
    let fast = encode_batch(&batch, &resource);
    let decoded = ExportTraceServiceRequest::decode(&fast[..]).expect("valid protobuf");
    // prost writes the decoded request back to the same bytes: nothing was lost or reordered.
    assert_eq!(decoded.encode_to_vec(), fast);
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 19);
}

#[test]
fn masking_is_applied_before_the_bytes_leave() {
    let server = Server::accepting();
    let client = Config::new()
        .keys(PK, SK)
        .base_url(&server.base_url)
        .flush_interval(Duration::from_millis(50))
        .mask(|json: Json| {
            Json::parse_checked(&json.as_str().replace("hunter2", "[REDACTED]")).unwrap_or(json)
        })
        .build_client()
        .unwrap()
        .unwrap();
    let trace = client.trace(
        Trace::new("login")
            .input(&json!({"password": "hunter2"}))
            .metadata(json!({"note": "pw hunter2"})),
    );
    let mut span = trace.span("check");
    span.update(
        ObservationUpdate::new()
            .input(&json!({"user": "bob", "password": "hunter2"}))
            .output(&"hunter2 accepted")
            .metadata(json!({"secret": "hunter2"})),
    );
    span.end();
    trace.end();
    client.flush(FLUSH);

    let requests = server.to("/v1/traces");
    assert!(!requests.is_empty());
    for r in &requests {
        let body = r.body();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("hunter2"), "the secret left the process");
        assert!(text.contains("[REDACTED]"));
    }
    let spans = server.spans();
    let check = spans.iter().find(|s| s.name == "check").unwrap();
    assert_eq!(
        attr_json(check, "langfuse.observation.input"),
        Some(json!({"user": "bob", "password": "[REDACTED]"}))
    );
}

#[test]
fn an_oversized_input_is_replaced_by_the_marker_and_the_rest_kept() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    let trace = client.trace(Trace::new("big"));
    let mut span = trace.generation("huge-input");
    span.update(
        ObservationUpdate::new()
            .input(&"x".repeat(3_000_000))
            .output(&"small output")
            .model("m-1")
            .usage(Usage::new(1, 2)),
    );
    span.end();
    trace.end();
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.truncated, 1, "{report:?}");
    assert_eq!(report.stats.failed, 0, "{report:?}");

    let spans = server.spans();
    let big = spans.iter().find(|s| s.name == "huge-input").unwrap();
    let input = attr_json(big, "langfuse.observation.input").unwrap();
    assert_eq!(input["truncated"], true, "{input}");
    assert_eq!(input["original_bytes"], 3_000_002);
    assert_eq!(
        attr_str(big, "langfuse.observation.output").as_deref(),
        Some("small output")
    );
    assert_eq!(
        attr_str(big, "langfuse.observation.model.name").as_deref(),
        Some("m-1")
    );
    assert!(server
        .to("/v1/traces")
        .iter()
        .all(|r| r.raw_body.len() < 1_000_000));
}

/// Sends `ids` as one-span traces through a client sampling at `rate`; returns the trace ids
/// the server received.
fn sampled(rate: f64, ids: &[TraceId]) -> BTreeSet<String> {
    let server = Server::accepting();
    let client = Config::new()
        .keys(PK, SK)
        .base_url(&server.base_url)
        .sample_rate(rate)
        .flush_interval(Duration::from_millis(50))
        .build_client()
        .unwrap()
        .unwrap();
    for id in ids {
        let trace = client.trace(Trace::new("t").id(*id));
        trace.span("child").end();
        trace.end();
    }
    let report = client.flush(FLUSH);
    assert!(!report.timed_out);
    let spans = server.spans();
    let traces: BTreeSet<String> = spans.iter().map(|s| hex(&s.trace_id)).collect();
    // A trace is kept or dropped whole.
    assert_eq!(spans.len(), traces.len() * 2);
    traces
}

#[test]
fn sampling_is_per_trace_and_deterministic_from_the_trace_id() {
    let ids: Vec<TraceId> = (0..400).map(|_| TraceId::random()).collect();
    assert!(sampled(0.0, &ids).is_empty());
    assert_eq!(sampled(1.0, &ids).len(), 400);
    let half = sampled(0.5, &ids);
    assert!(
        (140..=260).contains(&half.len()),
        "rate 0.5 kept {} of 400",
        half.len()
    );
    assert_eq!(sampled(0.5, &ids), half, "the same ids, the same decisions");
    // A lower rate keeps a subset of what a higher one keeps.
    let quarter = sampled(0.25, &ids);
    assert!(quarter.is_subset(&half));
}

#[test]
fn exporter_errors_say_what_to_check() {
    let server = Server::start(|_, _| Reply::json(401, json!({"message": "Invalid credentials"})));
    let mut exporter = observe_runtime::export::otlp::OtlpExporter::langfuse(
        &server.base_url,
        PK,
        "wrong",
        Default::default(),
    )
    .unwrap();
    let (client, memory) = Client::in_memory();
    record_rich_trace(&client);
    client.flush(FLUSH);
    let batch = Batch {
        observations: memory.observations().into_iter().map(Box::new).collect(),
        scores: vec![],
    };
    let err = exporter.export(&batch).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("LANGFUSE_PUBLIC_KEY"), "{err}");
    assert!(err.contains("Invalid credentials"), "{err}");
    assert_eq!(exporter.retries(), 0);
    assert_eq!(server.received().len(), 1);
}

/// Metadata strings that read like other JSON types keep their type on the wire: every
/// `langfuse.{trace,observation}.metadata.<key>` value is JSON-encoded (CONTRACT.md).
#[test]
fn metadata_values_are_json_encoded_so_strings_stay_strings() {
    let server = Server::accepting();
    let client = langfuse_client(&server);
    let values = json!({
        "kind": "article", "count": "123", "flag": "true", "nothing": "null",
        "number": 123, "yes": true, "nested": {"a": [1, "2"]}
    });
    let trace = client.trace(Trace::new("typed").metadata(values.clone()));
    let mut span = trace.span("child");
    span.update(ObservationUpdate::new().metadata(values.clone()));
    span.end();
    trace.end();
    client.flush(FLUSH);

    let spans = server.spans();
    let child = spans
        .iter()
        .find(|s| s.name == "child")
        .expect("child span");
    let expected = [
        ("kind", r#""article""#),
        ("count", r#""123""#),
        ("flag", r#""true""#),
        ("nothing", r#""null""#),
        ("number", "123"),
        ("yes", "true"),
        ("nested", r#"{"a":[1,"2"]}"#),
    ];
    for prefix in ["langfuse.trace.metadata.", "langfuse.observation.metadata."] {
        for (key, text) in expected {
            let name = format!("{prefix}{key}");
            assert_eq!(attr_str(child, &name).as_deref(), Some(text), "{name}");
            // What a server does with it: parse the JSON back, the type intact.
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed, values[key], "{name}");
        }
    }
}
