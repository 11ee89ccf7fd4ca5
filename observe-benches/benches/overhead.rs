//! What `#[observe]` costs, measured side by side with the tracing libraries Rust users know,
//! in one process and one run, under the same rules for every library.
//!
//! Every case calls a tiny function (an `async fn` polled once, or a plain `fn`) so that the
//! difference to the plain function is the instrumentation alone. Plain `fn`s are
//! `#[inline(never)]`; `async fn`s are not: their constructor, which only stores the
//! arguments, inlines as it does in real code (kept out of line, its narrow stores feed the
//! wide loads that move the future, and the stalled loads cost more than either library),
//! and their poll is a function of its own either way. Peers:
//!
//! - `tracing`: `#[instrument]` with `tracing_subscriber`'s `Registry` and a layer that records
//!   every span close (`on_close`: counts it and reads its name);
//! - `fastrace`: `#[trace]` (and `LocalSpan` for a plain `fn`, what its `#[trace]` emits
//!   there) with the global collector and a reporter that counts and drops;
//! - `tracing_otel`: `#[instrument]` with `tracing-opentelemetry` and the OpenTelemetry SDK's
//!   batch span processor (its own thread) with an exporter that counts and drops: today's
//!   way from Rust to Langfuse's OTLP endpoint;
//! - `observe_bridge` (child span only): the same `#[instrument]` function inside an observed
//!   trace, with `tracing_subscriber`'s `Registry` and observe's `tracing` bridge
//!   (`ObserveLayer`): each span becomes an observation that crosses observe's queue;
//! - `observe`: `#[observe]` with a `Client` whose worker thread runs and whose exporter counts
//!   and drops every batch ([`Counting`]): the records really cross the queue to the worker.
//!
//! Calls run in chunks of [`CHUNK`]; child spans inside a root opened and closed around each
//! chunk, outside the timed region. Every case runs in two modes, the same for every library:
//!
//! - **drained** (`<case>_drained`): after each chunk, outside the timed region, the library's
//!   collector or worker is flushed (`Client::flush`, `fastrace::flush`, the SDK provider's
//!   `force_flush`; `tracing`'s registry works on the caller's thread and has nothing to
//!   flush), so no library runs behind its callers and nothing is dropped. The headline.
//! - **sustained** (`<case>_sustained`): flat out, never flushed until the case ends; each
//!   library buffers or drops what its background thread cannot keep up with.
//!
//! For each library and mode the bench writes one line of JSON to
//! `<target>/criterion/overhead_delivery.jsonl`: calls made, records expected, records its
//! destination received, records it said it dropped, the process's CPU time per call over
//! each chunk and its drain (caller plus background threads: work moved to a worker is not
//! work removed), and the growth of resident memory (peak and at the end, before the final
//! flush). `scripts/bench_table.py` turns both into the tables of BENCHMARKS.md.
//!
//! Run: `cargo bench -p observe-benches --bench overhead`. `OVERHEAD_PROFILE=<lib>:<case>`
//! runs one case without criterion for callgrind (see [`profile`] and
//! `scripts/callgrind_overhead.sh`).

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion};
use futures::task::noop_waker_ref;
use observe_runtime::{Client, Context};

mod common;
use common::Counting;

/// Child calls per trace before the root is closed and a new one opened (untimed).
const CHUNK: u64 = 1_000;

// ---------------------------------------------------------------------------------------
// Destinations that do the real work of a destination cheaply: they receive every record
// (after it crossed the library's queue to its background thread), look at it, and drop it.

fn counting_client(seen: &Arc<AtomicU64>) -> Client {
    let mut builder = Client::builder().exporter(Counting(seen.clone()));
    if let Some(capacity) = std::env::var("OVERHEAD_QUEUE")
        .ok()
        .and_then(|q| q.parse().ok())
    {
        builder = builder.config(&observe_runtime::Config::new().queue_capacity(capacity));
    }
    builder.build()
}

/// Spans fastrace's reporter received (its collector is global, so is the count).
static FASTRACE_SEEN: AtomicU64 = AtomicU64::new(0);

