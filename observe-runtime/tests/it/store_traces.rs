//! How trace rows are built from their observations: attributes from the root, metadata
//! merged by key, tags as a union, latency and cost kept current, retries not counted twice.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use observe_runtime::export::store::{Store, StoreExporter};
use observe_runtime::export::Batch;
use observe_runtime::model::{
    Cost, Json, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId,
};
use observe_runtime::{Client, ObservationUpdate, ScoreRequest, Trace, TraceUpdate};
use rusqlite::Connection;

const MS: u64 = 1_000_000;
const T0: u64 = 1_764_282_066_000_000_000; // 2025-11-27T22:21:06Z

fn attrs(user: &str, metadata: &[(&str, &str)], tags: &[&str]) -> Arc<TraceAttributes> {
    Arc::new(TraceAttributes {
        session_id: Some("s".into()),
        user_id: Some(user.into()),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Json::string(v)))
            .collect(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..TraceAttributes::default()
    })
}

fn obs(
    id: u64,
    parent: Option<u64>,
    start_ms: u64,
    end_ms: u64,
    cost: f64,
    trace: Arc<TraceAttributes>,
) -> Box<Observation> {
    Box::new(Observation {
        trace_id: TraceId(7),
        id: SpanId(id),
        parent_id: parent.map(SpanId),
        name: Cow::Owned(format!("obs{id}")),
        kind: ObservationType::Span,
        level: Level::Default,
        start: Timestamp(T0 + start_ms * MS),
        end: Timestamp(T0 + end_ms * MS),
        details: (cost > 0.0).then(|| {
            Box::new(ObservationDetails {
                cost: Some(Cost::total_only(cost)),
                ..ObservationDetails::default()
            })
        }),
        trace,
    })
}

type TraceRow = (String, String, String, f64, f64, i64, String);

fn trace_row(conn: &Connection) -> TraceRow {
    conn.query_row(
        "SELECT user_id, metadata, tags, latency_ms, calculated_total_cost, observation_count,
                timestamp
         FROM traces",
        [],
        |r| r.try_into(),
    )
    .unwrap()
}

