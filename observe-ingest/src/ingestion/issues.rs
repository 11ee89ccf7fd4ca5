//! Why an event was refused, in the shape Langfuse's request validation reports it: one
//! issue per bad field, each with a code, the path to the field and a message.

use serde_json::{json, Value};

/// One reason an event (or a score) was refused: a field missing, of the wrong type, or
/// with a value the API does not take.
///
/// ```
/// use observe_ingest::ingestion::decode_score;
///
/// let refused = decode_score(br#"{"name": "quality", "value": true, "traceId": "t-1"}"#)
///     .unwrap_err();
/// let issues = refused.issues();
/// assert_eq!(issues[0].path_text(), "value");
/// assert_eq!(issues[0].code, "invalid_type");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// What kind of problem: `invalid_type`, `too_small`, `too_big`, `invalid_format`,
    /// `invalid_value`, `invalid_union` or `custom` (the codes of Langfuse's validation).
    pub code: &'static str,
    /// Where: object keys and array indexes from the event's top (`["body", "startTime"]`).
    pub path: Vec<Value>,
    /// What is wrong, naming what was expected.
    pub message: String,
}

impl Issue {
    pub(crate) fn new(code: &'static str, path: Vec<Value>, message: impl Into<String>) -> Issue {
        Issue {
            code,
            path,
            message: message.into(),
        }
    }

    /// The path as dotted text: `body.usage.input`, `body.tags.1`.
    pub fn path_text(&self) -> String {
        let parts: Vec<String> = self
            .path
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        parts.join(".")
    }

    /// The issue as JSON: `{"code", "path", "message"}`.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code, "path": self.path, "message": self.message })
    }
}

/// The issues as Langfuse prints a validation error: a JSON array, indented by two.
pub(crate) fn issues_text(issues: &[Issue]) -> String {
    let list: Vec<Value> = issues.iter().map(Issue::to_json).collect();
    serde_json::to_string_pretty(&list).unwrap_or_default()
}

/// The JSON type name of `value` as the validation messages say it (`undefined` for absent).
pub(crate) fn received(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// An `invalid_type` issue: `expected` is what the field takes.
pub(crate) fn invalid_type(path: Vec<Value>, expected: &str, value: Option<&Value>) -> Issue {
    Issue::new(
        "invalid_type",
        path,
        format!(
            "Invalid input: expected {expected}, received {}",
            received(value)
        ),
    )
}