/// fastrace's reporter for the benches: counts and drops.
struct CountingReporter;

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        FASTRACE_SEEN.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// The OpenTelemetry SDK's exporter for the benches: counts and drops.
#[derive(Debug)]
struct CountingSpanExporter(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for CountingSpanExporter {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// A `tracing` layer that records every span close.
struct CloseRecorder(Arc<AtomicU64>);

impl<S> tracing_subscriber::Layer<S> for CloseRecorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            self.0
                .fetch_add(span.name().len().min(1) as u64, Ordering::Relaxed);
        }
    }
}

/// A `tracing` layer that records each new span's fields as text in the span's extensions
/// (what `tracing_subscriber::fmt` does with its `FormattedFields`), and counts every close:
/// the peer of a captured input.
struct FieldRecorder(Arc<AtomicU64>);

/// The fields of one span as `name=value` text.
struct RecordedFields(String);

impl tracing::field::Visit for RecordedFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={value:?}", field.name());
    }
}

impl<S> tracing_subscriber::Layer<S> for FieldRecorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = RecordedFields(String::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            // Counted when its fields were recorded (a root has none, and counts too).
            let recorded = span.extensions().get::<RecordedFields>().is_some();
            self.0.fetch_add(u64::from(recorded), Ordering::Relaxed);
        }
    }
}

/// `tracing` + a registry whose layer records every span's fields (see [`FieldRecorder`]).
fn tracing_fields(seen: &Arc<AtomicU64>) -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(tracing_subscriber::registry().with(FieldRecorder(seen.clone())))
}

fn tracing_registry(seen: &Arc<AtomicU64>) -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(tracing_subscriber::registry().with(CloseRecorder(seen.clone())))
}

/// `tracing` + observe's bridge: spans inside an observed trace become observations.
fn tracing_bridge() -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(observe_runtime::bridge::ObserveLayer::new()),
    )
}

/// `tracing` + `tracing-opentelemetry` + the SDK's batch span processor; the provider must
/// outlive the dispatch.
fn tracing_otel(
    seen: &Arc<AtomicU64>,
) -> (
    tracing::Dispatch,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let processor =
        opentelemetry_sdk::trace::BatchSpanProcessor::builder(CountingSpanExporter(seen.clone()))
            .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("bench");
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer)),
    );
    (dispatch, provider)
}

fn install_fastrace() {
    fastrace::set_reporter(CountingReporter, fastrace::collector::Config::default());
}

// ---------------------------------------------------------------------------------------
// The functions measured. Each returns its argument so that nothing is optimized away.

/// Polls a future to completion on this thread with a no-op waker (the functions measured
/// never wait, so this is one poll). Always inlined, so that the future is built where it is
/// polled, as an `.await` builds it in its caller's state, rather than built and then moved.
#[inline(always)]
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(noop_waker_ref());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

mod plain {
    pub async fn leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    pub async fn middle(x: u64) -> u64 {
        leaf(x).await
    }
    pub async fn top(x: u64) -> u64 {
        middle(x).await
    }
    #[inline(never)]
    pub fn sync_leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    pub async fn with_args(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }
}

mod ours {
    use observe_runtime::observe;

    #[observe(capture_input = false, capture_output = false)]
    pub async fn leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    #[observe(capture_input = false, capture_output = false)]
    pub async fn middle(x: u64) -> u64 {
        leaf(x).await
    }
    #[observe(capture_input = false, capture_output = false)]
    pub async fn top(x: u64) -> u64 {
        middle(x).await
    }
    #[observe(capture_input = false, capture_output = false)]
    #[inline(never)]
    pub fn sync_leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    /// Input capture of two small arguments: `{"query":"…","limit":10}`.
    #[observe(capture_input = true, capture_output = false)]
    pub async fn with_args(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }
    /// Input and output capture.
    #[observe(capture_input = true, capture_output = true)]
    pub async fn with_args_and_output(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }
    /// What users write: `#[observe]` as it comes, so both arguments and the return value
    /// are captured (the client's default).
    #[observe]
    pub async fn with_args_default(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }
    /// A root to hang child calls under.
    #[observe(capture_input = false, capture_output = false)]
    pub fn root(work: &mut dyn FnMut()) {
        work()
    }
}

mod with_tracing {
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn middle(x: u64) -> u64 {
        leaf(x).await
    }
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn top(x: u64) -> u64 {
        middle(x).await
    }
    #[tracing::instrument(level = "info", skip_all)]
    #[inline(never)]
    pub fn sync_leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    /// `#[instrument]` as it comes: both arguments recorded as fields (by `Debug`).
    #[tracing::instrument(level = "info")]
    pub async fn with_args(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }
}

