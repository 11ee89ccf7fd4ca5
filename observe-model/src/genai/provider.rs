//! `gen_ai.provider.name` from a model name, and the operations a generation may name.
//!
//! The conventions' well-known provider names (`openai`, `anthropic`, `gcp.gemini`,
//! `mistral_ai`, ...) are derived from the model's family, so a generation that only names
//! its model still tells a backend who served it. A name this table does not know gives
//! `None`: guessing wrong would be worse than saying nothing, and the caller can always give
//! the provider ([`GenAiCall::provider`](crate::model::GenAiCall::provider)).

/// Model name prefixes (lower case) and the provider that serves that family. Checked in
/// order, after a `provider/` or `provider.` routing prefix is looked at.
const FAMILIES: &[(&str, &str)] = &[
    ("gpt-", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-3", "openai"),
    ("text-embedding-ada", "openai"),
    ("davinci", "openai"),
    ("babbage", "openai"),
    ("whisper", "openai"),
    ("tts-", "openai"),
    ("dall-e", "openai"),
    ("omni-moderation", "openai"),
    ("codex", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("text-embedding-004", "gcp.gemini"),
    ("text-embedding-005", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("mixtral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("ministral", "mistral_ai"),
    ("pixtral", "mistral_ai"),
    ("magistral", "mistral_ai"),
    ("devstral", "mistral_ai"),
    ("command", "cohere"),
    ("embed-english", "cohere"),
    ("embed-multilingual", "cohere"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("sonar", "perplexity"),
];

/// Routing prefixes that name the provider itself (`openai/gpt-4o`, `anthropic.claude-...`
/// on Bedrock is the model's vendor, not who served it, so Bedrock ids are matched first).
const ROUTES: &[(&str, &str)] = &[
    ("openai", "openai"),
    ("azure", "azure.ai.openai"),
    ("anthropic", "anthropic"),
    ("google", "gcp.gemini"),
    ("gemini", "gcp.gemini"),
    ("vertex_ai", "gcp.vertex_ai"),
    ("mistral", "mistral_ai"),
    ("mistralai", "mistral_ai"),
    ("cohere", "cohere"),
    ("deepseek", "deepseek"),
    ("groq", "groq"),
    ("xai", "x_ai"),
    ("x-ai", "x_ai"),
    ("perplexity", "perplexity"),
    ("bedrock", "aws.bedrock"),
];

/// Vendor prefixes of Amazon Bedrock model ids (`anthropic.claude-3-5-sonnet-...-v2:0`,
/// `us.amazon.nova-pro-v1:0`): such a model is served by Bedrock.
const BEDROCK_VENDORS: &[&str] = &[
    "anthropic.",
    "amazon.",
    "meta.",
    "cohere.",
    "mistral.",
    "ai21.",
    "deepseek.",
];

/// The provider that serves `model`, by its family: `gpt-4o-mini` is `openai`,
/// `claude-sonnet-4-5` is `anthropic`, `openai/gpt-4o` (a router's spelling) is `openai`,
/// a Bedrock id is `aws.bedrock`; `None` for a model this table does not know.
///
/// ```
/// use observe_model::genai::provider_for_model;
/// assert_eq!(provider_for_model("gpt-4o-mini"), Some("openai"));
/// assert_eq!(provider_for_model("claude-sonnet-4-5"), Some("anthropic"));
/// assert_eq!(provider_for_model("gemini-2.5-flash"), Some("gcp.gemini"));
/// assert_eq!(provider_for_model("us.anthropic.claude-3-7-sonnet-20250219-v1:0"), Some("aws.bedrock"));
/// assert_eq!(provider_for_model("llama-3.1-8b"), None);
/// ```
pub fn provider_for_model(model: &str) -> Option<&'static str> {
    let model = model.trim();
    // Bedrock ids may start with a region group (`us.`, `eu.`, `apac.`).
    let unregioned = model
        .split_once('.')
        .filter(|(region, _)| {
            ["us", "eu", "apac", "global"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(region))
        })
        .map_or(model, |(_, rest)| rest);
    if BEDROCK_VENDORS
        .iter()
        .any(|v| starts_with_ignoring_case(unregioned, v))
    {
        return Some("aws.bedrock");
    }
    if let Some((route, rest)) = model.split_once('/') {
        if let Some((_, provider)) = ROUTES.iter().find(|(r, _)| r.eq_ignore_ascii_case(route)) {
            return Some(provider);
        }
        return family(rest);
    }
    family(model)
}

/// Compared without allocating: this runs for every generation an exporter writes.
fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn family(model: &str) -> Option<&'static str> {
    FAMILIES
        .iter()
        .find(|(prefix, _)| starts_with_ignoring_case(model, prefix))
        .map(|(_, provider)| *provider)
}

/// The operations a generation may name besides the default `chat`, as the conventions
/// spell them (Langfuse maps each to a generation).
pub const GENERATION_OPERATIONS: &[&str] = &["chat", "text_completion", "generate_content"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_routes() {
        for (model, provider) in [
            ("gpt-4.1-nano", Some("openai")),
            ("o3-mini", Some("openai")),
            ("text-embedding-3-small", Some("openai")),
            ("GPT-4o", Some("openai")),
            ("claude-3-5-haiku-latest", Some("anthropic")),
            ("mistral-large-latest", Some("mistral_ai")),
            ("command-r-plus", Some("cohere")),
            ("deepseek-chat", Some("deepseek")),
            ("grok-3", Some("x_ai")),
            ("anthropic/claude-sonnet-4", Some("anthropic")),
            ("groq/llama-3.3-70b", Some("groq")),
            ("some-router/gpt-4o", Some("openai")),
            ("amazon.nova-pro-v1:0", Some("aws.bedrock")),
            ("qwen2.5-72b", None),
            ("", None),
            ("ollama/llama3", None),
        ] {
            assert_eq!(provider_for_model(model), provider, "{model}");
        }
    }
}
