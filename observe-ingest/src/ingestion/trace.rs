//! `trace-create` to a [`TracePiece`]: Langfuse's upsert of a trace's own fields.

use super::document::BodyDoc;
use super::fields::Fields;
use super::issues::Issue;
use observe_model::model::{Timestamp, TraceAttributes};
use observe_model::piece::TracePiece;

/// Longest trace name the API takes.
const MAX_TRACE_NAME_CHARS: usize = 1000;

/// The piece a `trace-create` body gives, or the issues that refuse it. `event_id` is the
/// trace's id when the body has none; `event_time` its timestamp when the body gives none.
pub(crate) fn trace(
    body: &BodyDoc<'_>,
    event_id: &str,
    event_time: Timestamp,
) -> Result<TracePiece, Vec<Issue>> {
    let mut f = Fields::body(body);
    let id = f.id("id");
    let timestamp = f.time("timestamp");
    let name = f.string_at_most("name", MAX_TRACE_NAME_CHARS);
    // Checked for its type as Langfuse does; observe has no place for it.
    f.string("externalId");
    let attributes = TraceAttributes {
        name: name.map(str::to_owned),
        session_id: f.string("sessionId").map(str::to_owned),
        user_id: f.string("userId").map(str::to_owned),
        tags: f.strings("tags").unwrap_or_default(),
        metadata: f.metadata("metadata"),
        version: f.string("version").map(str::to_owned),
        release: f.string("release").map(str::to_owned),
        environment: f.environment("environment"),
        public: f.bool("public"),
        input: f.json("input"),
        output: f.json("output"),
    };
    if !f.issues.is_empty() {
        return Err(f.issues);
    }
    // A body without an id could never be updated; its event's id names it instead
    // (Langfuse drops such a trace).
    let id = id.unwrap_or(event_id);
    Ok(TracePiece {
        timestamp: Some(timestamp.unwrap_or(event_time)),
        attributes,
        ..TracePiece::new(id)
    })
}
