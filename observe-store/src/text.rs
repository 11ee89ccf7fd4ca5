//! Values formatted for binding, as the other exporters and the runtime write them:
//! lowercase hex ids, UTC RFC 3339 timestamps with microseconds, JSON objects and arrays,
//! each into a buffer the caller keeps, so that a row costs no allocation.

use observe_model::model::{Metadata, Timestamp};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Row;

/// ASCII formatted into a buffer, as text.
pub(super) fn text(ascii: &[u8]) -> &str {
    std::str::from_utf8(ascii).unwrap_or_default()
}

/// A value read from the file, with text that is not UTF-8 (a foreign writer, a damaged
/// page) decoded lossily: each invalid sequence becomes U+FFFD `�`, the marker that shows
/// where bytes were replaced, instead of the whole read failing.
pub(crate) fn lossy_value(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Integer(n),
        ValueRef::Real(x) => SqlValue::Real(x),
        ValueRef::Text(bytes) => SqlValue::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => SqlValue::Blob(bytes.to_vec()),
    }
}

/// Column `i` of `row` as text, decoded as [`lossy_value`] does; `None` for NULL, numbers
/// as their decimal text, blobs as lossy text.
pub(crate) fn lossy_text(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
    })
}

/// Nanoseconds as SQLite's signed integer (saturating; 2262 is far off).
pub(super) fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
}

/// Lowercase hex of the low `N / 2` bytes of `value`, into `buf`.
pub(super) fn hex<const N: usize>(value: u128, buf: &mut [u8; N]) -> &str {
    hex_into(value, buf);
    text(buf)
}

/// Lowercase hex of the low `out.len() / 2` bytes of `value`, into `out`.
pub(super) fn hex_into(value: u128, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.to_be_bytes();
    let low = bytes
        .get(bytes.len().saturating_sub(out.len() / 2)..)
        .unwrap_or_default();
    for (pair, byte) in out.chunks_exact_mut(2).zip(low) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

pub(super) use observe_model::model::RFC3339_LEN;

/// Formats timestamps as [`Timestamp::write_rfc3339`] does, keeping the date and time of day of the last
/// second it formatted: a batch's timestamps share most of theirs.
#[derive(Default)]
pub(super) struct TimeText {
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    head: [u8; 19],
}

impl TimeText {
    /// The text into `out`, which has [`RFC3339_LEN`] bytes.
    pub(super) fn format_into(&mut self, t: Timestamp, out: &mut [u8]) {
        let nanos = t.as_nanos();
        let second = nanos / 1_000_000_000;
        if self.second != Some(second) {
            let mut full = [0u8; RFC3339_LEN];
            t.write_rfc3339(&mut full);
            self.head.copy_from_slice(&full[..19]);
            self.second = Some(second);
        }
        if let Some(head) = out.get_mut(..19) {
            head.copy_from_slice(&self.head);
        }
        if let Some(tail) = out.get_mut(19..RFC3339_LEN) {
            tail[0] = b'.';
            digits(&mut tail[1..7], (nanos % 1_000_000_000) / 1_000);
            tail[7] = b'Z';
        }
    }
}

/// The low decimal digits of `value`, zero-padded, filling `out`.
fn digits(out: &mut [u8], mut value: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `value` as JSON into `buf` (cleared first); `None` if it cannot be encoded.
pub(super) fn encode<'b, T: serde::Serialize + ?Sized>(
    buf: &'b mut Vec<u8>,
    value: &T,
) -> Option<&'b str> {
    buf.clear();
    serde_json::to_writer(&mut *buf, value).ok()?;
    std::str::from_utf8(buf).ok()
}

/// The metadata as a JSON object, from the encoded values as they are, into `out`.
pub(super) fn write_metadata<'s>(out: &'s mut String, metadata: &Metadata) -> &'s str {
    out.clear();
    out.push('{');
    for (i, (key, value)) in metadata.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, key);
        out.push(':');
        out.push_str(value.as_str());
    }
    out.push('}');
    out
}

/// `text` as a JSON string, escaped as `serde_json` escapes it.
fn write_json_string(out: &mut String, text: &str) {
    // serde_json escapes `"`, `\` and control characters; anything else passes as-is.
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        match serde_json::to_string(text) {
            Ok(escaped) => out.push_str(&escaped),
            Err(_) => out.push_str("\"\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::{Json, SpanId, TraceId};

    #[test]
    fn text_that_is_not_utf8_reads_with_the_marker() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let (value, text) = conn
            .query_row(
                "SELECT CAST(X'61ff62' AS TEXT), CAST(X'c3' AS TEXT)",
                [],
                |r| Ok((lossy_value(r.get_ref(0)?), lossy_text(r, 1)?)),
            )
            .unwrap();
        assert_eq!(value, SqlValue::Text("a\u{fffd}b".into()));
        assert_eq!(text.as_deref(), Some("\u{fffd}"));
        let n = conn.query_row("SELECT 7, NULL", [], |r| {
            Ok((lossy_text(r, 0)?, lossy_text(r, 1)?))
        });
        assert_eq!(n.unwrap(), (Some("7".into()), None));
    }

    #[test]
    fn hex_matches_display() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 16];
        let t = TraceId(0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(hex(t.0, &mut a), t.to_string());
        let s = SpanId(0xb7ad6b7169203331);
        assert_eq!(hex(u128::from(s.0), &mut b), s.to_string());
        assert_eq!(hex(1, &mut b), "0000000000000001");
    }

    #[test]
    fn timestamps_match_the_runtime_text() {
        let mut clock = TimeText::default();
        let mut step = 1_u64;
        let mut t = 0_u64;
        // From 1970 to the end of u64 nanoseconds, days, leap days and seconds apart, and
        // again and again within one second (the cached path).
        while let Some(next) = t.checked_add(step) {
            for delta in [0, 1_000, 999_999_999] {
                let Some(at) = t.checked_add(delta).map(Timestamp) else {
                    continue;
                };
                let mut out = [0u8; RFC3339_LEN];
                clock.format_into(at, &mut out);
                assert_eq!(std::str::from_utf8(&out).unwrap(), at.to_rfc3339());
            }
            t = next;
            step = step.saturating_mul(3) | 1;
        }
        for (at, text) in [
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000000Z"),
            (4_107_542_400_123_456_789, "2100-03-01T00:00:00.123456Z"),
            (u64::MAX, "2554-07-21T23:34:33.709551Z"),
        ] {
            let mut out = [0u8; RFC3339_LEN];
            TimeText::default().format_into(Timestamp(at), &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
        }
    }

    #[test]
    fn metadata_and_values_encode_as_serde_json_does() {
        let mut metadata = Metadata::new();
        for key in [
            "plain",
            "quote\"d",
            "back\\slash",
            "new\nline",
            "tab\t",
            "é ✓",
            "\u{1}",
        ] {
            metadata.insert(key.to_owned(), Json::from_value(&key.len()));
        }
        let expected = serde_json::to_string(
            &metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect::<serde_json::Map<_, _>>(),
        )
        .unwrap();
        let mut out = String::from("stale");
        assert_eq!(write_metadata(&mut out, &metadata), expected);
        assert_eq!(write_metadata(&mut out, &Metadata::new()), "{}");
        let mut buf = b"stale".to_vec();
        assert_eq!(encode(&mut buf, &["a", "b\""]), Some(r#"["a","b\""]"#));
        assert_eq!(nanos(Timestamp(u64::MAX)), i64::MAX);
    }
}
