//! The view's session reads count a trace's errors once: a failed request that marked
//! three observations at ERROR is one of the session's `errors`, with its three
//! `failed_observations` told apart.

use std::sync::Arc;

use observe_model::export::{Batch, Exporter};
use observe_model::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};
use observe_store::{Store, StoreExporter};

fn trace(levels: &[Level]) -> Vec<Observation> {
    let attributes = Arc::new(TraceAttributes {
        session_id: Some("s".into()),
        ..TraceAttributes::default()
    });
    let trace_id = TraceId::random();
    let root = SpanId::random();
    let observation = |id, parent, level| Observation {
        trace_id,
        id,
        parent_id: parent,
        name: "step".into(),
        kind: ObservationType::Span,
        level,
        start: Timestamp::now(),
        end: Timestamp::now(),
        details: None,
        trace: Arc::clone(&attributes),
    };
    let mut all = vec![observation(root, None, Level::Default)];
    all.extend(
        levels
            .iter()
            .map(|level| observation(SpanId::random(), Some(root), *level)),
    );
    all
}

#[test]
fn a_trace_with_errors_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut observations = trace(&[Level::Error, Level::Error, Level::Error, Level::Warning]);
    observations.extend(trace(&[Level::Default]));
    observations.extend(trace(&[Level::Warning, Level::Warning]));
    let mut exporter = StoreExporter::open(&path).unwrap();
    exporter
        .export(&Batch {
            observations: observations.into_iter().map(Box::new).collect(),
            scores: vec![],
        })
        .unwrap();
    exporter.shutdown().unwrap();

    let store = Store::open(&path).unwrap();
    let summary = &store.session_summaries(&["s".into()]).unwrap()[0];
    assert_eq!(summary["traces"], 3);
    assert_eq!(summary["errors"], 1, "{summary}");
    assert_eq!(summary["warnings"], 2, "{summary}");
    assert_eq!(summary["failed_observations"], 3, "{summary}");

    let turns = store.session_turns("s").unwrap();
    let mut counts: Vec<(i64, i64, i64)> = turns
        .iter()
        .map(|t| {
            (
                t["errors"].as_i64().unwrap(),
                t["warnings"].as_i64().unwrap(),
                t["failed_observations"].as_i64().unwrap(),
            )
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [(0, 0, 0), (0, 1, 0), (1, 1, 3)]);
}
