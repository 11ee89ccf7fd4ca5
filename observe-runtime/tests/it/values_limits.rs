//! Odd values from the application: costs that are not numbers, counts at the edge of
//! `u64`, fields of megabytes, JSON nested thousands deep. Each is refused or cut before it
//! leaves the process, counted, and never takes other records with it.

use std::sync::Arc;
use std::time::Duration;

use observe_runtime::export::store::StoreExporter;
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::limits::{MAX_ATTRIBUTE_CHARS, MAX_JSON_DEPTH, MAX_MESSAGE_CHARS};
use observe_runtime::model::{
    Cost, Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId, Usage,
};
use observe_runtime::{Client, ObservationUpdate, PipelineSettings, Trace, TraceUpdate};
use rusqlite::Connection;

const WAIT: Duration = Duration::from_secs(10);

fn store() -> (tempfile::TempDir, std::path::PathBuf, StoreExporter) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let store = StoreExporter::open(&path).unwrap();
    (dir, path, store)
}

#[test]
fn a_cost_that_is_not_a_number_is_dropped_and_the_trace_and_session_stay() {
    let (_dir, path, store) = store();
    let client = Client::builder().exporter(store).build();
    for (i, bad) in [f64::NAN, f64::INFINITY, -1.0].into_iter().enumerate() {
        let trace = client.trace(Trace::new(format!("t{i}")).session_id("s1"));
        let mut llm = trace.generation("llm");
        llm.update(ObservationUpdate::new().cost(Cost::total_only(bad)));
        llm.update(ObservationUpdate::new().cost(Cost::new(0.5, bad)));
        llm.end();
        let mut ok = trace.generation("ok");
        ok.update(ObservationUpdate::new().cost(Cost::total_only(0.25)));
        ok.end();
        trace.end();
    }
    let report = client.shutdown(WAIT);
    assert_eq!(report.stats.exported, 9);
    assert_eq!(report.stats.failed, 0);

    let conn = Connection::open(&path).unwrap();
    let (traces, cost): (i64, f64) = conn
        .query_row(
            "SELECT COUNT(*), SUM(calculated_total_cost) FROM traces WHERE session_id = 's1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(traces, 3, "every trace is stored");
    assert!(
        (cost - 0.75).abs() < 1e-12,
        "only the valid costs count: {cost}"
    );
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM observations o WHERE NOT EXISTS \
             (SELECT 1 FROM traces t WHERE t.seq = o.trace_seq)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let no_cost: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE name = 'llm' AND cost_details IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(no_cost, 3, "the observation is kept without its cost");
}

fn hand_built(trace: u128, id: u64, cost: f64) -> Box<Observation> {
    let mut o = Observation {
        trace_id: TraceId(trace),
        id: SpanId(id),
        parent_id: None,
        name: "hand".into(),
        kind: ObservationType::Generation,
        level: Level::Default,
        start: Timestamp(1_764_282_066_000_000_000),
        end: Timestamp(1_764_282_067_000_000_000),
        details: None,
        trace: Arc::new(TraceAttributes {
            session_id: Some("s2".into()),
            ..Default::default()
        }),
    };
    o.details_mut().cost = Some(Cost::total_only(cost));
    Box::new(o)
}

#[test]
fn the_store_keeps_a_hand_built_record_with_a_cost_that_is_not_a_number() {
    let (_dir, path, mut store) = store();
    let batch = Batch {
        observations: vec![hand_built(1, 1, f64::NAN), hand_built(2, 2, 0.5)],
        scores: vec![],
    };
    store.export(&batch).unwrap();
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<(String, f64)> = conn
        .prepare("SELECT id, calculated_total_cost FROM traces ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1, 0.0);
    assert_eq!(rows[1].1, 0.5);
}

#[test]
fn a_row_sqlite_refuses_is_counted_with_its_reason_and_the_rest_is_stored() {
    let (_dir, path, mut store) = store();
    // A real constraint failure, raised by SQLite itself for one row.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON observations WHEN NEW.name = 'refused' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;",
        )
        .unwrap();
    let mut observations: Vec<_> = (1..=40).map(|i| hand_built(1, i, 0.1)).collect();
    observations[20].name = "refused".into();
    // One new trace: its rows go 16 to a statement, then one by one for the refused chunk.
    let err = store
        .export(&Batch {
            observations,
            scores: vec![],
        })
        .unwrap_err();
    match err {
        ExportError::Partial {
            refused, message, ..
        } => {
            assert_eq!(refused, 1);
            assert!(message.contains("refused by the test trigger"), "{message}");
        }
        other => panic!("expected a partial failure, got {other}"),
    }
    let stored: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 39);
}

#[test]
fn usage_arithmetic_saturates() {
    let u = Usage::new(u64::MAX, 1);
    assert_eq!(u.get("total"), Some(u64::MAX));
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("t"));
    let mut llm = trace.generation("llm");
    llm.update(ObservationUpdate::new().usage(Usage::new(u64::MAX, u64::MAX)));
    llm.end();
    trace.end();
    client.flush(WAIT);
    let llm = memory.find("llm").unwrap();
    assert_eq!(
        llm.details().usage.as_ref().unwrap().get("total"),
        Some(u64::MAX)
    );
}

