//! The OpenTelemetry GenAI conventions as they stand (gen-ai 1.42) on the wire: a real
//! loopback server decodes the real OTLP protobuf, for Langfuse and for a plain collector.
//! The provider, the operation per type, the response id and finish reasons, time to first
//! token both ways, no usage on agents, the opt-in content attributes (valid JSON after
//! truncation), scores as `gen_ai.evaluation.result` events, `service.name` as OpenTelemetry
//! defaults it, and scores for past traces.

use std::time::{Duration, SystemTime};

use crate::export_support::*;
use observe_runtime::config::{vars as var, Config};
use observe_runtime::export::otlp::DEFAULT_CONTENT_MAX_BYTES;
use observe_runtime::model::{Cost, ObservationType, Timestamp, TraceId, Usage};
use observe_runtime::{Client, ObservationUpdate, ScoreRequest, Trace};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{json, Value};

/// Long enough that the worker never batches on time: `flush` hands everything queued
/// before it over as one batch, so scores meet their spans.
const ONE_BATCH: Duration = Duration::from_secs(600);

fn langfuse(server: &Server) -> Client {
    Config::new()
        .keys("pk-lf-1", "sk-lf-1")
        .base_url(&server.base_url)
        .flush_interval(ONE_BATCH)
        .build_client()
        .expect("valid config")
        .expect("enabled")
}

fn collector(server: &Server, content: bool) -> Client {
    Config::new()
        .otlp_endpoint(format!("{}/v1/traces", server.base_url))
        .genai_content(content)
        .flush_interval(ONE_BATCH)
        .build_client()
        .expect("valid config")
        .expect("enabled")
}

/// A chat turn: a chat generation (messages in, text out, first token 180 ms in), a text
/// completion on a self-hosted model, an embedding, an agent that was given usage and cost
/// (which belong on its generation), a tool. Returns the trace id.
fn record_turn(client: &Client, user_text: &str) -> TraceId {
    let trace = client.trace(Trace::new("chat_turn").session_id("s-1"));
    let start = SystemTime::now();
    let mut chat = trace.generation("chat");
    chat.update(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .input(&json!({"messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": user_text},
            ]}))
            .output(&"Paris.")
            .usage(Usage::new(120, 3))
            .response_id("chatcmpl-42")
            .finish_reasons(["stop"])
            .completion_start_time(Timestamp::from(start + Duration::from_millis(180))),
    );
    chat.score(ScoreRequest::new("relevance", 0.75).comment("on topic"));
    chat.end();
    let mut completion = trace.generation("complete");
    completion.update(
        ObservationUpdate::new()
            .model("house-llm-7b")
            .provider("vllm")
            .operation("text_completion")
            .input(&json!({"prompt": "Once upon"})),
    );
    completion.end();
    let mut embed = trace.observation(ObservationType::Embedding, "embed");
    embed.update(
        ObservationUpdate::new()
            .model("text-embedding-3-small")
            .usage(Usage::default().with("input", 8)),
    );
    embed.end();
    let mut agent = trace.observation(ObservationType::Agent, "planner");
    agent.update(
        ObservationUpdate::new()
            .model("claude-sonnet-4-5")
            .usage(Usage::new(500, 60))
            .cost(Cost::new(0.0015, 0.0009)),
    );
    let mut inner = agent.generation("plan");
    inner.update(
        ObservationUpdate::new()
            .model("claude-sonnet-4-5")
            .usage(Usage::new(500, 60)),
    );
    inner.end();
    agent.end();
    trace.observation(ObservationType::Tool, "search").end();
    trace.score(ScoreRequest::new("topic", "geography"));
    trace.score(ScoreRequest::new("resolved", true));
    let id = trace.id();
    trace.end();
    id
}

fn span<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

fn event_attrs(event: &Event) -> std::collections::BTreeMap<String, Any> {
    event
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
        .collect()
}

