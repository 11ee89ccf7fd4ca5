//! The trace's attributes within their limits: Langfuse's for the strings it propagates,
//! the depth and size limits for its input and output.

use crate::model::{Json, TraceAttributes};

use super::text::{cut_text, deeper_than, limit_depth, marker, over_chars};
use super::{Cut, MAX_ATTRIBUTE_CHARS, MAX_ENVIRONMENT_CHARS, MAX_JSON_DEPTH};

/// A copy of `attrs` within the limits, or `None` when they are within them already
/// (checked without allocating). What was cut is added to `notes`.
pub(super) fn limited_trace(
    attrs: &TraceAttributes,
    max_io_bytes: usize,
    notes: &mut Vec<(Cut, &'static str)>,
) -> Option<TraceAttributes> {
    let io_over = |v: &Option<Json>| {
        v.as_ref()
            .is_some_and(|v| v.len() > max_io_bytes || deeper_than(v.as_str(), MAX_JSON_DEPTH))
    };
    let within = trace_strings(attrs)
        .iter()
        .all(|(v, _)| !v.is_some_and(|v| over_chars(v, MAX_ATTRIBUTE_CHARS)))
        && !environment_refused(attrs)
        && !attrs
            .tags
            .iter()
            .any(|t| over_chars(t, MAX_ATTRIBUTE_CHARS))
        && !attrs.metadata.iter().any(metadata_entry_over)
        && !io_over(&attrs.input)
        && !io_over(&attrs.output);
    if within {
        return None;
    }
    let mut copy = attrs.clone();
    for (slot, what) in trace_strings_mut(&mut copy) {
        if let Some(short) = slot
            .as_deref()
            .and_then(|v| cut_text(v, MAX_ATTRIBUTE_CHARS))
        {
            *slot = Some(short);
            notes.push((Cut::TraceAttribute, what));
        }
    }
    if environment_refused(&copy) {
        copy.environment = None;
        notes.push((Cut::TraceAttribute, "environment"));
    }
    for tag in &mut copy.tags {
        if let Some(short) = cut_text(tag, MAX_ATTRIBUTE_CHARS) {
            *tag = short;
            notes.push((Cut::TraceAttribute, "tag"));
        }
    }
    let before = copy.metadata.len();
    copy.metadata.retain(|k, v| !metadata_entry_over((k, v)));
    if copy.metadata.len() != before {
        notes.push((Cut::TraceAttribute, "trace metadata"));
    }
    for (slot, what) in [
        (&mut copy.input, "trace input"),
        (&mut copy.output, "trace output"),
    ] {
        if limit_depth(slot) {
            notes.push((Cut::Depth, what));
        } else if let Some(v) = slot.as_ref().filter(|v| v.len() > max_io_bytes) {
            let reason =
                format!("over the {max_io_bytes}-byte limit for a trace's input or output");
            *slot = Some(marker(v.len(), &reason));
            notes.push((Cut::TraceIo, what));
        }
    }
    Some(copy)
}

/// A trace metadata entry Langfuse would refuse: its key or JSON-encoded value is over
/// [`MAX_ATTRIBUTE_CHARS`] (a value that short is also shallow enough).
fn metadata_entry_over((key, value): (&String, &Json)) -> bool {
    over_chars(key, MAX_ATTRIBUTE_CHARS) || over_chars(value.as_str(), MAX_ATTRIBUTE_CHARS)
}

/// The trace's short strings, each with its name for the warning.
fn trace_strings(a: &TraceAttributes) -> [(Option<&str>, &'static str); 5] {
    [
        (a.name.as_deref(), "trace name"),
        (a.user_id.as_deref(), "user id"),
        (a.session_id.as_deref(), "session id"),
        (a.version.as_deref(), "version"),
        (a.release.as_deref(), "release"),
    ]
}

/// The same strings as [`trace_strings`], to change.
fn trace_strings_mut(a: &mut TraceAttributes) -> [(&mut Option<String>, &'static str); 5] {
    [
        (&mut a.name, "trace name"),
        (&mut a.user_id, "user id"),
        (&mut a.session_id, "session id"),
        (&mut a.version, "version"),
        (&mut a.release, "release"),
    ]
}

/// True when the trace has an environment Langfuse would refuse.
fn environment_refused(a: &TraceAttributes) -> bool {
    match a.environment.as_deref() {
        Some(e) => !environment_shape_ok(e),
        None => false,
    }
}

/// Langfuse's environment rule (`^(?!langfuse)[a-z0-9_-]+$`, at most 40 characters),
/// without the warning the API gives.
pub(crate) fn environment_shape_ok(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ENVIRONMENT_CHARS
        && !value.starts_with("langfuse")
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
