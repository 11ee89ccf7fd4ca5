//! What observe's own OTLP exporter encodes, this crate decodes back to the same
//! observations: every field Langfuse shows, through protobuf and through OTLP/JSON.

use std::sync::Arc;

use observe_export::otlp::{encode_batch, Resource};
use observe_ingest::{decode_request, Decoded, Encoding, SpanRefusal};
use observe_model::export::Batch;
use observe_model::model::{
    Cost, GenAiCall, Json, Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes,
    TraceId, Usage,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::json;

const T0: u64 = 1_765_000_000_123_456_789;

fn trace() -> Arc<TraceAttributes> {
    let mut t = TraceAttributes {
        name: Some("checkout".into()),
        session_id: Some("session-42".into()),
        user_id: Some("user-7".into()),
        tags: vec!["prod".into(), "beta".into()],
        version: Some("1.2.3".into()),
        release: Some("r2026.12".into()),
        environment: Some("staging".into()),
        public: Some(true),
        input: Some(Json::from_value(&json!({"question": "where is my order?"}))),
        output: Some(Json::from_value(&"on its way")),
        ..TraceAttributes::default()
    };
    t.metadata
        .insert("tenant".into(), Json::from_value(&"acme"));
    t.metadata.insert(
        "flags".into(),
        Json::from_value(&json!({"fast": true, "n": 3})),
    );
    Arc::new(t)
}

/// A root agent, a generation with everything set, a failing tool, an event and a bare span.
fn observations(trace: &Arc<TraceAttributes>) -> Vec<Observation> {
    let trace_id = TraceId(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c);
    let base = |id: u64, parent: Option<u64>, name: &'static str, kind| Observation {
        trace_id,
        id: SpanId(id),
        parent_id: parent.map(SpanId),
        name: name.into(),
        kind,
        level: Level::Default,
        start: Timestamp(T0 + id * 1_000),
        end: Timestamp(T0 + id * 1_000 + 500_000_000),
        details: None,
        trace: trace.clone(),
    };
    let mut root = base(1, None, "agent", ObservationType::Agent);
    root.details_mut().input = Some(Json::from_value(&json!({"q": "hi"})));
    root.details_mut()
        .metadata
        .insert("step".into(), Json::from_value(&1));

    let mut generation = base(2, Some(1), "llm-call", ObservationType::Generation);
    generation.level = Level::Warning;
    {
        let d = generation.details_mut();
        d.input = Some(Json::from_value(
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        ));
        d.output = Some(Json::from_value(&"hello there"));
        d.model = Some("gpt-4o-mini".into());
        d.model_parameters = Some(Json::from_value(
            &json!({"temperature": 0.2, "max_tokens": 256}),
        ));
        d.usage = Some(
            Usage::new(120, 30)
                .with("input_cached_tokens", 20)
                .with("output_reasoning_tokens", 5)
                .with("total", 175),
        );
        d.cost = Some(Cost::new(0.000_18, 0.000_6));
        d.completion_start_time = Some(Timestamp(T0 + 2_000 + 120_000_000));
        d.prompt_name = Some("support-answer".into());
        d.prompt_version = Some(3);
        d.version = Some("gen-v2".into());
        d.metadata.insert("retry".into(), Json::from_value(&false));
        d.gen_ai = Some(Box::new(GenAiCall {
            provider: Some("openai".into()),
            operation: Some("text_completion".into()),
            response_id: Some("chatcmpl-123".into()),
            finish_reasons: vec!["stop".into()],
        }));
    }

    let mut tool = base(3, Some(1), "lookup", ObservationType::Tool);
    tool.level = Level::Error;
    tool.details_mut().status_message = Some("order service timed out".into());
    tool.details_mut().output = Some(Json::from_value(&json!(null)));

    let mut event = base(4, Some(2), "cache-miss", ObservationType::Event);
    event.end = event.start;

    let bare = base(5, Some(1), "format", ObservationType::Span);

    vec![root, generation, tool, event, bare]
}

