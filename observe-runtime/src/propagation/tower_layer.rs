//! The called side for tower servers (axum, tonic, hyper): each request's handler runs in
//! the context its headers carry.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::headers::Propagation;
use crate::carry::WithContext;

/// A tower layer that continues the caller's trace in every request it serves.
///
/// Put it outermost, so that what runs inside (a `tower-http` `TraceLayer` with the
/// `tracing` bridge, `#[observe]` handlers) hangs under the caller's observation. In axum
/// that is the last `.layer(...)`. Put inside a `TraceLayer`, it would find the request's
/// span already open outside the caller's trace (so not recorded, or recorded as a trace
/// of its own): it says so once per process, on stderr and through `tracing`, naming the
/// fix. The check is a heuristic: it takes any span entered around the service's `call`
/// for such a layer, so a service called from inside an instrumented span (a test's
/// `oneshot` under `#[instrument]`) hears the same line once; the request is served either
/// way.
///
/// ```
/// use observe_runtime::propagation::{Propagation, PropagationLayer};
/// let layer = PropagationLayer::new(Propagation::new().with_baggage());
/// // axum: Router::new().route(...).layer(layer)
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct PropagationLayer {
    propagation: Arc<Propagation>,
}

impl PropagationLayer {
    /// A layer reading the headers as `propagation` says.
    pub fn new(propagation: Propagation) -> Self {
        PropagationLayer {
            propagation: Arc::new(propagation),
        }
    }
}

impl<S> tower_layer::Layer<S> for PropagationLayer {
    type Service = PropagationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagationService {
            inner,
            propagation: self.propagation.clone(),
        }
    }
}

/// The service [`PropagationLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct PropagationService<S> {
    inner: S,
    propagation: Arc<Propagation>,
}

impl<S, B> tower_service::Service<http::Request<B>> for PropagationService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithContext<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if inside_trace_layer() {
            warn_wrong_order();
        }
        let context = self.propagation.extract(request.headers());
        // Inner layers may open spans in `call` itself (tower-http's TraceLayer does), so
        // the context is current there as well as in every poll of the response future.
        let future = context.run(|| self.inner.call(request));
        context.attach(future)
    }
}

/// Whether a span is entered around this call: a layer outside this one (tower-http's
/// `TraceLayer`, whatever its `make_span_with`) opened the request's span before the
/// caller's context was made current. A server's connection tasks start with no span
/// entered, so outermost this is false.
fn inside_trace_layer() -> bool {
    !tracing::Span::current().is_none()
}

/// Says once per process that the layers are in the wrong order. On stderr as well: the
/// `tracing` bridge never records observe's own events, and it may be the only subscriber.
#[cold]
#[inline(never)]
fn warn_wrong_order() {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let message = "observe: PropagationLayer runs inside a layer that opened a span for the \
                   request (tower-http's TraceLayer), so that span opens before the caller's \
                   trace is continued and is left out of it; add PropagationLayer after \
                   TraceLayer (in axum, the last `.layer(...)`) so that it is outermost";
    tracing::error!("{message}");
    eprintln!("{message}");
}
