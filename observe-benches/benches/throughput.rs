//! Observations per second through the pipeline's worker into each destination's format, on
//! the worker's one core.
//!
//! The application side is real `#[observe]` code: a workflow root that sets the trace's
//! session, user, tags and metadata, and seven children with captured input and output, one
//! of them a generation with model, usage and cost (8 observations per trace). The worker
//! batches them (512 per batch) and hands each batch to one exporter:
//!
//! - `otlp_protobuf`: the OTLP/HTTP exporter's encoder (`otlp::Encoder`), bytes counted and
//!   dropped, no gzip, no network;
//! - `ingestion_json`: the legacy ingestion API's request bodies (`ingestion::encode_batch`);
//! - `sqlite_store`: the local store (`StoreExporter`) writing a new file in a temporary
//!   folder;
//! - `sqlite_store_filled`: the same into a file that already holds [`FILLED`] observations
//!   of the same workflow (written through the worker before the clock starts, and growing
//!   by each sample's), through one `StoreExporter` kept open from the fill to the last
//!   sample, as in an application that keeps running: the WAL's copies into the file fall
//!   inside the samples as they come, not at a close outside them. Each sample's sessions
//!   are new ones. The destination hands the store the batches queued behind the one it
//!   takes, in one transaction, as with any `StoreExporter`;
//! - `sqlite_store_filled_one_per_commit`: the same, in turns into the same file, one batch
//!   per transaction (the store's `batches_at_once` hidden from the pipeline): the
//!   comparison in the same process.
//!
//! Each sample queues [`TRACES`] traces while the worker waits at a gate in its first export
//! (so the application's thread does not compete for the cores), then opens the gate and
//! times until `flush` returns: the worker's time alone, on one core, to turn the records
//! into batches and the batches into the destination's format. The queue holds a whole
//! sample, so nothing is dropped (checked).
//!
//! Run: `cargo bench -p observe-benches --bench throughput` (criterion prints `elem/s`, one
//! element being one observation).

use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_runtime::export::otlp::{Encoder, Resource};
use observe_runtime::export::store::StoreExporter;
use observe_runtime::export::{ingestion, Batch, ExportError, Exporter};
use observe_runtime::model::{Cost, Usage};
use observe_runtime::{
    observe, update_current_observation, update_current_trace, Client, Config, ObservationUpdate,
    TraceUpdate,
};

/// Traces per sample (8 observations each).
const TRACES: u64 = 5_000;
const PER_TRACE: u64 = 8;
/// Observations in the file of `sqlite_store_filled` before its first sample.
const FILLED: u64 = 1_000_000;

#[observe(as_type = "tool")]
fn search(query: &str, limit: u32) -> Vec<u32> {
    (0..limit.min(4)).map(|i| i + query.len() as u32).collect()
}

#[observe(as_type = "generation")]
fn summarize(text: &str) -> String {
    update_current_observation(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .usage(Usage::new(812, 64))
            .cost(Cost::new(0.000122, 0.000038)),
    );
    text.chars().take(24).collect()
}

#[observe(name = "content_analysis_workflow")]
fn workflow(analysis_id: u64, content: &str) -> usize {
    update_current_trace(
        TraceUpdate::new()
            .session_id(format!("analysis_{}", analysis_id / 10))
            .user_id("user_42")
            .tags(["content-analysis", "production"])
            .metadata(
                serde_json::json!({"analysis_id": analysis_id, "content_length": content.len()}),
            ),
    );
    let mut found = 0;
    for k in 0..6 {
        found += search(content, k).len();
    }
    found + summarize(content).len()
}

/// OTLP protobuf bytes, counted and dropped.
struct OtlpBytes {
    encoder: Encoder,
    resource: Resource,
    bytes: usize,
}

impl Exporter for OtlpBytes {
    fn name(&self) -> &str {
        "otlp-bytes"
    }
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.bytes += self.encoder.encode(batch, &self.resource).len();
        Ok(())
    }
}

/// Ingestion API request bodies, counted and dropped.
#[derive(Default)]
struct IngestionBytes(usize);