mod with_fastrace {
    #[fastrace::trace]
    pub async fn leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
    #[fastrace::trace]
    pub async fn middle(x: u64) -> u64 {
        leaf(x).await
    }
    #[fastrace::trace]
    pub async fn top(x: u64) -> u64 {
        middle(x).await
    }
    #[fastrace::trace]
    #[inline(never)]
    pub fn sync_leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }
}

// ---------------------------------------------------------------------------------------
// The libraries under test, each with what it delivered and how to drain it.

/// How a case treats the library's background thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Flushed after every chunk, outside the timed region: nothing runs behind, nothing drops.
    Drained,
    /// Never flushed until the case ends: what piles up is buffered or dropped.
    Sustained,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Drained => "drained",
            Mode::Sustained => "sustained",
        }
    }
}

enum Kind {
    Observe(Client),
    /// `tracing` spans through observe's bridge, inside observed roots.
    ObserveBridge(Client, tracing::Dispatch),
    Fastrace,
    Tracing(tracing::Dispatch),
    TracingOtel(
        tracing::Dispatch,
        opentelemetry_sdk::trace::SdkTracerProvider,
    ),
}

/// One library, set up the way the module documentation says, with the count of records its
/// destination received.
struct Lib {
    name: &'static str,
    seen: Arc<AtomicU64>,
    kind: Kind,
}

impl Lib {
    fn observe() -> Lib {
        let seen = Arc::new(AtomicU64::new(0));
        Lib {
            name: "observe",
            kind: Kind::Observe(counting_client(&seen)),
            seen,
        }
    }

    fn observe_bridge() -> Lib {
        let seen = Arc::new(AtomicU64::new(0));
        Lib {
            name: "observe_bridge",
            kind: Kind::ObserveBridge(counting_client(&seen), tracing_bridge()),
            seen,
        }
    }

    fn fastrace() -> Lib {
        Lib {
            name: "fastrace",
            seen: Arc::new(AtomicU64::new(0)),
            kind: Kind::Fastrace,
        }
    }

    fn tracing() -> Lib {
        let seen = Arc::new(AtomicU64::new(0));
        Lib {
            name: "tracing",
            kind: Kind::Tracing(tracing_registry(&seen)),
            seen,
        }
    }

    fn tracing_fields() -> Lib {
        let seen = Arc::new(AtomicU64::new(0));
        Lib {
            name: "tracing_fields",
            kind: Kind::Tracing(tracing_fields(&seen)),
            seen,
        }
    }

    fn tracing_otel() -> Lib {
        let seen = Arc::new(AtomicU64::new(0));
        let (dispatch, provider) = tracing_otel(&seen);
        Lib {
            name: "tracing_otel",
            kind: Kind::TracingOtel(dispatch, provider),
            seen,
        }
    }

    /// Records the destination received so far.
    fn delivered(&self) -> u64 {
        match self.kind {
            Kind::Fastrace => FASTRACE_SEEN.load(Ordering::Relaxed),
            _ => self.seen.load(Ordering::Relaxed),
        }
    }

    /// Records the library itself says it dropped (only observe counts them).
    fn dropped(&self) -> Option<u64> {
        match &self.kind {
            Kind::Observe(client) | Kind::ObserveBridge(client, _) => {
                Some(client.stats().dropped())
            }
            _ => None,
        }
    }

    /// Waits until everything recorded so far reached the destination.
    fn drain(&self) {
        match &self.kind {
            Kind::Observe(client) | Kind::ObserveBridge(client, _) => {
                client.flush(Duration::from_secs(60));
            }
            Kind::Fastrace => fastrace::flush(),
            Kind::Tracing(_) => {}
            Kind::TracingOtel(_, provider) => {
                let _ = provider.force_flush();
            }
        }
    }

    /// Drains until the destination's count stops moving: a library that ran far behind
    /// (fastrace's collector after a sustained case) hands over its backlog over several
    /// flushes, and what a case delivered must not count toward the next one.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = u64::MAX;
        while Instant::now() < deadline {
            self.drain();
            let now = self.delivered();
            if now == last {
                return;
            }
            last = now;
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs `f` with the library's dispatcher current (for `tracing`).
    fn scoped<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.kind {
            Kind::Tracing(d) | Kind::TracingOtel(d, _) | Kind::ObserveBridge(_, d) => {
                tracing::dispatcher::with_default(d, f)
            }
            _ => f(),
        }
    }

