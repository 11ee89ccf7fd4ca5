//! A destination whose exporter takes several batches at once (the store) is handed every
//! batch queued behind the one it takes, in one call: the store writes them in one
//! transaction, and the destination counts each of their records, exported or failed.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use observe_runtime::export::store::{StoreExporter, STORE_BATCHES_AT_ONCE};
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::{observe, Client, Config};

#[observe(capture_input = false, capture_output = false)]
fn leaf(i: u64) -> u64 {
    std::hint::black_box(i)
}

#[observe(capture_input = false, capture_output = false)]
fn root(n: u64) -> u64 {
    (0..n).map(leaf).sum()
}

/// Batches and records of each call.
type Calls = Vec<(usize, usize)>;

/// The store, held at its first call until the test lets it go, noting how many batches
/// and records each call carried.
struct Held {
    store: StoreExporter,
    /// Told when the first call begins...
    entered: Sender<()>,
    /// ...which then waits for this.
    release: Option<Receiver<()>>,
    calls: Arc<Mutex<Calls>>,
    /// Fails the calls after the first, as a full disk would.
    failing: bool,
}

impl Held {
    fn call(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        if let Some(release) = self.release.take() {
            self.entered
                .send(())
                .expect("the test waits for the first call");
            release.recv().expect("the test lets the store go");
        }
        let records = batches.iter().map(|b| b.len()).sum();
        let mut calls = self.calls.lock().unwrap();
        calls.push((batches.len(), records));
        if self.failing && calls.len() > 1 {
            return Err(ExportError::Io {
                destination: "store".into(),
                source: "disk full".into(),
            });
        }
        Ok(())
    }
}

impl Exporter for Held {
    fn name(&self) -> &str {
        "store"
    }
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.call(&[batch])?;
        self.store.export(batch)
    }
    fn batches_at_once(&self) -> usize {
        self.store.batches_at_once()
    }
    fn export_many(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        self.call(batches)?;
        self.store.export_many(batches)
    }
}

/// Sends one trace of a root alone and holds the store in its batch; then 1 root and 79
/// children in batches of at most 8, waits until the destination has been handed all 81
/// records (so every batch is queued), lets the store go and flushes; returns the client and
/// its calls.
fn run(path: &std::path::Path, failing: bool) -> (Client, Calls) {
    let (go, release) = channel();
    let (entering, entered) = channel();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder()
        .exporter(Held {
            store: StoreExporter::open(path).unwrap(),
            entered: entering,
            release: Some(release),
            calls: calls.clone(),
            failing,
        })
        .config(
            &Config::new()
                .flush_at(8)
                .flush_interval(Duration::from_millis(5)),
        )
        .build();
    client.in_scope(|| root(0));
    entered
        .recv_timeout(Duration::from_secs(60))
        .expect("the first batch reaches the store");
    client.in_scope(|| root(79));
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.stats().destination("store").map(|d| d.accepted) != Some(81) {
        assert!(
            Instant::now() < deadline,
            "the destination was never handed the 81 records: {:?}",
            client.stats()
        );
        std::thread::yield_now();
    }
    go.send(()).unwrap();
    let report = client.flush(Duration::from_secs(60));
    assert!(!report.timed_out, "{report:?}");
    let calls = calls.lock().unwrap().clone();
    (client, calls)
}

#[test]
fn batches_queued_behind_the_one_taken_are_written_in_one_call_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (client, calls) = run(&path, false);
    // 80 records in batches of at most 8: 10 or more batches (a few more when the worker
    // takes them as they come), fewer than the store takes at once, so all come in one call.
    let [(1, 1), (queued, 80)] = calls[..] else {
        panic!("the held batch, then all the others in one call: {calls:?}");
    };
    assert!((10..=STORE_BATCHES_AT_ONCE).contains(&queued), "{calls:?}");
    let stats = client.stats();
    let store = stats.destination("store").unwrap();
    assert_eq!((store.exported, store.failed, store.dropped), (81, 0, 0));
    assert!(store.balanced(), "{store:?}");
    drop(client);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 81, "the grouped batches' rows are all in the file");
}

#[test]
fn a_failed_group_counts_each_of_its_records_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (client, calls) = run(&dir.path().join("t.db"), true);
    let [(1, 1), (queued, 80)] = calls[..] else {
        panic!("the held batch, then all the others in one call: {calls:?}");
    };
    assert!(queued >= 10, "{calls:?}");
    let stats = client.stats();
    let store = stats.destination("store").unwrap();
    assert_eq!(
        (store.exported, store.failed, store.dropped),
        (1, 80, 0),
        "the group's records all failed, the first batch's exported"
    );
    assert!(store.balanced(), "{store:?}");
}
