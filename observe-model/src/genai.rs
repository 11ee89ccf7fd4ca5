//! The OpenTelemetry GenAI semantic conventions, and the usage keys Langfuse prices by.
//!
//! Usage details take any key (a count per key), as Langfuse's do. A few keys have a
//! meaning Langfuse and the conventions share; [`usage_keys`] names them in Langfuse's
//! spelling, and [`canonical_usage_key`] maps the other spellings providers use (Anthropic's
//! `cache_read_input_tokens`, OpenAI's `reasoning_tokens`, ...) onto them.
//!
//! Langfuse counts `input` *without* the cached tokens and `output` *without* the reasoning
//! tokens (each has its own key), while the GenAI conventions' `gen_ai.usage.input_tokens`
//! and `output_tokens` include them; [`GenAiUsage::from_usage`] does that arithmetic, the
//! inverse of the server's mapping (CONTRACT.md: input minus cache counts, output minus
//! reasoning).
//!
//! Beside the usage, [`provider_for_model`] names who serves a model,
//! [`operation_for`] the operation of an observation type, and [`content_attributes`]
//! writes captured chat input and output in the conventions' message schema.
//!
//! ```
//! use observe_model::genai::{canonical_usage_key, usage_keys, GenAiUsage};
//! use observe_model::model::Usage;
//!
//! assert_eq!(canonical_usage_key("cache_read_input_tokens"), usage_keys::INPUT_CACHED);
//! let usage = Usage::new(100, 20).with(usage_keys::INPUT_CACHED, 300);
//! let g = GenAiUsage::from_usage(&usage);
//! assert_eq!(g.input_tokens, Some(400));
//! assert_eq!(g.cache_read_input_tokens, Some(300));
//! assert_eq!(g.output_tokens, Some(20));
//! ```

use crate::model::{ObservationType, Usage};

mod messages;
mod provider;

pub use messages::{content_attributes, ContentAttributes};
pub use provider::{provider_for_model, GENERATION_OPERATIONS};

/// Usage keys with a shared meaning, in Langfuse's spelling.
pub mod usage_keys {
    /// Input tokens not read from a cache nor written to one.
    pub const INPUT: &str = "input";
    /// Output tokens besides reasoning.
    pub const OUTPUT: &str = "output";
    /// All tokens.
    pub const TOTAL: &str = "total";
    /// Input tokens read from the provider's prompt cache.
    pub const INPUT_CACHED: &str = "input_cached_tokens";
    /// Input tokens written to the provider's prompt cache.
    pub const INPUT_CACHE_CREATION: &str = "input_cache_creation";
    /// Output tokens spent on reasoning.
    pub const OUTPUT_REASONING: &str = "output_reasoning_tokens";
}

/// Other spellings of the keys of [`usage_keys`], as providers and SDKs report them (the
/// same aliases Langfuse resolves when it prices). `input_tokens`/`prompt_tokens` are not
/// among them: providers differ on whether those include cached tokens.
const ALIASES: &[(&str, &str)] = &[
    ("cache_read_input_tokens", usage_keys::INPUT_CACHED),
    ("cached_tokens", usage_keys::INPUT_CACHED),
    ("input_cache_read", usage_keys::INPUT_CACHED),
    ("cache_read.input_tokens", usage_keys::INPUT_CACHED),
    (
        "cache_creation_input_tokens",
        usage_keys::INPUT_CACHE_CREATION,
    ),
    ("input_cache_write", usage_keys::INPUT_CACHE_CREATION),
    ("cache_write_tokens", usage_keys::INPUT_CACHE_CREATION),
    (
        "cache_creation.input_tokens",
        usage_keys::INPUT_CACHE_CREATION,
    ),
    ("reasoning_tokens", usage_keys::OUTPUT_REASONING),
    ("output_reasoning", usage_keys::OUTPUT_REASONING),
    ("reasoning.output_tokens", usage_keys::OUTPUT_REASONING),
];

/// The key of [`usage_keys`] that `key` is another spelling of, else `key` itself.
///
/// ```
/// use observe_model::genai::canonical_usage_key;
/// assert_eq!(canonical_usage_key("reasoning_tokens"), "output_reasoning_tokens");
/// assert_eq!(canonical_usage_key("input_audio_tokens"), "input_audio_tokens");
/// ```
pub fn canonical_usage_key(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, canonical)| canonical)
}

