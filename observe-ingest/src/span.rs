//! One OTLP span to one observation: ids, times and status here, the attributes through
//! [`crate::mapping`].

use std::borrow::Cow;
use std::sync::Arc;

use observe_model::model::{Json, Level, Observation, SpanId, Timestamp, TraceAttributes, TraceId};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};

use crate::attributes::Attributes;
use crate::error::{RefusedSpan, SpanRefusal};
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
) -> Result<Observation, RefusedSpan> {
    match ids(&span) {
        Ok(ids) => Ok(mapped(span, ids, resource, traces)),
        // The name moves into the refusal: no copy made for the spans that are accepted.
        Err(reason) => Err(RefusedSpan {
            name: span.name,
            reason,
        }),
    }
}

fn ids(span: &Span) -> Result<(TraceId, SpanId, Option<SpanId>), SpanRefusal> {
    let trace_id = trace_id(&span.trace_id).ok_or(SpanRefusal::TraceId(span.trace_id.len()))?;
    let id = span_id(&span.span_id).ok_or(SpanRefusal::SpanId(span.span_id.len()))?;
    let parent_id = match span.parent_span_id.len() {
        0 => None,
        _ => Some(
            span_id(&span.parent_span_id)
                .ok_or(SpanRefusal::ParentId(span.parent_span_id.len()))?,
        ),
    };
    Ok((trace_id, id, parent_id))
}

fn mapped(
    span: Span,
    (trace_id, id, parent_id): (TraceId, SpanId, Option<SpanId>),
    resource: &Attributes,
    traces: &mut TraceCache,
) -> Observation {
    let mut a = Attributes::new(span.attributes);
    let trace = traces.trace(a.split_off(mapping::is_trace_key), resource);
    a.append(trace.unread);
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
    Observation {
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
        trace: trace.shared,
    }
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
/// request whose trace-level entries equal those of one of the few last seen (a trace's
/// spans come together, with now and then one that differs, such as a generation with its
/// own version), and the precedence rules run once per distinct set, not once per span.
/// Valid for one resource: [`TraceCache::new_resource`] forgets what the last one gave.
#[derive(Default)]
pub(crate) struct TraceCache(Vec<SeenTrace>);

/// One set of trace-level entries, as sent, and what the rules made of it.
struct SeenTrace {
    sent: Attributes,
    unread: Attributes,
    shared: Arc<TraceAttributes>,
}

/// The trace attributes of one span, and its trace-level entries no rule read (an older
/// spelling sent beside Langfuse's own key), which stay the span's.
pub(crate) struct SpanTrace {
    shared: Arc<TraceAttributes>,
    unread: Attributes,
}

/// Recent attribute sets compared: a linear scan, a few equality checks per span at most.
const TRACE_CACHE_LEN: usize = 4;

impl TraceCache {
    /// Forgets the sets seen: the next resource's attributes may change what they give.
    pub(crate) fn new_resource(&mut self) {
        self.0.clear();
    }

    fn trace(&mut self, sent: Attributes, resource: &Attributes) -> SpanTrace {
        if let Some(seen) = self.0.iter().find(|seen| seen.sent == sent) {
            return SpanTrace {
                shared: seen.shared.clone(),
                unread: seen.unread.clone(),
            };
        }
        let mut unread = sent.clone();
        let t = mapping::trace_attributes(&mut unread, resource);
        // Entries sent differently (in another order, say) that say the same share too.
        let shared = match self.0.iter().find(|seen| *seen.shared == t) {
            Some(seen) => seen.shared.clone(),
            None => Arc::new(t),
        };
        if self.0.len() == TRACE_CACHE_LEN {
            self.0.remove(0);
        }
        self.0.push(SeenTrace {
            sent,
            unread: unread.clone(),
            shared: shared.clone(),
        });
        SpanTrace { shared, unread }
    }
}
