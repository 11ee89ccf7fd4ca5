//! The client: where observations go, and the global default that `#[observe]` uses.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{observe, Client};
//!
//! #[observe]
//! fn add(a: i32, b: i32) -> i32 { a + b }
//!
//! let (client, memory) = Client::in_memory();
//! assert_eq!(client.in_scope(|| add(2, 3)), 5);
//! let report = client.flush(Duration::from_secs(5));
//! assert_eq!(report.stats.exported, 1);
//! assert_eq!(memory.observations()[0].name, "add");
//! ```

mod past_scores;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::carry::WithContext;
use crate::context::Frame;
use crate::export::memory::InMemory;
use crate::export::Exporter;
use crate::global;
use crate::handle::{Trace, TraceHandle};
use crate::pipeline::{FlushReport, Pipeline, PipelineSettings, Stats};

/// How long dropping the last handle of a client waits for its queue to drain, when it was
/// not shut down before (a guard's drop shuts down with its own timeout, once: the client's
/// drop then returns at once).
const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to a pipeline and its exporters. Cheap to clone; when the last clone is dropped
/// the pipeline flushes and stops.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    pipeline: Arc<Pipeline>,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.pipeline.shutdown(DROP_SHUTDOWN_TIMEOUT);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`Client`] from exporters; how it batches, samples and masks comes from a
/// [`Config`](crate::Config) (the one place settings are made, through
/// `ClientBuilder::config`, which the configuration defines), and its destinations from here
/// only. [`Config::build_client`](crate::Config::build_client) is the same with the
/// destinations the configuration names.
///
/// ```
/// use observe_runtime::{Client, Config, export::memory::InMemory};
/// let memory = InMemory::new();
/// let client = Client::builder()
///     .exporter(memory.clone())
///     .config(&Config::new().sample_rate(0.5))
///     .build();
/// # drop(client);
/// ```
#[derive(Default)]
#[must_use]
pub struct ClientBuilder {
    settings: PipelineSettings,
    exporters: Vec<Box<dyn Exporter>>,
    trace_url_base: Option<String>,
}

impl ClientBuilder {
    /// Adds a destination; several may be added, each gets every batch, through a queue and
    /// a thread of its own.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Adds a boxed destination.
    pub fn boxed_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// Replaces the pipeline's settings as a whole; for the crate's own examples and
    /// benchmarks that size the queue by hand. Use [`ClientBuilder::config`].
    #[doc(hidden)]
    pub fn settings(mut self, settings: PipelineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Where trace URLs point (`{base}/trace/{id}`), for [`crate::current_trace_url`].
    pub fn trace_url_base(mut self, base: impl Into<String>) -> Self {
        self.trace_url_base = Some(base.into());
        self
    }

    /// Starts the worker and returns the client.
    pub fn build(self) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                pipeline: Pipeline::start(self.settings, self.exporters, self.trace_url_base),
            }),
        }
    }
}

impl Client {
    /// A builder with default settings and no destination.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client that keeps everything in memory, and the handle to read it back: the
    /// destination for tests.
    pub fn in_memory() -> (Client, InMemory) {
        let memory = InMemory::new();
        (Client::builder().exporter(memory.clone()).build(), memory)
    }

    pub(crate) fn pipeline(&self) -> &Arc<Pipeline> {
        &self.inner.pipeline
    }

    /// Runs a future with this client as the destination of the traces it starts (instead
    /// of the global one). Named as [`Context::attach`](crate::Context::attach), not
    /// `instrument`: `tracing::Instrument::instrument` is implemented for every type, so with
    /// that trait in scope a `client.attach(fut)` would resolve to it.
    pub fn attach<F: Future>(&self, future: F) -> WithContext<F> {
        WithContext::new(Frame::client(self.inner.pipeline.clone()), future)
    }

    /// Runs a closure with this client as the destination of the traces it starts.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        Frame::client(self.inner.pipeline.clone()).enter(f)
    }

    /// Starts a trace by hand (the low-level API); see [`Trace`].
    pub fn trace(&self, trace: Trace) -> TraceHandle {
        TraceHandle::start(self.inner.pipeline.clone(), trace)
    }

    /// Waits until everything recorded so far is exported, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        self.inner.pipeline.flush(timeout)
    }

    /// Flushes, then stops the worker; later records are dropped and counted. Returns within
    /// `timeout` (plus the time to count): what a destination still holds then is counted as
    /// dropped for it, and one warning says how many and where. Called again (or by a drop
    /// after a guard's shutdown), returns at once.
    pub fn shutdown(&self, timeout: Duration) -> FlushReport {
        self.inner.pipeline.shutdown(timeout)
    }

    /// Counters: queued, exported, dropped, failed, retried, and each destination's own.
    pub fn stats(&self) -> Stats {
        self.inner.pipeline.stats()
    }

    /// Makes this client the global default for `#[observe]` calls outside any client scope,
    /// until the returned guard is dropped; the guard then flushes and shuts down.
    pub fn install_global(self) -> Guard {
        global::set(Some(self.inner.pipeline.clone()));
        Guard {
            client: Some(self),
            shutdown_timeout: DROP_SHUTDOWN_TIMEOUT,
        }
    }
}

/// Returned by [`crate::init`] and [`Client::install_global`]: keeps the global client alive;
/// flushes and shuts it down when dropped.
#[must_use = "dropping the guard flushes and stops tracing at once"]
pub struct Guard {
    client: Option<Client>,
    shutdown_timeout: Duration,
}

impl Guard {
    /// The installed client; `None` for the guard of disabled tracing
    /// (`LANGFUSE_TRACING_ENABLED=false`), which installed nothing.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// A guard that installed nothing and does nothing when dropped.
    pub(crate) fn disabled() -> Guard {
        // Turned off on purpose: `#[observe]` finding no client is expected, not a trap.
        global::mark_disabled();
        Guard {
            client: None,
            shutdown_timeout: DROP_SHUTDOWN_TIMEOUT,
        }
    }

    /// Sets how long dropping the guard waits for the queue to drain (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("client", &self.client)
            .finish()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let ours = global::uninstall_if(client.pipeline());
            client.shutdown(self.shutdown_timeout);
            if ours {
                crate::traps::report_open_at_shutdown();
            }
        }
    }
}

/// Flushes the global client, if any, waiting at most `timeout`.
pub fn flush(timeout: Duration) -> Option<FlushReport> {
    global::installed().map(|p| p.flush(timeout))
}
