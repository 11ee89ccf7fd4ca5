//! Random observations (random Unicode, control characters, huge and empty strings,
//! non-finite and extreme numbers, deep JSON) through the pipeline, every encoder (OTLP
//! protobuf, ingestion JSON) and the store: nothing panics, every record is counted, each
//! field is what the application gave or its documented cut (see `observe_runtime::limits`),
//! and the store gives back what the exporters were given.
//!
//! Seeded with `fastrand`, so a failure names its seed and replays.

use std::collections::HashMap;
use std::time::Duration;

use observe_runtime::export::memory::InMemory;
use observe_runtime::export::store::StoreExporter;
use observe_runtime::export::{ingestion, otlp, Batch};
use observe_runtime::limits::{
    MAX_ATTRIBUTE_CHARS, MAX_JSON_DEPTH, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
};
use observe_runtime::model::{Cost, Json, Observation, ObservationType, Usage};
use observe_runtime::{Client, ObservationUpdate, PipelineSettings, Trace, TraceUpdate};
use prost::Message;
use rusqlite::Connection;
use serde_json::Value;

const SEEDS: u64 = 4;
const TRACES: usize = 6;
const OBSERVATIONS: usize = 8;
const RECORD_BYTES: usize = 100_000;

/// Characters that break naive code: controls, escapes, quotes, multi-byte, astral.
const ODD: &[char] = &[
    '\0', '\x1b', '\n', '\r', '\t', '\u{7f}', '"', '\\', '/', 'é', '中', '😀', '\u{200b}',
    '\u{feff}', '\u{fffd}', '[', '{',
];

fn text(rng: &mut fastrand::Rng) -> String {
    let len = match rng.u8(..20) {
        0..=2 => 0,
        3..=12 => rng.usize(1..40),
        13..=16 => rng.usize(190..230),
        17..=18 => rng.usize(900..12_000),
        _ => rng.usize(60_000..150_000),
    };
    let pool = rng.u8(..3);
    (0..len)
        .map(|_| match pool {
            0 => rng.alphanumeric(),
            1 => ODD[rng.usize(..ODD.len())],
            _ => char::from_u32(rng.u32(1..0x2_0000)).unwrap_or('?'),
        })
        .collect()
}

fn number(rng: &mut fastrand::Rng) -> f64 {
    match rng.u8(..8) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => -rng.f64(),
        3 => f64::MAX,
        4 => 0.0,
        _ => rng.f64() * 10.0,
    }
}

/// A JSON value, sometimes nested past the depth limit.
fn json(rng: &mut fastrand::Rng, budget: usize) -> Value {
    if rng.u8(..10) == 0 {
        let depth = rng.usize(MAX_JSON_DEPTH - 2..MAX_JSON_DEPTH + 60);
        return (0..depth).fold(Value::Null, |v, _| Value::Array(vec![v]));
    }
    match (budget, rng.u8(..6)) {
        (0, _) | (_, 0) => Value::String(text(rng)),
        (_, 1) => serde_json::json!(rng.i64(..)),
        (_, 2) => serde_json::Number::from_f64(rng.f64()).map_or(Value::Null, Value::Number),
        (_, 3) => Value::Bool(rng.bool()),
        (_, 4) => Value::Array((0..rng.usize(..4)).map(|_| json(rng, budget - 1)).collect()),
        _ => Value::Object(
            (0..rng.usize(..4))
                .map(|_| (text(rng), json(rng, budget - 1)))
                .collect(),
        ),
    }
}

