//! What `#[observe]` costs on the caller's thread, measured side by side with the tracing
//! libraries Rust users know, in one process and one run.
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
//! - `fastrace`: `#[trace]` with the global collector and a reporter that counts and drops;
//! - `tracing_otel`: `#[instrument]` with `tracing-opentelemetry` and the OpenTelemetry SDK's
//!   batch span processor (its own thread) with an exporter that counts and drops: today's
//!   way from Rust to Langfuse's OTLP endpoint;
//! - `observe_bridge`: the same `#[instrument]` function inside an observed trace, with
//!   `tracing_subscriber`'s `Registry` and observe's `tracing` bridge (`ObserveLayer`): each
//!   span becomes an observation that crosses observe's queue, as above;
//! - `observe`: `#[observe]` with a `Client` whose worker thread runs and whose exporter counts
//!   and drops every batch ([`Counting`]): the records really cross the queue to the worker.
//!
//! Child spans are measured inside an open trace whose root is closed and reopened every
//! [`CHUNK`] calls, outside the timed region, the same way for every library, so that no
//! library accumulates an unbounded trace (fastrace keeps a trace's spans until its root ends).
//!
//! Run: `cargo bench --bench overhead`; `scripts/bench_table.py` turns the results into the
//! table of BENCHMARKS.md.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};
use futures::task::noop_waker_ref;
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::{Client, Context};

/// Child calls per trace before the root is closed and a new one opened (untimed).
const CHUNK: u64 = 1_000;

// ---------------------------------------------------------------------------------------
// Destinations that do the real work of a destination cheaply: they receive every record
// (after it crossed the library's queue to its background thread), look at it, and drop it.

/// Our exporter for the benches: counts the observations of each batch (reading each one's
/// name) and drops them.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl Exporter for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let seen: usize = batch.observations.iter().map(|o| o.name.len().min(1)).sum();
        self.0.fetch_add(seen as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Says on stderr how many records reached the worker and how many a full queue dropped (a
/// dropped record costs the caller less than a queued one, so the figures are honest only
/// when drops are few).
fn report_drops(client: &Client) {
    let stats = client.flush(Duration::from_secs(30)).stats;
    eprintln!(
        "observe: {} records queued, {} dropped (queue full)",
        stats.queued, stats.dropped_queue_full
    );
}

fn counting_client() -> Client {
    let mut builder = Client::builder().exporter(Counting::default());
    if let Some(capacity) = std::env::var("OVERHEAD_QUEUE")
        .ok()
        .and_then(|q| q.parse().ok())
    {
        builder = builder.config(&observe_runtime::Config::new().queue_capacity(capacity));
    }
    builder.build()
}

/// fastrace's reporter for the benches: counts and drops.
struct CountingReporter(Arc<AtomicU64>);

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// The OpenTelemetry SDK's exporter for the benches: counts and drops.
#[derive(Debug, Default)]
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

fn tracing_registry() -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(CloseRecorder(Arc::new(AtomicU64::new(0)))),
    )
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
fn tracing_otel() -> (
    tracing::Dispatch,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let processor =
        opentelemetry_sdk::trace::BatchSpanProcessor::builder(CountingSpanExporter::default())
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
    fastrace::set_reporter(
        CountingReporter(Arc::new(AtomicU64::new(0))),
        fastrace::collector::Config::default(),
    );
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

/// The settings every group shares: 2 shared cores, keep the whole run near 10 minutes.
fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------
// The cases.

/// One child span per call inside an existing trace (async fn, capture off), and the
/// capture variants.
fn child_span(c: &mut Criterion) {
    let client = counting_client();
    let registry = tracing_registry();
    let (otel, otel_provider) = tracing_otel();
    let bridge = tracing_bridge();
    let mut g = c.benchmark_group("child_span");
    configure(&mut g);
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| timed(iters, |i| sink(black_box(block_on(plain::leaf(i))))))
    });
    g.bench_function("observe", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_observe_root(&client, n, |i| sink(black_box(block_on(ours::leaf(i)))))
            })
        })
    });
    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_fastrace_root(n, |i| sink(black_box(block_on(with_fastrace::leaf(i)))))
            })
        })
    });
    g.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&registry, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(block_on(with_tracing::leaf(i)))))
                })
            })
        })
    });
    g.bench_function("tracing_otel", |b| {
        tracing::dispatcher::with_default(&otel, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(block_on(with_tracing::leaf(i)))))
                })
            })
        })
    });
    g.bench_function("observe_bridge", |b| {
        tracing::dispatcher::with_default(&bridge, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_observe_root(&client, n, |i| {
                        sink(black_box(block_on(with_tracing::leaf(i))))
                    })
                })
            })
        })
    });
    g.bench_function("plain_args", |b| {
        b.iter_custom(|iters| {
            timed(iters, |i| {
                sink(black_box(block_on(plain::with_args(
                    "what is observe?",
                    i as u32,
                ))))
            })
        })
    });
    g.bench_function("observe_capture_args", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_observe_root(&client, n, |i| {
                    sink(black_box(block_on(ours::with_args(
                        "what is observe?",
                        i as u32,
                    ))))
                })
            })
        })
    });
    g.bench_function("observe_capture_args_and_output", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_observe_root(&client, n, |i| {
                    sink(black_box(block_on(ours::with_args_and_output(
                        "what is observe?",
                        i as u32,
                    ))))
                })
            })
        })
    });
    g.finish();
    report_drops(&client);
    let _ = otel_provider.shutdown();
}