    fn client(&self) -> Option<&Client> {
        match &self.kind {
            Kind::Observe(client) => Some(client),
            _ => None,
        }
    }

    fn shutdown(self) {
        if let Kind::TracingOtel(_, provider) = self.kind {
            let _ = provider.shutdown();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Timing helpers: `iters` calls in chunks of CHUNK, each chunk inside a fresh root that is
// opened and closed outside the timed region.

/// Swallows a result that `black_box` already hid from the optimizer.
#[inline]
fn sink(_: u64) {}

fn chunked(iters: u64, mut chunk: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        left -= n;
        total += chunk(n);
    }
    total
}

fn timed(n: u64, mut call: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        call(i);
    }
    start.elapsed()
}

/// `n` calls inside a fresh `#[observe]` root, under `client`.
fn in_observe_root(client: &Client, n: u64, call: impl FnMut(u64)) -> Duration {
    let mut call = Some(call);
    let mut elapsed = Duration::ZERO;
    client.in_scope(|| {
        ours::root(&mut || elapsed = timed(n, call.take().expect("called once")));
    });
    elapsed
}

/// `n` calls inside a fresh `tracing` root span, under the current dispatcher.
fn in_tracing_root(n: u64, call: impl FnMut(u64)) -> Duration {
    let root = tracing::info_span!("root");
    let _entered = root.enter();
    timed(n, call)
}

/// `n` calls inside a fresh fastrace root span, set as the local parent.
fn in_fastrace_root(n: u64, call: impl FnMut(u64)) -> Duration {
    let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
    let _parent = root.set_local_parent();
    timed(n, call)
}

/// What a case makes per call.
#[derive(Clone, Copy)]
struct Shape {
    /// Spans each call records.
    spans: u64,
    /// Calls run inside a root opened per chunk (one more record per chunk); else each call
    /// is a new trace (observe's under the global client).
    rooted: bool,
}

const CHILD: Shape = Shape {
    spans: 1,
    rooted: true,
};

/// One chunk of `n` calls of `call` under `lib`, timed.
fn run_chunk(lib: &Lib, shape: Shape, n: u64, call: impl FnMut(u64)) -> Duration {
    lib.scoped(|| match (&lib.kind, shape.rooted) {
        (_, false) => timed(n, call),
        (Kind::Observe(client) | Kind::ObserveBridge(client, _), true) => {
            in_observe_root(client, n, call)
        }
        (Kind::Fastrace, true) => in_fastrace_root(n, call),
        (Kind::Tracing(_) | Kind::TracingOtel(..), true) => in_tracing_root(n, call),
    })
}

/// CPU time of the whole process (every thread), from `CLOCK_PROCESS_CPUTIME_ID`.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A `Vm...:` line of /proc/self/status, in KiB (0 where there is no procfs).
fn vm_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the process's peak RSS to its current RSS (Linux ≥ 4.0); returns that RSS.
fn reset_peak_rss() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    vm_kib("VmRSS:")
}

/// Calls, records and CPU time of one library in one mode.
#[derive(Default)]
struct Tally {
    calls: u64,
    expected: u64,
    cpu: Duration,
}

fn delivery_log() -> std::path::PathBuf {
    // `cargo bench` runs the bench in its package's folder; the log goes beside criterion's
    // results, in the workspace's target folder.
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    std::path::Path::new(&target).join("criterion/overhead_delivery.jsonl")
}