/// What the application gave one observation.
#[derive(Default)]
struct Given {
    name: String,
    model: Option<String>,
    status: Option<String>,
    cost: Option<Cost>,
    agent: bool,
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_json(what: &str, j: &Json) {
    let v: Value = serde_json::from_str(j.as_str())
        .unwrap_or_else(|e| panic!("{what} is not JSON serde_json reads: {e}"));
    assert!(depth(&v) <= MAX_JSON_DEPTH, "{what} nested {}", depth(&v));
}

/// `got` is `given`, or `given` cut to `max` characters with the marker.
fn check_text(what: &str, given: &str, got: &str, max: usize) {
    if given.chars().count() <= max {
        assert_eq!(got, given, "{what}");
    } else {
        assert!(got.chars().count() <= max, "{what} too long");
        let marker = format!("…[truncated {} bytes]", given.len());
        let kept = got.strip_suffix(&marker).unwrap_or(got);
        assert!(
            given.starts_with(kept),
            "{what} is not a cut of the given text"
        );
    }
}

fn run(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.db");
    let memory = InMemory::new();
    let client = Client::builder()
        .settings(PipelineSettings {
            max_record_bytes: RECORD_BYTES,
            ..Default::default()
        })
        .exporter(memory.clone())
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    let mut given: HashMap<String, Given> = HashMap::new();
    for t in 0..TRACES {
        let trace = client.trace(
            Trace::new(format!("trace{t}"))
                .session_id(text(&mut rng))
                .user_id(text(&mut rng))
                .tags([text(&mut rng), text(&mut rng)])
                .release(text(&mut rng))
                .input(&json(&mut rng, 3)),
        );
        trace.update(
            TraceUpdate::new()
                .metadata(json(&mut rng, 2))
                .output(&json(&mut rng, 3))
                .version(text(&mut rng)),
        );
        for o in 0..OBSERVATIONS {
            // The name carries the key the record is found by, then random text.
            let key = format!("{seed}-{t}-{o}|");
            let name = format!("{key}{}", text(&mut rng));
            let kind = ObservationType::ALL[rng.usize(..ObservationType::ALL.len())];
            let mut handle = trace.observation(kind, name.clone());
            let model = text(&mut rng);
            let status = text(&mut rng);
            let cost = Cost::new(number(&mut rng), number(&mut rng));
            let update = ObservationUpdate::new()
                .input(&json(&mut rng, 3))
                .output(&json(&mut rng, 3))
                .metadata(json(&mut rng, 2))
                .model(model.clone())
                .model_parameters(json(&mut rng, 2))
                .status_message(status.clone())
                .usage(Usage::new(rng.u64(..), rng.u64(..)).with(text(&mut rng), u64::MAX))
                .cost(cost.clone())
                .prompt((text(&mut rng), rng.i64(..)))
                .version(text(&mut rng));
            handle.update(update);
            handle.end();
            given.insert(
                key,
                Given {
                    name,
                    model: Some(model),
                    status: Some(status),
                    // Usage and cost given on an agent are dropped (Langfuse drops them).
                    cost: (cost.invalid_entry().is_none() && kind != ObservationType::Agent)
                        .then_some(cost),
                    agent: kind == ObservationType::Agent,
                },
            );
        }
        trace.end();
    }
    let report = client.shutdown(Duration::from_secs(30));
    let total = (TRACES * (OBSERVATIONS + 1)) as u64;
    assert_eq!(report.stats.exported, total, "seed {seed}: {report:?}");
    assert_eq!(
        report.stats.failed + report.stats.dropped(),
        0,
        "seed {seed}"
    );

    let observations = memory.observations();
    assert_eq!(observations.len() as u64, total);
    for o in &observations {
        check_limits(seed, o);
        let Some(g) = o
            .name
            .split_once('|')
            .and_then(|(k, _)| given.get(&format!("{k}|")))
        else {
            continue; // a trace's root
        };
        let d = o.details();
        check_text("name", &g.name, &o.name, MAX_NAME_CHARS);
        check_text(
            "model",
            g.model.as_deref().unwrap(),
            d.model.as_deref().unwrap(),
            MAX_ATTRIBUTE_CHARS,
        );
        check_text(
            "status",
            g.status.as_deref().unwrap(),
            d.status_message.as_deref().unwrap(),
            MAX_MESSAGE_CHARS,
        );
        assert_eq!(
            d.cost, g.cost,
            "seed {seed}: a valid cost is kept, another dropped"
        );
        assert_eq!(
            d.usage.is_none(),
            g.agent,
            "seed {seed}: usage is kept but on agents"
        );
    }

    let batch = Batch {
        observations: observations.iter().cloned().map(Box::new).collect(),
        scores: Vec::new(),
    };
    let bytes = otlp::encode_batch(&batch, &otlp::Resource::new("fuzz"));
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            bytes.as_slice(),
        )
        .unwrap();
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(spans as u64, total);
    for body in ingestion::encode_batch(&batch) {
        let v: Value = serde_json::from_slice(&body).expect("ingestion JSON parses");
        assert!(v["batch"].is_array());
    }
    check_store(seed, &path, &observations);
}

