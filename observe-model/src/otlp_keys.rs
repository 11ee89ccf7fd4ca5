//! The OTLP attribute keys Langfuse's server reads, by the convention that defines them:
//! one list for both directions. observe's OTLP exporter writes the `langfuse.*` keys (and
//! `session.id`, `user.id`; docs/CONFIGURATION.md), and `observe serve`'s decoder reads
//! them first, then the fallbacks Langfuse's server reads when its own are missing.
//!
//! ```
//! use observe_model::otlp_keys::{langfuse, otel};
//! assert_eq!(langfuse::TRACE_NAME, "langfuse.trace.name");
//! assert_eq!(otel::SESSION_ID, "session.id");
//! ```

/// `langfuse.*` keys: read first.
pub mod langfuse {
    /// Trace name.
    pub const TRACE_NAME: &str = "langfuse.trace.name";
    /// Trace tags, an array of strings.
    pub const TRACE_TAGS: &str = "langfuse.trace.tags";
    /// Prefix of one trace metadata key, its value JSON-encoded.
    pub const TRACE_METADATA_PREFIX: &str = "langfuse.trace.metadata.";
    /// Whether the trace is public.
    pub const TRACE_PUBLIC: &str = "langfuse.trace.public";
    /// Trace input.
    pub const TRACE_INPUT: &str = "langfuse.trace.input";
    /// Trace output.
    pub const TRACE_OUTPUT: &str = "langfuse.trace.output";
    /// Session id (read before `session.id`).
    pub const SESSION_ID: &str = "langfuse.session.id";
    /// User id (read before `user.id`).
    pub const USER_ID: &str = "langfuse.user.id";
    /// Version, on the span or the resource.
    pub const VERSION: &str = "langfuse.version";
    /// Release, on the span or the resource.
    pub const RELEASE: &str = "langfuse.release";
    /// Environment, on the span or the resource.
    pub const ENVIRONMENT: &str = "langfuse.environment";
    /// Observation type.
    pub const OBSERVATION_TYPE: &str = "langfuse.observation.type";
    /// Observation input.
    pub const INPUT: &str = "langfuse.observation.input";
    /// Observation output.
    pub const OUTPUT: &str = "langfuse.observation.output";
    /// Prefix of one observation metadata key, its value JSON-encoded.
    pub const METADATA_PREFIX: &str = "langfuse.observation.metadata.";
    /// Level.
    pub const LEVEL: &str = "langfuse.observation.level";
    /// Status message.
    pub const STATUS_MESSAGE: &str = "langfuse.observation.status_message";
    /// Model name.
    pub const MODEL: &str = "langfuse.observation.model.name";
    /// Model parameters, a JSON object.
    pub const MODEL_PARAMETERS: &str = "langfuse.observation.model.parameters";
    /// Usage details, a JSON object of counts.
    pub const USAGE: &str = "langfuse.observation.usage_details";
    /// Cost details in USD, a JSON object.
    pub const COST: &str = "langfuse.observation.cost_details";
    /// Completion start (first token) time, ISO 8601.
    pub const COMPLETION_START_TIME: &str = "langfuse.observation.completion_start_time";
    /// Linked prompt's name.
    pub const PROMPT_NAME: &str = "langfuse.observation.prompt.name";
    /// Linked prompt's version.
    pub const PROMPT_VERSION: &str = "langfuse.observation.prompt.version";
    /// Older spelling of [`PROMPT_NAME`], still read after it.
    pub const COMPAT_PROMPT_NAME: &str = "langfuse.prompt.name";
    /// Older spelling of [`PROMPT_VERSION`], still read after it.
    pub const COMPAT_PROMPT_VERSION: &str = "langfuse.prompt.version";
    /// Older spelling of [`TRACE_TAGS`], still read after it.
    pub const COMPAT_TAGS: &str = "langfuse.tags";
    /// Older spelling of [`TRACE_PUBLIC`], still read after it.
    pub const COMPAT_PUBLIC: &str = "langfuse.public";
}

/// Plain OpenTelemetry keys Langfuse reads after its own.
pub mod otel {
    /// Session id.
    pub const SESSION_ID: &str = "session.id";
    /// User id.
    pub const USER_ID: &str = "user.id";
}

/// OpenInference keys Langfuse reads after its own.
pub mod openinference {
    /// The span kind (`LLM`, `CHAIN`, `TOOL`...).
    pub const SPAN_KIND: &str = "openinference.span.kind";
    /// Input value.
    pub const INPUT_VALUE: &str = "input.value";
    /// Output value.
    pub const OUTPUT_VALUE: &str = "output.value";
    /// Model name.
    pub const MODEL_NAME: &str = "llm.model_name";
    /// Prompt (input) tokens.
    pub const TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
    /// Completion (output) tokens.
    pub const TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
    /// Total tokens.
    pub const TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
}