#[test]
fn langfuse_and_any_backend_read_the_same_generation() {
    let server = Server::accepting();
    let client = langfuse(&server);
    record_turn(&client, "Capital of France?");
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let spans = server.spans();
    assert_eq!(spans.len(), 7, "{spans:#?}");

    for (name, operation, provider) in [
        ("chat", Some("chat"), Some("openai")),
        ("complete", Some("text_completion"), Some("vllm")),
        ("embed", Some("embeddings"), Some("openai")),
        ("plan", Some("chat"), Some("anthropic")),
        ("planner", Some("invoke_agent"), None),
        ("search", Some("execute_tool"), None),
        ("chat_turn", None, None),
    ] {
        let s = span(&spans, name);
        assert_eq!(
            attr_str(s, "gen_ai.operation.name").as_deref(),
            operation,
            "{name}"
        );
        assert_eq!(
            attr_str(s, "gen_ai.provider.name").as_deref(),
            provider,
            "{name}"
        );
        // `gen_ai.provider.name` replaced it; Langfuse reads neither for the generation.
        assert_eq!(attr_str(s, "gen_ai.system"), None, "{name}");
        // Langfuse reads its captured input and output: no content attributes, no events.
        for key in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
        ] {
            assert_eq!(attr_str(s, key), None, "{name}: {key}");
        }
        assert!(s.events.is_empty(), "{name}: scores go to the scores API");
    }

    let chat = span(&spans, "chat");
    assert_eq!(
        attr_str(chat, "gen_ai.response.id").as_deref(),
        Some("chatcmpl-42")
    );
    assert_eq!(
        attr_strings(chat, "gen_ai.response.finish_reasons"),
        Some(vec!["stop".to_owned()])
    );
    // Time to first token both ways: Langfuse's ISO time, and the conventions' seconds.
    let first = attr_str(chat, "langfuse.observation.completion_start_time")
        .expect("Langfuse's completion start time");
    let first = Timestamp::parse_rfc3339(&first).expect("ISO 8601");
    let Some(Any::DoubleValue(ttfc)) = attrs(chat)
        .get("gen_ai.response.time_to_first_chunk")
        .cloned()
    else {
        panic!("no time to first chunk: {chat:?}");
    };
    let expected = (first.as_nanos() - chat.start_time_unix_nano) as f64 / 1e9;
    assert!((ttfc - expected).abs() < 1e-6, "{ttfc} s, {expected} s");
    assert!(ttfc > 0.1 && ttfc < 10.0, "{ttfc} s");

    // The agent keeps its model but carries no usage or cost, in either vocabulary; its
    // generation carries them.
    let planner = span(&spans, "planner");
    let planner_attrs = attrs(planner);
    assert!(
        !planner_attrs
            .keys()
            .any(|k| k.contains("usage") || k.contains("cost")),
        "{planner_attrs:?}"
    );
    let plan = span(&spans, "plan");
    assert_eq!(
        attr_json(plan, "langfuse.observation.usage_details"),
        Some(json!({"input": 500, "output": 60, "total": 560}))
    );
    assert_eq!(
        attrs(plan).get("gen_ai.usage.input_tokens"),
        Some(&Any::IntValue(500))
    );

    // Scores went to Langfuse's scores API, as before.
    let scores: Vec<Value> = server
        .to("/api/public/scores")
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(scores.len(), 3, "{scores:?}");
}

#[test]
fn usage_given_on_an_agent_never_reaches_any_destination() {
    let (client, memory) = Client::in_memory();
    record_turn(&client, "hi");
    client.flush(FLUSH);
    let planner = memory.find("planner").expect("the agent");
    assert_eq!(planner.details().usage, None);
    assert_eq!(planner.details().cost, None);
    assert_eq!(
        planner.details().model.as_deref(),
        Some("claude-sonnet-4-5")
    );
    assert!(memory.find("plan").unwrap().details().usage.is_some());
}

#[test]
fn a_collector_gets_content_attributes_that_stay_json_when_cut() {
    let server = Server::accepting();
    let client = collector(&server, true);
    let long = "Ünïcødé \"quoted\"\n".repeat(4_000);
    record_turn(&client, &long);
    client.flush(FLUSH);
    let spans = server.spans();
    let chat = span(&spans, "chat");

    let parse = |key: &str| -> Value {
        let text = attr_str(chat, key).unwrap_or_else(|| panic!("no {key}"));
        assert!(
            text.len() <= DEFAULT_CONTENT_MAX_BYTES,
            "{key}: {} bytes",
            text.len()
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key} is not JSON: {e}"))
    };
    assert_eq!(
        parse("gen_ai.system_instructions"),
        json!([{"type": "text", "content": "You are terse."}])
    );
    let input = parse("gen_ai.input.messages");
    assert_eq!(input[0]["role"], "user");
    assert_eq!(input[0]["parts"][0]["type"], "text");
    let content = input[0]["parts"][0]["content"].as_str().unwrap();
    assert!(content.starts_with("Ünïcødé \"quoted\"\n"), "{content:.40}");
    assert!(content.ends_with("…[truncated]"), "cut, with a marker");
    assert_eq!(
        parse("gen_ai.output.messages"),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}],
                "finish_reason": "stop"}])
    );
    // A text prompt is one user message.
    let complete = span(&spans, "complete");
    assert_eq!(
        attr_json(complete, "gen_ai.input.messages"),
        Some(json!([{"role": "user", "parts": [{"type": "text", "content": "Once upon"}]}]))
    );
    // Only generations carry content.
    for name in ["embed", "planner", "search", "chat_turn"] {
        assert_eq!(
            attr_str(span(&spans, name), "gen_ai.input.messages"),
            None,
            "{name}"
        );
    }
}

