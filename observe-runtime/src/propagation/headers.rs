//! The trace context headers: what [`Propagation`] adds to an outgoing request and reads
//! from an incoming one.

use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::carry::Context;
use crate::client::Client;
use crate::context::{with_current, Frame};
use crate::global;
use crate::pipeline::{Pipeline, TraceState};

use super::baggage;
use super::w3c::{self, parse_traceparent, RemoteParent};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// What crosses the process boundary, and where continued traces are sent.
///
/// The default sends and reads `traceparent` and `tracestate` only. Trace attributes leave
/// the process in `baggage` only after [`Propagation::with_baggage`], on the sending side,
/// and are read from it only after the same call on the receiving side.
///
/// ```
/// use observe_runtime::propagation::Propagation;
/// let p = Propagation::new().with_baggage().baggage_metadata(["tenant"]);
/// # let _ = p;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Propagation {
    baggage: bool,
    baggage_metadata: Vec<String>,
    pipeline: Option<Arc<Pipeline>>,
}

impl std::fmt::Debug for Propagation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Propagation")
            .field("baggage", &self.baggage)
            .field("baggage_metadata", &self.baggage_metadata)
            .field("client", &self.pipeline.is_some())
            .finish()
    }
}

impl Propagation {
    /// `traceparent` and `tracestate` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also carries session id, user id, tags, version and trace name in W3C `baggage`
    /// (Langfuse's `langfuse_*` keys), and reads them from incoming requests. Off by default:
    /// baggage leaves the process, and every service downstream sees it. Values over
    /// Langfuse's 200-character limit are dropped with a warning, as in any trace update.
    pub fn with_baggage(mut self) -> Self {
        self.baggage = true;
        self
    }

    /// Also carries these trace metadata keys (as `langfuse_metadata_<key>`); turns baggage
    /// on. Values travel as text: a string as itself, anything else as its JSON.
    pub fn baggage_metadata<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.baggage = true;
        self.baggage_metadata
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// Sends continued traces to this client (else to the client in scope, else the global
    /// one).
    pub fn client(mut self, client: &Client) -> Self {
        self.pipeline = Some(client.pipeline().clone());
        self
    }

    /// Adds the current observation's `traceparent` (and `tracestate`, and with
    /// [`Propagation::with_baggage`] the `baggage`) to `headers`. Outside any trace it adds
    /// nothing.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let Some((trace, parent)) = with_current(|f| {
            let f = f?;
            Some((f.trace.clone()?, f.span_id?))
        }) else {
            return;
        };
        let traceparent = w3c::format_traceparent(trace.id, parent, trace.sampled);
        headers.insert(TRACEPARENT, header_value(&traceparent));
        if let Some(state) = trace.tracestate.get() {
            if let Ok(value) = HeaderValue::from_str(state) {
                headers.insert(TRACESTATE, value);
            }
        }
        if self.baggage {
            let ours = baggage::encode(&trace.snapshot(), &self.baggage_metadata);
            if !ours.is_empty() {
                let joined = match headers.get(&BAGGAGE).and_then(|v| v.to_str().ok()) {
                    Some(theirs) if !theirs.trim().is_empty() => format!("{theirs},{ours}"),
                    _ => ours,
                };
                if let Ok(value) = HeaderValue::from_str(&joined) {
                    headers.insert(BAGGAGE, value);
                }
            }
        }
    }

    /// The headers [`Propagation::inject`] would add, as a new map.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.inject(&mut headers);
        headers
    }

    /// The context an incoming request carries: run or attach the handler in it
    /// ([`Context::run`], [`Context::attach`]) and its observations continue the caller's
    /// trace. Without a valid `traceparent` the context has no trace (with
    /// [`Propagation::client`], it still sends new traces to that client); a malformed
    /// header is ignored with one warning per process, never an error.
    pub fn extract(&self, headers: &HeaderMap) -> Context {
        let pipeline = self.pipeline.clone().or_else(current_pipeline);
        let parent = traceparent_of(headers);
        let (Some(pipeline), Some(parent)) = (pipeline.clone(), parent) else {
            return Context::from_frame(pipeline.map(Frame::client));
        };
        let trace = TraceState::new(pipeline, parent.trace_id);
        if let Some(state) = w3c::tracestate(headers.get_all(TRACESTATE).iter()) {
            let _ = trace.tracestate.set(state.into());
        }
        if self.baggage {
            let texts = headers
                .get_all(BAGGAGE)
                .iter()
                .filter_map(|v| v.to_str().ok());
            if let Some(update) = baggage::decode(texts) {
                trace.update(update);
            }
        }
        Context::from_frame(Some(Frame::continued(trace, parent.span_id)))
    }
}

/// The pipeline of the client in scope, or of the trace in scope, or the global one.
fn current_pipeline() -> Option<Arc<Pipeline>> {
    with_current(|f| {
        f.and_then(|f| {
            f.client
                .clone()
                .or_else(|| f.trace.as_ref().map(|t| t.pipeline.clone()))
        })
    })
    .or_else(global::pipeline)
}

fn traceparent_of(headers: &HeaderMap) -> Option<RemoteParent> {
    let value = headers.get(TRACEPARENT)?;
    let parsed = value.to_str().ok().and_then(parse_traceparent);
    if parsed.is_none() {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                value = ?value,
                "observe: malformed traceparent header ignored; the request starts a new trace \
                 (said once)"
            )
        });
    }
    parsed
}

fn header_value(ascii: &str) -> HeaderValue {
    // Only ever called with hex digits and dashes.
    HeaderValue::from_str(ascii).unwrap_or_else(|_| HeaderValue::from_static(""))
}
