//! The text of W3C Trace Context headers: `traceparent` and `tracestate`.

use http::HeaderValue;

use crate::model::{SpanId, TraceId};

/// The caller's side of a `traceparent`: its trace, its span, and whether it sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteParent {
    /// The trace the call belongs to.
    pub trace_id: TraceId,
    /// The caller's observation (span): the parent of the callee's first observation.
    pub span_id: SpanId,
    /// The caller's `sampled` flag.
    pub sampled: bool,
}

/// Parses a `traceparent` header as the W3C Trace Context spec says: version `00` is exactly
/// `00-<32 hex>-<16 hex>-<2 hex>`; a later version may append fields after a dash; version
/// `ff`, uppercase hex and all-zero ids are invalid.
///
/// ```
/// use observe_runtime::propagation::parse_traceparent;
/// let p = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
/// assert_eq!(p.span_id.to_string(), "b7ad6b7169203331");
/// assert!(p.sampled);
/// assert!(parse_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none());
/// ```
pub fn parse_traceparent(text: &str) -> Option<RemoteParent> {
    let text = text.trim();
    let bytes = text.as_bytes();
    // ASCII first, so that slicing below stays on character boundaries.
    if bytes.len() < 55 || !bytes[..55].is_ascii() {
        return None;
    }
    let version = lower_hex(&text[0..2])? as u8;
    if version == 0xff || (version == 0 && bytes.len() != 55) {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    if bytes.len() > 55 && bytes[55] != b'-' {
        return None;
    }
    let trace_id = lower_hex(&text[3..35])?;
    let span_id = lower_hex(&text[36..52])? as u64;
    let flags = lower_hex(&text[53..55])? as u8;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(RemoteParent {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        sampled: flags & 1 == 1,
    })
}

/// Lowercase hex only (the spec forbids uppercase), at most 32 digits.
fn lower_hex(text: &str) -> Option<u128> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

pub(crate) fn format_traceparent(trace: TraceId, span: SpanId, sampled: bool) -> String {
    format!("00-{trace}-{span}-{:02x}", u8::from(sampled))
}

/// Longest `tracestate` passed on: the spec lets a service drop it past 512 characters.
const MAX_TRACESTATE: usize = 512;

/// The `tracestate` to pass on: every header's members joined, or `None` when absent,
/// not visible ASCII, or too long.
pub(crate) fn tracestate<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<String> {
    let mut joined = String::new();
    for value in values {
        let text = value.to_str().ok()?.trim();
        if text.is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(text);
    }
    (!joined.is_empty() && joined.len() <= MAX_TRACESTATE).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn the_spec_example_parses_and_formats_back() {
        let p = parse_traceparent(GOOD).unwrap();
        assert_eq!(p.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(format_traceparent(p.trace_id, p.span_id, p.sampled), GOOD);
        let unsampled = parse_traceparent(&GOOD.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0é",
            "01-0af7651916cd43dd8448eb211c80319é-b7ad6b7169203331-01-x",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let later = format!("01{}-what-comes-next", &GOOD[2..]);
        assert!(parse_traceparent(&later).is_some());
        let glued = format!("01{}x", &GOOD[2..]);
        assert_eq!(parse_traceparent(&glued), None);
    }

    #[test]
    fn tracestate_headers_join_and_oversized_ones_are_dropped() {
        let a = HeaderValue::from_static("rojo=00f067aa0ba902b7");
        let b = HeaderValue::from_static(" congo=t61rcWkgMzE ");
        assert_eq!(
            tracestate([&a, &b].into_iter()).as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        let huge = HeaderValue::from_str(&"k=v,".repeat(200)).unwrap();
        assert_eq!(tracestate([&huge].into_iter()), None);
        assert_eq!(tracestate(std::iter::empty()), None);
    }
}
