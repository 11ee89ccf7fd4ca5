//! Request bodies that are almost JSON: bytes that are not UTF-8, or a `\uD800`-style
//! escape with no partner (Python's `json.dumps` writes one for a string that holds a lone
//! surrogate). Langfuse's server reads both (JavaScript replaces the bytes and keeps the
//! lone code unit); a strict parser would refuse the whole batch, and the SDK would drop
//! every event in it. Each such sequence becomes U+FFFD instead, with one warning.

use std::borrow::Cow;

use serde_json::Value;

/// `body` as JSON; a body that fails only for the reasons above is read again with each
/// bad sequence replaced by U+FFFD. Any other failure is the first parse's error.
pub(crate) fn parse_lenient(body: &[u8]) -> Result<Value, serde_json::Error> {
    let first = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let Some(repaired) = repaired_text(body) else {
        return Err(first);
    };
    match serde_json::from_str(&repaired) {
        Ok(value) => {
            warn_repaired(&first);
            Ok(value)
        }
        Err(_) => Err(first),
    }
}

/// `body` with each byte that is not UTF-8 and each unpaired surrogate escape replaced by
/// U+FFFD; `None` when it has neither.
pub(crate) fn repaired_text(body: &[u8]) -> Option<String> {
    // Most bodies are UTF-8 with no escape that could be a surrogate's: checked by the
    // standard library's validation and a substring search, not the byte-by-byte scan.
    if let Ok(text) = std::str::from_utf8(body) {
        if !may_hold_surrogate_escape(text) {
            return None;
        }
    }
    let text = String::from_utf8_lossy(body);
    let bad_bytes = matches!(text, Cow::Owned(_));
    match (replace_lone_surrogates(&text), bad_bytes) {
        (Some(repaired), _) => Some(repaired),
        (None, true) => Some(text.into_owned()),
        (None, false) => None,
    }
}

/// Whether `text` has a `\u` followed by `d` or `D`, which every surrogate escape starts
/// with (an escaped backslash before `u` passes too: the scan tells them apart).
fn may_hold_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u")
        .any(|(i, _)| matches!(text.as_bytes().get(i + 2), Some(b'd' | b'D')))
}

/// The one warning for a body read only once repaired.
pub(crate) fn warn_repaired(why: &dyn std::fmt::Display) {
    tracing::warn!(
        "request body repaired: bytes that are not UTF-8 or unpaired surrogate \
         escapes replaced by U+FFFD ({why})"
    );
}

/// `text` with every `\uXXXX` escape of an unpaired surrogate, inside a JSON string,
/// replaced by `\ufffd`; `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => {
                let unit = (b.get(i + 1) == Some(&b'u'))
                    .then(|| hex4(b, i + 2))
                    .flatten();
                let lone = match unit {
                    Some(0xD800..=0xDBFF) => {
                        let low = (b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u'))
                            .then(|| hex4(b, i + 8))
                            .flatten();
                        if matches!(low, Some(0xDC00..=0xDFFF)) {
                            i += 12;
                            continue;
                        }
                        true
                    }
                    Some(0xDC00..=0xDFFF) => true,
                    _ => false,
                };
                if lone {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    o.push_str(&text[copied..i]);
                    o.push_str("\\ufffd");
                    copied = i + 6;
                    i += 6;
                } else {
                    // Any other escape is two characters long, or bad, for serde to say.
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// The four hex digits at `at` as a UTF-16 code unit.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lone_surrogates_and_bad_bytes_become_replacement_characters() {
        let v = parse_lenient(br#"{"a": "x\ud800y", "b": "\udc00", "c": "\ud83d\ude00"}"#).unwrap();
        assert_eq!(
            v,
            json!({"a": "x\u{fffd}y", "b": "\u{fffd}", "c": "\u{1f600}"})
        );
        let v = parse_lenient(b"{\"a\": \"caf\xe9\"}").unwrap();
        assert_eq!(v, json!({"a": "caf\u{fffd}"}));
        // An escaped backslash before `u` is text, not an escape.
        let v = parse_lenient(br#"{"a": "\\ud800", "b": "\ud800"}"#).unwrap();
        assert_eq!(v, json!({"a": "\\ud800", "b": "\u{fffd}"}));
    }

    #[test]
    fn only_bodies_with_a_bad_sequence_are_repaired() {
        assert_eq!(repaired_text(br#"{"a": "caf\u00e9 \ud83d\ude00"}"#), None);
        assert_eq!(repaired_text(br#"{"a": "plain"}"#), None);
        assert_eq!(
            repaired_text(br#"{"a": "\uD800"}"#).as_deref(),
            Some(r#"{"a": "\ufffd"}"#)
        );
        assert_eq!(
            repaired_text(b"{\"a\": \"\xff\"}").as_deref(),
            Some("{\"a\": \"\u{fffd}\"}")
        );
    }

    #[test]
    fn other_failures_keep_the_first_error() {
        let e = parse_lenient(b"{\"a\": \xff").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(parse_lenient(br#"{"a": "\ud800"#).is_err());
        assert_eq!(replace_lone_surrogates(r#"{"a": "\u0041"}"#), None);
    }
}
