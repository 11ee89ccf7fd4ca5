//! Langfuse's precedence, field by field: its own `langfuse.*` key, then the GenAI and
//! OpenInference conventions, as its server's `OtelIngestionProcessor` reads them. A
//! convention key that says the same as a `langfuse.*` key found is dropped with it (the
//! exporters send both); one found alone is used.

use observe_model::genai::{attributes as gen_ai, usage_keys as usage_key};
use observe_model::model::{
    Cost, GenAiCall, Json, ObservationDetails, ObservationType, Timestamp, TraceAttributes, Usage,
};

use crate::attributes::{json_text, Attributes};
use crate::keys::{langfuse, openinference, otel};

/// The resource's `service.version`: the version when no `langfuse.version` is sent.
const SERVICE_VERSION: &str = "service.version";

/// `gen_ai.usage.cost`: a total cost in USD, read only without `cost_details`.
const GEN_AI_USAGE_COST: &str = "gen_ai.usage.cost";

/// Whether [`trace_attributes`] reads `key`: those keys are all it reads of a span, so spans
/// whose entries under these keys are equal give the same trace attributes.
pub(crate) fn is_trace_key(key: &str) -> bool {
    key.starts_with(langfuse::TRACE_METADATA_PREFIX)
        || [
            langfuse::SESSION_ID,
            otel::SESSION_ID,
            gen_ai::CONVERSATION_ID,
            langfuse::VERSION,
            langfuse::RELEASE,
            langfuse::ENVIRONMENT,
            langfuse::TRACE_NAME,
            langfuse::USER_ID,
            otel::USER_ID,
            langfuse::TRACE_TAGS,
            langfuse::COMPAT_TAGS,
            langfuse::TRACE_PUBLIC,
            langfuse::COMPAT_PUBLIC,
            langfuse::TRACE_INPUT,
            langfuse::TRACE_OUTPUT,
        ]
        .contains(&key)
}

/// The trace's attributes a span carries; `resource` gives environment, release and version
/// when the span has none. Reads only the keys [`is_trace_key`] accepts.
pub(crate) fn trace_attributes(a: &mut Attributes, resource: &Attributes) -> TraceAttributes {
    let session_id = a.take_first_text(&[langfuse::SESSION_ID, otel::SESSION_ID]);
    let conversation = a.take_text(gen_ai::CONVERSATION_ID);
    let mut on_span_or_resource = |key: &str| a.take_text(key).or_else(|| resource.text(key));
    let version = on_span_or_resource(langfuse::VERSION).or_else(|| resource.text(SERVICE_VERSION));
    let release = on_span_or_resource(langfuse::RELEASE);
    let environment = on_span_or_resource(langfuse::ENVIRONMENT);
    TraceAttributes {
        name: a.take_text(langfuse::TRACE_NAME),
        session_id: session_id.or(conversation),
        user_id: a.take_first_text(&[langfuse::USER_ID, otel::USER_ID]),
        tags: a
            .first_key(&[langfuse::TRACE_TAGS, langfuse::COMPAT_TAGS])
            .map(|k| a.take_strings(k))
            .unwrap_or_default(),
        metadata: a.take_prefixed(langfuse::TRACE_METADATA_PREFIX),
        version,
        release,
        environment,
        public: a
            .first_key(&[langfuse::TRACE_PUBLIC, langfuse::COMPAT_PUBLIC])
            .and_then(|k| a.take_bool(k)),
        input: a.take_text(langfuse::TRACE_INPUT).map(json_text),
        output: a.take_text(langfuse::TRACE_OUTPUT).map(json_text),
    }
}

/// The observation type: Langfuse's key, else OpenInference's span kind, else the GenAI
/// operation, else a span. The operation name is left for [`gen_ai_call`].
pub(crate) fn observation_type(a: &mut Attributes) -> ObservationType {
    if let Some(text) = a.take_text(langfuse::OBSERVATION_TYPE) {
        match text.parse() {
            Ok(kind) => return kind,
            Err(e) => tracing::warn!("observation type dropped: {e}"),
        }
    }
    if let Some(kind) = a.take_text(openinference::SPAN_KIND) {
        if let Some(kind) = from_openinference(&kind) {
            return kind;
        }
    }
    // Left in place: a generation keeps its operation (`text_completion`...).
    a.text(gen_ai::OPERATION_NAME)
        .map_or(ObservationType::Span, |op| from_operation(&op))
}

fn from_openinference(kind: &str) -> Option<ObservationType> {
    Some(match kind.to_ascii_uppercase().as_str() {
        "LLM" => ObservationType::Generation,
        "CHAIN" => ObservationType::Chain,
        "TOOL" => ObservationType::Tool,
        "AGENT" => ObservationType::Agent,
        "RETRIEVER" => ObservationType::Retriever,
        "EMBEDDING" => ObservationType::Embedding,
        "GUARDRAIL" => ObservationType::Guardrail,
        "EVALUATOR" => ObservationType::Evaluator,
        _ => return None,
    })
}