/// What the decoder gives for `obs`: the same, with three differences the wire makes.
/// `langfuse.version` is one key for the observation's version and the trace's, so it comes
/// back as the trace's; a JSON `null` output is not sent (as the official SDKs leave `None`);
/// the completion start time travels as ISO 8601 text in microseconds.
fn as_decoded(obs: &Observation) -> Observation {
    let mut expected = obs.clone();
    if let Some(d) = expected.details.as_deref_mut() {
        if let Some(v) = d.version.take() {
            Arc::make_mut(&mut expected.trace).version = Some(v);
        }
        if let Some(at) = &mut d.completion_start_time {
            at.0 -= at.0 % 1_000;
        }
        if d.output.as_ref().is_some_and(|o| o.as_str() == "null") {
            d.output = None;
        }
        if *d == Default::default() {
            expected.details = None;
        }
    }
    expected
}

fn assert_same(decoded: &Decoded, sent: &[Observation], how: &str) {
    assert!(decoded.refused.is_empty(), "{how}: {:?}", decoded.refused);
    assert_eq!(decoded.observations.len(), sent.len(), "{how}");
    for (got, obs) in decoded.observations.iter().zip(sent) {
        assert_eq!(*got, as_decoded(obs), "{how}: observation `{}`", obs.name);
    }
}

fn encoded() -> (Vec<Observation>, Vec<u8>) {
    let observations = observations(&trace());
    let batch = Batch {
        observations: observations.iter().cloned().map(Box::new).collect(),
        scores: Vec::new(),
    };
    let bytes = encode_batch(&batch, &Resource::new("shop"));
    (observations, bytes)
}

#[test]
fn protobuf_from_the_exporter_decodes_to_the_same_observations() {
    let (sent, bytes) = encoded();
    let decoded = decode_request(&bytes, Encoding::Protobuf).unwrap();
    assert_same(&decoded, &sent, "protobuf");
    // Spans of one trace with the same attributes share them, as the exporter's input did.
    assert!(Arc::ptr_eq(
        &decoded.observations[0].trace,
        &decoded.observations[4].trace
    ));
}

#[test]
fn otlp_json_decodes_to_the_same_observations() {
    let (sent, bytes) = encoded();
    let request = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let body = serde_json::to_vec(&request).unwrap();
    // The JSON encoding OTLP specifies: ids in hex, not base64.
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        text.contains("\"traceId\":\"0af7651916cd43dd8448eb211c80319c\""),
        "{text:.400}"
    );
    let decoded = decode_request(&body, Encoding::Json).unwrap();
    assert_same(&decoded, &sent, "json");
}

#[test]
fn environment_release_and_version_fall_back_to_the_resource() {
    let trace = Arc::new(TraceAttributes::default());
    let batch = Batch {
        observations: observations(&trace)
            .into_iter()
            .take(1)
            .map(Box::new)
            .collect(),
        scores: Vec::new(),
    };
    let resource = Resource::new("shop")
        .with("langfuse.environment", "production")
        .with("langfuse.release", "r9");
    let bytes = encode_batch(&batch, &resource);
    let decoded = decode_request(&bytes, Encoding::Protobuf).unwrap();
    let t = &decoded.observations[0].trace;
    assert_eq!(t.environment.as_deref(), Some("production"));
    assert_eq!(t.release.as_deref(), Some("r9"));
    assert_eq!(t.version, None);

    // Without `langfuse.version`, the service's version is the version, as Langfuse reads it.
    let resource = Resource::new("shop").with("service.version", "9.9");
    let bytes = encode_batch(&batch, &resource);
    let decoded = decode_request(&bytes, Encoding::Protobuf).unwrap();
    assert_eq!(
        decoded.observations[0].trace.version.as_deref(),
        Some("9.9")
    );
}

