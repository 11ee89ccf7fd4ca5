//! The conventions' content attributes, `gen_ai.input.messages`, `gen_ai.output.messages`
//! and `gen_ai.system_instructions`: JSON text in the conventions' message schema (each
//! message a `role` and `parts`, each text part `{"type": "text", "content": ...}`, an output
//! message also a `finish_reason`), built from an observation's captured input and output.
//!
//! Captured values take many shapes: OpenAI-style `messages` (a `content` string or an array
//! of parts, `tool_calls`, `tool` answers), an argument object with a `messages` or `prompt`
//! field, a plain string, an OpenAI response with `choices`. Whatever is recognized becomes
//! messages; anything else becomes one message whose text is the value's JSON. `system` and
//! `developer` messages become the system instructions.
//!
//! Each attribute is kept within a byte budget by cutting the longest texts (never the JSON
//! around them), then by leaving out the oldest input messages: what comes out always parses.
//!
//! ```
//! use observe_model::genai::content_attributes;
//! use observe_model::model::Json;
//! use serde_json::json;
//!
//! let input = Json::from_value(&serde_json::json!({"messages": [
//!     {"role": "system", "content": "Be brief."},
//!     {"role": "user", "content": "Hi"},
//! ]}));
//! let output = Json::string("Hello!");
//! let c = content_attributes(Some(&input), Some(&output), &["stop".to_owned()], 10_000);
//! let parse = |s: Option<String>| serde_json::from_str::<serde_json::Value>(&s.unwrap()).unwrap();
//! assert_eq!(parse(c.system_instructions), json!([{"type": "text", "content": "Be brief."}]));
//! assert_eq!(parse(c.input_messages),
//!     json!([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]));
//! assert_eq!(parse(c.output_messages), json!([{"role": "assistant",
//!     "parts": [{"type": "text", "content": "Hello!"}], "finish_reason": "stop"}]));
//! ```

use serde_json::{json, Map, Value};

use crate::model::Json;

/// The three content attributes as JSON text; `None` where there is nothing to say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentAttributes {
    /// `gen_ai.input.messages`.
    pub input_messages: Option<String>,
    /// `gen_ai.output.messages`.
    pub output_messages: Option<String>,
    /// `gen_ai.system_instructions`.
    pub system_instructions: Option<String>,
}

/// Marker appended to a text cut to fit the budget.
const CUT_MARKER: &str = "…[truncated]";

/// The content attributes of a call whose captured input and output are `input` and
/// `output`, each at most `max_bytes` long. `finish_reasons` are the call's (one per
/// output message, the last repeated); an output message with none says `stop`.
pub fn content_attributes(
    input: Option<&Json>,
    output: Option<&Json>,
    finish_reasons: &[String],
    max_bytes: usize,
) -> ContentAttributes {
    let mut system = Vec::new();
    let mut input_messages = Vec::new();
    if let Some(value) = input.and_then(parse) {
        for message in input_to_messages(value) {
            if matches!(message_role(&message), "system" | "developer") {
                if let Some(Value::Array(parts)) = message.get("parts") {
                    system.extend(parts.iter().cloned());
                }
            } else {
                input_messages.push(message);
            }
        }
    }
    let mut output_messages = output
        .and_then(parse)
        .map_or_else(Vec::new, output_to_messages);
    for (i, message) in output_messages.iter_mut().enumerate() {
        if let Value::Object(m) = message {
            if !m.contains_key("finish_reason") {
                let reason = finish_reasons
                    .get(i)
                    .or(finish_reasons.last())
                    .map_or("stop", String::as_str);
                m.insert("finish_reason".into(), Value::from(reason));
            }
        }
    }
    ContentAttributes {
        input_messages: bounded(input_messages, max_bytes, Shed::Oldest),
        output_messages: bounded(output_messages, max_bytes, Shed::Newest),
        system_instructions: bounded(system, max_bytes, Shed::Newest),
    }
}

fn parse(json: &Json) -> Option<Value> {
    serde_json::from_str::<Value>(json.as_str())
        .ok()
        .filter(|v| !v.is_null())
}

fn message_role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "content": text})
}

/// A value's text: a string as is, anything else as its JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_message(value: &Value) -> bool {
    value.get("role").is_some_and(Value::is_string)
        && (value.get("content").is_some()
            || value.get("parts").is_some()
            || value.get("tool_calls").is_some())
}

fn is_message_list(value: &Value) -> bool {
    matches!(value, Value::Array(items) if !items.is_empty() && items.iter().all(is_message))
}