/// Measures `call` under `lib` in `mode` as `<group>/<lib>`, then drains and writes what the
/// library delivered to the delivery log.
fn bench_lib<F: FnMut(u64)>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group: &str,
    mode: Mode,
    lib: &Lib,
    shape: Shape,
    mut call: F,
) {
    lib.settle();
    let delivered_before = lib.delivered();
    let dropped_before = lib.dropped();
    let rss_start = reset_peak_rss();
    let mut tally = Tally::default();
    g.bench_function(lib.name, |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                let cpu = process_cpu();
                let wall = run_chunk(lib, shape, n, &mut call);
                if mode == Mode::Drained {
                    lib.drain();
                }
                tally.cpu += process_cpu() - cpu;
                tally.calls += n;
                tally.expected += n * shape.spans + u64::from(shape.rooted);
                wall
            })
        })
    });
    let rss_peak = vm_kib("VmHWM:").saturating_sub(rss_start);
    let rss_end = vm_kib("VmRSS:").saturating_sub(rss_start);
    lib.settle();
    let delivered = lib.delivered() - delivered_before;
    let dropped = lib
        .dropped()
        .zip(dropped_before)
        .map(|(after, before)| after - before);
    let line = serde_json::json!({
        "group": group,
        "mode": mode.name(),
        "lib": lib.name,
        "calls": tally.calls,
        "expected": tally.expected,
        "delivered": delivered,
        "dropped_reported": dropped,
        "cpu_ns_per_call": tally.cpu.as_nanos() as f64 / tally.calls.max(1) as f64,
        "rss_peak_growth_kib": rss_peak,
        "rss_end_growth_kib": rss_end,
    });
    eprintln!("{line}");
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(delivery_log())
    {
        let _ = writeln!(f, "{line}");
    }
}

/// The settings every group shares: 2 shared cores, keep the whole run near 10 minutes.
fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

/// The plain function, timed alone, as `<group>/plain`.
fn bench_plain(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut call: impl FnMut(u64),
) {
    g.bench_function(name, |b| b.iter_custom(|iters| timed(iters, &mut call)));
}

// ---------------------------------------------------------------------------------------
// The cases, each in both modes.

/// One child span per call inside an existing trace (async fn, capture off), and, drained
/// only, observe's capture variants.
fn child_span(c: &mut Criterion, mode: Mode) {
    let group = format!("child_span_{}", mode.name());
    let mut g = c.benchmark_group(&group);
    configure(&mut g);
    bench_plain(&mut g, "plain", |i| {
        sink(black_box(block_on(plain::leaf(i))))
    });
    let observe = Lib::observe();
    bench_lib(&mut g, &group, mode, &observe, CHILD, |i| {
        sink(black_box(block_on(ours::leaf(i))))
    });
    bench_lib(&mut g, &group, mode, &Lib::fastrace(), CHILD, |i| {
        sink(black_box(block_on(with_fastrace::leaf(i))))
    });
    for lib in [Lib::tracing(), Lib::tracing_otel(), Lib::observe_bridge()] {
        bench_lib(&mut g, &group, mode, &lib, CHILD, |i| {
            sink(black_box(block_on(with_tracing::leaf(i))))
        });
        lib.shutdown();
    }
    if mode == Mode::Drained {
        bench_plain(&mut g, "plain_args", |i| {
            sink(black_box(block_on(plain::with_args(
                "what is observe?",
                i as u32,
            ))))
        });
        let capture = Lib {
            name: "observe_capture_args",
            ..Lib::observe()
        };
        bench_lib(&mut g, &group, mode, &capture, CHILD, |i| {
            sink(black_box(block_on(ours::with_args(
                "what is observe?",
                i as u32,
            ))))
        });
        let capture_out = Lib {
            name: "observe_capture_args_and_output",
            ..Lib::observe()
        };
        bench_lib(&mut g, &group, mode, &capture_out, CHILD, |i| {
            sink(black_box(block_on(ours::with_args_and_output(
                "what is observe?",
                i as u32,
            ))))
        });
        let default = Lib {
            name: "observe_default_capture",
            ..Lib::observe()
        };
        bench_lib(&mut g, &group, mode, &default, CHILD, |i| {
            sink(black_box(block_on(ours::with_args_default(
                "what is observe?",
                i as u32,
            ))))
        });
        let fields = Lib::tracing_fields();
        bench_lib(&mut g, &group, mode, &fields, CHILD, |i| {
            sink(black_box(block_on(with_tracing::with_args(
                "what is observe?",
                i as u32,
            ))))
        });
    }
    g.finish();
}