/// A span from a plain OpenTelemetry SDK: no `langfuse.*` key, GenAI conventions only, in
/// the OTLP/JSON spelling of the specification (int64 as a string, enums as numbers).
#[test]
fn genai_conventions_fill_in_when_langfuse_keys_are_absent() {
    let mut span = span_json(json!([
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o-2024-08-06"}},
        {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "40"}},
        {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "30"}},
        {"key": "gen_ai.conversation.id", "value": {"stringValue": "conv-1"}},
        {"key": "user.id", "value": {"stringValue": "u-1"}},
        {"key": "http.status_code", "value": {"intValue": "500"}}
    ]));
    span["parentSpanId"] = json!("eee19b7ec3c1b173");
    span["kind"] = json!(3);
    span["status"] = json!({"code": 2, "message": "rate limited"});
    let decoded = decode_span_json(span);
    assert!(decoded.refused.is_empty(), "{:?}", decoded.refused);
    let obs = &decoded.observations[0];
    assert_eq!(obs.kind, ObservationType::Generation);
    assert_eq!(obs.level, Level::Error);
    assert_eq!(obs.end.as_nanos() - obs.start.as_nanos(), 2_000_000_000);
    assert_eq!(obs.parent_id, Some(SpanId(0xeee1_9b7e_c3c1_b173)));
    assert_eq!(obs.trace.session_id.as_deref(), Some("conv-1"));
    assert_eq!(obs.trace.user_id.as_deref(), Some("u-1"));
    let d = obs.details();
    // The response model before the request model, as Langfuse's server reads them.
    assert_eq!(d.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(d.status_message.as_deref(), Some("rate limited"));
    assert_eq!(
        d.model_parameters.as_ref().map(Json::to_value),
        Some(json!({"temperature": 0.5}))
    );
    let usage = d.usage.as_ref().unwrap();
    assert_eq!(usage.get("input"), Some(70));
    assert_eq!(usage.get("input_cached_tokens"), Some(30));
    assert_eq!(usage.get("output"), Some(40));
    // Langfuse's total: every count summed, which gives back the input and output tokens.
    assert_eq!(usage.get("total"), Some(140));
    // `chat` is what a generation is without saying: not kept as its operation.
    assert_eq!(d.gen_ai, None);
    // What no rule reads is kept, under `attributes` as Langfuse shows it.
    assert_eq!(
        d.metadata.get("attributes").map(Json::to_value),
        Some(json!({"http.status_code": 500}))
    );
    assert_eq!(d.metadata.len(), 1, "{:?}", d.metadata);
}

#[test]
fn a_span_with_a_bad_id_is_refused_alone() {
    let (sent, bytes) = encoded();
    let mut request = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[3].span_id = vec![0; 8];
    spans[4].trace_id.truncate(5);
    let body = request.encode_to_vec();
    let decoded = decode_request(&body, Encoding::Protobuf).unwrap();
    assert_eq!(decoded.observations.len(), 3);
    assert_eq!(
        decoded
            .refused
            .iter()
            .map(|r| (r.name.as_str(), r.reason.clone()))
            .collect::<Vec<_>>(),
        [
            ("cache-miss", SpanRefusal::SpanId(8)),
            ("format", SpanRefusal::TraceId(5)),
        ]
    );
    for (got, obs) in decoded.observations.iter().zip(&sent) {
        assert_eq!(*got, as_decoded(obs));
    }
}

#[test]
fn a_body_that_is_not_otlp_is_an_error() {
    assert!(decode_request(b"\xff\xff\xff", Encoding::Protobuf).is_err());
    assert!(decode_request(b"[1, 2]", Encoding::Json).is_err());
}

/// One span in OTLP/JSON, as an SDK that is not observe's writes it, with `attrs`.
fn span_json(attrs: serde_json::Value) -> serde_json::Value {
    json!({
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "step",
        "startTimeUnixNano": "1765000000000000000",
        "endTimeUnixNano": "1765000002000000000",
        "attributes": attrs
    })
}