#[test]
fn trace_rows_merge_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut store = StoreExporter::open(&path).unwrap();

    // Batch 1: a child that ended early, before the user id changed: 100..400 ms, $0.10.
    let mut b1 = Batch::default();
    b1.observations.push(obs(
        2,
        Some(1),
        100,
        400,
        0.10,
        attrs("early", &[("a", "1")], &["x"]),
    ));
    store.write(&b1).unwrap();
    // Batch 2: the root, 0..1000 ms, with the final attributes, and another child, $0.05.
    let root_attrs = attrs("final", &[("a", "2"), ("b", "3")], &["y", "x"]);
    let mut b2 = Batch::default();
    b2.observations
        .push(obs(3, Some(1), 500, 900, 0.05, root_attrs.clone()));
    b2.observations.push(obs(1, None, 0, 1000, 0.0, root_attrs));
    store.write(&b2).unwrap();
    // A retried batch is not counted twice.
    store.write(&b2).unwrap();
    // Batch 3: a straggler that outlived the root (1200 ms) with an old snapshot: it
    // extends latency and adds cost, but does not undo the root's attributes.
    let mut b3 = Batch::default();
    b3.observations.push(obs(
        4,
        Some(1),
        800,
        1200,
        0.01,
        attrs("stale", &[("c", "4")], &["z"]),
    ));
    store.write(&b3).unwrap();

    let conn = Connection::open(&path).unwrap();
    let (user, metadata, tags, latency, cost, count, timestamp) = trace_row(&conn);
    assert_eq!(user, "final");
    // By key: the root's values win over the earlier snapshot, later keys are added.
    assert_eq!(metadata, r#"{"a":"2","b":"3","c":"4"}"#);
    // Union in first-seen order.
    assert_eq!(tags, r#"["x","y","z"]"#);
    assert_eq!(latency, 1200.0);
    assert!((cost - 0.16).abs() < 1e-12, "{cost}");
    assert_eq!(count, 4);
    assert_eq!(timestamp, "2025-11-27T22:21:06.000000Z");
    let end: String = conn
        .query_row("SELECT end_time FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(end, "2025-11-27T22:21:07.200000Z");
}

#[test]
fn the_client_pipeline_fills_traces_observations_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let client = Client::builder()
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    let trace = client.trace(
        Trace::new("url_fetch")
            .session_id("analysis_abc123")
            .user_id("user_42")
            .tags(["content-analysis"])
            .metadata(serde_json::json!({"content_type": "article"})),
    );
    let mut llm = trace.generation("summarize");
    llm.update(
        ObservationUpdate::new()
            .model("gpt-4o")
            .cost(Cost::new(0.01, 0.02))
            .input(&serde_json::json!({"url": "https://example.com"}))
            .output(&"a summary"),
    );
    llm.end();
    trace.update(TraceUpdate::new().tags(["production"]));
    trace.score(ScoreRequest::new("quality", 0.9).comment("good"));
    trace.score(ScoreRequest::new("relevant", true));
    trace.end();
    let report = client.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.failed, 0);

    let conn = Connection::open(&path).unwrap();
    let (user, metadata, tags, latency, cost, count, _) = trace_row(&conn);
    assert_eq!(user, "user_42");
    assert_eq!(metadata, r#"{"content_type":"article"}"#);
    assert_eq!(tags, r#"["content-analysis","production"]"#);
    assert!(latency >= 0.0);
    assert!((cost - 0.03).abs() < 1e-12);
    assert_eq!(count, 2);
    let (model, input, output, usage_cost): (String, String, String, String) = conn
        .query_row(
            "SELECT model, input, output, cost_details FROM observations WHERE type = 'GENERATION'",
            [],
            |r| r.try_into(),
        )
        .unwrap();
    assert_eq!(model, "gpt-4o");
    assert_eq!(input, r#"{"url":"https://example.com"}"#);
    assert_eq!(output, r#""a summary""#);
    assert!(usage_cost.contains(r#""total":0.03"#), "{usage_cost}");
    let scores: Vec<(String, String, Option<f64>, Option<String>)> = conn
        .prepare("SELECT name, data_type, value, string_value FROM scores ORDER BY name")
        .unwrap()
        .query_map([], |r| r.try_into())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        scores,
        vec![
            ("quality".into(), "NUMERIC".into(), Some(0.9), None),
            (
                "relevant".into(),
                "BOOLEAN".into(),
                Some(1.0),
                Some("True".into())
            ),
        ]
    );

    // Read back, the observations carry what was written.
    let back = Store::open(&path)
        .unwrap()
        .session_observations("analysis_abc123")
        .unwrap();
    assert_eq!(back.len(), 2);
    let gen = back.iter().find(|o| o.name == "summarize").unwrap();
    assert_eq!(gen.kind, ObservationType::Generation);
    assert_eq!(gen.details().model.as_deref(), Some("gpt-4o"));
    assert_eq!(gen.trace.user_id.as_deref(), Some("user_42"));
    assert!((gen.total_cost() - 0.03).abs() < 1e-12);
}

#[test]
fn a_batch_holding_an_observation_twice_stores_and_counts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut store = StoreExporter::open(&path).unwrap();
    let a = attrs("u", &[], &[]);
    let mut batch = Batch::default();
    batch
        .observations
        .push(obs(2, Some(1), 100, 400, 0.10, a.clone()));
    batch
        .observations
        .push(obs(2, Some(1), 100, 400, 0.10, a.clone()));
    batch.observations.push(obs(1, None, 0, 1000, 0.0, a));
    store.write(&batch).unwrap();

    let conn = Connection::open(&path).unwrap();
    let (_, _, _, latency, cost, count, _) = trace_row(&conn);
    assert_eq!((latency, count), (1000.0, 2));
    assert!((cost - 0.10).abs() < 1e-12, "{cost}");
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 2);
}

#[test]
fn observations_left_by_a_deleted_trace_never_join_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut store = StoreExporter::open(&path).unwrap();
    let mut first = Batch::default();
    first
        .observations
        .push(obs(1, None, 0, 1000, 0.0, attrs("u", &[], &[])));
    store.write(&first).unwrap();
    // Someone deletes the trace's row by hand, and not its observations.
    let conn = Connection::open(&path).unwrap();
    conn.execute("DELETE FROM traces", []).unwrap();

    let mut second = Batch::default();
    let mut other = obs(5, None, 0, 500, 0.0, attrs("u", &[], &[]));
    other.trace_id = TraceId(8);
    second.observations.push(other);
    store.write(&second).unwrap();

    let back = Store::open(&path)
        .unwrap()
        .trace_observations(&TraceId(8).to_string())
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].id, SpanId(5));
}

