//! The called side for tower servers (axum, tonic, hyper): each request's handler runs in
//! the context its headers carry.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::headers::Propagation;
use crate::carry::WithContext;

/// A tower layer that continues the caller's trace in every request it serves.
///
/// Put it outermost, so that what runs inside (a `tower-http` `TraceLayer` with the
/// `tracing` bridge, `#[observe]` handlers) hangs under the caller's observation.
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
        let context = self.propagation.extract(request.headers());
        // Inner layers may open spans in `call` itself (tower-http's TraceLayer does), so
        // the context is current there as well as in every poll of the response future.
        let future = context.run(|| self.inner.call(request));
        context.attach(future)
    }
}