fn from_operation(op: &str) -> ObservationType {
    match op {
        "chat" | "text_completion" | "generate_content" => ObservationType::Generation,
        "embeddings" => ObservationType::Embedding,
        "execute_tool" => ObservationType::Tool,
        "invoke_agent" | "create_agent" => ObservationType::Agent,
        _ => ObservationType::Span,
    }
}

/// Everything beyond the ids, times, type and level (all default when the span says nothing).
pub(crate) fn details(a: &mut Attributes, kind: ObservationType) -> ObservationDetails {
    let operation = a.take_text(gen_ai::OPERATION_NAME);
    // Agent steps carry no model, usage or cost in Langfuse: the model calls inside do.
    let agent_step = matches!(operation.as_deref(), Some("invoke_agent" | "agent_step"));
    let mut d = ObservationDetails {
        input: io(
            a,
            langfuse::INPUT,
            &[openinference::INPUT_VALUE, gen_ai::INPUT_MESSAGES],
        ),
        output: io(
            a,
            langfuse::OUTPUT,
            &[openinference::OUTPUT_VALUE, gen_ai::OUTPUT_MESSAGES],
        ),
        metadata: a.take_prefixed(langfuse::METADATA_PREFIX),
        status_message: a.take_text(langfuse::STATUS_MESSAGE),
        model: model(a),
        model_parameters: model_parameters(a),
        usage: usage(a),
        cost: cost(a),
        computed_cost: None,
        completion_start_time: completion_start_time(a),
        prompt_name: a.take_first_text(&[langfuse::PROMPT_NAME, langfuse::COMPAT_PROMPT_NAME]),
        prompt_version: a
            .first_key(&[langfuse::PROMPT_VERSION, langfuse::COMPAT_PROMPT_VERSION])
            .and_then(|k| a.take_int(k)),
        version: None,
        gen_ai: gen_ai_call(a, kind, operation),
    };
    if agent_step {
        d.model = None;
        d.usage = None;
        d.cost = None;
    }
    d
}

/// Input or output: Langfuse's key, else the conventions' in order. The conventions' keys
/// are dropped when Langfuse's is there: they carry the same content.
fn io(a: &mut Attributes, own: &str, fallbacks: &[&str]) -> Option<Json> {
    let found = a.take_text(own).or_else(|| a.take_first_text(fallbacks));
    if found.is_some() {
        for k in fallbacks {
            a.take(k);
        }
    }
    found.map(json_text)
}

fn model(a: &mut Attributes) -> Option<String> {
    // The keys that name the model in one convention or another; the generic `model`
    // last, and kept as metadata when a more specific key wins.
    const SAME: [&str; 6] = [
        langfuse::MODEL,
        gen_ai::RESPONSE_MODEL,
        "ai.model.id",
        gen_ai::REQUEST_MODEL,
        "llm.response.model",
        openinference::MODEL_NAME,
    ];
    let found = a.take_first_text(&SAME).or_else(|| a.take_text("model"));
    if found.is_some() {
        for k in SAME {
            a.take(k);
        }
    }
    found
}

/// `model.parameters`, else the `gen_ai.request.*` keys (the model aside) as one object.
fn model_parameters(a: &mut Attributes) -> Option<Json> {
    if let Some(text) = a.take_text(langfuse::MODEL_PARAMETERS) {
        // The request keys say the same (the exporters send both): dropped unread.
        a.drop_prefixed(gen_ai::REQUEST_PREFIX);
        return Some(json_text(text));
    }
    let request = a.take_prefixed_values(gen_ai::REQUEST_PREFIX);
    (!request.is_empty()).then(|| Json::from_value(&request))
}

/// The span's counts, with `total` added as the sum of all the others when the span gives
/// none: Langfuse's ingestion completes every observation's counts so (all keys summed, as
/// the parts named in observe's and Langfuse's keys do not overlap).
fn usage(a: &mut Attributes) -> Option<Usage> {
    given_usage(a).map(with_total)
}

fn with_total(mut u: Usage) -> Usage {
    if !u.0.is_empty() && !u.0.contains_key(usage_key::TOTAL) {
        let total = u.0.values().fold(0u64, |sum, n| sum.saturating_add(*n));
        u.0.insert(usage_key::TOTAL.to_owned(), total);
    }
    u
}

