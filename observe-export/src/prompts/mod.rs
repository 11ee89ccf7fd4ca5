//! Langfuse prompts (feature `prompts`): fetch the prompts kept in Langfuse at run time,
//! cached, and fill in their `{{variables}}`.
//!
//! - [`PromptClient::get_prompt`] / [`PromptClient::get`] with a [`PromptQuery`]: by name,
//!   with a label (`production` unless told) or a version; text and chat prompts; the
//!   prompt's `config` as JSON.
//! - A cache per name and label-or-version with a TTL (60 s by default): past it, the cached
//!   version is served at once while one background refresh replaces it, so once a prompt
//!   was fetched no call waits for Langfuse.
//! - A fallback given in code ([`PromptQuery::fallback`]) when Langfuse cannot be reached
//!   (or has no such prompt) and nothing is cached: marked [`Prompt::is_fallback`].
//! - [`Prompt::compile`]: `{{name}}` replaced by its value; a variable with no value stays
//!   as written.
//!
//! A generation that used a fetched prompt is linked to it with observe-runtime's
//! `ObservationUpdate::prompt(&prompt)`: its name and version go out as
//! `langfuse.observation.prompt.name`/`.version` (OTLP) or `promptName`/`promptVersion`
//! (ingestion API), and Langfuse shows the generation under the prompt's version.
//!
//! ```
//! use observe_export::prompts::{ChatMessage, Prompt, PromptBody};
//!
//! let prompt = Prompt::fallback_chat("support", vec![
//!     ChatMessage::new("system", "You answer questions about {{product}}."),
//!     ChatMessage::new("user", "{{question}}"),
//! ]);
//! let PromptBody::Chat(messages) = prompt.compile(&[("product", "observe"), ("question", "Why?")])
//! else { unreachable!() };
//! assert_eq!(messages[1], ChatMessage::new("user", "Why?"));
//! ```

mod cache;
mod client;
mod compile;
mod error;
mod fetch;
mod prompt;
mod query;

pub use client::{PromptClient, PromptSettings};
pub use error::PromptError;
pub use prompt::{ChatMessage, Prompt, PromptBody};
pub use query::{PromptQuery, Selector};
