//! The traces both backends hold: written once through the SQLite store's own writer, as
//! an application's client writes them, from a seeded generator so every run sees the same
//! shapes (times are relative to now, so the windows the queries ask about hold rows).

use std::path::Path;
use std::sync::Arc;

use observe_model::export::{Batch, Exporter};
use observe_model::model::{
    Cost, Json, Level, Observation, ObservationDetails, ObservationType, Score, ScoreValue, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};
use observe_store::StoreExporter;

const MS: u64 = 1_000_000;
const DAY_MS: u64 = 86_400_000;

/// A small deterministic generator (xorshift64*): the same traces on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const USERS: [Option<&str>; 7] = [
    Some("alice"),
    Some("bob"),
    Some("carol"),
    Some("dave"),
    Some("erin"),
    Some("Frank"),
    None,
];
const CONTENT_TYPES: [Option<&str>; 4] = [Some("article"), Some("video"), Some("image"), None];
const TAGS: [&str; 5] = ["prod", "beta", "fixture", "eval", "needs review"];
const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022"];
const REGIONS: [&str; 3] = ["eu", "us", "ap"];

/// Writes `traces` traces (with their observations and scores) into a new store at `path`.
pub fn write_store(path: &Path, traces: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Whole milliseconds: PostgreSQL keeps microseconds and SQLite's date functions
    // milliseconds, so data on whole milliseconds is held alike by both.
    let now_ms = Timestamp::now().as_nanos() / MS;
    let mut batch = Batch::default();
    for n in 0..traces {
        let user = *rng.pick(&USERS);
        let session = (!rng.chance(15)).then(|| format!("session-{:02}", rng.below(18)));
        let mut metadata = observe_model::model::Metadata::new();
        if let Some(ct) = *rng.pick(&CONTENT_TYPES) {
            metadata.insert("content_type".into(), Json::string(ct));
        }
        if rng.chance(70) {
            metadata.insert("priority".into(), Json::from_value(&(rng.below(5) as i64)));
        }
        if rng.chance(50) {
            metadata.insert(
                "source".into(),
                Json::from_value(&serde_json::json!({
                    "region": rng.pick(&REGIONS),
                    "retries": rng.below(3),
                })),
            );
        }
        if rng.chance(40) {
            metadata.insert("cached".into(), Json::from_value(&rng.chance(50)));
        }
        let tags = TAGS
            .iter()
            .filter(|_| rng.chance(35))
            .map(|t| (*t).to_owned())
            .collect();
        let attributes = Arc::new(TraceAttributes {
            name: Some((*rng.pick(&["summarize", "classify", "Translate", "chat"])).into()),
            session_id: session,
            user_id: user.map(str::to_owned),
            tags,
            metadata,
            version: rng.chance(50).then(|| format!("v{}", rng.below(3) + 1)),
            release: None,
            environment: Some((*rng.pick(&["production", "staging"])).into()),
            public: match rng.below(3) {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            },
            input: Some(Json::from_value(&serde_json::json!({"n": n}))),
            output: rng.chance(90).then(|| Json::string(&format!("answer {n}"))),
        });
        let trace_id = TraceId(0x1000_0000_0000_0000_0000_0000_0000_0000 + n as u128);
        let start_ms = now_ms - rng.below(60 * DAY_MS) - 1_000;
        let root_id = SpanId(0x1000_0000 + (n as u64) * 16);
        let mut cursor = start_ms + rng.below(50);
        let children = 1 + rng.below(3);
        for c in 0..children {
            let begin = cursor;
            let end = begin + 100 + rng.below(4_000);
            cursor = end + rng.below(200);
            let model = *rng.pick(&MODELS);
            let (input, output) = (rng.below(3_000) + 1, rng.below(800) + 1);
            let errored = rng.chance(10);
            let details = ObservationDetails {
                model: Some(model.into()),
                usage: Some(Usage::new(input, output)),
                // Some carry their provider's cost; the others are priced by the store.
                cost: rng
                    .chance(60)
                    .then(|| Cost::new(input as f64 * 2.5e-6, output as f64 * 1e-5)),
                model_parameters: Some(Json::from_value(
                    &serde_json::json!({"temperature": rng.below(10) as f64 / 10.0}),
                )),
                status_message: errored.then(|| "rate limited by the provider".into()),
                completion_start_time: rng
                    .chance(50)
                    .then(|| Timestamp((begin + rng.below(90) + 5) * MS)),
                ..ObservationDetails::default()
            };
            batch.observations.push(Box::new(Observation {
                trace_id: TraceId(trace_id.0),
                id: SpanId(root_id.0 + 1 + c),
                parent_id: Some(root_id),
                name: format!("llm-{c}").into(),
                kind: ObservationType::Generation,
                level: if errored {
                    Level::Error
                } else {
                    Level::Default
                },
                start: Timestamp(begin * MS),
                end: Timestamp(end * MS),
                details: Some(Box::new(details)),
                trace: attributes.clone(),
            }));
        }
        let root_end = cursor + rng.below(30);
        batch.observations.push(Box::new(Observation {
            trace_id,
            id: root_id,
            parent_id: None,
            name: attributes.name.clone().unwrap_or_default().into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp(start_ms * MS),
            end: Timestamp(root_end * MS),
            details: Some(Box::new(ObservationDetails {
                input: attributes.input.clone(),
                output: attributes.output.clone(),
                ..ObservationDetails::default()
            })),
            trace: attributes.clone(),
        }));
        if rng.chance(60) {
            let value = match rng.below(3) {
                0 => ScoreValue::from(rng.below(11) as f64 / 10.0),
                1 => ScoreValue::from(rng.chance(50)),
                _ => ScoreValue::from(*rng.pick(&["good", "bad", "neutral"])),
            };
            batch.scores.push(Box::new(Score {
                id: format!("score-{n}"),
                trace_id,
                observation_id: rng.chance(30).then_some(SpanId(root_id.0 + 1)),
                name: (*rng.pick(&["quality", "helpful"])).into(),
                value,
                comment: rng.chance(30).then(|| "checked by hand".into()),
                timestamp: Timestamp((root_end + 500) * MS),
                session_id: attributes.session_id.clone(),
            }));
        }
    }
    let mut store = StoreExporter::open(path).expect("opening the store");
    store.export(&batch).expect("storing the traces");
    store.shutdown().expect("closing the store");
}
