//! Why a prompt could not be had.

/// A prompt could not be fetched (and no fallback was given), or the client could not be
/// set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Langfuse has no prompt by that name with that label or version (`404`).
    #[error("Langfuse has no prompt `{name}` with {selector} (404): check the name, and that the label or version exists in this project")]
    NotFound {
        /// The prompt's name.
        name: String,
        /// `label "production"` or `version 3`.
        selector: String,
    },
    /// Langfuse refused the keys (`401`/`403`).
    #[error("Langfuse refused the prompt request ({status}): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
    },
    /// Langfuse could not be reached, timed out, or answered with another error status.
    #[error("Langfuse could not be reached for prompt `{name}`: {reason}")]
    Unavailable {
        /// The prompt's name.
        name: String,
        /// What went wrong (transport error or status).
        reason: String,
    },
    /// The answer was not a prompt as Langfuse's API describes it.
    #[error("Langfuse's answer for prompt `{name}` is not a prompt: {reason}")]
    InvalidResponse {
        /// The prompt's name.
        name: String,
        /// The parse error.
        reason: String,
    },
    /// The base URL or the keys cannot be used.
    #[error("the prompt client cannot be set up: {0}")]
    Setup(String),
}
