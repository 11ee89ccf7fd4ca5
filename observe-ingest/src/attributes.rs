//! A span's attributes as a map the precedence rules take keys out of: what is left at the
//! end is what no rule read, and becomes metadata.

use std::collections::BTreeMap;

use observe_model::model::{Json, Metadata};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

/// Attribute values by key; a key sent twice keeps its last value, as OTLP SDKs do.
#[derive(Debug, Default)]
pub(crate) struct Attributes(BTreeMap<String, Value>);

impl Attributes {
    pub(crate) fn new(list: Vec<KeyValue>) -> Attributes {
        let mut map = BTreeMap::new();
        for kv in list {
            if let Some(v) = kv.value.and_then(|v| v.value) {
                map.insert(kv.key, v);
            }
        }
        Attributes(map)
    }

    /// Takes the key out; any value type.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    /// Takes the key out as text: a string as is, a scalar in its JSON spelling.
    pub(crate) fn take_text(&mut self, key: &str) -> Option<String> {
        self.take(key).map(text_of)
    }

    /// Takes the first of `keys` that is present, leaving the later ones in place.
    pub(crate) fn take_first_text(&mut self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.take_text(k))
    }

    /// The first of `keys` that is present (for typed reads of a key with older spellings).
    pub(crate) fn first_key<'k>(&self, keys: &[&'k str]) -> Option<&'k str> {
        keys.iter().copied().find(|k| self.0.contains_key(*k))
    }

    pub(crate) fn take_int(&mut self, key: &str) -> Option<i64> {
        match self.take(key)? {
            Value::IntValue(i) => Some(i),
            Value::StringValue(s) => s.trim().parse().ok(),
            Value::DoubleValue(d) if d.fract() == 0.0 => Some(d as i64),
            _ => None,
        }
    }

    pub(crate) fn take_number(&mut self, key: &str) -> Option<f64> {
        match self.take(key)? {
            Value::IntValue(i) => Some(i as f64),
            Value::DoubleValue(d) => Some(d),
            Value::StringValue(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn take_bool(&mut self, key: &str) -> Option<bool> {
        match self.take(key)? {
            Value::BoolValue(b) => Some(b),
            Value::StringValue(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// An array of strings; a single string counts as a one-element array, and a string
    /// holding a JSON array (as some SDKs send tags) as that array.
    pub(crate) fn take_strings(&mut self, key: &str) -> Vec<String> {
        match self.take(key) {
            Some(Value::ArrayValue(a)) => a
                .values
                .into_iter()
                .filter_map(|v| v.value)
                .map(text_of)
                .collect(),
            Some(Value::StringValue(s)) => {
                serde_json::from_str::<Vec<String>>(&s).unwrap_or_else(|_| vec![s])
            }
            Some(other) => vec![text_of(other)],
            None => Vec::new(),
        }
    }

    /// Takes every key under `prefix`, the prefix cut off, each value read as JSON.
    pub(crate) fn take_prefixed(&mut self, prefix: &str) -> Metadata {
        let keys: Vec<String> = self
            .0
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let v = self.0.remove(&k)?;
                Some((k[prefix.len()..].to_owned(), json_of(v)))
            })
            .collect()
    }

    /// Takes every key under `prefix`, the prefix cut off, as plain JSON values.
    pub(crate) fn take_prefixed_values(
        &mut self,
        prefix: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        self.take_prefixed(prefix)
            .into_iter()
            .map(|(k, v)| (k, v.to_value()))
            .collect()
    }

    /// The key's value as text, left in place.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned().map(text_of)
    }

    /// What no rule read, as metadata under the attribute's own key.
    pub(crate) fn into_metadata(self) -> Metadata {
        self.0.into_iter().map(|(k, v)| (k, json_of(v))).collect()
    }
}

/// A value as text: a string as is, anything else as JSON.
pub(crate) fn text_of(v: Value) -> String {
    match v {
        Value::StringValue(s) => s,
        other => any_to_json(other).to_string(),
    }
}

/// A value as JSON: a string that holds JSON is that JSON (attributes carry structured
/// values JSON-encoded), any other string a JSON string.
pub(crate) fn json_of(v: Value) -> Json {
    match v {
        Value::StringValue(s) => json_text(&s),
        other => Json::from_value(&any_to_json(other)),
    }
}

/// Attribute text as JSON: itself when it parses, else a JSON string holding it.
pub(crate) fn json_text(s: &str) -> Json {
    Json::parse_checked(s).unwrap_or_else(|_| Json::string(s))
}

fn any_to_json(v: Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::StringValue(s) => J::String(s),
        Value::BoolValue(b) => J::Bool(b),
        Value::IntValue(i) => J::from(i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(d).map_or(J::Null, J::Number),
        Value::ArrayValue(a) => J::Array(a.values.into_iter().map(any_or_null).collect()),
        Value::KvlistValue(l) => J::Object(
            l.values
                .into_iter()
                .map(|kv| (kv.key, kv.value.map_or(J::Null, any_or_null)))
                .collect(),
        ),
        Value::BytesValue(b) => J::Array(b.into_iter().map(J::from).collect()),
        // An index into a profile's string table: no meaning without it, none in traces.
        Value::StringValueStrindex(_) => J::Null,
    }
}

fn any_or_null(v: AnyValue) -> serde_json::Value {
    v.value.map_or(serde_json::Value::Null, any_to_json)
}
