//! The `gen_ai.*` span fields the bridge understands, standard and not: the GenAI
//! conventions as Langfuse's server reads them, and the spellings of the Rust LLM crates
//! that emit `tracing` spans of their own (`genai` with its `otel` feature, `rig-core`).
//! docs/BRIDGE.md lists the same table for users.
//!
//! Usage counts are the conventions' (`input_tokens` with the cached tokens in it,
//! `output_tokens` with the reasoning tokens in it); [`langfuse_usage`] turns them into
//! Langfuse's usage details, where each count stands apart, as Langfuse's OTel ingestion
//! does.

use std::collections::BTreeMap;

use crate::genai::{canonical_usage_key, usage_keys};

/// What a `gen_ai.` field (the key after that prefix) sets.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GenAiKey<'a> {
    /// The model asked for: kept unless a response model is recorded.
    RequestModel,
    /// The model that answered (`response.model`; rig-core before 0.40:
    /// `response.model_name`).
    ResponseModel,
    /// The operation (`chat`, `embeddings`, `invoke_agent`...): the observation's type.
    Operation,
    /// Who served the call (`provider.name`).
    Provider,
    /// The provider under the conventions' older name (`system`): used when no
    /// `provider.name` is recorded.
    System,
    /// The provider's id of the answer (`response.id`).
    ResponseId,
    /// Why the answer stopped (`response.finish_reasons`): see [`finish_reasons`].
    FinishReasons,
    /// The call's cost, in the currency of the price list.
    Cost,
    /// The messages sent (`input.messages`, older `prompt`): JSON text.
    Input,
    /// The messages received (`output.messages`, older `completion`): JSON text.
    Output,
    /// A token count, under its usage key in Langfuse's spelling.
    Usage(&'a str),
    /// Seconds from the request to the first chunk of a streamed answer.
    TimeToFirstChunk,
    /// A request parameter (`request.temperature`...), by its name after `request.`.
    Parameter(&'a str),
    /// Anything else: kept as metadata under its full name.
    Metadata,
}

/// The meaning of `gen_ai.{key}`.
pub(super) fn classify(key: &str) -> GenAiKey<'_> {
    match key {
        "request.model" => GenAiKey::RequestModel,
        "response.model" | "response.model_name" => GenAiKey::ResponseModel,
        "operation.name" => GenAiKey::Operation,
        "provider.name" => GenAiKey::Provider,
        "system" => GenAiKey::System,
        "response.id" => GenAiKey::ResponseId,
        "response.finish_reasons" => GenAiKey::FinishReasons,
        "usage.cost" => GenAiKey::Cost,
        "input.messages" | "prompt" => GenAiKey::Input,
        "output.messages" | "completion" => GenAiKey::Output,
        "response.time_to_first_chunk" => GenAiKey::TimeToFirstChunk,
        _ => {
            if let Some(usage) = key.strip_prefix("usage.") {
                GenAiKey::Usage(usage_key(usage))
            } else if let Some(parameter) = key.strip_prefix("request.") {
                GenAiKey::Parameter(parameter)
            } else {
                GenAiKey::Metadata
            }
        }
    }
}

/// `gen_ai.usage.{name}` as a usage key: the conventions' and the older OpenAI spellings of
/// input, output and total, then the cache and reasoning counts under Langfuse's keys
/// (`cache_read.input_tokens`, rig's `reasoning_tokens`...), else the name itself.
fn usage_key(name: &str) -> &str {
    match name {
        "input_tokens" | "prompt_tokens" => usage_keys::INPUT,
        "output_tokens" | "completion_tokens" => usage_keys::OUTPUT,
        "total_tokens" => usage_keys::TOTAL,
        other => canonical_usage_key(other),
    }
}

/// `gen_ai.response.finish_reasons` as a list: a `tracing` field holds one reason (`"stop"`),
/// a JSON array of them, or a list recorded with `?` (whose `Debug` text of plain strings is
/// that same JSON). `None` for text that opens an array and does not parse as one of strings.
pub(super) fn finish_reasons(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if text.starts_with('[') {
        serde_json::from_str(text).ok()
    } else if text.is_empty() {
        Some(Vec::new())
    } else {
        Some(vec![text.to_owned()])
    }
}

