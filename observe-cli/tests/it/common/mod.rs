//! A small store with known latencies, costs and times relative to now, shared by the CLI
//! tests. Every expected number in the tests is worked out by hand from this table.
//!
//! All times are whole seconds back from "now" (truncated to the second), so that trace
//! latencies and session durations are exact.
//!
//! | trace | user | session | content_type | starts | latency ms | cost |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | t1 | alice | a1 | article | 2 days ago | 1000 | 0.10 |
//! | t2 | alice | a1 | article | 2 days ago + 5 s | 2000 | 0.20 |
//! | t3 | alice | a2 | article | 10 days ago | 3000 | 0.30 |
//! | t4 | alice | a_old | article | 40 days ago | 9000 | 5.00 |
//! | t5 | bob | b1 | video | 1 day ago | 4000 | 0.05 |
//! | t6 | bob | b1 | video | 1 day ago + 1 s | 8000 | 0.05 |
//! | c1..c5 | carol | c1..c5 (one each) | audio | 20 days ago + k min | 500, 1000, 1500, 2000, 2500 | 0.01 each |
//! | d1..d6 | dave | d1..d6 (one each) | (none) | 15 days ago + k min | 3000 each | 0.02 each |
//! | anon | (none) | (none) | (none) | 3 days ago | 100 | 0 |
//!
//! Each trace is a root span from its start to start + latency, with one child generation
//! (10 ms after the start, 10 ms before the end) that carries the cost.

#![allow(dead_code)]

pub mod priced;
pub mod record;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, Json, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId, Usage,
};

pub const SECOND: u64 = 1_000_000_000;
pub const DAY: u64 = 86_400 * SECOND;

pub struct Spec {
    pub key: &'static str,
    pub user: Option<&'static str>,
    pub session: Option<String>,
    pub content_type: Option<&'static str>,
    /// Nanoseconds before now.
    pub ago: u64,
    pub latency_ms: u64,
    pub cost: f64,
}

pub fn specs() -> Vec<Spec> {
    let s = |key, user, session: &str, ct, ago, latency_ms, cost| Spec {
        key,
        user: Some(user),
        session: Some(session.to_owned()),
        content_type: ct,
        ago,
        latency_ms,
        cost,
    };
    let mut v = vec![
        s("t1", "alice", "a1", Some("article"), 2 * DAY, 1000, 0.10),
        s(
            "t2",
            "alice",
            "a1",
            Some("article"),
            2 * DAY - 5 * SECOND,
            2000,
            0.20,
        ),
        s("t3", "alice", "a2", Some("article"), 10 * DAY, 3000, 0.30),
        s(
            "t4",
            "alice",
            "a_old",
            Some("article"),
            40 * DAY,
            9000,
            5.00,
        ),
        s("t5", "bob", "b1", Some("video"), DAY, 4000, 0.05),
        s("t6", "bob", "b1", Some("video"), DAY - SECOND, 8000, 0.05),
    ];
    const CAROL: [&str; 5] = ["c1", "c2", "c3", "c4", "c5"];
    for (k, key) in CAROL.iter().enumerate() {
        let k = k as u64;
        v.push(s(
            key,
            "carol",
            key,
            Some("audio"),
            20 * DAY - k * 60 * SECOND,
            500 * (k + 1),
            0.01,
        ));
    }
    const DAVE: [&str; 6] = ["d1", "d2", "d3", "d4", "d5", "d6"];
    for (k, key) in DAVE.iter().enumerate() {
        let k = k as u64;
        v.push(s(
            key,
            "dave",
            key,
            None,
            15 * DAY - k * 60 * SECOND,
            3000,
            0.02,
        ));
    }
    v.push(Spec {
        key: "anon",
        user: None,
        session: None,
        content_type: None,
        ago: 3 * DAY,
        latency_ms: 100,
        cost: 0.0,
    });
    v
}

/// Now, truncated to the second.
pub fn now() -> Timestamp {
    Timestamp(Timestamp::now().as_nanos() / SECOND * SECOND)
}

/// The observations of one trace: root span and a generation with the cost.
#[allow(clippy::vec_box)] // what `Batch::observations` holds
pub fn trace_observations(spec: &Spec, index: usize, now: Timestamp) -> Vec<Box<Observation>> {
    let start = Timestamp(now.as_nanos() - spec.ago);
    let end = Timestamp(start.as_nanos() + spec.latency_ms * 1_000_000);
    let mut metadata = std::collections::BTreeMap::new();
    if let Some(ct) = spec.content_type {
        metadata.insert("content_type".to_owned(), Json::string(ct));
    }
    metadata.insert("fixture".to_owned(), Json::string(spec.key));
    let attrs = Arc::new(TraceAttributes {
        name: Some(format!("workflow_{}", spec.key)),
        session_id: spec.session.clone(),
        user_id: spec.user.map(str::to_owned),
        tags: vec!["fixture".to_owned()],
        metadata,
        ..TraceAttributes::default()
    });
    let trace_id = TraceId(0x1000 + index as u128);
    let root_id = SpanId(0x1_0000 + 2 * index as u64);
    let child = Observation {
        trace_id,
        id: SpanId(root_id.0 + 1),
        parent_id: Some(root_id),
        name: Cow::Borrowed("summarize"),
        kind: ObservationType::Generation,
        level: Level::Default,
        start: Timestamp(start.as_nanos() + 10_000_000),
        end: Timestamp(end.as_nanos() - 10_000_000),
        details: Some(Box::new(ObservationDetails {
            model: Some("gpt-4o-mini".to_owned()),
            usage: Some(Usage::new(100, 20)),
            cost: Some(Cost::total_only(spec.cost)),
            input: Some(Json::string(&format!("input of {}", spec.key))),
            output: Some(Json::string(&format!("output of {}", spec.key))),
            ..ObservationDetails::default()
        })),
        trace: attrs.clone(),
    };
    let root = Observation {
        trace_id,
        id: root_id,
        parent_id: None,
        name: Cow::Owned(format!("workflow_{}", spec.key)),
        kind: ObservationType::Span,
        level: Level::Default,
        start,
        end,
        details: None,
        trace: attrs,
    };
    vec![Box::new(child), Box::new(root)]
}

/// The trace id of the fixture trace at `index` in [`specs`].
pub fn trace_id(index: usize) -> String {
    TraceId(0x1000 + index as u128).to_string()
}

/// Writes the whole fixture into a new store at `path`.
pub fn write_fixture(path: &Path) -> Timestamp {
    let now = now();
    let mut batch = Batch::default();
    for (i, spec) in specs().iter().enumerate() {
        batch.observations.extend(trace_observations(spec, i, now));
    }
    record::write_batch(path, &batch);
    now
}

/// The stdout of a run of `observe` that must succeed.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "observe failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The stderr of a run of `observe` that must fail.
pub fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "observe succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the `observe` binary on the store at `db` (none: `--db` left out), with
/// `OBSERVE_STORE_PATH` unset.
pub fn observe(db: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_observe"));
    if let Some(db) = db {
        cmd.arg("--db").arg(db);
    }
    cmd.args(args)
        .env_remove("OBSERVE_STORE_PATH")
        .output()
        .expect("run observe")
}
