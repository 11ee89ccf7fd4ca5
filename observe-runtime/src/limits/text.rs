//! Cutting text and structured values: the string cut with its marker, the depth scan, and
//! the object that stands in for a value replaced.

use crate::model::Json;

use super::MAX_JSON_DEPTH;

/// True when `text` has more than `max` characters; O(1) for text of at most `max` bytes.
#[inline]
pub(crate) fn over_chars(text: &str, max: usize) -> bool {
    text.len() > max && more_chars_than(text, max)
}

/// Counts the characters of text longer than `max` bytes: out of line, so that the length
/// comparison that settles most text stays inlined where it is asked.
#[inline(never)]
fn more_chars_than(text: &str, max: usize) -> bool {
    text.chars().nth(max).is_some()
}

/// `text` cut to at most `max` characters, its end replaced by `…[truncated N bytes]`;
/// `None` when it fits. Inlined: the worker asks this of every observation's name, and
/// most fit, which the first comparison tells.
#[inline]
pub(crate) fn cut_text(text: &str, max: usize) -> Option<String> {
    if !over_chars(text, max) {
        return None;
    }
    cut_long_text(text, max)
}

/// [`cut_text`] of text known to be longer than `max` characters.
fn cut_long_text(text: &str, max: usize) -> Option<String> {
    let marker = format!("…[truncated {} bytes]", text.len());
    let keep = max.saturating_sub(marker.chars().count());
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut cut = String::with_capacity(end + marker.len());
    cut.push_str(&text[..end]);
    if marker.chars().count() <= max {
        cut.push_str(&marker);
    }
    Some(cut)
}

/// True when `text` (JSON) nests arrays and objects more than `max` levels deep.
pub(crate) fn deeper_than(text: &str, max: usize) -> bool {
    // Each level takes at least two bytes, and no more levels than opening brackets: most
    // values are ruled out without the exact scan.
    if text.len() <= 2 * max {
        return false;
    }
    let opening = text.bytes().filter(|&b| b == b'[' || b == b'{').count();
    if opening <= max {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The object that stands in for a value that was cut.
pub(crate) fn marker(original_bytes: usize, reason: &str) -> Json {
    Json::from_value(&serde_json::json!({
        "truncated": true,
        "original_bytes": original_bytes,
        "reason": reason,
    }))
}

/// Why a value nested too deep was replaced.
pub(crate) fn depth_reason() -> String {
    format!("nested deeper than {MAX_JSON_DEPTH} levels")
}

/// Why a value over the record limit was replaced.
pub(crate) fn size_reason(max_bytes: usize) -> String {
    format!("over the {max_bytes}-byte limit per observation")
}

pub(crate) fn depth_marker(value: &Json) -> Json {
    marker(value.len(), &depth_reason())
}

/// Replaces a value nested too deep by a marker; returns whether it did.
pub(crate) fn limit_depth(slot: &mut Option<Json>) -> bool {
    match slot {
        Some(v) if deeper_than(v.as_str(), MAX_JSON_DEPTH) => {
            *slot = Some(depth_marker(v));
            true
        }
        _ => false,
    }
}