/// Many traces per batch, as the pipeline sends them (the writer inserts those rows many
/// to a statement): each trace's row counts each of its observations once, also when
/// traces straddle batches and when part of a batch is sent again.
#[test]
fn many_traces_across_batches_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut store = StoreExporter::open(&path).unwrap();
    const TRACES: u64 = 60;
    const NEW: u64 = 12;
    const PER_TRACE: u64 = 9;
    // Observation k of trace t: 10 ms long, starting at k * 10 ms; $0.01 each but the root.
    let observation = |t: u64, k: u64| {
        let mut o = obs(
            t * 100 + k + 1,
            (k > 0).then_some(t * 100 + 1),
            k * 10,
            k * 10 + 10,
            if k > 0 { 0.01 } else { 0.0 },
            attrs(&format!("user{}", t % 3), &[], &[]),
        );
        // New traces sort among the first ones.
        let key = if t < TRACES {
            t * 2
        } else {
            (t - TRACES) * 10 + 1
        };
        o.trace_id = TraceId(u128::from(key) << 64 | 0xabc);
        o
    };
    // Batch 1: the first 5 observations of the first 60 traces, interleaved across traces.
    // Batch 2: the rest of them, again half of batch 1 (a partial retry), and 12 whole new
    // traces, whose ids sort among the others.
    let mut first = Batch::default();
    let mut second = Batch::default();
    for k in 0..PER_TRACE {
        for t in 0..TRACES {
            if k < 5 {
                first.observations.push(observation(t, k));
                if t % 2 == 0 {
                    second.observations.push(observation(t, k));
                }
            } else {
                second.observations.push(observation(t, k));
            }
        }
        for t in TRACES..TRACES + NEW {
            second.observations.push(observation(t, k));
        }
    }
    store.write(&first).unwrap();
    store.write(&second).unwrap();
    store.write(&second).unwrap();

    let conn = Connection::open(&path).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as u64, (TRACES + NEW) * PER_TRACE);
    let mut rows = conn
        .prepare(
            "SELECT t.observation_count, t.calculated_total_cost, t.latency_ms,
                    (SELECT COUNT(*) FROM observations o WHERE o.trace_seq = t.seq),
                    (SELECT COUNT(*) FROM observations o WHERE o.trace_id = t.id)
             FROM traces t",
        )
        .unwrap();
    let rows: Vec<(i64, f64, f64, i64, i64)> = rows
        .query_map([], |r| r.try_into())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len() as u64, TRACES + NEW);
    for (count, cost, latency, by_seq, by_id) in rows {
        assert_eq!((count, by_seq, by_id), (9, 9, 9));
        assert!((cost - 0.08).abs() < 1e-9, "{cost}");
        assert_eq!(latency, 90.0);
    }
    // Reading one back finds exactly its observations.
    let back = Store::open(&path)
        .unwrap()
        .trace_observations(&TraceId(14 << 64 | 0xabc).to_string())
        .unwrap();
    assert_eq!(back.len() as u64, PER_TRACE);
    assert!(back.iter().all(|o| o.trace_id == TraceId(14 << 64 | 0xabc)));
}