#[test]
fn huge_fields_end_up_within_their_limits_in_every_destination() {
    let (_dir, path, store) = store();
    let memory = observe_runtime::export::memory::InMemory::new();
    let settings = PipelineSettings {
        base_attributes: TraceAttributes {
            release: Some("r".repeat(100_000)),
            ..Default::default()
        },
        ..Default::default()
    };
    let client = Client::builder()
        .settings(settings)
        .exporter(memory.clone())
        .exporter(store)
        .build();
    let trace = client.trace(
        Trace::new("t")
            .input(&"i".repeat(5_000_000))
            .release("x".repeat(100_000)),
    );
    let mut llm = trace.generation("llm");
    llm.update(
        ObservationUpdate::new()
            .model("m".repeat(3_000_000))
            .status_message("s".repeat(3_000_000)),
    );
    llm.end();
    trace.end();
    let report = client.shutdown(WAIT);
    assert_eq!(report.stats.exported, 2);
    assert!(report.stats.truncated >= 2, "{:?}", report.stats);

    let llm = memory.find("llm").unwrap();
    let d = llm.details();
    assert_eq!(
        d.model.as_ref().unwrap().chars().count(),
        MAX_ATTRIBUTE_CHARS
    );
    assert!(d
        .model
        .as_ref()
        .unwrap()
        .ends_with("…[truncated 3000000 bytes]"));
    assert_eq!(
        d.status_message.as_ref().unwrap().chars().count(),
        MAX_MESSAGE_CHARS
    );
    assert_eq!(
        llm.trace.release.as_ref().unwrap().chars().count(),
        MAX_ATTRIBUTE_CHARS
    );
    let root = memory.find("t").unwrap();
    let input = root.trace.input.as_ref().unwrap().to_value();
    assert_eq!(input["truncated"], true);
    assert_eq!(input["original_bytes"], 5_000_002);

    let conn = Connection::open(&path).unwrap();
    let (release, input_len): (String, i64) = conn
        .query_row("SELECT release, LENGTH(input) FROM traces", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(release.chars().count(), MAX_ATTRIBUTE_CHARS);
    assert!(input_len < 1_000, "{input_len}");
    let longest: i64 = conn
        .query_row(
            "SELECT MAX(MAX(LENGTH(model), LENGTH(status_message))) FROM observations",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(longest <= MAX_MESSAGE_CHARS as i64 * 4);
}

/// Serializes as `depth` nested arrays, without building them first.
struct Nested(usize);

impl serde::Serialize for Nested {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(usize::from(self.0 > 0)))?;
        if self.0 > 0 {
            seq.serialize_element(&Nested(self.0 - 1))?;
        }
        seq.end()
    }
}

#[test]
fn json_nested_ten_thousand_deep_never_reaches_the_store_as_is() {
    // Serializing 10,000 levels takes a deep stack on the caller's side; that is the
    // application's value, not the runtime's doing.
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(deep_json_in_every_structured_field)
        .unwrap()
        .join()
        .unwrap();
}

fn deep_json_in_every_structured_field() {
    let (_dir, path, store) = store();
    let client = Client::builder().exporter(store).build();
    let trace = client.trace(Trace::new("t").input(&Nested(10_000)));
    trace.update(TraceUpdate::new().output(&Nested(10_000)));
    let mut obs = trace.span("deep");
    let mut nested = serde_json::Map::new();
    nested.insert("deep".into(), serde_json::to_value(Nested(10_000)).unwrap());
    nested.insert(
        "fine".into(),
        serde_json::to_value(Nested(MAX_JSON_DEPTH - 1)).unwrap(),
    );
    obs.update(
        ObservationUpdate::new()
            .input(&Nested(10_000))
            .output(&Nested(10_000))
            .model_parameters(Nested(10_000))
            .metadata(serde_json::Value::Object(nested)),
    );
    obs.end();
    trace.end();
    let report = client.shutdown(WAIT);
    assert_eq!(report.stats.exported, 2);

    let conn = Connection::open(&path).unwrap();
    let (truncated, fine): (i64, i64) = conn
        .query_row(
            "SELECT metadata->>'$.deep.truncated', json_array_length(metadata->'$.fine') \
             FROM observations WHERE name = 'deep'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((truncated, fine), (1, 1));
    for column in ["input", "output", "model_parameters"] {
        let flag: i64 = conn
            .query_row(
                &format!("SELECT {column}->>'$.truncated' FROM observations WHERE name = 'deep'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(flag, 1, "{column}");
    }
    let (input, output): (i64, i64) = conn
        .query_row(
            "SELECT input->>'$.truncated', output->>'$.truncated' FROM traces",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((input, output), (1, 1));
    // Every JSON query over the tables works.
    let valid: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE json_valid(metadata) AND json_valid(input)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(valid, 1);
}
