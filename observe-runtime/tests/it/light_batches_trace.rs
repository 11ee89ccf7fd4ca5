//! A thread's light entries share one trace snapshot, and the worker masks and limits that
//! snapshot once per batch of entries: every entry still ends with the trace as masked and
//! limited, the mask runs on the original (never on its own output, even when a thread's
//! entries are split across several of the worker's batches), and a snapshot cut by the
//! limits is counted once.

use std::time::Duration;

use observe_runtime::export::memory::InMemory;
use observe_runtime::model::{Json, Observation};
use observe_runtime::{observe, update_current_trace, Client, Config, TraceUpdate};
use serde_json::{json, Value};

#[observe(capture_input = false, capture_output = false)]
fn light_leaf(i: u64) -> u64 {
    std::hint::black_box(i)
}

/// Sets the trace's metadata and an input over its size limit, then makes `n` light
/// children (batches of 64 on this thread).
#[observe(capture_input = false, capture_output = false)]
fn updated_root(n: u64) -> u64 {
    update_current_trace(
        TraceUpdate::new()
            .metadata(json!({"k": "v"}))
            .input(&"x".repeat(300_000)),
    );
    (0..n).map(light_leaf).sum()
}

fn parsed(json: &Json) -> Value {
    serde_json::from_str(json.as_str()).expect("valid JSON")
}

#[test]
fn light_entries_split_across_batches_carry_the_trace_masked_once_and_limited() {
    let memory = InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .config(
            // Batches of 10: each thread's batch of 64 entries is split across seven.
            &Config::new()
                .flush_at(10)
                .mask(|json: Json| Json::from_raw(format!("{{\"m\":{}}}", json.as_str()))),
        )
        .build();
    client.in_scope(|| updated_root(200));
    let report = client.flush(Duration::from_secs(30));
    assert!(!report.timed_out, "{report:?}");
    let obs = memory.observations();
    let leaves: Vec<&Observation> = obs.iter().filter(|o| o.name == "light_leaf").collect();
    assert_eq!(leaves.len(), 200);
    for o in obs.iter() {
        let trace = &o.trace;
        assert_eq!(
            trace.metadata.get("k").map(parsed),
            Some(json!({"m": "v"})),
            "{}: masked once",
            o.name
        );
        let input = parsed(trace.input.as_ref().expect("the trace's input"));
        assert_eq!(input["truncated"], json!(true), "{}: {input}", o.name);
    }
    let stats = client.stats();
    assert_eq!(
        stats.truncated, 1,
        "one snapshot cut, counted once: {stats:?}"
    );
    assert_eq!(stats.destinations[0].exported, 201);
    assert!(stats.destinations[0].balanced());
}