/// The captured input as messages: a message list, one message, an argument object holding
/// a message list (`messages` first) or a prompt, or a plain value as one user message.
fn input_to_messages(value: Value) -> Vec<Value> {
    if is_message_list(&value) {
        return list(value);
    }
    if is_message(&value) {
        return vec![message(value)];
    }
    if let Value::Object(mut args) = value {
        if let Some(list_value) = args.remove("messages").filter(is_message_list).or_else(|| {
            let key = args
                .iter()
                .find(|(_, v)| is_message_list(v))
                .map(|(k, _)| k.clone())?;
            args.remove(&key)
        }) {
            let mut messages = Vec::new();
            for key in ["system", "system_prompt", "instructions"] {
                if let Some(Value::String(s)) = args.get(key) {
                    messages.push(json!({"role": "system", "parts": [text_part(s)]}));
                }
            }
            messages.extend(list(list_value));
            return messages;
        }
        for key in ["prompt", "input", "question", "query", "text"] {
            if let Some(Value::String(s)) = args.get(key) {
                return vec![json!({"role": "user", "parts": [text_part(s)]})];
            }
        }
        return vec![
            json!({"role": "user", "parts": [text_part(&Value::Object(args).to_string())]}),
        ];
    }
    vec![json!({"role": "user", "parts": [text_part(&text_of(&value))]})]
}

/// The captured output as messages: a string, a message, a message list, an OpenAI-style
/// response (`choices`), or a plain value as one assistant message.
fn output_to_messages(value: Value) -> Vec<Value> {
    if is_message_list(&value) {
        return list(value);
    }
    if is_message(&value) {
        return vec![message(value)];
    }
    if let Some(Value::Array(choices)) = value.get("choices") {
        let messages: Vec<Value> = choices
            .iter()
            .filter_map(|choice| {
                let mut m = message(choice.get("message").filter(|m| is_message(m))?.clone());
                if let (Value::Object(obj), Some(Value::String(reason))) =
                    (&mut m, choice.get("finish_reason"))
                {
                    obj.insert("finish_reason".into(), Value::from(reason.as_str()));
                }
                Some(m)
            })
            .collect();
        if !messages.is_empty() {
            return messages;
        }
    }
    let text = match &value {
        Value::Object(o) => ["content", "text", "answer", "output"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| value.to_string()),
        other => text_of(other),
    };
    vec![json!({"role": "assistant", "parts": [text_part(&text)]})]
}

fn list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.into_iter().map(message).collect(),
        _ => Vec::new(),
    }
}

/// One chat message (OpenAI's shape, or already the conventions') in the conventions' shape.
fn message(value: Value) -> Value {
    let Value::Object(mut m) = value else {
        return json!({"role": "user", "parts": [text_part(&text_of(&value))]});
    };
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user")
        .to_owned();
    let mut out = Map::new();
    out.insert("role".into(), Value::from(role.as_str()));
    if let Some(Value::Array(parts)) = m.remove("parts") {
        out.insert("parts".into(), Value::Array(parts));
    } else {
        let mut parts = Vec::new();
        match m.remove("content") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => parts.extend(items.into_iter().map(content_part)),
            Some(content) if role == "tool" => parts.push(json!({
                "type": "tool_call_response",
                "id": m.get("tool_call_id").cloned().unwrap_or(Value::Null),
                "response": text_of(&content),
            })),
            Some(content) => parts.push(text_part(&text_of(&content))),
        }
        if let Some(Value::Array(calls)) = m.remove("tool_calls") {
            parts.extend(calls.into_iter().map(tool_call));
        }
        out.insert("parts".into(), Value::Array(parts));
    }
    if let Some(reason) = m.remove("finish_reason").filter(Value::is_string) {
        out.insert("finish_reason".into(), reason);
    }
    Value::Object(out)
}

/// One part of an array `content`: OpenAI's `{"type": "text", "text": ...}` as a text part,
/// a bare string as a text part, others kept with their type.
fn content_part(part: Value) -> Value {
    match part {
        Value::String(s) => text_part(&s),
        Value::Object(mut p) => {
            let kind = p.get("type").and_then(Value::as_str).map(str::to_owned);
            let text = p.get("text").and_then(Value::as_str).map(str::to_owned);
            match (kind.as_deref(), text) {
                (Some("text") | None, Some(text)) => text_part(&text),
                (Some(_), _) => Value::Object(p),
                (None, None) => {
                    p.insert("type".into(), Value::from("text"));
                    Value::Object(p)
                }
            }
        }
        other => text_part(&other.to_string()),
    }
}

/// OpenAI's `{"id", "function": {"name", "arguments"}}` as a `tool_call` part.
fn tool_call(call: Value) -> Value {
    let function = call.get("function");
    json!({
        "type": "tool_call",
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "name": function.and_then(|f| f.get("name")).cloned().unwrap_or(Value::Null),
        "arguments": function.and_then(|f| f.get("arguments")).cloned().unwrap_or(Value::Null),
    })
}

/// Which messages go first when cutting texts is not enough.
#[derive(Clone, Copy)]
enum Shed {
    /// Input: the oldest turns (the newest say most about this call).
    Oldest,
    /// Output and instructions: the last.
    Newest,
}

