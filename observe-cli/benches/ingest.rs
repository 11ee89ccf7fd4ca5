//! What `observe serve` does with a request once its body is read, without the HTTP: decode
//! (OTLP protobuf or JSON, 512 spans) and write into the SQLite store, in spans per second.
//! The load generator (`examples/ingest_load.rs`) measures the same over HTTP against a
//! running server. Figures are in BENCHMARKS.md ("observe serve ingest").
//!
//! ```text
//! cargo bench -p observe-cli --bench ingest -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! The bodies are encoded before the clock starts; `decode/*` times the decoder alone,
//! `decode_write/*` the decoder and the store's write, into a new file per sample. What is
//! timed is the benchmarking thread's time on a CPU (`/proc/thread-self/schedstat`), not
//! the wall clock: the machine is shared, and under load the wall clock measures the other
//! processes. The store's own background thread (its WAL checkpoints) is not counted; the
//! load generator's figures (wall clock, whole server) are the end-to-end ones.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_ingest::{decode_request, Encoding};
use observe_model::export::Batch;
use observe_store::StoreExporter;

#[path = "support/ingest_traffic.rs"]
mod ingest_traffic;

use ingest_traffic::{Traffic, SPANS_PER_REQUEST};

/// Distinct request bodies cycled through (a trace's ids must not repeat within a sample
/// of a fresh file, or the write turns into updates).
const BODIES: usize = 64;

fn bodies(encode: fn(&Batch) -> Vec<u8>, seed: u64) -> Vec<Vec<u8>> {
    let mut traffic = Traffic::new(seed);
    (0..BODIES).map(|_| encode(&traffic.batch())).collect()
}

/// The decoded request as the store takes it.
fn decode(body: &[u8], encoding: Encoding) -> Batch {
    let decoded = decode_request(body, encoding).expect("a valid OTLP body");
    assert_eq!(decoded.observations.len(), SPANS_PER_REQUEST);
    Batch {
        observations: decoded.observations.into_iter().map(Box::new).collect(),
        ..Batch::default()
    }
}

/// Nanoseconds this thread has spent on a CPU.
fn cpu_now() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux with schedstats)");
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat's first field: time on CPU in nanoseconds");
    Duration::from_nanos(nanos)
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("serve_ingest");
    group.throughput(Throughput::Elements(SPANS_PER_REQUEST as u64));
    group.sample_size(20);
    let cases = [
        (
            "otlp_protobuf",
            Encoding::Protobuf,
            bodies(ingest_traffic::otlp_protobuf, 1),
        ),
        (
            "otlp_json",
            Encoding::Json,
            bodies(ingest_traffic::otlp_json, 2),
        ),
    ];
    for (name, encoding, bodies) in &cases {
        group.bench_function(format!("decode/{name}"), |b| {
            let mut next = bodies.iter().cycle();
            b.iter_custom(|iters| {
                let start = cpu_now();
                for _ in 0..iters {
                    drop(decode(next.next().expect("cycle"), *encoding));
                }
                cpu_now() - start
            })
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = 0u64;
    for (name, encoding, _) in &cases {
        group.bench_function(format!("decode_write/{name}"), |b| {
            b.iter_custom(|iters| {
                files += 1;
                let path = dir.path().join(format!("ingest{files}.db"));
                let mut store = StoreExporter::open(&path).expect("open the store");
                // Fresh bodies for each sample, so no id repeats in this file.
                let encode = match encoding {
                    Encoding::Protobuf => ingest_traffic::otlp_protobuf,
                    Encoding::Json => ingest_traffic::otlp_json,
                };
                let mut traffic = Traffic::new(1_000 + files);
                let bodies: Vec<Vec<u8>> = (0..iters).map(|_| encode(&traffic.batch())).collect();
                let start = cpu_now();
                for body in &bodies {
                    store.write(&decode(body, *encoding)).expect("write");
                }
                let spent = cpu_now() - start;
                drop(store);
                let _ = std::fs::remove_file(&path);
                spent
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(8))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ingest
}
criterion_main!(benches);