/// The sum of the counts whose key is `canonical` or one of its other spellings.
pub(crate) fn count(usage: &Usage, canonical: &str) -> Option<u64> {
    usage
        .0
        .iter()
        .filter(|(k, _)| canonical_usage_key(k) == canonical)
        .map(|(_, v)| *v)
        .reduce(u64::saturating_add)
}

/// Token counts as the GenAI conventions count them (`gen_ai.usage.*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenAiUsage {
    /// `gen_ai.usage.input_tokens`: every input token, cached or not.
    pub input_tokens: Option<u64>,
    /// `gen_ai.usage.output_tokens`: every output token, reasoning included.
    pub output_tokens: Option<u64>,
    /// `gen_ai.usage.cache_read.input_tokens`.
    pub cache_read_input_tokens: Option<u64>,
    /// `gen_ai.usage.cache_creation.input_tokens`.
    pub cache_creation_input_tokens: Option<u64>,
    /// `gen_ai.usage.reasoning.output_tokens`.
    pub reasoning_output_tokens: Option<u64>,
}

impl GenAiUsage {
    /// Langfuse-style usage details (input without cache, output without reasoning) to the
    /// conventions' counts; a count is `None` when no key of it is present.
    pub fn from_usage(usage: &Usage) -> GenAiUsage {
        let cached = count(usage, usage_keys::INPUT_CACHED);
        let creation = count(usage, usage_keys::INPUT_CACHE_CREATION);
        let reasoning = count(usage, usage_keys::OUTPUT_REASONING);
        let sum =
            |parts: &[Option<u64>]| parts.iter().flatten().copied().reduce(u64::saturating_add);
        GenAiUsage {
            input_tokens: sum(&[count(usage, usage_keys::INPUT), cached, creation]),
            output_tokens: sum(&[count(usage, usage_keys::OUTPUT), reasoning]),
            cache_read_input_tokens: cached,
            cache_creation_input_tokens: creation,
            reasoning_output_tokens: reasoning,
        }
    }
}

/// The attribute keys of the GenAI conventions observe writes on OTLP.
pub mod attributes {
    /// What the call does: `chat`, `embeddings`, `execute_tool`, `invoke_agent`.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// The model asked for.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// The model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// Prefix of the model parameters (`gen_ai.request.temperature`, ...).
    pub const REQUEST_PREFIX: &str = "gen_ai.request.";
    /// Input tokens, cached ones included.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Output tokens, reasoning included.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// Input tokens read from a cache.
    pub const USAGE_CACHE_READ: &str = "gen_ai.usage.cache_read.input_tokens";
    /// Input tokens written to a cache.
    pub const USAGE_CACHE_CREATION: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// Output tokens spent on reasoning.
    pub const USAGE_REASONING: &str = "gen_ai.usage.reasoning.output_tokens";
    /// The conversation (observe's session id).
    pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
    /// Seconds from the request to the first chunk of the answer.
    pub const TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
    /// Who served the call (`openai`, `anthropic`...); it replaced `gen_ai.system`.
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// The provider's id of the answer.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// Why the answer stopped, one reason per choice (an array of strings).
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// The chat history sent, as JSON in the conventions' message schema (opt-in).
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// The answer, as JSON in the conventions' message schema (opt-in).
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// The system instructions, as a JSON array of parts (opt-in).
    pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
    /// Name of the span event that carries one evaluation (a score) of the span.
    pub const EVALUATION_RESULT: &str = "gen_ai.evaluation.result";
    /// The evaluation's name (the score's name).
    pub const EVALUATION_NAME: &str = "gen_ai.evaluation.name";
    /// The evaluation's number (a numeric score, a boolean as 1 or 0).
    pub const EVALUATION_SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
    /// The evaluation's label (a categorical score, a boolean as `true` or `false`).
    pub const EVALUATION_SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
    /// Why the evaluator gave that score (the score's comment).
    pub const EVALUATION_EXPLANATION: &str = "gen_ai.evaluation.explanation";
}

