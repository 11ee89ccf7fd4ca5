//! The OpenTelemetry GenAI attributes a span carries beside the `langfuse.observation.*`
//! ones that say the same: any OpenTelemetry backend reads these, and Langfuse reads its own
//! first (docs/CONFIGURATION.md, "The GenAI conventions"), so the generation it builds is the
//! same with or without them.
//!
//! A bare span has none but the operation. A model call (generation, embedding) also names
//! its provider (given, else derived from the model name), and when given its response id
//! and finish reasons. The content attributes (`gen_ai.input.messages`,
//! `gen_ai.output.messages`, `gen_ai.system_instructions`) are opt-in and written for
//! generations only.

use super::Sink;
use observe_model::genai::{self, attributes as gen_ai, GenAiUsage};
use observe_model::model::{Json, Level, Observation, ObservationDetails, ObservationType};

/// Bytes each content attribute may take by default: room for a long chat turn, and under
/// what collectors commonly accept for one attribute.
pub const DEFAULT_CONTENT_MAX_BYTES: usize = 16 * 1024;

/// `gen_ai.operation.name`, on every observation whose type has one (a generation's may be
/// given: `text_completion`, `generate_content`).
pub(super) fn visit_operation(obs: &Observation, sink: &mut impl Sink) {
    let given = obs
        .details
        .as_deref()
        .and_then(|d| d.gen_ai.as_deref())
        .and_then(|c| c.operation.as_deref());
    if let Some(op) = genai::operation_for(obs.kind, given) {
        sink.str(gen_ai::OPERATION_NAME, op);
    }
}

/// The attributes drawn from an observation's details; `content_max_bytes` turns the
/// content attributes on.
pub(super) fn visit_details(
    obs: &Observation,
    d: &ObservationDetails,
    sink: &mut impl Sink,
    content_max_bytes: Option<usize>,
) {
    let call = d.gen_ai.as_deref();
    if genai::is_model_call(obs.kind) {
        let provider = call
            .and_then(|c| c.provider.as_deref())
            .or_else(|| d.model.as_deref().and_then(genai::provider_for_model));
        if let Some(p) = provider {
            sink.str(gen_ai::PROVIDER_NAME, p);
        }
    }
    if let Some(call) = call {
        if let Some(id) = &call.response_id {
            sink.str(gen_ai::RESPONSE_ID, id);
        }
        if !call.finish_reasons.is_empty() {
            sink.strings(gen_ai::RESPONSE_FINISH_REASONS, &call.finish_reasons);
        }
    }
    if let Some(v) = &d.model {
        sink.str(gen_ai::REQUEST_MODEL, v);
        sink.str(gen_ai::RESPONSE_MODEL, v);
    }
    if let Some(parameters) = &d.model_parameters {
        visit_request_parameters(parameters, sink);
    }
    if let Some(usage) = &d.usage {
        let g = GenAiUsage::from_usage(usage);
        for (k, v) in [
            (gen_ai::USAGE_INPUT_TOKENS, g.input_tokens),
            (gen_ai::USAGE_OUTPUT_TOKENS, g.output_tokens),
            (gen_ai::USAGE_CACHE_READ, g.cache_read_input_tokens),
            (gen_ai::USAGE_CACHE_CREATION, g.cache_creation_input_tokens),
            (gen_ai::USAGE_REASONING, g.reasoning_output_tokens),
        ] {
            if let Some(v) = v {
                sink.int(k, i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }
    if let Some(first) = d.completion_start_time.filter(|t| *t >= obs.start) {
        sink.double(
            gen_ai::TIME_TO_FIRST_CHUNK,
            first.since(obs.start).as_secs_f64(),
        );
    }
    if let Some(max) = content_max_bytes.filter(|_| obs.kind == ObservationType::Generation) {
        visit_content(obs, d, sink, max);
    }
}

/// The opt-in content attributes, from the captured input and output. A generation that
/// ended in error and gave no finish reason says `error`.
fn visit_content(obs: &Observation, d: &ObservationDetails, sink: &mut impl Sink, max: usize) {
    let given = d
        .gen_ai
        .as_deref()
        .map_or(&[][..], |c| c.finish_reasons.as_slice());
    let error = ["error".to_owned()];
    let reasons = if given.is_empty() && obs.level == Level::Error {
        &error[..]
    } else {
        given
    };
    let content = genai::content_attributes(d.input.as_ref(), d.output.as_ref(), reasons, max);
    for (key, value) in [
        (gen_ai::SYSTEM_INSTRUCTIONS, &content.system_instructions),
        (gen_ai::INPUT_MESSAGES, &content.input_messages),
        (gen_ai::OUTPUT_MESSAGES, &content.output_messages),
    ] {
        if let Some(v) = value {
            sink.str(key, v);
        }
    }
}

/// `gen_ai.request.<name>` for each model parameter the conventions define, with its JSON
/// type kept (integer, double, string, bool, array of strings); other parameters and other
/// value shapes stay only in `langfuse.observation.model.parameters`.
fn visit_request_parameters(parameters: &Json, sink: &mut impl Sink) {
    use serde_json::Value;
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(parameters.as_str())
    else {
        return;
    };
    let mut written: Vec<&str> = Vec::new();
    for (k, v) in &map {
        let Some(name) = genai::request_parameter(k) else {
            continue;
        };
        // Two spellings of one parameter (`max_tokens` and `max_completion_tokens`): the
        // first wins, so the span never carries one key twice.
        if written.contains(&name) {
            continue;
        }
        let key = format!("{}{name}", gen_ai::REQUEST_PREFIX);
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => sink.int(&key, i),
                None => match n.as_f64() {
                    Some(x) => sink.double(&key, x),
                    None => continue,
                },
            },
            Value::String(s) if name == "stop_sequences" || name == "encoding_formats" => {
                sink.strings(&key, std::slice::from_ref(s))
            }
            Value::String(s) => sink.str(&key, s),
            Value::Bool(b) => sink.boolean(&key, *b),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                let items: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect();
                sink.strings(&key, &items);
            }
            _ => continue,
        }
        written.push(name);
    }
}
