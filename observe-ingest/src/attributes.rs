//! A span's attributes as a list the precedence rules take keys out of: what is left at the
//! end is what no rule read, and becomes metadata.

use observe_model::model::{Json, Metadata};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

/// Attribute values by key; a key sent twice keeps its last value, as OTLP SDKs do.
///
/// A list, not a map: a span carries a few dozen keys, the rules look most of their keys up
/// once, and a scan that compares lengths first costs less than building a tree per span.
/// Order is not kept once a key is taken (whatever is left ends in sorted metadata).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Attributes(Vec<(String, Value)>);

impl Attributes {
    pub(crate) fn new(list: Vec<KeyValue>) -> Attributes {
        // Collected from the vector's own iterator, the entries reuse the request's
        // allocation (an entry is no larger than a `KeyValue`): no second list per span.
        let entries: Vec<(String, Value)> = list
            .into_iter()
            .filter_map(|kv| Some((kv.key, kv.value?.value?)))
            .collect();
        if has_repeated_key(&entries) {
            return Attributes(last_values(entries));
        }
        Attributes(entries)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// Takes the key out; any value type.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.0.swap_remove(i).1)
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
        keys.iter().copied().find(|k| self.position(k).is_some())
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
            // Only text that opens an array can be one: no failed parse for a plain tag.
            Some(Value::StringValue(s)) if s.trim_start().starts_with('[') => {
                serde_json::from_str::<Vec<String>>(&s).unwrap_or_else(|_| vec![s])
            }
            Some(Value::StringValue(s)) => vec![s],
            Some(other) => vec![text_of(other)],
            None => Vec::new(),
        }
    }

    /// Takes every key under `prefix`, the prefix cut off, each value read as JSON.
    pub(crate) fn take_prefixed(&mut self, prefix: &str) -> Metadata {
        let mut out = Metadata::new();
        let mut i = 0;
        while i < self.0.len() {
            if self.0[i].0.starts_with(prefix) {
                let (mut key, v) = self.0.swap_remove(i);
                // In place: the key's own allocation serves the shorter key.
                key.drain(..prefix.len());
                out.insert(key, json_of(v));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Drops every key under `prefix`, their values unread.
    pub(crate) fn drop_prefixed(&mut self, prefix: &str) {
        self.0.retain(|(k, _)| !k.starts_with(prefix));
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
        let (_, v) = &self.0[self.position(key)?];
        Some(match v {
            Value::StringValue(s) => s.clone(),
            other => text_of(other.clone()),
        })
    }

    /// Moves every entry whose key `pick` accepts into a list of its own, in the order sent.
    pub(crate) fn split_off(&mut self, pick: impl Fn(&str) -> bool) -> Attributes {
        let mut picked = Vec::new();
        self.0.retain_mut(|(k, v)| {
            if pick(k) {
                picked.push((
                    std::mem::take(k),
                    std::mem::replace(v, Value::BoolValue(false)),
                ));
                false
            } else {
                true
            }
        });
        Attributes(picked)
    }

    /// Adds the entries of `other` (whose keys are not in `self`).
    pub(crate) fn append(&mut self, other: Attributes) {
        self.0.extend(other.0);
    }

    /// What no rule read, as metadata under the attribute's own key.
    pub(crate) fn into_metadata(self) -> Metadata {
        self.0.into_iter().map(|(k, v)| (k, json_of(v))).collect()
    }
}

fn has_repeated_key(entries: &[(String, Value)]) -> bool {
    entries
        .iter()
        .enumerate()
        .any(|(i, (key, _))| entries[..i].iter().any(|(seen, _)| seen == key))
}

/// One entry per key, where the key first came, with the value it was sent last.
fn last_values(entries: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut kept: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    for (key, v) in entries {
        match kept.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = v,
            None => kept.push((key, v)),
        }
    }
    kept
}

/// A value as text: a string as is, anything else as JSON.
pub(crate) fn text_of(v: Value) -> String {
    match v {
        Value::StringValue(s) => s,
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        other => any_to_json(other).to_string(),
    }
}

/// A value as JSON: a string that holds JSON is that JSON (attributes carry structured
/// values JSON-encoded), any other string a JSON string.
pub(crate) fn json_of(v: Value) -> Json {
    match v {
        Value::StringValue(s) => json_text(s),
        // Integers and booleans spell the same in JSON and in text.
        v @ (Value::IntValue(_) | Value::BoolValue(_)) => Json::from_raw(text_of(v)),
        other => Json::from_value(&any_to_json(other)),
    }
}

/// Attribute text as JSON: itself when it parses (the text moved in, not copied), else a
/// JSON string holding it.
pub(crate) fn json_text(s: String) -> Json {
    if may_be_json(&s) && serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok() {
        return Json::from_raw(s);
    }
    Json::string(&s)
}

/// False for text that cannot be JSON by its first character (most plain text): no parse
/// attempt, whose failure costs an allocated error.
fn may_be_json(s: &str) -> bool {
    matches!(
        s.trim_start_matches([' ', '\t', '\n', '\r'])
            .as_bytes()
            .first(),
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Option<Value>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: value.map(|v| AnyValue { value: Some(v) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn entries_keep_the_first_place_and_the_last_value_and_skip_empty_values() {
        let a = Attributes::new(vec![
            kv("a", Some(Value::IntValue(1))),
            kv("empty", None),
            kv("b", Some(Value::BoolValue(true))),
            kv("a", Some(Value::IntValue(2))),
        ]);
        assert_eq!(
            a.0,
            vec![
                ("a".to_owned(), Value::IntValue(2)),
                ("b".to_owned(), Value::BoolValue(true)),
            ]
        );
    }

    #[test]
    fn text_that_is_json_is_kept_and_other_text_becomes_a_json_string() {
        assert_eq!(
            json_text(r#"{"k": [1, 2]}"#.to_owned()).as_str(),
            r#"{"k": [1, 2]}"#
        );
        assert_eq!(json_text("plain".to_owned()).as_str(), r#""plain""#);
        assert_eq!(json_text("{not json".to_owned()).as_str(), r#""{not json""#);
    }
}