/// `gen_ai.operation.name` for an observation of type `kind` whose caller named
/// `given`: a generation takes a given operation among [`GENERATION_OPERATIONS`] (else
/// `chat`); other types always take their own, so that no type is ever sent under an
/// operation that would make Langfuse read it as another.
///
/// ```
/// use observe_model::genai::operation_for;
/// use observe_model::model::ObservationType;
/// assert_eq!(operation_for(ObservationType::Generation, Some("text_completion")), Some("text_completion"));
/// assert_eq!(operation_for(ObservationType::Generation, Some("invoke_agent")), Some("chat"));
/// assert_eq!(operation_for(ObservationType::Tool, Some("chat")), Some("execute_tool"));
/// ```
pub fn operation_for(kind: ObservationType, given: Option<&str>) -> Option<&'static str> {
    if kind == ObservationType::Generation {
        if let Some(op) = given.and_then(|g| GENERATION_OPERATIONS.iter().find(|o| **o == g)) {
            return Some(op);
        }
    }
    operation_name(kind)
}

/// True for the types that stand for one model call (generations, embeddings): the ones
/// that carry a provider, and the only ones Langfuse and the conventions expect usage on.
///
/// ```
/// use observe_model::genai::is_model_call;
/// use observe_model::model::ObservationType;
/// assert!(is_model_call(ObservationType::Generation));
/// assert!(!is_model_call(ObservationType::Agent));
/// ```
pub fn is_model_call(kind: ObservationType) -> bool {
    matches!(
        kind,
        ObservationType::Generation | ObservationType::Embedding
    )
}

/// `gen_ai.operation.name` for an observation type; `None` for the types the conventions
/// have no operation for (spans, events, chains...).
///
/// ```
/// use observe_model::genai::operation_name;
/// use observe_model::model::ObservationType;
/// assert_eq!(operation_name(ObservationType::Generation), Some("chat"));
/// assert_eq!(operation_name(ObservationType::Span), None);
/// ```
pub fn operation_name(kind: ObservationType) -> Option<&'static str> {
    match kind {
        ObservationType::Generation => Some("chat"),
        ObservationType::Embedding => Some("embeddings"),
        ObservationType::Tool => Some("execute_tool"),
        ObservationType::Agent => Some("invoke_agent"),
        _ => None,
    }
}

/// The model parameter `key` (as a caller names it in `model_parameters`) as the
/// conventions name it after `gen_ai.request.`; `None` for a parameter they do not define,
/// which stays only in `langfuse.observation.model.parameters`.
///
/// ```
/// use observe_model::genai::request_parameter;
/// assert_eq!(request_parameter("temperature"), Some("temperature"));
/// assert_eq!(request_parameter("max_completion_tokens"), Some("max_tokens"));
/// assert_eq!(request_parameter("stop"), Some("stop_sequences"));
/// assert_eq!(request_parameter("model"), None);
/// ```
pub fn request_parameter(key: &str) -> Option<&'static str> {
    Some(match key {
        "temperature" => "temperature",
        "max_tokens" | "max_completion_tokens" | "max_output_tokens" => "max_tokens",
        "top_p" => "top_p",
        "top_k" => "top_k",
        "frequency_penalty" => "frequency_penalty",
        "presence_penalty" => "presence_penalty",
        "seed" => "seed",
        "stop" | "stop_sequences" => "stop_sequences",
        "n" | "choice_count" => "choice.count",
        "encoding_format" | "encoding_formats" => "encoding_formats",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_their_spellings_and_keep_absent_ones_absent() {
        let usage = Usage(Default::default())
            .with("input", 10)
            .with("cache_creation_input_tokens", 5)
            .with("output", 7)
            .with("reasoning_tokens", 3);
        let g = GenAiUsage::from_usage(&usage);
        assert_eq!(g.input_tokens, Some(15));
        assert_eq!(g.output_tokens, Some(10));
        assert_eq!(g.cache_creation_input_tokens, Some(5));
        assert_eq!(g.cache_read_input_tokens, None);
        assert_eq!(g.reasoning_output_tokens, Some(3));
        assert_eq!(
            GenAiUsage::from_usage(&Usage::default()),
            GenAiUsage::default()
        );
    }

    #[test]
    fn counts_saturate() {
        let usage = Usage::new(u64::MAX - 1, 0).with(usage_keys::INPUT_CACHED, 5);
        assert_eq!(GenAiUsage::from_usage(&usage).input_tokens, Some(u64::MAX));
    }
}
