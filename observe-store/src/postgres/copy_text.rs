//! The values PostgreSQL refuses made acceptable on the way in, for statement parameters
//! here and for the writer's binary `COPY` rows ([`super::copy_binary`]).
//!
//! PostgreSQL stores no NUL character: not in `text` (the character itself) and not in
//! `jsonb` (the JSON escape `\u0000`). The SQLite store keeps both, so a record holding one
//! is legal here too; rather than lose the row, each NUL becomes U+FFFD `�` (the marker of
//! replaced characters) and the process warns once.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the one warning about replaced NUL characters was given.
static WARNED_NUL: AtomicBool = AtomicBool::new(false);

pub(super) fn warn_nul_once() {
    if !WARNED_NUL.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "observe store (PostgreSQL): a value held a NUL character, which PostgreSQL cannot \
             store; it was replaced by U+FFFD (further replacements are not logged)"
        );
    }
}

/// Whether JSON text holds the escape `\u0000` (not an escaped backslash before `u0000`).
pub(super) fn has_nul_escape(json: &str) -> bool {
    json.contains("u0000") && nul_escapes(json).next().is_some()
}

/// Where each `\u0000` escape of `json` starts.
fn nul_escapes(json: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = json.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(&b) = bytes.get(i) {
            if b == b'\\' {
                let at = i;
                let next = bytes.get(i + 1).copied();
                i += 2;
                if next == Some(b'u') && bytes.get(at + 2..at + 6) == Some(b"0000") {
                    i = at + 6;
                    return Some(at);
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

/// `json` with each `\u0000` escape replaced by `\ufffd`.
pub(super) fn replace_nul_escapes(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut from = 0;
    for at in nul_escapes(json) {
        out.push_str(json.get(from..at).unwrap_or_default());
        out.push_str("\\ufffd");
        from = at + 6;
    }
    out.push_str(json.get(from..).unwrap_or_default());
    out
}

/// `value` as a `text` statement parameter takes it: each NUL character replaced, as in a
/// `COPY` field.
pub(super) fn text_param(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains('\0') {
        warn_nul_once();
        std::borrow::Cow::Owned(value.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// JSON text as a `jsonb` statement parameter takes it: each `\u0000` escape replaced, as
/// in a `COPY` field.
pub(super) fn json_param(value: &str) -> std::borrow::Cow<'_, str> {
    if has_nul_escape(value) {
        warn_nul_once();
        std::borrow::Cow::Owned(replace_nul_escapes(value))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_nul_in_text_and_json() {
        assert_eq!(text_param("a\0b"), "a\u{fffd}b");
        assert_eq!(json_param(r#"{"k":"x\u0000y"}"#), r#"{"k":"x\ufffdy"}"#);
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert_eq!(json_param(r#"["\\u0000"]"#), r#"["\\u0000"]"#);
    }
}
