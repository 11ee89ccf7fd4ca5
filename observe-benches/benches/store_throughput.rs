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
//! - `filled_reader_polling` and `filled_reader_busy`: `filled` while another connection
//!   reads the sessions page as `observe ui` does (`session_ids` of 51, then their
//!   summaries), every [`UI_POLL`] as the UI polls, or back to back: what a reader costs
//!   the writer. The reader's page times go to standard error.
//!
//! The batches are built before the clock starts; only `StoreExporter::write` is timed.
//!
//! Run: `cargo bench -p observe-benches --bench store_throughput` (criterion prints the
//! throughput as `elem/s`, one element being one observation).

mod store_stream;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_runtime::export::store::queries::SessionFilter;
use observe_runtime::export::store::{Store, StoreExporter};
use store_stream::{Stream, BATCH};

/// Observations already in the file for the `filled` case.
const FILLED: u64 = 1_000_000;

/// How often `observe ui`'s pages poll the store (`POLL_MS` in its `app.js`); under a
/// writer every poll finds a change and reloads the page.
const UI_POLL: Duration = Duration::from_secs(2);

/// A reader of the sessions page on its own connection, every `every` (back to back when
/// zero), until dropped; then prints how many pages it read and their median time.
struct SessionsReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Duration>>>,
    label: &'static str,
}

impl SessionsReader {
    fn start(path: &Path, every: Duration, label: &'static str) -> SessionsReader {
        let store = Store::open(path).expect("reader opens");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut pages = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                let start = Instant::now();
                let ids = store
                    .session_ids(&SessionFilter::default(), 51)
                    .expect("sessions page");
                let summaries = store.session_summaries(&ids).expect("sessions' totals");
                assert_eq!(summaries.len(), ids.len());
                pages.push(start.elapsed());
                let next = start + every;
                while !stopping.load(Ordering::Relaxed) && Instant::now() < next {
                    thread::sleep(Duration::from_millis(5).min(every));
                }
            }
            pages
        });
        SessionsReader {
            stop,
            thread: Some(thread),
            label,
        }
    }
}

impl Drop for SessionsReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let mut pages = thread.join().expect("reader thread");
        pages.sort();
        let median = pages.get(pages.len() / 2).copied().unwrap_or_default();
        eprintln!(
            "{}: the reader read {} sessions pages, median {median:?}",
            self.label,
            pages.len()
        );
    }
}

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
    for (label, every) in [
        ("filled_reader_polling", UI_POLL),
        ("filled_reader_busy", Duration::ZERO),
    ] {
        let reader = SessionsReader::start(&path, every, label);
        group.bench_function(label, |b| {
            b.iter_custom(|iters| timed_writes(&mut store, &mut stream, iters))
        });
        drop(reader);
    }
    group.finish();
}

criterion_group!(benches, store_throughput);
criterion_main!(benches);