/// Three nested levels (async), inside an existing trace.
fn nested(c: &mut Criterion, mode: Mode) {
    let shape = Shape {
        spans: 3,
        rooted: true,
    };
    let group = format!("nested3_{}", mode.name());
    let mut g = c.benchmark_group(&group);
    configure(&mut g);
    bench_plain(&mut g, "plain", |i| {
        sink(black_box(block_on(plain::top(i))))
    });
    bench_lib(&mut g, &group, mode, &Lib::observe(), shape, |i| {
        sink(black_box(block_on(ours::top(i))))
    });
    bench_lib(&mut g, &group, mode, &Lib::fastrace(), shape, |i| {
        sink(black_box(block_on(with_fastrace::top(i))))
    });
    for lib in [Lib::tracing(), Lib::tracing_otel()] {
        bench_lib(&mut g, &group, mode, &lib, shape, |i| {
            sink(black_box(block_on(with_tracing::top(i))))
        });
        lib.shutdown();
    }
    g.finish();
}

/// A plain `fn`, inside an existing trace (fastrace's `#[trace]` makes a `LocalSpan` here).
fn sync_fn(c: &mut Criterion, mode: Mode) {
    let group = format!("sync_fn_{}", mode.name());
    let mut g = c.benchmark_group(&group);
    configure(&mut g);
    bench_plain(&mut g, "plain", |i| sink(black_box(plain::sync_leaf(i))));
    bench_lib(&mut g, &group, mode, &Lib::observe(), CHILD, |i| {
        sink(black_box(ours::sync_leaf(i)))
    });
    bench_lib(&mut g, &group, mode, &Lib::fastrace(), CHILD, |i| {
        sink(black_box(with_fastrace::sync_leaf(i)))
    });
    for lib in [Lib::tracing(), Lib::tracing_otel()] {
        bench_lib(&mut g, &group, mode, &lib, CHILD, |i| {
            sink(black_box(with_tracing::sync_leaf(i)))
        });
        lib.shutdown();
    }
    g.finish();
}

/// A new trace per call: the observed function is the outermost one.
fn new_trace(c: &mut Criterion, mode: Mode) {
    let shape = Shape {
        spans: 1,
        rooted: false,
    };
    let group = format!("new_trace_{}", mode.name());
    let mut g = c.benchmark_group(&group);
    configure(&mut g);
    bench_plain(&mut g, "plain", |i| {
        sink(black_box(block_on(plain::leaf(i))))
    });
    {
        // The real configuration: a global client, as `observe_runtime::init()` installs.
        let observe = Lib::observe();
        let guard = observe.client().cloned().map(Client::install_global);
        bench_lib(&mut g, &group, mode, &observe, shape, |i| {
            sink(black_box(block_on(ours::leaf(i))))
        });
        drop(guard);
    }
    bench_lib(&mut g, &group, mode, &Lib::fastrace(), shape, |i| {
        sink(black_box(fastrace_new_trace(i)))
    });
    for lib in [Lib::tracing(), Lib::tracing_otel()] {
        bench_lib(&mut g, &group, mode, &lib, shape, |i| {
            sink(black_box(block_on(with_tracing::leaf(i))))
        });
        lib.shutdown();
    }
    g.finish();
}

/// fastrace's new trace: a root span around the plain future.
#[inline(always)]
fn fastrace_new_trace(i: u64) -> u64 {
    use fastrace::future::FutureExt as _;
    let root = fastrace::Span::root("leaf", fastrace::collector::SpanContext::random());
    block_on(plain::leaf(i).in_span(root))
}

/// Tracing off: no client installed, no client scope (what `LANGFUSE_TRACING_ENABLED=false`
/// leaves), against the plain function.
fn disabled(c: &mut Criterion) {
    let mut g = c.benchmark_group("disabled");
    configure(&mut g);
    g.bench_function("plain_async", |b| {
        b.iter(|| black_box(block_on(plain::leaf(black_box(7)))))
    });
    g.bench_function("observe_async", |b| {
        b.iter(|| black_box(block_on(ours::leaf(black_box(7)))))
    });
    g.bench_function("plain_sync", |b| {
        b.iter(|| black_box(plain::sync_leaf(black_box(7))))
    });
    g.bench_function("observe_sync", |b| {
        b.iter(|| black_box(ours::sync_leaf(black_box(7))))
    });
    g.finish();
}

