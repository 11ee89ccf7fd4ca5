//! A prompt as Langfuse's `GET /api/public/v2/prompts/{name}` returns it: a text or a chat
//! prompt, its version, labels and `config`.

use serde::Deserialize;
use serde_json::Value;

/// One prompt version, fetched from Langfuse or given in code as a fallback.
///
/// ```
/// use observe_export::prompts::{Prompt, PromptBody};
///
/// let prompt = Prompt::fallback_text("summarize", "Summarize: {{text}}");
/// assert!(prompt.is_fallback);
/// assert!(matches!(prompt.body, PromptBody::Text(_)));
/// assert_eq!(prompt.compile_text(&[("text", "a long story")]).as_deref(), Some("Summarize: a long story"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Prompt {
    /// The prompt's name (with its folder path, if any: `folder/name`).
    pub name: String,
    /// The version number (`0` for a fallback, which Langfuse never numbers).
    pub version: i64,
    /// The deployment labels of this version (`production`, `staging`, `latest`...).
    pub labels: Vec<String>,
    /// The prompt's tags (the same across its versions).
    pub tags: Vec<String>,
    /// The prompt's `config` as stored in Langfuse (model, temperature...): any JSON,
    /// `null` when none was set.
    pub config: Value,
    /// The text, or the chat messages.
    pub body: PromptBody,
    /// True when this is the fallback given in code, used because Langfuse could not be
    /// reached: a generation linked to it records no prompt (`ObservationUpdate::prompt`).
    pub is_fallback: bool,
}

/// What a prompt holds: a text, or chat messages.
#[derive(Clone, Debug, PartialEq)]
pub enum PromptBody {
    /// A text prompt (`type: "text"`).
    Text(String),
    /// A chat prompt (`type: "chat"`).
    Chat(Vec<ChatMessage>),
}

/// One entry of a chat prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatMessage {
    /// A message with a role (`system`, `user`, `assistant`...) and its content.
    Message {
        /// The role.
        role: String,
        /// The content, with `{{variables}}` until compiled.
        content: String,
    },
    /// A placeholder for a list of messages given when the prompt is compiled (a chat
    /// history, say): `compile_chat` replaces it with the messages given under its name.
    Placeholder {
        /// The placeholder's name.
        name: String,
    },
}

impl ChatMessage {
    /// A message with a role and content.
    ///
    /// ```
    /// use observe_export::prompts::ChatMessage;
    /// let m = ChatMessage::new("user", "Hi {{name}}");
    /// assert!(matches!(m, ChatMessage::Message { ref role, .. } if role == "user"));
    /// ```
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage::Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

impl Prompt {
    /// A text prompt given in code, used when Langfuse cannot be reached
    /// ([`PromptQuery::fallback`](super::PromptQuery::fallback)).
    pub fn fallback_text(name: impl Into<String>, text: impl Into<String>) -> Prompt {
        Prompt::fallback(name, PromptBody::Text(text.into()))
    }

    /// A chat prompt given in code, used when Langfuse cannot be reached.
    ///
    /// ```
    /// use observe_export::prompts::{ChatMessage, Prompt};
    /// let p = Prompt::fallback_chat("triage", vec![ChatMessage::new("system", "Be brief.")]);
    /// assert_eq!(p.version, 0);
    /// ```
    pub fn fallback_chat(name: impl Into<String>, messages: Vec<ChatMessage>) -> Prompt {
        Prompt::fallback(name, PromptBody::Chat(messages))
    }

    fn fallback(name: impl Into<String>, body: PromptBody) -> Prompt {
        Prompt {
            name: name.into(),
            version: 0,
            labels: Vec::new(),
            tags: Vec::new(),
            config: Value::Null,
            body,
            is_fallback: true,
        }
    }

    /// The same prompt with `config` set (a fallback's model settings, say).
    pub fn with_config(mut self, config: Value) -> Prompt {
        self.config = config;
        self
    }

    /// Parses the JSON body of Langfuse's prompt endpoint (`Prompt` in its OpenAPI spec).
    pub(crate) fn from_api(body: &[u8]) -> Result<Prompt, serde_json::Error> {
        let wire: WirePrompt = serde_json::from_slice(body)?;
        let body = match wire.kind {
            WireBody::Text { prompt } => PromptBody::Text(prompt),
            WireBody::Chat { prompt } => PromptBody::Chat(
                prompt
                    .into_iter()
                    .map(|m| match m {
                        WireMessage::Placeholder { name, .. } => ChatMessage::Placeholder { name },
                        WireMessage::Message { role, content } => {
                            ChatMessage::Message { role, content }
                        }
                    })
                    .collect(),
            ),
        };
        Ok(Prompt {
            name: wire.name,
            version: wire.version,
            labels: wire.labels,
            tags: wire.tags,
            config: wire.config,
            body,
            is_fallback: false,
        })
    }
}

#[derive(Deserialize)]
struct WirePrompt {
    name: String,
    version: i64,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(flatten)]
    kind: WireBody,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum WireBody {
    Text { prompt: String },
    Chat { prompt: Vec<WireMessage> },
}

/// `ChatMessageWithPlaceholders`: a placeholder says `type: "placeholder"`; a message may say
/// `type: "chatmessage"` or nothing.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireMessage {
    Placeholder {
        #[allow(dead_code)]
        r#type: PlaceholderTag,
        name: String,
    },
    Message {
        role: String,
        content: String,
    },
}

#[derive(Deserialize)]
enum PlaceholderTag {
    #[serde(rename = "placeholder")]
    Placeholder,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chat_prompt_with_a_placeholder() {
        let body = br#"{"type":"chat","name":"triage","version":4,"config":{"model":"gpt-4o"},
            "labels":["production"],"tags":[],"prompt":[
              {"role":"system","content":"Be {{tone}}.","type":"chatmessage"},
              {"type":"placeholder","name":"history"},
              {"role":"user","content":"{{question}}"}]}"#;
        let p = Prompt::from_api(body).unwrap();
        assert_eq!(p.version, 4);
        assert_eq!(p.config["model"], "gpt-4o");
        let PromptBody::Chat(messages) = p.body else {
            panic!("not chat")
        };
        assert_eq!(messages[0], ChatMessage::new("system", "Be {{tone}}."));
        assert_eq!(
            messages[1],
            ChatMessage::Placeholder {
                name: "history".into()
            }
        );
        assert_eq!(messages.len(), 3);
    }

    #[test]
    fn refuses_an_unknown_type() {
        let body = br#"{"type":"image","name":"x","version":1,"config":{},"labels":[],"tags":[],"prompt":""}"#;
        assert!(Prompt::from_api(body).is_err());
    }
}
