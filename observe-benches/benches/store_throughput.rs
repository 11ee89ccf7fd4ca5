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
//! - `filled_grouped`: `filled`, [`STORE_BATCHES_AT_ONCE`] batches to a transaction
//!   ([`StoreExporter::write_many`]), as the pipeline's destination hands the store the
//!   batches queued behind the one it takes;
//! - `filled_reader_polling` and `filled_reader_busy` (and their `_grouped` twins): `filled`
//!   while another connection reads the sessions page as `observe ui` does (`session_ids`
//!   of 51, then their summaries), every [`UI_POLL`] as the UI polls, or back to back: what
//!   a reader costs the writer. The reader's page times go to standard error.
//!
//! With `OBSERVE_BENCH_DIR` set, the filled file is written there and kept (as
//! `filled.db`), for measuring the floor on it with the `sqlite3` shell
//! (`scripts/store_floor.sh`).
//!
//! The batches are built before the clock starts; only `StoreExporter::write` (or
//! `write_many`) is timed. Each case also prints, to standard error, the CPU time its writes
//! took per observation, on the writing thread and in the whole process: figures that the
//! other work on a shared machine does not inflate, unlike the wall times criterion reports.
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
use observe_runtime::export::store::{Store, StoreExporter, STORE_BATCHES_AT_ONCE};
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

/// One clock's time now (`CLOCK_THREAD_CPUTIME_ID`, `CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the call's duration.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time spent in the timed writes of one case, which load on the machine does not
/// inflate as it does wall time; printed to standard error when dropped.
struct CpuTally {
    label: &'static str,
    observations: u64,
    /// The writing thread's CPU time...
    thread: Duration,
    /// ...and the whole process's (the writer, the store's checkpointing thread and, in
    /// the reader cases, the reader).
    process: Duration,
}

impl CpuTally {
    fn new(label: &'static str) -> CpuTally {
        CpuTally {
            label,
            observations: 0,
            thread: Duration::ZERO,
            process: Duration::ZERO,
        }
    }

    /// Times `write` (which stores `observations`): returns its wall time, adds its CPU time.
    fn time(&mut self, observations: u64, write: impl FnOnce()) -> Duration {
        let (thread, process) = (
            cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID),
            cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID),
        );
        let start = Instant::now();
        write();
        let wall = start.elapsed();
        self.thread += cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(thread);
        self.process += cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID).saturating_sub(process);
        self.observations += observations;
        wall
    }
}

impl Drop for CpuTally {
    fn drop(&mut self) {
        if self.observations == 0 {
            return; // the case did not run (filtered out)
        }
        let per = |d: Duration| d.as_nanos() / u128::from(self.observations.max(1));
        let rate = |d: Duration| self.observations as f64 / d.as_secs_f64().max(1e-9) / 1e3;
        eprintln!(
            "{}: {} observations; writer thread {} ns CPU each ({:.0} k/s per CPU-second), \
             process {} ns ({:.0} k/s)",
            self.label,
            self.observations,
            per(self.thread),
            rate(self.thread),
            per(self.process),
            rate(self.process)
        );
    }
}

/// Writes `iters` batches, building each before the clock starts; returns the time spent in
/// `write` alone.
fn timed_writes(
    store: &mut StoreExporter,
    stream: &mut Stream,
    iters: u64,
    cpu: &mut CpuTally,
) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let batch = stream.batch();
        spent += cpu.time(BATCH as u64, || store.write(&batch).expect("write"));
    }
    spent
}

/// Writes `iters` batches, [`STORE_BATCHES_AT_ONCE`] to a transaction, building each group
/// before the clock starts; returns the time spent in `write_many` alone.
fn timed_group_writes(
    store: &mut StoreExporter,
    stream: &mut Stream,
    iters: u64,
    cpu: &mut CpuTally,
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(STORE_BATCHES_AT_ONCE as u64);
        left -= n;
        let batches: Vec<_> = (0..n).map(|_| stream.batch()).collect();
        let group: Vec<_> = batches.iter().collect();
        spent += cpu.time(n * BATCH as u64, || {
            store.write_many(&group).expect("write")
        });
    }
    spent
}

/// The timed writes of one case.
type Writes = fn(&mut StoreExporter, &mut Stream, u64, &mut CpuTally) -> Duration;

/// The writes of one case: a batch to a transaction, or a group.
fn writes(grouped: bool) -> Writes {
    if grouped {
        timed_group_writes
    } else {
        timed_writes
    }
}

fn store_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = 0u64;
    let mut fresh_cpu = CpuTally::new("fresh");
    group.bench_function("fresh", |b| {
        b.iter_custom(|iters| {
            files += 1;
            let path = dir.path().join(format!("fresh{files}.db"));
            let mut store = StoreExporter::open(&path).expect("open");
            let mut stream = Stream::new(files);
            let spent = timed_writes(&mut store, &mut stream, iters, &mut fresh_cpu);
            drop(store);
            let _ = std::fs::remove_file(&path);
            spent
        })
    });

    let kept = std::env::var_os("OBSERVE_BENCH_DIR").map(std::path::PathBuf::from);
    let path = kept.as_deref().unwrap_or(dir.path()).join("filled.db");
    let mut store = StoreExporter::open(&path).expect("open");
    let mut stream = Stream::new(u64::from(u32::MAX));
    for _ in 0..FILLED / BATCH as u64 {
        store.write(&stream.batch()).expect("fill");
    }
    drop(fresh_cpu);
    for (label, grouped) in [("filled", false), ("filled_grouped", true)] {
        let mut cpu = CpuTally::new(label);
        let write = writes(grouped);
        group.bench_function(label, |b| {
            b.iter_custom(|iters| write(&mut store, &mut stream, iters, &mut cpu))
        });
    }
    for (label, every, grouped) in [
        ("filled_reader_polling", UI_POLL, false),
        ("filled_reader_polling_grouped", UI_POLL, true),
        ("filled_reader_busy", Duration::ZERO, false),
        ("filled_reader_busy_grouped", Duration::ZERO, true),
    ] {
        let reader = SessionsReader::start(&path, every, label);
        let mut cpu = CpuTally::new(label);
        let write = writes(grouped);
        group.bench_function(label, |b| {
            b.iter_custom(|iters| write(&mut store, &mut stream, iters, &mut cpu))
        });
        drop(reader);
    }
    group.finish();
}

criterion_group!(benches, store_throughput);
criterion_main!(benches);
