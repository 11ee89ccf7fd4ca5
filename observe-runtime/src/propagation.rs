//! Traces across services: W3C Trace Context (`traceparent`, `tracestate`) out of one
//! process and into the next, and, only when asked, the trace's attributes in W3C `baggage`.
//!
//! The calling side adds the headers of the current observation to its request
//! ([`inject`], or `RequestBuilderExt::with_trace_context` for reqwest); the called side
//! makes the incoming context current for its handler ([`extract`], or `PropagationLayer`
//! for tower and axum). The handler's observations then join the caller's trace: same trace
//! id, and the caller's observation as the parent of the handler's first one.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{observe, propagation, Client};
//!
//! #[observe]
//! fn handler() {}
//!
//! #[observe]
//! fn caller() -> http::HeaderMap {
//!     let mut headers = http::HeaderMap::new();
//!     propagation::inject(&mut headers);
//!     headers
//! }
//!
//! let (client, memory) = Client::in_memory();
//! let headers = client.in_scope(caller);
//! // ... the request crosses the network; on the other side:
//! let incoming = propagation::Propagation::new().client(&client).extract(&headers);
//! incoming.run(handler);
//! client.flush(Duration::from_secs(5));
//! let obs = memory.observations();
//! let (caller, handler) = if obs[0].name == "caller" { (&obs[0], &obs[1]) } else { (&obs[1], &obs[0]) };
//! assert_eq!(handler.trace_id, caller.trace_id);
//! assert_eq!(handler.parent_id, Some(caller.id));
//! ```
//!
//! Sampling: the receiving side decides by its own sample rate on the trace id (the same
//! deterministic rule on both sides, so services with one rate agree); the incoming
//! `sampled` flag is passed on, not obeyed.

mod baggage;
mod headers;
mod w3c;

#[cfg(feature = "propagation-reqwest")]
mod reqwest_ext;
#[cfg(feature = "propagation-tower")]
mod tower_layer;

pub use headers::Propagation;
#[cfg(feature = "propagation-reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "propagation-reqwest")))]
pub use reqwest_ext::RequestBuilderExt;
#[cfg(feature = "propagation-tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "propagation-tower")))]
pub use tower_layer::{PropagationLayer, PropagationService};
pub use w3c::{parse_traceparent, RemoteParent};

use http::header::HeaderMap;

use crate::carry::Context;

/// [`Propagation::inject`] with the defaults: `traceparent` and `tracestate`, no baggage.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// observe_runtime::propagation::inject(&mut headers); // outside a trace: nothing added
/// assert!(headers.is_empty());
/// ```
pub fn inject(headers: &mut HeaderMap) {
    Propagation::new().inject(headers)
}

/// [`Propagation::extract`] with the defaults (no baggage read; continued traces go to the
/// client in scope or the global client).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
/// let context = observe_runtime::propagation::extract(&headers);
/// // no client installed here, so there is nowhere to record the continued trace:
/// assert_eq!(context.trace_id(), None);
/// ```
pub fn extract(headers: &HeaderMap) -> Context {
    Propagation::new().extract(headers)
}