impl Exporter for IngestionBytes {
    fn name(&self) -> &str {
        "ingestion-bytes"
    }
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.0 += ingestion::encode_batch(batch)
            .iter()
            .map(Vec::len)
            .sum::<usize>();
        Ok(())
    }
}

/// One store kept open across samples, as by an application that keeps running: its WAL,
/// and the copies of it into the file, carry on from one sample to the next. It takes up
/// to `at_once` queued batches to a transaction (1: one batch per commit).
#[derive(Clone)]
struct Open {
    store: Arc<Mutex<StoreExporter>>,
    at_once: usize,
}

impl Exporter for Open {
    fn name(&self) -> &str {
        "store"
    }
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.store.lock().unwrap().export(batch)
    }
    fn batches_at_once(&self) -> usize {
        self.at_once
    }
    fn export_many(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        self.store.lock().unwrap().export_many(batches)
    }
}

/// Holds the worker in its first export until the gate opens.
struct Gated {
    inner: Box<dyn Exporter>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Gated {
    /// Returns once the gate is open.
    fn wait(&self) {
        let (open, opened) = &*self.gate;
        let mut open = open.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
    }
}

impl Exporter for Gated {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.wait();
        self.inner.export(batch)
    }
    fn batches_at_once(&self) -> usize {
        self.inner.batches_at_once()
    }
    fn export_many(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        self.wait();
        self.inner.export_many(batches)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        self.inner.flush()
    }
}

/// Queues `TRACES` traces through a fresh client with this exporter, then times the worker
/// until everything is exported.
fn one_sample(exporter: Box<dyn Exporter>) -> Duration {
    sample_from(exporter, 0)
}

/// [`one_sample`], the traces' analysis ids (and so their sessions) starting at `first`.
fn sample_from(exporter: Box<dyn Exporter>, first: u64) -> Duration {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let client = Client::builder()
        .exporter(Gated {
            inner: exporter,
            gate: gate.clone(),
        })
        .config(
            &Config::new()
                .queue_capacity((TRACES * PER_TRACE) as usize + 1024)
                .flush_at(512)
                .flush_interval(Duration::from_secs(60)),
        )
        .build();
    let content = "Rust gives LLM agents traces at the cost of a span.";
    client.in_scope(|| {
        for i in first..first + TRACES {
            black_box(workflow(i, content));
        }
    });
    let start = Instant::now();
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let report = client.flush(Duration::from_secs(600));
    let elapsed = start.elapsed();
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.stats.dropped(), 0, "{report:?}");
    assert_eq!(report.stats.exported, TRACES * PER_TRACE, "{report:?}");
    elapsed
}

fn through_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("through_worker");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TRACES * PER_TRACE));
    g.bench_function("otlp_protobuf", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    one_sample(Box::new(OtlpBytes {
                        encoder: Encoder::new(),
                        resource: Resource::new("bench"),
                        bytes: 0,
                    }))
                })
                .sum()
        })
    });
    g.bench_function("ingestion_json", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| one_sample(Box::new(IngestionBytes::default())))
                .sum()
        })
    });
    g.bench_function("sqlite_store", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let dir = tempfile::tempdir().expect("temporary folder");
                    let store =
                        StoreExporter::open(dir.path().join("bench.db")).expect("store opens");
                    one_sample(Box::new(store))
                })
                .sum()
        })
    });
    let dir = tempfile::tempdir().expect("temporary folder");
    let filled = Open {
        store: Arc::new(Mutex::new(
            StoreExporter::open(dir.path().join("filled.db")).expect("store opens"),
        )),
        at_once: StoreExporter::open(dir.path().join("probe.db"))
            .expect("store opens")
            .batches_at_once(),
    };
    let mut next = 0;
    while next * PER_TRACE < FILLED {
        sample_from(Box::new(filled.clone()), next);
        next += TRACES;
    }
    // The store as the pipeline uses it (queued batches to one transaction), then one batch
    // per commit as before, into the same file in turns.
    for (label, at_once) in [
        ("sqlite_store_filled", filled.at_once),
        ("sqlite_store_filled_one_per_commit", 1),
    ] {
        let open = Open {
            at_once,
            ..filled.clone()
        };
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        next += TRACES;
                        sample_from(Box::new(open.clone()), next - TRACES)
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, through_worker);
criterion_main!(benches);