fn check_limits(seed: u64, o: &Observation) {
    let d = o.details();
    assert!(o.name.chars().count() <= MAX_NAME_CHARS, "seed {seed}");
    for s in [&d.model, &d.prompt_name, &d.version].into_iter().flatten() {
        assert!(s.chars().count() <= MAX_ATTRIBUTE_CHARS, "seed {seed}");
    }
    for (what, j) in [
        ("input", &d.input),
        ("output", &d.output),
        ("parameters", &d.model_parameters),
    ] {
        if let Some(j) = j {
            check_json(what, j);
        }
    }
    for v in d.metadata.values() {
        check_json("metadata", v);
    }
    if let Some(c) = &d.cost {
        assert_eq!(c.invalid_entry(), None, "seed {seed}");
    }
    let t = &*o.trace;
    for s in [&t.name, &t.user_id, &t.session_id, &t.version, &t.release]
        .into_iter()
        .flatten()
    {
        assert!(s.chars().count() <= MAX_ATTRIBUTE_CHARS, "seed {seed}");
    }
    assert!(t
        .tags
        .iter()
        .all(|s| s.chars().count() <= MAX_ATTRIBUTE_CHARS));
    for j in [&t.input, &t.output].into_iter().flatten() {
        check_json("trace io", j);
        assert!(j.len() <= RECORD_BYTES / 4);
    }
}

type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn check_store(seed: u64, path: &std::path::Path, observations: &[Observation]) {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, model, status_message, input, output, metadata FROM observations WHERE id = ?1")
        .unwrap();
    for o in observations {
        let d = o.details();
        let row: Row = stmt
            .query_row([o.id.to_string()], |r| r.try_into())
            .unwrap_or_else(|e| panic!("seed {seed}: observation {} not stored: {e}", o.id));
        assert_eq!(row.0, o.name, "seed {seed}");
        assert_eq!(row.1, d.model, "seed {seed}");
        assert_eq!(row.2, d.status_message, "seed {seed}");
        let json = |j: &Option<Json>| j.as_ref().map(|j| j.as_str().to_owned());
        assert_eq!(row.3, json(&d.input), "seed {seed}");
        assert_eq!(row.4, json(&d.output), "seed {seed}");
        if let Some(m) = row.5 {
            let stored: serde_json::Map<String, Value> = serde_json::from_str(&m).unwrap();
            let given: serde_json::Map<String, Value> = d
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect();
            assert_eq!(stored, given, "seed {seed}");
        }
    }
    let traces: i64 = conn
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(traces as usize, TRACES, "seed {seed}");
    // Every JSON column reads as JSON in SQLite too.
    let bad: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE NOT (json_valid(COALESCE(input, 'null')) \
             AND json_valid(COALESCE(output, 'null')) AND json_valid(COALESCE(metadata, '{}')) \
             AND json_valid(COALESCE(model_parameters, 'null')))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0, "seed {seed}");
}

#[test]
fn random_observations_through_every_encoder_and_the_store() {
    for seed in 0..SEEDS {
        run(seed);
    }
}
