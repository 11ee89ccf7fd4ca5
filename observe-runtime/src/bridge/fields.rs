//! What a `tracing` span's fields mean to an observation: its name (`otel.name`), its level
//! (`otel.status_code`, `error`), the GenAI conventions (`gen_ai.*`: model, usage, cost,
//! parameters, messages, operation) and, for everything else, metadata.

use std::collections::BTreeMap;
use std::fmt::Debug;

use tracing::field::{Field, Visit};

use crate::context::Open;
use crate::model::{Cost, Json, Level, ObservationType, Usage};
use crate::update::ObservationUpdate;

/// Fields seen so far, not yet applied to the observation.
#[derive(Default)]
pub(crate) struct Recorded {
    update: ObservationUpdate,
    kind: Option<ObservationType>,
    usage: BTreeMap<String, u64>,
    parameters: serde_json::Map<String, serde_json::Value>,
    /// `gen_ai.response.model` wins over `gen_ai.request.model`, whichever comes first.
    response_model: bool,
}

/// A field's value, before it is known where it goes.
pub(crate) enum Value<'a> {
    Text(&'a str),
    Owned(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Value<'_> {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Text(t) => (*t).into(),
            Value::Owned(t) => t.as_str().into(),
            Value::I64(v) => v.to_string().into(),
            Value::U64(v) => v.to_string().into(),
            Value::F64(v) => v.to_string().into(),
            Value::Bool(v) => v.to_string().into(),
        }
    }

    fn json(&self) -> Json {
        match self {
            Value::Text(t) => Json::string(t),
            Value::Owned(t) => Json::string(t),
            Value::I64(v) => Json::from_value(v),
            Value::U64(v) => Json::from_value(v),
            Value::F64(v) => Json::from_value(v),
            Value::Bool(v) => Json::from_value(v),
        }
    }

    fn count(&self) -> Option<u64> {
        match self {
            Value::I64(v) => u64::try_from(*v).ok(),
            Value::U64(v) => Some(*v),
            Value::F64(v) if *v >= 0.0 => Some(*v as u64),
            _ => self.text().trim().parse().ok(),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Value::I64(v) => Some(*v as f64),
            Value::U64(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            _ => self.text().trim().parse().ok(),
        }
    }

    fn to_value(&self) -> serde_json::Value {
        match self {
            Value::I64(v) => (*v).into(),
            Value::U64(v) => (*v).into(),
            Value::F64(v) => {
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Bool(v) => (*v).into(),
            _ => self.text().into_owned().into(),
        }
    }

    /// Message lists arrive as JSON text; kept as JSON when they parse, else as a string.
    fn json_or_text(&self) -> Json {
        match self {
            Value::Text(_) | Value::Owned(_) => {
                let text = self.text();
                Json::parse_checked(&text).unwrap_or_else(|_| Json::string(&text))
            }
            _ => self.json(),
        }
    }
}

impl Recorded {
    fn put(&mut self, name: &str, value: Value<'_>) {
        match name {
            "otel.name" => self.update.name = Some(value.text().into_owned()),
            "otel.kind" => {}
            "otel.status_code" => {
                if value.text().eq_ignore_ascii_case("error") {
                    self.update.level = Some(Level::Error);
                }
            }
            "otel.status_message" | "otel.status_description" => {
                self.update.status_message = Some(value.text().into_owned())
            }
            "error" | "exception.message" => match value {
                Value::Bool(false) => {}
                Value::Bool(true) => self.update.level = Some(Level::Error),
                _ => {
                    self.update.level = Some(Level::Error);
                    self.update.status_message = Some(value.text().into_owned());
                }
            },
            _ => match name.strip_prefix("gen_ai.") {
                Some(key) => self.gen_ai(key, value),
                None => self.update.metadata.push((name.to_owned(), value.json())),
            },
        }
    }

    /// The OpenTelemetry GenAI conventions, read as Langfuse's server reads them.
    fn gen_ai(&mut self, key: &str, value: Value<'_>) {
        match key {
            "request.model" if !self.response_model => {
                self.update.model = Some(value.text().into_owned())
            }
            "request.model" => {}
            "response.model" => {
                self.update.model = Some(value.text().into_owned());
                self.response_model = true;
            }
            "operation.name" => self.kind = Some(operation_kind(&value.text())),
            "usage.cost" => {
                if let Some(total) = value.number() {
                    self.update.cost = Some(Cost::total_only(total));
                }
            }
            "input.messages" | "prompt" => self.update.input = Some(value.json_or_text()),
            "output.messages" | "completion" => self.update.output = Some(value.json_or_text()),
            _ => {
                if let Some(usage) = key.strip_prefix("usage.") {
                    let name = match usage {
                        "input_tokens" | "prompt_tokens" => "input",
                        "output_tokens" | "completion_tokens" => "output",
                        "total_tokens" => "total",
                        other => other,
                    };
                    if let Some(n) = value.count() {
                        self.usage.insert(name.to_owned(), n);
                        return;
                    }
                } else if let Some(parameter) = key.strip_prefix("request.") {
                    self.parameters
                        .insert(parameter.to_owned(), value.to_value());
                    return;
                }
                self.update
                    .metadata
                    .push((format!("gen_ai.{key}"), value.json()));
            }
        }
    }

    /// Applies what was recorded to the open observation. Usage counts and model
    /// parameters add to those already there; a model or usage makes a span a generation.
    pub(crate) fn apply_to(mut self, open: &mut Open) {
        let details = open.details_mut();
        if !self.usage.is_empty() {
            let mut usage = details.usage.take().map(|u| u.0).unwrap_or_default();
            usage.extend(self.usage);
            if let (Some(i), Some(o)) = (usage.get("input"), usage.get("output")) {
                let total = i + o;
                usage.entry("total".to_owned()).or_insert(total);
            }
            self.update.usage = Some(Usage(usage));
        }
        if !self.parameters.is_empty() {
            let mut parameters = details
                .model_parameters
                .take()
                .and_then(|p| match p.to_value() {
                    serde_json::Value::Object(map) => Some(map),
                    _ => None,
                })
                .unwrap_or_default();
            parameters.extend(self.parameters);
            self.update.model_parameters = Some(Json::from_value(&parameters));
        }
        let generation = self.update.model.is_some() || self.update.usage.is_some();
        if let Some(kind) = self.kind {
            open.kind = kind;
        } else if generation && open.kind == ObservationType::Span {
            open.kind = ObservationType::Generation;
        }
        let Open {
            name,
            level,
            details,
            ..
        } = open;
        self.update
            .apply_to(details.get_or_insert_with(Default::default), level, name);
    }
}

fn operation_kind(operation: &str) -> ObservationType {
    match operation {
        "chat" | "completion" | "text_completion" | "generate_content" | "generate" => {
            ObservationType::Generation
        }
        "embeddings" => ObservationType::Embedding,
        "invoke_agent" | "create_agent" => ObservationType::Agent,
        "execute_tool" => ObservationType::Tool,
        _ => ObservationType::Span,
    }
}

/// An event's fields: its message apart, the rest as metadata.
#[derive(Default)]
pub(crate) struct EventFields {
    pub(crate) message: Option<String>,
    pub(crate) metadata: Vec<(String, Json)>,
}

impl EventFields {
    fn put(&mut self, name: &str, value: Value<'_>) {
        if name == "message" {
            self.message = Some(value.text().into_owned());
        } else {
            self.metadata.push((name.to_owned(), value.json()));
        }
    }
}

/// Where a visited field goes: a span's [`Recorded`] or an event's [`EventFields`].
pub(crate) trait FieldSink {
    fn put(&mut self, name: &str, value: Value<'_>);
}

impl FieldSink for Recorded {
    fn put(&mut self, name: &str, value: Value<'_>) {
        Recorded::put(self, name, value)
    }
}

impl FieldSink for EventFields {
    fn put(&mut self, name: &str, value: Value<'_>) {
        EventFields::put(self, name, value)
    }
}

/// The `tracing` visitor over any [`FieldSink`].
pub(crate) struct Visitor<'a, S>(pub(crate) &'a mut S);

impl<S: FieldSink> Visit for Visitor<'_, S> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.put(field.name(), Value::Text(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.put(field.name(), Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.put(field.name(), Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.put(field.name(), Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.put(field.name(), Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.put(field.name(), Value::Owned(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.put(field.name(), Value::Owned(format!("{value:?}")));
    }
}