/// The counts recorded on a span (conventions' arithmetic) as Langfuse's usage details:
/// input without the cache reads and writes, output without the reasoning, and a total of
/// everything when none was given. A part larger than its whole (a crate that counts the
/// other way) leaves the whole as it was.
pub(super) fn langfuse_usage(mut counts: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let total = match (
        counts.get(usage_keys::INPUT),
        counts.get(usage_keys::OUTPUT),
    ) {
        (Some(i), Some(o)) => Some(i.saturating_add(*o)),
        _ => None,
    };
    let cached = [usage_keys::INPUT_CACHED, usage_keys::INPUT_CACHE_CREATION]
        .iter()
        .filter_map(|key| counts.get(*key))
        .fold(0u64, |sum, n| sum.saturating_add(*n));
    let reasoning = counts
        .get(usage_keys::OUTPUT_REASONING)
        .copied()
        .unwrap_or(0);
    subtract(&mut counts, usage_keys::INPUT, cached);
    subtract(&mut counts, usage_keys::OUTPUT, reasoning);
    if let Some(total) = total {
        counts.entry(usage_keys::TOTAL.to_owned()).or_insert(total);
    }
    counts
}

fn subtract(counts: &mut BTreeMap<String, u64>, key: &str, part: u64) {
    if let Some(whole) = counts.get_mut(key) {
        if let Some(rest) = whole.checked_sub(part) {
            *whole = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_spellings_map_onto_the_conventions() {
        assert_eq!(classify("response.model_name"), GenAiKey::ResponseModel);
        assert_eq!(
            classify("usage.cache_read.input_tokens"),
            GenAiKey::Usage(usage_keys::INPUT_CACHED)
        );
        assert_eq!(
            classify("usage.cache_creation.input_tokens"),
            GenAiKey::Usage(usage_keys::INPUT_CACHE_CREATION)
        );
        assert_eq!(
            classify("usage.reasoning.output_tokens"),
            GenAiKey::Usage(usage_keys::OUTPUT_REASONING)
        );
        assert_eq!(
            classify("usage.reasoning_tokens"),
            GenAiKey::Usage(usage_keys::OUTPUT_REASONING)
        );
        assert_eq!(
            classify("usage.tool_use_prompt_tokens"),
            GenAiKey::Usage("tool_use_prompt_tokens")
        );
        assert_eq!(
            classify("response.time_to_first_chunk"),
            GenAiKey::TimeToFirstChunk
        );
        assert_eq!(
            classify("request.temperature"),
            GenAiKey::Parameter("temperature")
        );
        assert_eq!(classify("provider.name"), GenAiKey::Provider);
        assert_eq!(classify("system"), GenAiKey::System);
        assert_eq!(classify("response.id"), GenAiKey::ResponseId);
        assert_eq!(classify("response.finish_reasons"), GenAiKey::FinishReasons);
        assert_eq!(classify("system_instructions"), GenAiKey::Metadata);
    }

    #[test]
    fn finish_reasons_come_as_one_a_json_array_or_a_debug_list() {
        assert_eq!(finish_reasons(" stop "), Some(vec!["stop".to_owned()]));
        assert_eq!(
            finish_reasons(r#"["stop","length"]"#),
            Some(vec!["stop".to_owned(), "length".to_owned()])
        );
        let recorded = format!("{:?}", vec!["tool_calls", "stop"]);
        assert_eq!(
            finish_reasons(&recorded),
            Some(vec!["tool_calls".to_owned(), "stop".to_owned()])
        );
        assert_eq!(finish_reasons(""), Some(Vec::new()));
        assert_eq!(finish_reasons("[stop"), None);
        assert_eq!(finish_reasons("[1, 2]"), None);
    }

    #[test]
    fn cached_and_reasoning_tokens_leave_input_and_output() {
        let counts = BTreeMap::from([
            ("input".to_owned(), 100),
            ("output".to_owned(), 40),
            (usage_keys::INPUT_CACHED.to_owned(), 30),
            (usage_keys::INPUT_CACHE_CREATION.to_owned(), 5),
            (usage_keys::OUTPUT_REASONING.to_owned(), 25),
        ]);
        let usage = langfuse_usage(counts);
        assert_eq!(usage["input"], 65);
        assert_eq!(usage["output"], 15);
        assert_eq!(usage["total"], 140);
        assert_eq!(usage[usage_keys::INPUT_CACHED], 30);
        assert_eq!(usage[usage_keys::OUTPUT_REASONING], 25);
    }

    #[test]
    fn a_part_larger_than_its_whole_leaves_the_whole() {
        let counts = BTreeMap::from([
            ("input".to_owned(), 10),
            (usage_keys::INPUT_CACHED.to_owned(), 30),
        ]);
        let usage = langfuse_usage(counts);
        assert_eq!(usage["input"], 10);
        assert!(!usage.contains_key("total"));
    }
}
