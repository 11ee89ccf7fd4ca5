//! Several threads and several processes write one store file at once while a reader
//! reads it; nothing is lost and the reader never fails.
//!
//! The child processes are this test binary itself, run with a filter that selects
//! `child_writer` and an environment variable that makes it write.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observe_runtime::export::store::{sql, Store, StoreExporter};
use observe_runtime::model::Cost;
use observe_runtime::{Client, ObservationUpdate, Trace};

const TRACES_PER_WRITER: usize = 300;
const CHILD_ENV: &str = "OBSERVE_TEST_CHILD_WRITER";

/// Writes `TRACES_PER_WRITER` traces of two observations through the real pipeline, in
/// small batches so that writers interleave many transactions.
fn write_traces(path: &Path, writer: &str) {
    let store = StoreExporter::open(path).expect("open store");
    let client = Client::builder()
        .exporter(store)
        .config(&observe_runtime::Config::new().flush_at(16))
        .build();
    for i in 0..TRACES_PER_WRITER {
        let trace = client.trace(
            Trace::new("job")
                .session_id(format!("{writer}-{}", i % 10))
                .user_id(writer.to_owned()),
        );
        let mut llm = trace.generation("llm");
        llm.update(ObservationUpdate::new().cost(Cost::total_only(0.001)));
        llm.end();
        trace.end();
    }
    let report = client.shutdown(Duration::from_secs(60));
    assert_eq!(report.stats.failed, 0, "{report:?}");
    assert_eq!(report.stats.dropped(), 0, "{report:?}");
    assert_eq!(report.stats.exported, 2 * TRACES_PER_WRITER as u64);
}

/// Not a test of its own: the body of a child process (does nothing in a normal run).
#[test]
fn child_writer() {
    if let (Ok(path), Ok(name)) = (std::env::var("OBSERVE_TEST_PATH"), std::env::var(CHILD_ENV)) {
        write_traces(Path::new(&path), &name);
    }
}

fn count(store: &Store, query: &str) -> i64 {
    match sql::query(store, query).expect(query).rows[..] {
        [ref row] => match row[..] {
            [sql::Value::Integer(n)] => n,
            ref other => panic!("{query}: {other:?}"),
        },
        ref rows => panic!("{query}: {rows:?}"),
    }
}

#[test]
fn threads_and_processes_write_one_file_while_a_reader_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // Created first so that the reader has a file from the start.
    drop(StoreExporter::open(&path).unwrap());

    let children: Vec<_> = ["process-a", "process-b"]
        .iter()
        .map(|name| {
            Command::new(std::env::current_exe().unwrap())
                .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, name)
                .env("OBSERVE_TEST_PATH", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn child writer")
        })
        .collect();
    let threads: Vec<_> = ["thread-a", "thread-b"]
        .iter()
        .map(|name| {
            let path = path.clone();
            std::thread::spawn(move || write_traces(&path, name))
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, path) = (done.clone(), path.clone());
        std::thread::spawn(move || {
            let store = Store::open(&path).expect("reader opens");
            let mut last = 0;
            let mut reads = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                let n = count(&store, "SELECT COUNT(*) FROM observations");
                assert!(n >= last, "a reader saw rows disappear: {last} -> {n}");
                // Each batch is one transaction: a trace row and its observations agree.
                let orphans = count(
                    &store,
                    "SELECT COUNT(*) FROM traces t WHERE t.observation_count !=
                         (SELECT COUNT(*) FROM observations o WHERE o.trace_id = t.id)",
                );
                assert_eq!(orphans, 0, "a reader saw half a batch");
                last = n;
                reads += 1;
                if finished {
                    return reads;
                }
            }
        })
    };

    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child writer failed");
    }
    for t in threads {
        t.join().expect("a writer thread failed");
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().expect("the reader failed");
    assert!(reads >= 1);

    let store = Store::open(&path).unwrap();
    let writers = 4;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM observations"),
        (writers * 2 * TRACES_PER_WRITER) as i64
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM traces"),
        (writers * TRACES_PER_WRITER) as i64
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM traces WHERE has_root = 1 AND observation_count = 2
                 AND abs(calculated_total_cost - 0.001) < 1e-12 AND session_id IS NOT NULL"
        ),
        (writers * TRACES_PER_WRITER) as i64
    );
    assert_eq!(
        count(&store, "SELECT COUNT(DISTINCT user_id) FROM traces"),
        4
    );
    assert_eq!(
        count(&store, "SELECT COUNT(DISTINCT session_id) FROM traces"),
        40
    );
}
