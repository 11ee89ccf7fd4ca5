//! JSON writers shared by the encoders (OTLP attributes, the ingestion API's bodies): usage
//! and cost objects written straight into a reused buffer, without building a `Value`.

use std::io::Write as _;

/// `{"input":1,"output":2,"total":3}`.
pub(crate) fn write_usage_json<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a str, u64)>,
) {
    out.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = write!(out, "{v}");
    }
    out.push(b'}');
}

/// `{"input":0.1,"total":0.3}`, leaving out non-finite numbers (JSON has none).
pub(crate) fn write_cost_json<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a str, f64)>,
) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in entries.filter(|(_, v)| v.is_finite()) {
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, &v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_json_skips_non_finite() {
        let mut out = Vec::new();
        write_cost_json(
            &mut out,
            [("input", 0.5), ("nan", f64::NAN), ("total", 1.0)].into_iter(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"input":0.5,"total":1.0}"#
        );
    }
}