/// Decodes a request of one span given as OTLP/JSON.
fn decode_span_json(span: serde_json::Value) -> Decoded {
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]});
    decode_request(body.to_string().as_bytes(), Encoding::Json).unwrap()
}

fn foreign_span(attrs: serde_json::Value) -> Decoded {
    decode_span_json(span_json(attrs))
}

/// Langfuse's ingestion adds `total` (the sum of every count) to counts that have none,
/// and keeps a total that was sent, even one that is not the sum.
#[test]
fn a_missing_total_is_the_sum_of_all_counts() {
    let usage_of = |details: &str| {
        let decoded = foreign_span(json!([
            {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
            {"key": "langfuse.observation.usage_details", "value": {"stringValue": details}}
        ]));
        assert!(decoded.refused.is_empty(), "{:?}", decoded.refused);
        decoded.observations[0].details().usage.clone()
    };
    assert_eq!(
        usage_of(r#"{"input": 12, "output": 8, "input_cached_tokens": 5}"#),
        Some(
            Usage::new(12, 8)
                .with("input_cached_tokens", 5)
                .with("total", 25)
        )
    );
    assert_eq!(
        usage_of(r#"{"input": 12, "output": 8, "total": 3}"#),
        Some(Usage::new(12, 8).with("total", 3))
    );
    assert_eq!(usage_of("{}"), Some(Usage::default()));
}

#[test]
fn openinference_keys_fill_in_type_model_usage_and_io() {
    let decoded = foreign_span(json!([
        {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
        {"key": "llm.model_name", "value": {"stringValue": "claude-sonnet-4"}},
        {"key": "llm.token_count.prompt", "value": {"intValue": "12"}},
        {"key": "llm.token_count.completion", "value": {"intValue": "8"}},
        {"key": "llm.token_count.total", "value": {"intValue": "20"}},
        {"key": "input.value", "value": {"stringValue": "{\"q\":\"hi\"}"}},
        {"key": "output.value", "value": {"stringValue": "hello"}}
    ]));
    let obs = &decoded.observations[0];
    assert_eq!(obs.kind, ObservationType::Generation);
    let d = obs.details();
    assert_eq!(d.model.as_deref(), Some("claude-sonnet-4"));
    assert_eq!(d.usage, Some(Usage::new(12, 8).with("total", 20)));
    assert_eq!(
        d.input.as_ref().map(Json::to_value),
        Some(json!({"q": "hi"}))
    );
    assert_eq!(d.output, Some(Json::from_value(&"hello")));
    assert!(d.metadata.is_empty(), "{:?}", d.metadata);
}

#[test]
fn older_langfuse_spellings_are_read_after_the_current_ones() {
    let decoded = foreign_span(json!([
        {"key": "langfuse.tags", "value": {"arrayValue": {"values": [
            {"stringValue": "a"}, {"stringValue": "b"}
        ]}}},
        {"key": "langfuse.public", "value": {"boolValue": true}},
        {"key": "langfuse.prompt.name", "value": {"stringValue": "greeting"}},
        {"key": "langfuse.prompt.version", "value": {"intValue": "4"}},
        {"key": "langfuse.observation.completion_start_time",
         "value": {"stringValue": "\"2025-12-06T05:46:40.250Z\""}}
    ]));
    let obs = &decoded.observations[0];
    assert_eq!(obs.trace.tags, ["a", "b"]);
    assert_eq!(obs.trace.public, Some(true));
    let d = obs.details();
    assert_eq!(d.prompt_name.as_deref(), Some("greeting"));
    assert_eq!(d.prompt_version, Some(4));
    // Sent JSON-encoded twice, as older SDKs do: still the time.
    assert_eq!(
        d.completion_start_time,
        Timestamp::parse_rfc3339("2025-12-06T05:46:40.250Z")
    );
    assert!(d.completion_start_time.is_some());
    assert!(d.metadata.is_empty(), "{:?}", d.metadata);
}