/// `usage_details`, else the GenAI counts with the cached and reasoning parts taken out of
/// input and output (the inverse of what the exporters write).
fn given_usage(a: &mut Attributes) -> Option<Usage> {
    const GENAI: [&str; 5] = [
        gen_ai::USAGE_INPUT_TOKENS,
        gen_ai::USAGE_OUTPUT_TOKENS,
        gen_ai::USAGE_CACHE_READ,
        gen_ai::USAGE_CACHE_CREATION,
        gen_ai::USAGE_REASONING,
    ];
    if let Some(text) = a.take_text(langfuse::USAGE) {
        for k in GENAI {
            a.take(k);
        }
        return counts(&text);
    }
    let [input, output, cache_read, cache_creation, reasoning] =
        GENAI.map(|k| a.take_int(k).and_then(|n| u64::try_from(n).ok()));
    if input.is_none() && output.is_none() {
        return openinference_usage(a);
    }
    let cached = cache_read.unwrap_or(0) + cache_creation.unwrap_or(0);
    let mut u = Usage::default();
    for (key, n) in [
        (usage_key::INPUT, input.map(|n| n.saturating_sub(cached))),
        (
            usage_key::OUTPUT,
            output.map(|n| n.saturating_sub(reasoning.unwrap_or(0))),
        ),
        (usage_key::INPUT_CACHED, cache_read),
        (usage_key::INPUT_CACHE_CREATION, cache_creation),
        (usage_key::OUTPUT_REASONING, reasoning),
    ] {
        if let Some(n) = n {
            u.0.insert(key.to_owned(), n);
        }
    }
    Some(u)
}

/// OpenInference's token counts (prompt, completion, total), renamed as Langfuse does.
fn openinference_usage(a: &mut Attributes) -> Option<Usage> {
    let mut u = Usage::default();
    for (key, name) in [
        (openinference::TOKEN_COUNT_PROMPT, usage_key::INPUT),
        (openinference::TOKEN_COUNT_COMPLETION, usage_key::OUTPUT),
        (openinference::TOKEN_COUNT_TOTAL, usage_key::TOTAL),
    ] {
        if let Some(n) = a.take_int(key).and_then(|n| u64::try_from(n).ok()) {
            u.0.insert(name.to_owned(), n);
        }
    }
    (!u.0.is_empty()).then_some(u)
}

/// A JSON object of counts; a value that is not a non-negative integer is dropped with a
/// warning.
fn counts(text: &str) -> Option<Usage> {
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) else {
        tracing::warn!("usage details dropped: not a JSON object: {text:.200}");
        return None;
    };
    let mut u = Usage::default();
    for (k, v) in map {
        match v.as_u64() {
            Some(n) => {
                u.0.insert(k, n);
            }
            None => tracing::warn!("usage count `{k}` dropped: {v} is not a count"),
        }
    }
    Some(u)
}

fn cost(a: &mut Attributes) -> Option<Cost> {
    if let Some(text) = a.take_text(langfuse::COST) {
        a.take(GEN_AI_USAGE_COST);
        let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
        else {
            tracing::warn!("cost details dropped: not a JSON object: {text:.200}");
            return None;
        };
        let mut c = Cost::default();
        for (k, v) in map {
            match v.as_f64().filter(|x| x.is_finite()) {
                Some(x) => {
                    c.0.insert(k, x);
                }
                None => tracing::warn!("cost `{k}` dropped: {v} is not a number"),
            }
        }
        return Some(c);
    }
    a.take_number(GEN_AI_USAGE_COST)
        .filter(|x| x.is_finite())
        .map(Cost::total_only)
}

/// Only Langfuse's key: its server does not read `gen_ai.response.time_to_first_chunk`,
/// which is dropped when this key is there (it says the same) and kept as metadata if not.
fn completion_start_time(a: &mut Attributes) -> Option<Timestamp> {
    let text = a.take_text(langfuse::COMPLETION_START_TIME)?;
    a.take(gen_ai::TIME_TO_FIRST_CHUNK);
    // Older SDKs send the time JSON-encoded a second time (`"\"2025-10-01T08:45:26Z\""`).
    let at = Timestamp::parse_rfc3339(&text).or_else(|| {
        serde_json::from_str::<String>(&text)
            .ok()
            .and_then(|inner| Timestamp::parse_rfc3339(&inner))
    });
    if at.is_none() {
        tracing::warn!("completion start time dropped: not ISO 8601: {text:.100}");
    }
    at
}

/// The GenAI facts observe's model keeps beside Langfuse's fields.
fn gen_ai_call(
    a: &mut Attributes,
    kind: ObservationType,
    operation: Option<String>,
) -> Option<Box<GenAiCall>> {
    let call = GenAiCall {
        provider: a.take_text(gen_ai::PROVIDER_NAME),
        // `chat` is what a generation is without saying; the others are kept.
        operation: operation.filter(|op| {
            kind == ObservationType::Generation
                && op != observe_model::genai::operation_name(kind).unwrap_or("chat")
        }),
        response_id: a.take_text(gen_ai::RESPONSE_ID),
        finish_reasons: a.take_strings(gen_ai::RESPONSE_FINISH_REASONS),
    };
    (!call.is_empty()).then(|| Box::new(call))
}