/// The items as JSON text within `max_bytes`: the longest texts cut first, then items left
/// out, one at a time; `None` when there are none or not even one fits.
fn bounded(mut items: Vec<Value>, max_bytes: usize, shed: Shed) -> Option<String> {
    loop {
        if items.is_empty() {
            return None;
        }
        let text = Value::Array(items.clone()).to_string();
        if text.len() <= max_bytes {
            return Some(text);
        }
        let excess = text.len() - max_bytes;
        if !cut_longest_text(&mut items, excess + CUT_MARKER.len()) {
            match shed {
                Shed::Oldest => items.remove(0),
                Shed::Newest => items.pop().unwrap_or(Value::Null),
            };
        }
    }
}

/// Shortens the longest string of `items` by at least `by` bytes (at a character boundary,
/// marker appended); false when no string is long enough to be worth cutting.
fn cut_longest_text(items: &mut [Value], by: usize) -> bool {
    fn longest(value: &mut Value) -> Option<&mut String> {
        match value {
            Value::String(s) => Some(s),
            Value::Array(items) => items.iter_mut().filter_map(longest).max_by_key(|s| s.len()),
            Value::Object(map) => map
                .iter_mut()
                .filter(|(k, _)| !matches!(k.as_str(), "role" | "type" | "finish_reason"))
                .filter_map(|(_, v)| longest(v))
                .max_by_key(|s| s.len()),
            _ => None,
        }
    }
    let Some(s) = items.iter_mut().filter_map(longest).max_by_key(|s| s.len()) else {
        return false;
    };
    if s.len() <= CUT_MARKER.len() {
        return false;
    }
    let mut keep = s.len().saturating_sub(by);
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    s.truncate(keep);
    s.push_str(CUT_MARKER);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: Value) -> Json {
        Json::from_value(&v)
    }

    #[test]
    fn openai_messages_tools_and_choices() {
        let input = json(json!([
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        ]));
        let output = json(json!({"choices": [
            {"message": {"role": "assistant", "content": "18C in Paris."}, "finish_reason": "stop"},
            {"message": {"role": "assistant", "content": "It is 18C."}, "finish_reason": "length"},
        ]}));
        let c = content_attributes(Some(&input), Some(&output), &[], 100_000);
        let system: Value =
            serde_json::from_str(c.system_instructions.as_deref().unwrap()).unwrap();
        assert_eq!(system, json!([{"type": "text", "content": "Use tools."}]));
        let input: Value = serde_json::from_str(c.input_messages.as_deref().unwrap()).unwrap();
        assert_eq!(
            input[0],
            json!({"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]})
        );
        assert_eq!(input[1]["parts"][0]["type"], "tool_call");
        assert_eq!(input[1]["parts"][0]["name"], "weather");
        assert_eq!(
            input[2]["parts"][0],
            json!({"type": "tool_call_response", "id": "c1", "response": "18C"})
        );
        let output: Value = serde_json::from_str(c.output_messages.as_deref().unwrap()).unwrap();
        assert_eq!(output[0]["finish_reason"], "stop");
        assert_eq!(output[1]["finish_reason"], "length");
        assert_eq!(output[1]["parts"][0]["content"], "It is 18C.");
    }

    #[test]
    fn prompts_and_plain_values() {
        let input = json(json!({"prompt": "Summarize this", "max_len": 3}));
        let c = content_attributes(
            Some(&input),
            Some(&json(json!({"n": 1}))),
            &["length".into()],
            10_000,
        );
        let parse =
            |s: &Option<String>| serde_json::from_str::<Value>(s.as_deref().unwrap()).unwrap();
        assert_eq!(
            parse(&c.input_messages),
            json!([{"role": "user", "parts": [{"type": "text", "content": "Summarize this"}]}])
        );
        assert_eq!(
            parse(&c.output_messages),
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "{\"n\":1}"}],
                    "finish_reason": "length"}])
        );
        assert_eq!(c.system_instructions, None);
        let none = content_attributes(None, Some(&Json::from_raw("null")), &[], 10_000);
        assert_eq!(none, ContentAttributes::default());
    }

    #[test]
    fn truncation_keeps_valid_json_within_the_budget() {
        let long = "é\"\n".repeat(5_000);
        let input = json(json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": long.clone()},
            {"role": "user", "content": long.clone()},
        ]}));
        for max in [40usize, 100, 1_000, 4_096, 20_000] {
            let c = content_attributes(Some(&input), Some(&Json::string(&long)), &[], max);
            for text in [c.input_messages.as_deref(), c.output_messages.as_deref()]
                .into_iter()
                .flatten()
            {
                assert!(text.len() <= max, "{max}: {}", text.len());
                let parsed: Value =
                    serde_json::from_str(text).unwrap_or_else(|e| panic!("{max}: {e}: {text}"));
                assert!(parsed.as_array().is_some_and(|a| !a.is_empty()));
            }
            if max >= 1_000 {
                let input: Value =
                    serde_json::from_str(c.input_messages.as_deref().unwrap()).unwrap();
                let last = input.as_array().unwrap().last().unwrap();
                assert!(
                    last["parts"][0]["content"]
                        .as_str()
                        .unwrap()
                        .ends_with(CUT_MARKER),
                    "{max}"
                );
            }
        }
    }
}
