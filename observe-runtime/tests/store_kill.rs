//! A writer killed with SIGKILL in the middle of its work leaves a readable file that holds
//! every batch it had committed.
//!
//! The child is this test binary, run with a filter that selects `child_endless_writer`;
//! it prints a line after each committed batch, and the parent kills it after reading
//! enough lines (no sleeps, no timing): after 30 batches, and again in a second test once
//! the store's checkpointing thread has copied the WAL into the file a few times, so that
//! the kill lands while checkpoints run beside the writes.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use observe_runtime::export::store::{Store, StoreExporter};
use observe_runtime::export::Batch;
use observe_runtime::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};
use rusqlite::Connection;

const CHILD_ENV: &str = "OBSERVE_TEST_ENDLESS_WRITER";
const TRACES_PER_BATCH: u64 = 25;

fn batch(n: u64) -> Batch {
    let attrs = Arc::new(TraceAttributes {
        session_id: Some("killed".into()),
        ..TraceAttributes::default()
    });
    let now = Timestamp::now();
    let mut batch = Batch::default();
    for t in 0..TRACES_PER_BATCH {
        let trace_id = TraceId(((n as u128) << 32) | t as u128 | 1 << 100);
        let root = SpanId((n << 20) | (t << 1) | 1 << 60);
        for (id, parent) in [(SpanId(root.0 + 1), Some(root)), (root, None)] {
            batch.observations.push(Box::new(Observation {
                trace_id,
                id,
                parent_id: parent,
                name: Cow::Borrowed("step"),
                kind: ObservationType::Span,
                level: Level::Default,
                start: now,
                end: now,
                details: None,
                trace: attrs.clone(),
            }));
        }
    }
    batch
}

/// Not a test of its own: the body of the child process (does nothing in a normal run).
#[test]
fn child_endless_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = StoreExporter::open(Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    // Bounded, in case the parent is gone: far more batches than the parent waits for.
    for n in 0..1_000_000 {
        store.write(&batch(n)).unwrap();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_a_readable_file_with_what_it_committed() {
    kill_and_check(|n, _| n >= 30);
}

/// The checkpointing thread copies the WAL into the database file once it holds about 32 MB,
/// then after every 4 MB more; the file grows from a few pages as it does, so once it holds
/// 12 MB the kill lands among the thread's checkpoints.
#[test]
fn a_writer_killed_while_checkpoints_run_leaves_a_readable_file() {
    const COPIED: u64 = 3 * 4 * 1024 * 1024;
    kill_and_check(|n, path| {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        assert!(
            n < 200_000,
            "after {n} batches the database file holds {size} bytes: the WAL was never checkpointed"
        );
        size >= COPIED
    });
}

/// Runs the endless writer and kills it after the batch `n` for which `enough(n, path)`
/// holds; then checks the file.
fn kill_and_check(enough: impl Fn(u64, &Path) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_endless_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            let n: u64 = n.trim().parse().unwrap();
            if enough(n, &path) {
                committed = Some(n + 1);
                child.kill().unwrap(); // SIGKILL on Unix
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    let committed = committed.expect("the child committed batches");

    let conn = Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let observations: i64 = conn
        .query_row("SELECT COUNT(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    let observations = observations as u64;
    assert!(
        observations >= committed * TRACES_PER_BATCH * 2,
        "{observations} observations, {committed} batches committed"
    );
    // Whole batches only: every trace has both of its observations.
    let partial: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM traces WHERE observation_count != 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(partial, 0);
    assert_eq!(observations % (TRACES_PER_BATCH * 2), 0);
    drop(conn);

    // A new writer picks up where the killed one stopped.
    let mut store = StoreExporter::open(&path).unwrap();
    store.write(&batch(u64::from(u32::MAX))).unwrap();
    let reader = Store::open(&path).unwrap();
    assert!(!reader.session_observations("killed").unwrap().is_empty());
}
