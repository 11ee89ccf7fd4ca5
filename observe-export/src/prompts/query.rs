//! Which prompt to get: a name with a label (`production` unless told) or a version, an
//! optional fallback and an optional TTL of its own.

use std::fmt;
use std::time::Duration;

use super::prompt::{Prompt, PromptBody};

/// A label or a version: what, besides its name, picks a prompt version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The version that carries this label (`production`, `staging`, `latest`...).
    Label(String),
    /// This version number.
    Version(i64),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Label(label) => write!(f, "label {label:?}"),
            Selector::Version(version) => write!(f, "version {version}"),
        }
    }
}

/// What [`PromptClient::get`](super::PromptClient::get) fetches.
///
/// ```
/// use observe_export::prompts::{PromptBody, PromptQuery, Selector};
/// use std::time::Duration;
///
/// let q = PromptQuery::new("summarize");
/// assert_eq!(q.selector(), &Selector::Label("production".into()));
/// let q = PromptQuery::new("summarize")
///     .version(3)
///     .cache_ttl(Duration::from_secs(300))
///     .fallback(PromptBody::Text("Summarize: {{text}}".into()));
/// assert_eq!(q.selector(), &Selector::Version(3));
/// ```
#[derive(Clone, Debug)]
pub struct PromptQuery {
    pub(crate) name: String,
    pub(crate) selector: Selector,
    pub(crate) fallback: Option<PromptBody>,
    pub(crate) ttl: Option<Duration>,
}

impl PromptQuery {
    /// The version labelled `production`, as Langfuse serves when neither a label nor a
    /// version is given.
    pub fn new(name: impl Into<String>) -> PromptQuery {
        PromptQuery {
            name: name.into(),
            selector: Selector::Label("production".to_owned()),
            fallback: None,
            ttl: None,
        }
    }

    /// The version that carries `label` instead.
    pub fn label(mut self, label: impl Into<String>) -> PromptQuery {
        self.selector = Selector::Label(label.into());
        self
    }

    /// This version instead of a label.
    pub fn version(mut self, version: i64) -> PromptQuery {
        self.selector = Selector::Version(version);
        self
    }

    /// What to use when the prompt cannot be fetched and none is cached: returned as a
    /// [`Prompt`] marked `is_fallback`, version `0`, and not cached (the next call tries
    /// Langfuse again).
    pub fn fallback(mut self, body: PromptBody) -> PromptQuery {
        self.fallback = Some(body);
        self
    }

    /// How long this prompt is served without asking Langfuse again (the client's TTL
    /// otherwise).
    pub fn cache_ttl(mut self, ttl: Duration) -> PromptQuery {
        self.ttl = Some(ttl);
        self
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The label or version asked for.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The fallback as a prompt, when one was given.
    pub(crate) fn fallback_prompt(&self) -> Option<Prompt> {
        self.fallback.clone().map(|body| match body {
            PromptBody::Text(text) => Prompt::fallback_text(self.name.clone(), text),
            PromptBody::Chat(messages) => Prompt::fallback_chat(self.name.clone(), messages),
        })
    }
}
