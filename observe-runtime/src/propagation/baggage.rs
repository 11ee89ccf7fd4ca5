//! Trace attributes in W3C `baggage`, under the keys Langfuse's SDKs use
//! (`langfuse_session_id`, `langfuse_user_id`, `langfuse_version`, `langfuse_trace_name`,
//! `langfuse_tags`, `langfuse_metadata_<key>`), so that a Python or JS service on the other
//! side reads them too.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::model::{Json, TraceAttributes};
use crate::update::TraceUpdate;

/// What a baggage value may not hold as-is (W3C `baggage-octet` excludes these; non-ASCII is
/// always encoded).
const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// The spec's limit on a whole baggage header; members past it are left out.
const MAX_BAGGAGE_BYTES: usize = 8192;

const PREFIX: &str = "langfuse_";
const METADATA: &str = "langfuse_metadata_";

/// The attributes as baggage members: `key=value,key=value`; empty when there are none.
pub(crate) fn encode(attrs: &TraceAttributes, metadata_keys: &[String]) -> String {
    let mut out = String::new();
    let mut put = |key: &str, value: &str| {
        let member = format!("{key}={}", utf8_percent_encode(value, VALUE));
        if out.len() + member.len() + 1 > MAX_BAGGAGE_BYTES {
            tracing::debug!(key, "observe: baggage member left out: the header is full");
            return;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&member);
    };
    let scalars = [
        ("langfuse_session_id", &attrs.session_id),
        ("langfuse_user_id", &attrs.user_id),
        ("langfuse_version", &attrs.version),
        ("langfuse_trace_name", &attrs.name),
    ];
    for (key, value) in scalars {
        if let Some(value) = value {
            put(key, value);
        }
    }
    if !attrs.tags.is_empty() {
        put("langfuse_tags", &attrs.tags.join(","));
    }
    for key in metadata_keys {
        if !is_token(key) {
            tracing::warn!(
                key = key.as_str(),
                "observe: metadata key not sent in baggage: a baggage key is letters, digits and \
                 !#$%&'*+-.^_`|~ only"
            );
            continue;
        }
        if let Some(value) = attrs.metadata.get(key) {
            put(&format!("{METADATA}{key}"), &text_of(value));
        }
    }
    out
}

/// A string as itself, anything else as its JSON.
fn text_of(value: &Json) -> String {
    match value.as_plain_str() {
        Some(text) => text.into_owned(),
        None => value.as_str().to_owned(),
    }
}

/// The `langfuse_*` members of every `baggage` header as one trace update (limits are
/// checked when it is applied); other members are left alone. `None` when there are none.
pub(crate) fn decode<'a>(headers: impl Iterator<Item = &'a str>) -> Option<TraceUpdate> {
    let mut update = TraceUpdate::new();
    let mut any = false;
    for member in headers.flat_map(|h| h.split(',')) {
        // Properties after `;` carry nothing Langfuse reads.
        let entry = member.split(';').next().unwrap_or_default();
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.starts_with(PREFIX) {
            continue;
        }
        let value = percent_decode_str(value.trim())
            .decode_utf8_lossy()
            .into_owned();
        any = true;
        update = match key {
            "langfuse_session_id" => update.session_id(value),
            "langfuse_user_id" => update.user_id(value),
            "langfuse_version" => update.version(value),
            "langfuse_trace_name" => update.name(value),
            "langfuse_tags" => update.tags(value.split(',').filter(|t| !t.is_empty())),
            _ => match key.strip_prefix(METADATA) {
                Some(name) if !name.is_empty() => {
                    let mut entry = serde_json::Map::new();
                    entry.insert(name.to_owned(), serde_json::Value::String(value));
                    update.metadata(entry)
                }
                _ => update,
            },
        };
    }
    any.then_some(update)
}

/// RFC 7230 `token`, which a baggage key must be.
fn is_token(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs() -> TraceAttributes {
        let mut attrs = TraceAttributes::default();
        TraceUpdate::new()
            .session_id("chat 7, café")
            .user_id("u;1")
            .tags(["a", "b"])
            .metadata(json!({"tenant": "acme", "n": 3, "secret": "s"}))
            .apply_to(&mut attrs);
        attrs
    }

    #[test]
    fn attributes_round_trip_through_the_header_text() {
        let text = encode(&attrs(), &["tenant".into(), "n".into()]);
        assert!(!text.contains(' ') && !text.contains('é'), "{text}");
        assert!(
            !text.contains("secret"),
            "only chosen metadata travels: {text}"
        );
        let mut back = TraceAttributes::default();
        decode([text.as_str()].into_iter())
            .unwrap()
            .apply_to(&mut back);
        assert_eq!(back.session_id.as_deref(), Some("chat 7, café"));
        assert_eq!(back.user_id.as_deref(), Some("u;1"));
        assert_eq!(back.tags, ["a", "b"]);
        assert_eq!(back.metadata["tenant"].as_str(), "\"acme\"");
        assert_eq!(back.metadata["n"].as_str(), "\"3\"");
    }

    #[test]
    fn other_members_and_properties_are_ignored_and_over_limit_values_dropped() {
        let long = "x".repeat(201);
        let header =
            format!("userId=alice, langfuse_user_id = bob ;prop=1,langfuse_session_id={long},junk");
        let mut back = TraceAttributes::default();
        decode([header.as_str()].into_iter())
            .unwrap()
            .apply_to(&mut back);
        assert_eq!(back.user_id.as_deref(), Some("bob"));
        assert_eq!(back.session_id, None);
        assert!(decode(["userId=alice"].into_iter()).is_none());
    }

    #[test]
    fn keys_that_are_not_tokens_stay_home() {
        let mut attrs = TraceAttributes::default();
        TraceUpdate::new()
            .metadata(json!({"bad key": "v"}))
            .apply_to(&mut attrs);
        assert_eq!(encode(&attrs, &["bad key".into()]), "");
    }
}
