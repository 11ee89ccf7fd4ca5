//! Reading one JSON object's fields as the ingestion API's schemas type them. A field that
//! is absent or `null` reads as `None` (the schemas' "nullish"); a field of the wrong type
//! adds an [`Issue`] naming it and reads as `None`, so every bad field of an event is
//! reported at once.

use observe_model::model::{Json, Level, Metadata, Timestamp};
use serde_json::{Map, Value};

use super::document::BodyDoc;
use super::issues::{invalid_type, Issue};
use super::time::parse_iso;

/// Longest id the API takes (Langfuse builds storage keys from ids).
pub(crate) const MAX_ID_CHARS: usize = 800;

/// The environment an event without a valid one belongs to.
const DEFAULT_ENVIRONMENT: &str = "default";

/// One object's fields, with the path that leads to it and the issues found so far.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// The body whose copied fields (input, output, metadata) `map` leaves out.
    doc: Option<&'a BodyDoc<'a>>,
    prefix: &'static [&'static str],
    pub(crate) issues: Vec<Issue>,
}

impl<'a> Fields<'a> {
    /// The fields of `map`, found at `prefix` (`&["body"]` for an event's body).
    pub(crate) fn new(map: &'a Map<String, Value>, prefix: &'static [&'static str]) -> Self {
        Fields {
            map,
            doc: None,
            prefix,
            issues: Vec::new(),
        }
    }

    /// The fields of an event's body.
    pub(crate) fn body(doc: &'a BodyDoc<'a>) -> Self {
        Fields {
            doc: Some(doc),
            ..Fields::new(&doc.fields, &["body"])
        }
    }

    /// The path of `key` under this object.
    pub(crate) fn path(&self, key: &str) -> Vec<Value> {
        let mut path: Vec<Value> = self.prefix.iter().map(|p| Value::from(*p)).collect();
        path.push(Value::from(key));
        path
    }

    /// The path of this object itself.
    pub(crate) fn own_path(&self) -> Vec<Value> {
        self.prefix.iter().map(|p| Value::from(*p)).collect()
    }

    pub(crate) fn issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// The value, `None` when absent or `null`.
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A nullish string.
    pub(crate) fn string(&mut self, key: &str) -> Option<&'a str> {
        match self.value(key)? {
            Value::String(s) => Some(s),
            other => {
                let issue = invalid_type(self.path(key), "string", Some(other));
                self.issue(issue);
                None
            }
        }
    }

