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
//! assert_eq!(client.in_scope_sync(|| add(2, 3)), 5);
//! let report = client.flush(Duration::from_secs(5));
//! assert_eq!(report.stats.exported, 1);
//! assert_eq!(memory.observations()[0].name, "add");
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::carry::WithContext;
use crate::context::{Entered, Frame};
use crate::export::memory::InMemory;
use crate::export::Exporter;
use crate::handle::{Trace, TraceHandle};
use crate::pipeline::{FlushReport, Pipeline, PipelineSettings, Stats};

static GLOBAL: ArcSwapOption<Pipeline> = ArcSwapOption::const_empty();
static GLOBAL_ON: AtomicBool = AtomicBool::new(false);
/// Bumped whenever `GLOBAL` changes, so a thread knows when its cached copy is stale.
static GLOBAL_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of the global pipeline and the generation it was read at: a new
    /// trace clones it (one reference count) rather than going through `ArcSwap`'s debt
    /// list (~80 instructions and two atomics more per trace). A copy outlives an uninstall
    /// until the thread's next trace or its exit; it keeps only the stopped pipeline's memory.
    static GLOBAL_CACHE: RefCell<(u64, Option<Arc<Pipeline>>)> =
        const { RefCell::new((u64::MAX, None)) };
}

/// The global pipeline, if one is installed and enabled. One relaxed load when there is none.
#[inline]
pub(crate) fn global_pipeline() -> Option<Arc<Pipeline>> {
    if !GLOBAL_ON.load(Ordering::Relaxed) {
        return None;
    }
    let generation = GLOBAL_GENERATION.load(Ordering::Acquire);
    GLOBAL_CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.0 != generation {
                *cache = (generation, GLOBAL.load_full());
            }
            cache.1.clone()
        })
        .unwrap_or_else(|_| GLOBAL.load_full())
}

/// Replaces the global pipeline; threads' cached copies go stale with it.
fn set_global(pipeline: Option<Arc<Pipeline>>) {
    let on = pipeline.is_some();
    if !on {
        GLOBAL_ON.store(false, Ordering::Release);
    }
    GLOBAL.store(pipeline);
    GLOBAL_GENERATION.fetch_add(1, Ordering::AcqRel);
    if on {
        GLOBAL_ON.store(true, Ordering::Release);
    }
}

/// True when a global client is installed (the fast check `#[observe]` makes first).
#[inline]
pub(crate) fn global_enabled() -> bool {
    GLOBAL_ON.load(Ordering::Relaxed)
}

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

/// Builds a [`Client`] from exporters and settings.
///
/// ```
/// use observe_runtime::{Client, export::memory::InMemory};
/// let memory = InMemory::new();
/// let client = Client::builder().exporter(memory.clone()).sample_rate(0.5).build();
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

    /// Replaces all pipeline settings.
    pub fn settings(mut self, settings: PipelineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Fraction of traces kept, in [0, 1]; values outside are clamped.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.settings.sample_rate = rate;
        self
    }

    /// Records the queue holds before new ones are dropped.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.settings.queue_capacity = capacity;
        self
    }

    /// Bytes of records the pipeline holds at most (see
    /// [`PipelineSettings::max_queue_bytes`]).
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_queue_bytes = bytes;
        self
    }

    /// Records per batch.
    pub fn max_batch_records(mut self, n: usize) -> Self {
        self.settings.max_batch_records = n;
        self
    }

    /// Longest a record waits before it is exported.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.settings.flush_interval = interval;
        self
    }

    /// Default for `#[observe]` input/output capture.
    pub fn capture_io(mut self, on: bool) -> Self {
        self.settings.capture_io = on;
        self
    }

    /// A function applied to input, output and metadata before they leave the process.
    pub fn mask(
        mut self,
        mask: impl Fn(crate::model::Json) -> crate::model::Json + Send + Sync + 'static,
    ) -> Self {
        self.settings.mask = Some(Arc::new(mask));
        self
    }

    /// Where trace URLs point (`{base}/trace/{id}`), for [`crate::get_trace_url`].
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
    /// of the global one).
    pub fn in_scope<F: Future>(&self, future: F) -> WithContext<F> {
        WithContext::new(Frame::client(self.inner.pipeline.clone()), future)
    }

    /// Runs a closure with this client as the destination of the traces it starts.
    pub fn in_scope_sync<R>(&self, f: impl FnOnce() -> R) -> R {
        let frame = Frame::client(self.inner.pipeline.clone());
        let _entered = Entered::new(&frame);
        f()
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
        set_global(Some(self.inner.pipeline.clone()));
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
            let ours = GLOBAL
                .load()
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, client.pipeline()));
            if ours {
                set_global(None);
            }
            client.shutdown(self.shutdown_timeout);
        }
    }
}

/// Flushes the global client, if any, waiting at most `timeout`.
pub fn flush(timeout: Duration) -> Option<FlushReport> {
    GLOBAL.load_full().map(|p| p.flush(timeout))
}
