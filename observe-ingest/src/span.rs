//! One OTLP span to one observation: ids, times and status here, the attributes through
//! [`crate::mapping`].

use std::borrow::Cow;
use std::sync::Arc;

use observe_model::model::{Json, Level, Observation, SpanId, Timestamp, TraceAttributes, TraceId};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};

use crate::attributes::Attributes;
use crate::error::SpanRefusal;
use crate::keys::langfuse;
use crate::mapping;

/// The metadata key that holds the attributes no rule read.
pub const UNREAD_METADATA_KEY: &str = "attributes";

/// The span as an observation; `resource` holds the resource's attributes (read for what
/// the span does not say, never consumed: every span of the resource reads them).
pub(crate) fn observation(
    span: Span,
    resource: &Attributes,
    traces: &mut TraceCache,
) -> Result<Observation, SpanRefusal> {
    let trace_id = trace_id(&span.trace_id).ok_or(SpanRefusal::TraceId(span.trace_id.len()))?;
    let id = span_id(&span.span_id).ok_or(SpanRefusal::SpanId(span.span_id.len()))?;
    let parent_id = match span.parent_span_id.len() {
        0 => None,
        _ => Some(
            span_id(&span.parent_span_id)
                .ok_or(SpanRefusal::ParentId(span.parent_span_id.len()))?,
        ),
    };
    let mut a = Attributes::new(span.attributes);
    let trace = mapping::trace_attributes(&mut a, resource);
    let kind = mapping::observation_type(&mut a);
    let level_text = a.take_text(langfuse::LEVEL);
    let mut details = mapping::details(&mut a, kind);
    let status = span.status.unwrap_or_default();
    let failed = status.code == StatusCode::Error as i32;
    let level = level_text
        .and_then(|t| match t.parse() {
            Ok(level) => Some(level),
            Err(e) => {
                tracing::warn!("level dropped: {e}");
                None
            }
        })
        .unwrap_or(if failed { Level::Error } else { Level::Default });
    // Langfuse takes the status message whatever the code.
    if details.status_message.is_none() && !status.message.is_empty() {
        details.status_message = Some(status.message);
    }
    // What no rule read stays visible where Langfuse shows a foreign span's attributes:
    // under `attributes` in the metadata (a key of that name sent by the SDK wins).
    let unread = a.into_metadata();
    if !unread.is_empty() {
        details
            .metadata
            .entry(UNREAD_METADATA_KEY.to_owned())
            .or_insert_with(|| Json::from_value(&unread));
    }
    let start = Timestamp(span.start_time_unix_nano);
    Ok(Observation {
        trace_id,
        id,
        parent_id,
        name: Cow::Owned(span.name),
        kind,
        level,
        start,
        // A span that says it ended before it started is an instant, not a negative duration.
        end: Timestamp(span.end_time_unix_nano.max(span.start_time_unix_nano)),
        details: (details != Default::default()).then(|| Box::new(details)),
        trace: traces.share(trace),
    })
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id = u128::from_be_bytes(bytes.try_into().ok()?);
    (id != 0).then_some(TraceId(id))
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id = u64::from_be_bytes(bytes.try_into().ok()?);
    (id != 0).then_some(SpanId(id))
}

/// Spans of one trace carry the same attributes: one allocation serves every span of a
/// request whose attributes equal one of the few last seen (a trace's spans come together,
/// with now and then one that differs, such as a generation with its own version).
#[derive(Default)]
pub(crate) struct TraceCache(Vec<Arc<TraceAttributes>>);

/// Recent attribute sets compared: a linear scan, a few equality checks per span at most.
const TRACE_CACHE_LEN: usize = 4;

impl TraceCache {
    fn share(&mut self, t: TraceAttributes) -> Arc<TraceAttributes> {
        if let Some(seen) = self.0.iter().find(|seen| ***seen == t) {
            return seen.clone();
        }
        if self.0.len() == TRACE_CACHE_LEN {
            self.0.remove(0);
        }
        let shared = Arc::new(t);
        self.0.push(shared.clone());
        shared
    }
}
