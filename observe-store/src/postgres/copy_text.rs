//! Rows in the text format of PostgreSQL's `COPY ... FROM STDIN`: fields separated by tabs,
//! `\N` for NULL, backslash escapes for the separators; and the values PostgreSQL refuses
//! made acceptable on the way.
//!
//! PostgreSQL stores no NUL character: not in `text` (the character itself) and not in
//! `jsonb` (the JSON escape `\u0000`). The SQLite store keeps both, so a record holding one
//! is legal here too; rather than lose the row, each NUL becomes U+FFFD `�` (the marker of
//! replaced characters) and the process warns once.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the one warning about replaced NUL characters was given.
static WARNED_NUL: AtomicBool = AtomicBool::new(false);

fn warn_nul_once() {
    if !WARNED_NUL.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "observe store (PostgreSQL): a value held a NUL character, which PostgreSQL cannot \
             store; it was replaced by U+FFFD (further replacements are not logged)"
        );
    }
}

/// One `COPY` stream being built, row by row.
#[derive(Default)]
pub(super) struct CopyRows {
    buf: Vec<u8>,
    /// No field written yet on the current row.
    row_start: bool,
}

impl CopyRows {
    /// Forgets every row.
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.row_start = true;
    }

    /// The rows so far.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Ends the current row.
    pub(super) fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.row_start = true;
    }

    fn separate(&mut self) {
        if !self.row_start {
            self.buf.push(b'\t');
        }
        self.row_start = false;
    }

    /// A NULL field.
    pub(super) fn null(&mut self) {
        self.separate();
        self.buf.extend_from_slice(b"\\N");
    }

    /// A `text` field (NUL characters replaced).
    pub(super) fn text(&mut self, value: &str) {
        self.separate();
        self.escaped(value);
    }

    /// A `text` field, or NULL.
    pub(super) fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A `jsonb` field from JSON text (the escape `\u0000` replaced).
    pub(super) fn json(&mut self, value: &str) {
        self.separate();
        if has_nul_escape(value) {
            warn_nul_once();
            self.escaped(&replace_nul_escapes(value));
        } else {
            self.escaped(value);
        }
    }

    /// A `jsonb` field, or NULL.
    pub(super) fn opt_json(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.json(v),
            None => self.null(),
        }
    }

    /// A `text[]` field.
    pub(super) fn text_array(&mut self, items: &[String]) {
        self.separate();
        // The array literal `{"a","b"}`, itself escaped as a COPY field.
        let mut literal = String::from("{");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            literal.push('"');
            for c in item.chars() {
                if c == '"' || c == '\\' {
                    literal.push('\\');
                }
                literal.push(c);
            }
            literal.push('"');
        }
        literal.push('}');
        self.escaped(&literal);
    }

    /// An integer field.
    pub(super) fn int(&mut self, value: i64) {
        self.separate();
        let _ = write!(Bytes(&mut self.buf), "{value}");
    }

    /// An integer field, or NULL.
    pub(super) fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// A `double precision` field.
    pub(super) fn float(&mut self, value: f64) {
        self.separate();
        if value.is_nan() {
            self.buf.extend_from_slice(b"NaN");
        } else if value.is_infinite() {
            let text: &[u8] = if value > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            };
            self.buf.extend_from_slice(text);
        } else {
            // Rust prints the shortest text that reads back as the same f64.
            let _ = write!(Bytes(&mut self.buf), "{value:?}");
        }
    }

    /// A `boolean` field.
    pub(super) fn bool(&mut self, value: bool) {
        self.separate();
        self.buf.push(if value { b't' } else { b'f' });
    }

    /// A `boolean` field, or NULL.
    pub(super) fn opt_bool(&mut self, value: Option<bool>) {
        match value {
            Some(v) => self.bool(v),
            None => self.null(),
        }
    }

    /// ASCII that needs no escaping (hex ids, RFC 3339 times).
    pub(super) fn ascii(&mut self, value: &str) {
        self.separate();
        self.buf.extend_from_slice(value.as_bytes());
    }

    fn escaped(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let mut from = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                0 => {
                    warn_nul_once();
                    "\u{fffd}".as_bytes()
                }
                _ => continue,
            };
            self.buf
                .extend_from_slice(bytes.get(from..i).unwrap_or_default());
            self.buf.extend_from_slice(escape);
            from = i + 1;
        }
        self.buf
            .extend_from_slice(bytes.get(from..).unwrap_or_default());
    }
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Whether JSON text holds the escape `\u0000` (not an escaped backslash before `u0000`).
fn has_nul_escape(json: &str) -> bool {
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
fn replace_nul_escapes(json: &str) -> String {
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

    fn row(f: impl FnOnce(&mut CopyRows)) -> String {
        let mut rows = CopyRows::default();
        rows.clear();
        f(&mut rows);
        rows.end_row();
        String::from_utf8(rows.bytes().to_vec()).unwrap()
    }

    #[test]
    fn escapes_separators_and_marks_null() {
        assert_eq!(
            row(|r| {
                r.text("a\tb\nc\\d\re");
                r.null();
                r.int(-3);
                r.bool(true);
            }),
            "a\\tb\\nc\\\\d\\re\t\\N\t-3\tt\n"
        );
    }

    #[test]
    fn replaces_nul_in_text_and_json() {
        assert_eq!(row(|r| r.text("a\0b")), "a\u{fffd}b\n");
        assert_eq!(
            row(|r| r.json(r#"{"k":"x\u0000y"}"#)),
            "{\"k\":\"x\\\\ufffdy\"}\n"
        );
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert_eq!(row(|r| r.json(r#"["\\u0000"]"#)), "[\"\\\\\\\\u0000\"]\n");
        assert_eq!(text_param("a\0b"), "a\u{fffd}b");
        assert_eq!(json_param(r#"{"k":"x\u0000y"}"#), r#"{"k":"x\ufffdy"}"#);
    }

    #[test]
    fn writes_arrays_and_floats_postgres_reads() {
        assert_eq!(
            row(|r| r.text_array(&["a\"b".into(), "c\\d".into()])),
            "{\"a\\\\\"b\",\"c\\\\\\\\d\"}\n"
        );
        assert_eq!(
            row(|r| {
                r.float(0.1);
                r.float(f64::NAN);
                r.float(f64::NEG_INFINITY);
            }),
            "0.1\tNaN\t-Infinity\n"
        );
    }
}