#[test]
fn content_attributes_are_off_by_default() {
    let server = Server::accepting();
    let client = Config::from_vars(vars(&[
        (var::OTLP_ENDPOINT, &server.base_url),
        (var::FLUSH_INTERVAL, "600"),
    ]))
    .unwrap()
    .build_client()
    .unwrap()
    .unwrap();
    record_turn(&client, "hi");
    client.flush(FLUSH);
    let spans = server.spans();
    assert!(!spans.is_empty());
    assert!(spans
        .iter()
        .all(|s| attr_str(s, "gen_ai.input.messages").is_none()));

    let on = Config::from_vars(vars(&[(var::GENAI_CONTENT, "true")])).unwrap();
    assert_eq!(on.value(var::GENAI_CONTENT).as_deref(), Some("true"));
    let err = Config::from_vars(vars(&[(var::GENAI_CONTENT, "sometimes")])).unwrap_err();
    assert!(err.to_string().contains("OBSERVE_GENAI_CONTENT"), "{err}");
}

#[test]
fn a_collector_gets_scores_as_evaluation_events_on_the_evaluated_spans() {
    let server = Server::accepting();
    let client = collector(&server, false);
    let trace_id = record_turn(&client, "hi");
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    assert_eq!(report.stats.exported, 7 + 3, "{report:?}");
    assert!(server.to("/api/public/scores").is_empty());
    let spans = server.spans();
    assert_eq!(spans.len(), 7, "every score rode on its span: {spans:#?}");

    let chat = span(&spans, "chat");
    assert_eq!(chat.events.len(), 1, "{chat:?}");
    let event = &chat.events[0];
    assert_eq!(event.name, "gen_ai.evaluation.result");
    assert!(event.time_unix_nano >= chat.start_time_unix_nano);
    let a = event_attrs(event);
    assert_eq!(
        a.get("gen_ai.evaluation.name"),
        Some(&Any::StringValue("relevance".into()))
    );
    assert_eq!(
        a.get("gen_ai.evaluation.score.value"),
        Some(&Any::DoubleValue(0.75))
    );
    assert_eq!(
        a.get("gen_ai.evaluation.explanation"),
        Some(&Any::StringValue("on topic".into()))
    );
    assert_eq!(a.get("gen_ai.evaluation.score.label"), None);

    // Trace scores ride on the root.
    let root = span(&spans, "chat_turn");
    let mut on_root: Vec<_> = root.events.iter().map(event_attrs).collect();
    on_root.sort_by_key(|a| format!("{:?}", a.get("gen_ai.evaluation.name")));
    assert_eq!(on_root.len(), 2, "{root:?}");
    assert_eq!(
        on_root[0].get("gen_ai.evaluation.score.label"),
        Some(&Any::StringValue("true".into())),
        "a boolean is a label and a value"
    );
    assert_eq!(
        on_root[0].get("gen_ai.evaluation.score.value"),
        Some(&Any::DoubleValue(1.0))
    );
    assert_eq!(
        on_root[1].get("gen_ai.evaluation.score.label"),
        Some(&Any::StringValue("geography".into()))
    );
    assert_eq!(on_root[1].get("gen_ai.evaluation.score.value"), None);

    // Feedback on the finished trace, by id: its spans are gone, so the event rides on a
    // span of its own in the same trace, under the evaluated observation.
    let chat_id = chat.span_id.clone();
    client.score_trace(trace_id, ScoreRequest::new("user_feedback", 1.0));
    let observation =
        observe_runtime::model::SpanId(u64::from_be_bytes(chat_id.clone().try_into().unwrap()));
    client.score_observation(trace_id, observation, ScoreRequest::new("correct", false));
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let spans = server.spans();
    assert_eq!(spans.len(), 9, "{spans:#?}");
    let late = span(&spans, "evaluation user_feedback");
    assert_eq!(hex(&late.trace_id), trace_id.to_string());
    assert!(late.parent_span_id.is_empty());
    assert_eq!(late.start_time_unix_nano, late.end_time_unix_nano);
    assert_eq!(late.events.len(), 1);
    assert_eq!(late.events[0].name, "gen_ai.evaluation.result");
    assert_eq!(
        event_attrs(&late.events[0]).get("gen_ai.evaluation.score.value"),
        Some(&Any::DoubleValue(1.0))
    );
    let correct = span(&spans, "evaluation correct");
    assert_eq!(correct.parent_span_id, chat_id);
    assert_eq!(
        attr_str(correct, "gen_ai.evaluation.score.label").as_deref(),
        Some("false")
    );
}