/// Three nested levels (async), inside an existing trace.
fn nested(c: &mut Criterion) {
    let client = counting_client();
    let registry = tracing_registry();
    let (otel, otel_provider) = tracing_otel();
    let mut g = c.benchmark_group("nested3");
    configure(&mut g);
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| timed(iters, |i| sink(black_box(block_on(plain::top(i))))))
    });
    g.bench_function("observe", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_observe_root(&client, n, |i| sink(black_box(block_on(ours::top(i)))))
            })
        })
    });
    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_fastrace_root(n, |i| sink(black_box(block_on(with_fastrace::top(i)))))
            })
        })
    });
    g.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&registry, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(block_on(with_tracing::top(i)))))
                })
            })
        })
    });
    g.bench_function("tracing_otel", |b| {
        tracing::dispatcher::with_default(&otel, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(block_on(with_tracing::top(i)))))
                })
            })
        })
    });
    g.finish();
    report_drops(&client);
    let _ = otel_provider.shutdown();
}

/// A plain `fn`, inside an existing trace.
fn sync_fn(c: &mut Criterion) {
    let client = counting_client();
    let registry = tracing_registry();
    let (otel, otel_provider) = tracing_otel();
    let mut g = c.benchmark_group("sync_fn");
    configure(&mut g);
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| timed(iters, |i| sink(black_box(plain::sync_leaf(i)))))
    });
    g.bench_function("observe", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_observe_root(&client, n, |i| sink(black_box(ours::sync_leaf(i))))
            })
        })
    });
    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            chunked(iters, |n| {
                in_fastrace_root(n, |i| sink(black_box(with_fastrace::sync_leaf(i))))
            })
        })
    });
    g.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&registry, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(with_tracing::sync_leaf(i))))
                })
            })
        })
    });
    g.bench_function("tracing_otel", |b| {
        tracing::dispatcher::with_default(&otel, || {
            b.iter_custom(|iters| {
                chunked(iters, |n| {
                    in_tracing_root(n, |i| sink(black_box(with_tracing::sync_leaf(i))))
                })
            })
        })
    });
    g.finish();
    report_drops(&client);
    let _ = otel_provider.shutdown();
}

/// A new trace per call: the observed function is the outermost one.
fn new_trace(c: &mut Criterion) {
    let registry = tracing_registry();
    let (otel, otel_provider) = tracing_otel();
    let mut g = c.benchmark_group("new_trace");
    configure(&mut g);
    g.bench_function("plain", |b| {
        b.iter(|| black_box(block_on(plain::leaf(black_box(7)))))
    });
    {
        // The real configuration: a global client, as `observe_runtime::init()` installs.
        let guard = counting_client().install_global();
        g.bench_function("observe", |b| {
            b.iter(|| black_box(block_on(ours::leaf(black_box(7)))))
        });
        if let Some(client) = guard.client() {
            report_drops(client);
        }
        drop(guard);
    }
    g.bench_function("fastrace", |b| {
        b.iter(|| {
            use fastrace::future::FutureExt as _;
            let root = fastrace::Span::root("leaf", fastrace::collector::SpanContext::random());
            black_box(block_on(plain::leaf(black_box(7)).in_span(root)))
        })
    });
    g.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&registry, || {
            b.iter(|| black_box(block_on(with_tracing::leaf(black_box(7)))))
        })
    });
    g.bench_function("tracing_otel", |b| {
        tracing::dispatcher::with_default(&otel, || {
            b.iter(|| black_box(block_on(with_tracing::leaf(black_box(7)))))
        })
    });
    g.finish();
    let _ = otel_provider.shutdown();
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

    let client = counting_client();
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
    report_drops(&client);
}

criterion_group!(
    benches,
    disabled,
    context_choice,
    child_span,
    nested,
    sync_fn,
    new_trace
);

/// `OVERHEAD_PROFILE=<case> [OVERHEAD_CALLS=n]`: runs one case `n` times and exits, for
/// `valgrind --tool=callgrind --separate-threads=yes` (instruction counts per call are the
/// difference between two values of `n`, divided by their difference).
fn profile(case: &str) {
    let calls: u64 = std::env::var("OVERHEAD_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let client = counting_client();
    let elapsed = match case {
        "child" => chunked(calls, |n| {
            in_observe_root(&client, n, |i| sink(black_box(block_on(ours::leaf(i)))))
        }),
        "capture" => chunked(calls, |n| {
            in_observe_root(&client, n, |i| {
                sink(black_box(block_on(ours::with_args(
                    "what is observe?",
                    i as u32,
                ))))
            })
        }),
        "nested" => chunked(calls, |n| {
            in_observe_root(&client, n, |i| sink(black_box(block_on(ours::top(i)))))
        }),
        "sync" => chunked(calls, |n| {
            in_observe_root(&client, n, |i| sink(black_box(ours::sync_leaf(i))))
        }),
        "new_trace" => {
            let _guard = client.clone().install_global();
            timed(calls, |i| sink(black_box(block_on(ours::leaf(i)))))
        }
        "disabled" => timed(calls, |i| sink(black_box(block_on(ours::leaf(i))))),
        other => panic!("unknown case {other}"),
    };
    let report = client.flush(Duration::from_secs(10));
    eprintln!(
        "{case}: {calls} calls, {:.1} ns/call, {:?}",
        elapsed.as_nanos() as f64 / calls as f64,
        report.stats
    );
}

fn main() {
    if let Ok(case) = std::env::var("OVERHEAD_PROFILE") {
        profile(&case);
        return;
    }
    install_fastrace();
    benches();
    fastrace::flush();
    Criterion::default().configure_from_args().final_summary();
}