/// The context mechanism alone: a future that reads the context on every poll, wrapped in
/// ours (a thread-local pointer swapped in and out around each poll) or in
/// `tokio::task_local!`'s scope (the value swapped in and out of a thread-local `RefCell`).
fn context_choice(c: &mut Criterion) {
    tokio::task_local! {
        static TASK_CTX: (u128, u64);
    }

    /// Never finishes; reads the context on every poll.
    struct ReadsOurs;
    impl Future for ReadsOurs {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            black_box(observe_runtime::current_trace_id());
            Poll::Pending
        }
    }
    struct ReadsTaskLocal;
    impl Future for ReadsTaskLocal {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            black_box(TASK_CTX.with(|c| c.0));
            Poll::Pending
        }
    }
    struct ReadsNothing;
    impl Future for ReadsNothing {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            black_box(());
            Poll::Pending
        }
    }
    fn polls<F: Future>(mut future: Pin<&mut F>, iters: u64) -> Duration {
        let mut cx = TaskContext::from_waker(noop_waker_ref());
        let start = Instant::now();
        for _ in 0..iters {
            black_box(future.as_mut().poll(&mut cx).is_ready());
        }
        start.elapsed()
    }

    let client = counting_client(&Arc::new(AtomicU64::new(0)));
    // A context with a trace in it, captured inside an observation.
    let mut captured = None;
    client.in_scope(|| ours::root(&mut || captured = Some(Context::current())));
    let captured = captured.expect("captured");

    let mut g = c.benchmark_group("context_per_poll");
    configure(&mut g);
    let mut nothing = pin!(ReadsNothing);
    g.bench_function("no_context", |b| {
        b.iter_custom(|n| polls(nothing.as_mut(), n))
    });
    let mut thread_local = pin!(captured.attach(ReadsOurs));
    g.bench_function("thread_local_pointer", |b| {
        b.iter_custom(|n| polls(thread_local.as_mut(), n))
    });
    let mut task_local = pin!(TASK_CTX.scope((7, 9), ReadsTaskLocal));
    g.bench_function("tokio_task_local", |b| {
        b.iter_custom(|n| polls(task_local.as_mut(), n))
    });
    g.finish();
}

/// Every drained case first, then every sustained one: a library that ran behind in a
/// sustained case (fastrace's collector keeps a backlog of up to gigabytes, handed over across
/// many flushes) must not spill into a drained measurement.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    disabled(&mut c);
    context_choice(&mut c);
    for mode in [Mode::Drained, Mode::Sustained] {
        child_span(&mut c, mode);
        nested(&mut c, mode);
        sync_fn(&mut c, mode);
        new_trace(&mut c, mode);
    }
}

/// One chunk of `n` calls of `case` under `lib`, for [`profile`].
fn profile_chunk(lib: &Lib, case: &str, n: u64) -> Duration {
    let shape = Shape {
        spans: 1,
        rooted: case != "new_trace",
    };
    match (&lib.kind, case) {
        (Kind::Observe(_), "child") => {
            run_chunk(lib, shape, n, |i| sink(black_box(block_on(ours::leaf(i)))))
        }
        (Kind::Observe(_), "capture") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(ours::with_args(
                "what is observe?",
                i as u32,
            ))))
        }),
        (Kind::Observe(_), "default_capture") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(ours::with_args_default(
                "what is observe?",
                i as u32,
            ))))
        }),
        (Kind::Tracing(_), "fields") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(with_tracing::with_args(
                "what is observe?",
                i as u32,
            ))))
        }),
        (Kind::Observe(_), "nested") => {
            run_chunk(lib, shape, n, |i| sink(black_box(block_on(ours::top(i)))))
        }
        (Kind::Observe(_), "sync") => {
            run_chunk(lib, shape, n, |i| sink(black_box(ours::sync_leaf(i))))
        }
        (Kind::Observe(_), "new_trace") => {
            run_chunk(lib, shape, n, |i| sink(black_box(block_on(ours::leaf(i)))))
        }
        (Kind::Fastrace, "child") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(with_fastrace::leaf(i))))
        }),
        (Kind::Fastrace, "nested") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(with_fastrace::top(i))))
        }),
        (Kind::Fastrace, "sync") => run_chunk(lib, shape, n, |i| {
            sink(black_box(with_fastrace::sync_leaf(i)))
        }),
        (Kind::Fastrace, "new_trace") => {
            run_chunk(lib, shape, n, |i| sink(black_box(fastrace_new_trace(i))))
        }
        (Kind::ObserveBridge(..), "child") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(with_tracing::leaf(i))))
        }),
        (Kind::Tracing(_) | Kind::TracingOtel(..), "child" | "new_trace") => {
            run_chunk(lib, shape, n, |i| {
                sink(black_box(block_on(with_tracing::leaf(i))))
            })
        }
        (Kind::Tracing(_) | Kind::TracingOtel(..), "nested") => run_chunk(lib, shape, n, |i| {
            sink(black_box(block_on(with_tracing::top(i))))
        }),
        (Kind::Tracing(_) | Kind::TracingOtel(..), "sync") => run_chunk(lib, shape, n, |i| {
            sink(black_box(with_tracing::sync_leaf(i)))
        }),
        (_, other) => panic!("no case {other} for {}", lib.name),
    }
}

