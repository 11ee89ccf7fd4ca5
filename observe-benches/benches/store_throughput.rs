//! Insert throughput of the embedded local store, in observations per second on one core.
//!
//! Batches are what the pipeline hands the store: 512 observations each, from
//! [`store_stream`] (spans and generations of seven-observation traces that straddle
//! batches).
//!
//! Two cases:
//!
//! - `fresh`: every sample writes into a new file, so the file holds between one batch and
//!   a few hundred thousand observations;
//! - `filled`: the file already holds [`FILLED`] observations (written untimed first), so
//!   the indexes no longer fit in SQLite's page cache by default.
//!
//! The batches are built before the clock starts; only `StoreExporter::write` is timed.
//!
//! Run: `cargo bench -p observe-benches --bench store_throughput` (criterion prints the
//! throughput as `elem/s`, one element being one observation).

mod store_stream;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_runtime::export::store::StoreExporter;
use store_stream::{Stream, BATCH};

/// Observations already in the file for the `filled` case.
const FILLED: u64 = 1_000_000;

/// Writes `iters` batches, building each before the clock starts; returns the time spent in
/// `write` alone.
fn timed_writes(store: &mut StoreExporter, stream: &mut Stream, iters: u64) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let batch = stream.batch();
        let start = Instant::now();
        store.write(&batch).expect("write");
        spent += start.elapsed();
    }
    spent
}

fn store_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = 0u64;
    group.bench_function("fresh", |b| {
        b.iter_custom(|iters| {
            files += 1;
            let path = dir.path().join(format!("fresh{files}.db"));
            let mut store = StoreExporter::open(&path).expect("open");
            let mut stream = Stream::new(files);
            let spent = timed_writes(&mut store, &mut stream, iters);
            drop(store);
            let _ = std::fs::remove_file(&path);
            spent
        })
    });

    let path = dir.path().join("filled.db");
    let mut store = StoreExporter::open(&path).expect("open");
    let mut stream = Stream::new(u64::from(u32::MAX));
    for _ in 0..FILLED / BATCH as u64 {
        store.write(&stream.batch()).expect("fill");
    }
    group.bench_function("filled", |b| {
        b.iter_custom(|iters| timed_writes(&mut store, &mut stream, iters))
    });
    group.finish();
}

criterion_group!(benches, store_throughput);
criterion_main!(benches);