    /// A nullish string of at most `max` characters.
    pub(crate) fn string_at_most(&mut self, key: &str, max: usize) -> Option<&'a str> {
        let s = self.string(key)?;
        if s.chars().count() > max {
            let issue = Issue::new(
                "too_big",
                self.path(key),
                format!("Too big: expected string to have <={max} characters"),
            );
            self.issue(issue);
            return None;
        }
        Some(s)
    }

    /// A required id: a string of 1 to 800 characters without a carriage return.
    pub(crate) fn required_id(&mut self, key: &str) -> Option<&'a str> {
        if self.value(key).is_none() {
            let issue = invalid_type(self.path(key), "string", self.map.get(key));
            self.issue(issue);
            return None;
        }
        self.id(key)
    }

    /// A nullish id (see [`Fields::required_id`]).
    pub(crate) fn id(&mut self, key: &str) -> Option<&'a str> {
        let id = self.string(key)?;
        let problem = if id.is_empty() {
            Some((
                "too_small",
                "Too small: expected string to have >=1 characters".to_owned(),
            ))
        } else if id.chars().count() > MAX_ID_CHARS {
            Some((
                "too_big",
                format!("Too big: expected string to have <={MAX_ID_CHARS} characters"),
            ))
        } else if id.contains('\r') {
            Some((
                "custom",
                "ID cannot contain carriage return characters".to_owned(),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => {
                let issue = Issue::new(code, self.path(key), message);
                self.issue(issue);
                None
            }
            None => Some(id),
        }
    }

    /// A nullish string that names something only when not empty (Langfuse tests such
    /// fields for truth: an empty parent id is no parent).
    pub(crate) fn non_empty_string(&mut self, key: &str) -> Option<&'a str> {
        self.string(key).filter(|s| !s.is_empty())
    }

    /// A nullish ISO 8601 date-time with a zone.
    pub(crate) fn time(&mut self, key: &str) -> Option<Timestamp> {
        let text = self.string(key)?;
        let parsed = parse_iso(text);
        if parsed.is_none() {
            let issue = Issue::new("invalid_format", self.path(key), "Invalid ISO datetime");
            self.issue(issue);
        }
        parsed
    }

    /// A nullish level: `DEBUG`, `DEFAULT`, `WARNING` or `ERROR`, spelled exactly so.
    pub(crate) fn level(&mut self, key: &str) -> Option<Level> {
        let text = self.value(key)?;
        let found = Level::ALL
            .iter()
            .copied()
            .find(|l| text.as_str() == Some(l.as_str()));
        if found.is_none() {
            self.one_of(key, &["DEBUG", "DEFAULT", "WARNING", "ERROR"]);
        }
        found
    }

    /// A nullish text that must be one of `options` (exact spelling); `None` with an issue
    /// otherwise.
    pub(crate) fn option(&mut self, key: &str, options: &[&'static str]) -> Option<&'static str> {
        let text = self.value(key)?;
        let found = options.iter().copied().find(|o| text.as_str() == Some(o));
        if found.is_none() {
            self.one_of(key, options);
        }
        found
    }

    fn one_of(&mut self, key: &str, options: &[&str]) {
        let list: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
        let issue = Issue::new(
            "invalid_value",
            self.path(key),
            format!("Invalid option: expected one of {}", list.join("|")),
        );
        self.issue(issue);
    }

    /// A nullish boolean.
    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                let issue = invalid_type(self.path(key), "boolean", Some(other));
                self.issue(issue);
                None
            }
        }
    }

    /// A nullish number.
    pub(crate) fn number(&mut self, key: &str) -> Option<f64> {
        match self.value(key)? {
            Value::Number(n) => n.as_f64(),
            other => {
                let issue = invalid_type(self.path(key), "number", Some(other));
                self.issue(issue);
                None
            }
        }
    }

    /// A nullish integer (a JSON number without a fraction: `3` and `3.0` alike).
    pub(crate) fn int(&mut self, key: &str) -> Option<i64> {
        let value = self.value(key)?;
        let int = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        });
        if int.is_none() {
            let issue = invalid_type(self.path(key), "int", Some(value));
            self.issue(issue);
        }
        int
    }

    /// A nullish JSON object.
    pub(crate) fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.value(key)? {
            Value::Object(map) => Some(map),
            other => {
                let issue = invalid_type(self.path(key), "record", Some(other));
                self.issue(issue);
                None
            }
        }
    }

    /// A nullish list of strings.
    pub(crate) fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let Value::Array(items) = self.value(key)? else {
            let issue = invalid_type(self.path(key), "array", self.value(key));
            self.issue(issue);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => {
                    let mut path = self.path(key);
                    path.push(Value::from(i));
                    self.issue(invalid_type(path, "string", Some(other)));
                }
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// Any JSON value but `null`, kept as given (input, output).
    pub(crate) fn json(&self, key: &str) -> Option<Json> {
        if let Some(doc) = self.doc {
            return doc.json(key);
        }
        self.value(key).map(Json::from_value)
    }

    /// Metadata as top-level keys. Langfuse keeps an object's keys; any other value is
    /// kept under the key `metadata`.
    pub(crate) fn metadata(&self, key: &str) -> Metadata {
        if let Some(doc) = self.doc {
            return doc.metadata();
        }
        match self.value(key) {
            None => Metadata::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (k.clone(), Json::from_value(v)))
                .collect(),
            Some(other) => Metadata::from([("metadata".to_owned(), Json::from_value(other))]),
        }
    }

    /// The environment as Langfuse normalizes it: lowercased, a leading `langfuse` (with
    /// `-` or `_`) taken off as often as it appears, cut to 40 characters; anything that is
    /// then not made of `a-z 0-9 - _` is `default`, as is a value that is not text. `None`
    /// when the field is absent.
    pub(crate) fn environment(&self, key: &str) -> Option<String> {
        let value = self.value(key)?;
        let Some(text) = value.as_str() else {
            return Some(DEFAULT_ENVIRONMENT.to_owned());
        };
        let mut rest = text.to_lowercase();
        while let Some(stripped) = rest.strip_prefix("langfuse") {
            rest = stripped
                .strip_prefix(['-', '_'])
                .unwrap_or(stripped)
                .to_owned();
        }
        let cut: String = rest.chars().take(40).collect();
        let valid = !cut.is_empty()
            && cut
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        Some(if valid {
            cut
        } else {
            DEFAULT_ENVIRONMENT.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: &Value) -> Fields<'_> {
        Fields::new(value.as_object().unwrap(), &["body"])
    }

    #[test]
    fn environments_are_normalized_as_langfuse_does() {
        let v = json!({"a": "Production", "b": "langfuse-prod", "c": "langfuselangfuse_x",
                       "d": "has space", "e": 7, "f": "langfuse", "g": "x".repeat(50)});
        let f = fields(&v);
        assert_eq!(f.environment("a").as_deref(), Some("production"));
        assert_eq!(f.environment("b").as_deref(), Some("prod"));
        assert_eq!(f.environment("c").as_deref(), Some("x"));
        assert_eq!(f.environment("d").as_deref(), Some("default"));
        assert_eq!(f.environment("e").as_deref(), Some("default"));
        assert_eq!(f.environment("f").as_deref(), Some("default"));
        assert_eq!(f.environment("g").map(|e| e.len()), Some(40));
        assert_eq!(f.environment("missing"), None);
    }

    #[test]
    fn bad_ids_name_the_field_and_the_rule() {
        let v = json!({"empty": "", "cr": "a\rb", "num": 5, "long": "x".repeat(801)});
        let mut f = fields(&v);
        assert_eq!(f.required_id("empty"), None);
        assert_eq!(f.required_id("cr"), None);
        assert_eq!(f.required_id("num"), None);
        assert_eq!(f.required_id("long"), None);
        assert_eq!(f.required_id("missing"), None);
        let codes: Vec<(&str, String)> = f.issues.iter().map(|i| (i.code, i.path_text())).collect();
        assert_eq!(
            codes,
            [
                ("too_small", "body.empty".to_owned()),
                ("custom", "body.cr".to_owned()),
                ("invalid_type", "body.num".to_owned()),
                ("too_big", "body.long".to_owned()),
                ("invalid_type", "body.missing".to_owned()),
            ]
        );
        assert!(f.issues[4].message.contains("received undefined"));
    }

    #[test]
    fn metadata_that_is_not_an_object_is_kept_under_one_key() {
        let v = json!({"m": "My metadata", "o": {"a": 1, "b": [true]}});
        let f = fields(&v);
        assert_eq!(f.metadata("m")["metadata"].as_str(), "\"My metadata\"");
        let o = f.metadata("o");
        assert_eq!(o["a"].as_str(), "1");
        assert_eq!(o["b"].as_str(), "[true]");
    }
}
