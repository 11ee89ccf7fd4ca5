//! The calling side for reqwest: the current observation's headers on a request.

use super::headers::Propagation;

/// Adds the current trace context to a reqwest request (async or blocking).
///
/// ```no_run
/// use observe_runtime::observe;
/// use observe_runtime::propagation::RequestBuilderExt;
///
/// #[observe]
/// async fn ask_agent(http: &reqwest::Client) -> reqwest::Result<String> {
///     http.post("http://127.0.0.1:8080/agent")
///         .with_trace_context()
///         .send()
///         .await?
///         .text()
///         .await
/// }
/// ```
pub trait RequestBuilderExt: Sized {
    /// `traceparent` and `tracestate` of the current observation (nothing outside a trace).
    fn with_trace_context(self) -> Self {
        self.with_propagation(&Propagation::new())
    }

    /// The headers `propagation` adds: with [`Propagation::with_baggage`], the trace's
    /// attributes too.
    fn with_propagation(self, propagation: &Propagation) -> Self;
}

macro_rules! impl_for_builders {
    ($($builder:ty),+) => {$(
        impl RequestBuilderExt for $builder {
            fn with_propagation(self, propagation: &Propagation) -> Self {
                let headers = propagation.headers();
                if headers.is_empty() {
                    self
                } else {
                    self.headers(headers)
                }
            }
        }
    )+};
}

impl_for_builders!(reqwest::RequestBuilder, reqwest::blocking::RequestBuilder);