#[test]
fn a_past_trace_is_scored_by_id_through_langfuses_scores_api() {
    let server = Server::accepting();
    let client = langfuse(&server);
    let trace_id = record_turn(&client, "hi");
    client.flush(FLUSH);
    let before = server.to("/api/public/scores").len();
    client.score_trace(
        trace_id,
        ScoreRequest::new("user_feedback", 0.0).comment("wrong city"),
    );
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let scores = server.to("/api/public/scores");
    assert_eq!(scores.len(), before + 1);
    let body = scores.last().unwrap().json();
    assert_eq!(body["traceId"], trace_id.to_string());
    assert_eq!(body["name"], "user_feedback");
    assert_eq!(body["value"], 0.0);
    assert_eq!(body["comment"], "wrong city");
    assert!(
        body.get("observationId").is_none_or(Value::is_null),
        "{body}"
    );
}

#[test]
fn service_name_follows_opentelemetry() {
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let name = |pairs: &[(&str, &str)]| {
        Config::from_vars(vars(pairs))
            .unwrap()
            .value(var::SERVICE_NAME)
    };
    assert_eq!(
        name(&[]),
        None,
        "unset: the resource says `unknown_service:...`"
    );
    assert_eq!(
        name(&[(var::RESOURCE_ATTRIBUTES, "service.name=billing,team=ai")]).as_deref(),
        Some("billing")
    );
    assert_eq!(
        name(&[
            (var::RESOURCE_ATTRIBUTES, "service.name=billing"),
            (var::SERVICE_NAME, "checkout"),
        ])
        .as_deref(),
        Some("checkout")
    );
    let err = Config::from_vars(vars(&[(var::RESOURCE_ATTRIBUTES, "team")])).unwrap_err();
    assert!(
        err.to_string().contains("OTEL_RESOURCE_ATTRIBUTES"),
        "{err}"
    );
    let err = Config::from_vars(vars(&[(var::RESOURCE_ATTRIBUTES, "a=%zz")])).unwrap_err();
    assert!(
        err.to_string().contains("OTEL_RESOURCE_ATTRIBUTES"),
        "{err}"
    );

    // On the wire: the default, then the resource attributes (values URL-decoded).
    let resource = |pairs: &[(&str, &str)]| {
        let server = Server::accepting();
        let mut all = vec![(var::OTLP_ENDPOINT, server.base_url.as_str())];
        all.extend_from_slice(pairs);
        let client = Config::from_vars(vars(&all))
            .unwrap()
            .build_client()
            .unwrap()
            .unwrap();
        client.trace(Trace::new("t")).end();
        client.flush(FLUSH);
        let request = server.to("/v1/traces")[0].otlp();
        let resource = request.resource_spans[0].resource.clone().unwrap();
        resource
            .attributes
            .into_iter()
            .filter_map(|kv| match kv.value?.value? {
                Any::StringValue(s) => Some((kv.key, s)),
                _ => None,
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let default = resource(&[]);
    assert_eq!(default["service.name"], format!("unknown_service:{stem}"));
    let given = resource(&[(
        var::RESOURCE_ATTRIBUTES,
        "service.name=billing, deployment.environment=prod%20eu",
    )]);
    assert_eq!(given["service.name"], "billing");
    assert_eq!(given["deployment.environment"], "prod eu");
    assert_eq!(
        given.keys().filter(|k| *k == "service.name").count(),
        1,
        "{given:?}"
    );
}