/// The measured part of [`profile`], a function of its own so that callgrind can count it
/// alone (`--toggle-collect='*measured*'`): the process's start (fastant calibrates its
/// clock in a loop that runs for a fixed time, so for a varying number of instructions) and
/// the warm-up stay out.
#[inline(never)]
fn measured(lib: &Lib, case: &str, calls: u64) -> Duration {
    chunked(calls, |n| {
        let t = profile_chunk(lib, case, n);
        lib.drain();
        t
    })
}

/// As [`measured`], with no library installed.
#[inline(never)]
fn measured_disabled(lib: &str, calls: u64) -> Duration {
    match lib {
        "observe" => timed(calls, |i| sink(black_box(block_on(ours::leaf(i))))),
        "fastrace" => timed(calls, |i| sink(black_box(block_on(with_fastrace::leaf(i))))),
        _ => timed(calls, |i| sink(black_box(block_on(with_tracing::leaf(i))))),
    }
}

/// `OVERHEAD_PROFILE=<lib>:<case> [OVERHEAD_CALLS=n]`: runs one case `n` times, drained after
/// every chunk as in the benches, and exits; for `valgrind --tool=callgrind
/// --separate-threads=yes` (instructions per call are the difference between two values of
/// `n`, divided by their difference; `scripts/callgrind_overhead.sh` does it). Libraries:
/// `observe`, `fastrace`, `tracing`, `tracing_fields`, `tracing_otel`; cases: `child`,
/// `nested`, `sync`, `new_trace`, `capture` and `default_capture` (observe only), `fields`
/// (`tracing_fields` only) and `disabled` (nothing installed).
fn profile(spec: &str) {
    let (lib_name, case) = spec.split_once(':').unwrap_or(("observe", spec));
    let calls: u64 = std::env::var("OVERHEAD_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    if case == "disabled" {
        let elapsed = measured_disabled(lib_name, calls);
        eprintln!(
            "{spec}: {calls} calls, {:.1} ns/call",
            elapsed.as_nanos() as f64 / calls as f64
        );
        return;
    }
    let lib = match lib_name {
        "observe" => Lib::observe(),
        "fastrace" => {
            install_fastrace();
            Lib::fastrace()
        }
        "tracing" => Lib::tracing(),
        "tracing_fields" => Lib::tracing_fields(),
        "tracing_otel" => Lib::tracing_otel(),
        "observe_bridge" => Lib::observe_bridge(),
        other => panic!("unknown library {other}"),
    };
    let guard = (case == "new_trace")
        .then(|| lib.client().cloned().map(Client::install_global))
        .flatten();
    // Warm up untimed (first-use initialization, the worker's first batches), then measure.
    for _ in 0..2 {
        profile_chunk(&lib, case, CHUNK);
        lib.drain();
    }
    let elapsed = measured(&lib, case, calls);
    drop(guard);
    lib.drain();
    eprintln!(
        "{spec}: {calls} calls, {:.1} ns/call, {} delivered, dropped {:?}",
        elapsed.as_nanos() as f64 / calls as f64,
        lib.delivered(),
        lib.dropped()
    );
    lib.shutdown();
}

fn main() {
    if let Ok(case) = std::env::var("OVERHEAD_PROFILE") {
        profile(&case);
        return;
    }
    let _ = std::fs::remove_file(delivery_log());
    install_fastrace();
    benches();
    fastrace::flush();
    Criterion::default().configure_from_args().final_summary();
}
