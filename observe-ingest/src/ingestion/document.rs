//! The request read in one pass without building a tree for what observe only copies:
//! an event body's `input`, `output` and `metadata` stay slices of the request's text
//! (`&RawValue`), checked as JSON by the parser and stored as text. Everything else is read
//! into `serde_json::Value`s, which the schema checks need and which are small.

use std::borrow::Cow;
use std::fmt;

use observe_model::model::{Json, Metadata};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The fields of a body copied through as text rather than read.
const COPIED: [&str; 3] = ["input", "output", "metadata"];

/// An event body: the fields to check, and the copied ones as the request spelled them.
#[derive(Default)]
pub(crate) struct BodyDoc<'a> {
    /// Every field but the copied ones.
    pub(crate) fields: Map<String, Value>,
    copied: [Option<&'a RawValue>; 3],
}

impl<'a> BodyDoc<'a> {
    /// A copied field, `None` when absent or `null`.
    fn copied(&self, key: &str) -> Option<&'a RawValue> {
        let i = COPIED.iter().position(|k| *k == key)?;
        self.copied[i].filter(|raw| raw.get() != "null")
    }

    /// `input` or `output`: any JSON value but `null`, kept as given.
    pub(crate) fn json(&self, key: &str) -> Option<Json> {
        self.copied(key)
            .map(|raw| Json::from_raw(compact(raw.get())))
    }

    /// Metadata as top-level keys. Langfuse keeps an object's keys; any other value is
    /// kept under the key `metadata`.
    pub(crate) fn metadata(&self) -> Metadata {
        let Some(raw) = self.copied("metadata") else {
            return Metadata::new();
        };
        if raw.get().starts_with('{') {
            // The parser checked the text already: an object reads back (later keys win,
            // as in a JSON object).
            if let Ok(Pairs(pairs)) = serde_json::from_str::<Pairs<'_>>(raw.get()) {
                return pairs
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), Json::from_raw(compact(v.get()))))
                    .collect();
            }
        }
        Metadata::from([("metadata".to_owned(), Json::from_raw(compact(raw.get())))])
    }
}

/// An event: its envelope's fields, and its body as the request spelled it.
#[derive(Default)]
pub(crate) struct EventDoc<'a> {
    /// Every field but `body`.
    pub(crate) fields: Map<String, Value>,
    /// `body`, the last one given.
    pub(crate) body: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for EventDoc<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = EventDoc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut doc = EventDoc::default();
                while let Some(Key(key)) = map.next_key()? {
                    if key == "body" {
                        doc.body = Some(map.next_value()?);
                    } else {
                        doc.fields.insert(key.into_owned(), map.next_value()?);
                    }
                }
                Ok(doc)
            }
        }
        deserializer.deserialize_map(EventVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BodyDoc<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = BodyDoc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut doc = BodyDoc::default();
                while let Some(Key(key)) = map.next_key()? {
                    match COPIED.iter().position(|k| *k == key) {
                        Some(i) => doc.copied[i] = Some(map.next_value()?),
                        None => {
                            doc.fields.insert(key.into_owned(), map.next_value()?);
                        }
                    }
                }
                Ok(doc)
            }
        }
        deserializer.deserialize_map(BodyVisitor)
    }
}

/// A key, borrowed from the request unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// An object's `key: value` pairs in the order given, the values as text.
pub(crate) struct Pairs<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    pairs.push((key, map.next_value()?));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// `text` without the whitespace outside strings, as `serde_json` writes a value: stored
/// text then reads the same whichever way it came in.
pub(crate) fn compact(text: &str) -> Box<str> {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return text.into();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    // Only ASCII whitespace between tokens was taken out: the rest is the UTF-8 it was.
    String::from_utf8(out)
        .map(String::into_boxed_str)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_takes_out_whitespace_between_tokens_only() {
        assert_eq!(
            &*compact("{ \"a b\" : [1, 2],\n \"c\": \"x \\\" y\" }"),
            r#"{"a b":[1,2],"c":"x \" y"}"#
        );
        assert_eq!(&*compact(r#"{"a":1}"#), r#"{"a":1}"#);
    }

    #[test]
    fn copied_fields_stay_text_and_null_is_absent() {
        let doc: BodyDoc<'_> = serde_json::from_str(
            r#"{"id": "o", "input": {"q": "hi there"}, "output": null,
                "metadata": {"a": 1, "b": [true], "a": 2}}"#,
        )
        .unwrap();
        assert_eq!(doc.fields.get("id"), Some(&Value::from("o")));
        assert!(!doc.fields.contains_key("input"));
        assert_eq!(doc.json("input").unwrap().as_str(), r#"{"q":"hi there"}"#);
        assert_eq!(doc.json("output"), None);
        let metadata = doc.metadata();
        assert_eq!(metadata["a"].as_str(), "2");
        assert_eq!(metadata["b"].as_str(), "[true]");
        let plain: BodyDoc<'_> = serde_json::from_str(r#"{"metadata": "note"}"#).unwrap();
        assert_eq!(plain.metadata()["metadata"].as_str(), r#""note""#);
    }
}
