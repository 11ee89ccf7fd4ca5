//! What a `tracing` span's fields mean to an observation: its name (`otel.name`, else
//! `http.route` with the method), its level
//! (`otel.status_code`, `error`), the GenAI conventions (`gen_ai.*`: model, usage, cost,
//! parameters, messages, operation, provider, response id, finish reasons) and, for
//! everything else, metadata.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use tracing::field::{Field, Visit};

use super::genai_keys::{self, GenAiKey};
use crate::context::Open;
use crate::model::{Cost, Json, Level, ObservationType, Timestamp, Usage};
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
    /// `gen_ai.provider.name` wins over the older `gen_ai.system`, whichever comes first.
    provider_named: bool,
    /// `gen_ai.operation.name` for [`ObservationUpdate::operation`], given on close so that
    /// the warning for a name it drops is said where a subscriber hears it (not while the
    /// span is being made, when `tracing` drops nested events), once, for the last value.
    operation: Option<String>,
    /// `gen_ai.response.time_to_first_chunk`, in seconds after the span's start.
    time_to_first_chunk: Option<f64>,
    /// `http.route` and the request's method: the name of a span without `otel.name`.
    route: Option<String>,
    method: Option<String>,
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
            "http.route" => {
                self.route = Some(value.text().into_owned());
                self.update.metadata.push((name.to_owned(), value.json()));
            }
            // tower-http's `TraceLayer` spells it `method`; the conventions, the others.
            "http.request.method" | "http.method" | "method" => {
                self.method = Some(value.text().into_owned());
                self.update.metadata.push((name.to_owned(), value.json()));
            }
            "otel.status_code" => {
                if value.text().eq_ignore_ascii_case("error") {
                    self.update.level = Some(Level::Error);
                }
            }
            "otel.status_message" | "otel.status_description" => {
                self.update.status_message = Some(value.text().into_owned())
            }
            // The conventions' low-cardinality error class (genai: the HTTP status).
            "error.type" => {
                self.update.level = Some(Level::Error);
                if self.update.status_message.is_none() {
                    self.update.status_message = Some(format!("error.type: {}", value.text()));
                }
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

    /// The OpenTelemetry GenAI conventions, read as Langfuse's server reads them, and the
    /// other spellings of the LLM crates ([`genai_keys`]).
    fn gen_ai(&mut self, key: &str, value: Value<'_>) {
        match genai_keys::classify(key) {
            GenAiKey::RequestModel if !self.response_model => {
                self.update.model = Some(value.text().into_owned())
            }
            GenAiKey::RequestModel => {}
            GenAiKey::ResponseModel => {
                self.update.model = Some(value.text().into_owned());
                self.response_model = true;
            }
            GenAiKey::Operation => {
                let name = value.text();
                self.kind = operation_kind(&name);
                // Agents, tools and embeddings send their type's own operation; a
                // generation's name, and one the bridge does not know, go to the setter,
                // which keeps the conventions' generation operations and drops the rest.
                let named = self.kind.is_none()
                    || crate::genai::GENERATION_OPERATIONS.contains(&name.as_ref());
                self.operation = named.then(|| name.into_owned());
            }
            GenAiKey::Provider => {
                self.set(|u| u.provider(value.text()));
                self.provider_named = true;
            }
            GenAiKey::System if !self.provider_named => self.set(|u| u.provider(value.text())),
            GenAiKey::System => {}
            GenAiKey::ResponseId => self.set(|u| u.response_id(value.text())),
            GenAiKey::FinishReasons => match genai_keys::finish_reasons(&value.text()) {
                Some(reasons) => self.set(|u| u.finish_reasons(reasons)),
                None => self.metadata(key, &value),
            },
            GenAiKey::Cost => {
                if let Some(total) = value.number() {
                    self.update.cost = Some(Cost::total_only(total));
                }
            }
            GenAiKey::Input => self.update.input = Some(value.json_or_text()),
            GenAiKey::Output => self.update.output = Some(value.json_or_text()),
            GenAiKey::TimeToFirstChunk => match value.number() {
                Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
                    self.time_to_first_chunk = Some(seconds)
                }
                _ => self.metadata(key, &value),
            },
            GenAiKey::Usage(name) => match value.count() {
                Some(n) => {
                    self.usage.insert(name.to_owned(), n);
                }
                None => self.metadata(key, &value),
            },
            GenAiKey::Parameter(parameter) => {
                self.parameters
                    .insert(parameter.to_owned(), value.to_value());
            }
            GenAiKey::Metadata => self.metadata(key, &value),
        }
    }

    /// Passes the update through one of its setters, which check what they are given.
    fn set(&mut self, setter: impl FnOnce(ObservationUpdate) -> ObservationUpdate) {
        self.update = setter(std::mem::take(&mut self.update));
    }

    /// `gen_ai.{key}` kept as metadata under its full name.
    fn metadata(&mut self, key: &str, value: &Value<'_>) {
        self.update
            .metadata
            .push((format!("gen_ai.{key}"), value.json()));
    }

    /// Applies what was recorded to the open observation. Usage counts and model
    /// parameters add to those already there; a model or usage makes a span a generation.
    pub(crate) fn apply_to(mut self, open: &mut Open) {
        if self.update.name.is_none() {
            // As OpenTelemetry names HTTP server spans: `{method} {route}`.
            self.update.name = match (self.route.take(), self.method.take()) {
                (Some(route), Some(method)) => Some(format!("{method} {route}")),
                (route, _) => route,
            };
        }
        if let Some(operation) = self.operation.take() {
            self.set(|u| u.operation(operation));
        }
        if let Some(seconds) = self.time_to_first_chunk {
            let start = open.start.to_timestamp();
            let after = Duration::try_from_secs_f64(seconds).unwrap_or_default();
            let nanos = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
            self.update.completion_start_time = Some(Timestamp(start.0.saturating_add(nanos)));
        }
        let details = open.details_mut();
        if !self.usage.is_empty() {
            let mut usage = details.usage.take().map(|u| u.0).unwrap_or_default();
            usage.extend(genai_keys::langfuse_usage(self.usage));
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

/// The type `gen_ai.operation.name` gives; `None` for a name the bridge does not know,
/// which leaves the type to the other fields (a model or usage makes a generation).
fn operation_kind(operation: &str) -> Option<ObservationType> {
    Some(match operation {
        "chat" | "completion" | "text_completion" | "generate_content" | "generate" => {
            ObservationType::Generation
        }
        "embeddings" => ObservationType::Embedding,
        "invoke_agent" | "create_agent" => ObservationType::Agent,
        "execute_tool" => ObservationType::Tool,
        _ => return None,
    })
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
