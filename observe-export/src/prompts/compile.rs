//! `{{variable}}` substitution, as Langfuse's SDKs do it: a name between double braces
//! (spaces around it ignored) is replaced by its value; a variable with no value given stays
//! as written, `{{name}}` and all, so the gap shows in the model's input and in the trace
//! rather than silently becoming an empty string. Values are inserted as they are: a value
//! that itself contains `{{...}}` is not expanded again.

use super::prompt::{ChatMessage, Prompt, PromptBody};

impl Prompt {
    /// The prompt with its variables filled in: the text, or the chat messages (each
    /// placeholder kept as it is; [`Prompt::compile_chat`] fills those too).
    ///
    /// ```
    /// use observe_export::prompts::{Prompt, PromptBody};
    /// let p = Prompt::fallback_text("greet", "Hello {{ name }}, you are {{age}}.");
    /// let PromptBody::Text(text) = p.compile(&[("name", "Ada")]) else { unreachable!() };
    /// // `age` was not given: it stays as written.
    /// assert_eq!(text, "Hello Ada, you are {{age}}.");
    /// ```
    pub fn compile<K: AsRef<str>, V: AsRef<str>>(&self, variables: &[(K, V)]) -> PromptBody {
        match &self.body {
            PromptBody::Text(text) => PromptBody::Text(substitute(text, variables)),
            PromptBody::Chat(messages) => PromptBody::Chat(
                messages
                    .iter()
                    .map(|message| compile_message(message, variables))
                    .collect(),
            ),
        }
    }

    /// The compiled text of a text prompt; `None` for a chat prompt.
    pub fn compile_text<K: AsRef<str>, V: AsRef<str>>(
        &self,
        variables: &[(K, V)],
    ) -> Option<String> {
        match self.compile(variables) {
            PromptBody::Text(text) => Some(text),
            PromptBody::Chat(_) => None,
        }
    }

    /// The compiled messages of a chat prompt, each placeholder replaced by the messages
    /// given under its name (a placeholder with none given stays in the list); `None` for a
    /// text prompt.
    ///
    /// ```
    /// use observe_export::prompts::{ChatMessage, Prompt};
    /// let p = Prompt::fallback_chat("chat", vec![
    ///     ChatMessage::new("system", "You help with {{topic}}."),
    ///     ChatMessage::Placeholder { name: "history".into() },
    /// ]);
    /// let history = vec![ChatMessage::new("user", "hi"), ChatMessage::new("assistant", "hello")];
    /// let messages = p.compile_chat(&[("topic", "Rust")], &[("history", history)]).unwrap();
    /// assert_eq!(messages.len(), 3);
    /// assert_eq!(messages[0], ChatMessage::new("system", "You help with Rust."));
    /// ```
    pub fn compile_chat<K: AsRef<str>, V: AsRef<str>, P: AsRef<str>>(
        &self,
        variables: &[(K, V)],
        placeholders: &[(P, Vec<ChatMessage>)],
    ) -> Option<Vec<ChatMessage>> {
        let PromptBody::Chat(messages) = &self.body else {
            return None;
        };
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                ChatMessage::Placeholder { name } => {
                    match placeholders.iter().find(|(n, _)| n.as_ref() == name) {
                        Some((_, filled)) => out.extend(filled.iter().cloned()),
                        None => out.push(message.clone()),
                    }
                }
                ChatMessage::Message { .. } => out.push(compile_message(message, variables)),
            }
        }
        Some(out)
    }

    /// The names of the `{{variables}}` the prompt uses, in order of first use.
    ///
    /// ```
    /// use observe_export::prompts::Prompt;
    /// let p = Prompt::fallback_text("t", "{{a}} and {{ b }} and {{a}}");
    /// assert_eq!(p.variables(), ["a", "b"]);
    /// ```
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |text: &str| {
            for (_, name) in variable_spans(text) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        };
        match &self.body {
            PromptBody::Text(text) => add(text),
            PromptBody::Chat(messages) => {
                for message in messages {
                    if let ChatMessage::Message { content, .. } = message {
                        add(content);
                    }
                }
            }
        }
        names
    }
}

fn compile_message<K: AsRef<str>, V: AsRef<str>>(
    message: &ChatMessage,
    variables: &[(K, V)],
) -> ChatMessage {
    match message {
        ChatMessage::Message { role, content } => ChatMessage::Message {
            role: role.clone(),
            content: substitute(content, variables),
        },
        ChatMessage::Placeholder { .. } => message.clone(),
    }
}

/// Each `{{ name }}` in `text`: its byte range (braces included) and the trimmed name.
fn variable_spans(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let open = from + text.get(from..)?.find("{{")?;
        let close = open + 2 + text[open + 2..].find("}}")?;
        from = close + 2;
        Some((open..close + 2, text[open + 2..close].trim()))
    })
}

fn substitute<K: AsRef<str>, V: AsRef<str>>(text: &str, variables: &[(K, V)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, name) in variable_spans(text) {
        if let Some((_, value)) = variables.iter().find(|(k, _)| k.as_ref() == name) {
            out.push_str(&text[copied..range.start]);
            out.push_str(value.as_ref());
            copied = range.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_names_and_keeps_the_rest() {
        let vars = [("a", "1"), ("b", "{{a}}")];
        assert_eq!(substitute("x{{a}}y{{ b }}z{{c}}", &vars), "x1y{{a}}z{{c}}");
        assert_eq!(substitute("no braces", &vars), "no braces");
        assert_eq!(substitute("open {{a", &vars), "open {{a");
        assert_eq!(substitute("{{a}}{{a}}", &vars), "11");
        assert_eq!(substitute("é{{a}}ü", &vars), "é1ü");
    }
}
