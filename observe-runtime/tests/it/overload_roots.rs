//! A burst far larger than the queue under one root: the queue drops children (counted),
//! and keeps room for the root, which ends last and makes the children a trace.

use std::time::Duration;

use observe_runtime::export::memory::InMemory;
use observe_runtime::export::store::StoreExporter;
use observe_runtime::{observe, update_current_trace, Client, PipelineSettings, TraceUpdate};

const FLUSH: Duration = Duration::from_secs(30);
const CHILDREN: u64 = 100_000;

#[observe]
fn child(i: u64) -> u64 {
    std::hint::black_box(i)
}

#[observe(capture_input = false, capture_output = false)]
fn light_child(i: u64) -> u64 {
    std::hint::black_box(i)
}

#[observe(name = "burst")]
fn burst(light: bool) -> u64 {
    update_current_trace(TraceUpdate::new().name("burst-trace").session_id("s1"));
    (0..CHILDREN)
        .map(|i| if light { light_child(i) } else { child(i) })
        .sum()
}

fn tiny() -> PipelineSettings {
    PipelineSettings {
        queue_capacity: 64,
        max_batch_records: 32,
        ..Default::default()
    }
}

fn run(light: bool) {
    let memory = InMemory::new();
    let client = Client::builder()
        .settings(tiny())
        .exporter(memory.clone())
        .build();
    client.in_scope(|| burst(light));
    let report = client.flush(FLUSH);
    assert!(!report.timed_out);

    let roots = memory.roots();
    assert_eq!(roots.len(), 1, "the root arrives");
    let root = &roots[0];
    assert_eq!(root.name, "burst");
    assert_eq!(root.trace.name.as_deref(), Some("burst-trace"));
    let stats = client.stats();
    assert!(
        stats.dropped() > 0,
        "the burst overflowed a queue of 64: {stats:?}"
    );
    let m = stats.destination("memory").unwrap();
    assert_eq!(m.accepted, CHILDREN + 1, "{m:?}");
    assert!(m.balanced(), "{m:?}");
    assert_eq!(m.exported, memory.observations().len() as u64);
}

#[test]
fn a_burst_of_captured_children_keeps_its_root() {
    run(false);
}

#[test]
fn a_burst_of_light_children_keeps_its_root() {
    run(true);
}

#[test]
fn a_burst_keeps_its_root_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let client = Client::builder()
        .settings(tiny())
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    client.in_scope(|| burst(false));
    let report = client.shutdown(FLUSH);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (name, has_root): (Option<String>, bool) = conn
        .query_row("SELECT name, has_root FROM traces", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(name.as_deref(), Some("burst-trace"));
    assert!(has_root, "{:?}", report.stats);
}
