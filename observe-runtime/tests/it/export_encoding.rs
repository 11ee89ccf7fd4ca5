//! The encoders on arbitrary input: random names, keys and values (any Unicode, quotes,
//! control characters, empty strings), extreme numbers and timestamps. Neither encoder may
//! panic; the OTLP bytes must decode with `opentelemetry-proto` to one span per observation
//! with its ids and name (that they decode to exactly what the generated types build is the
//! OTLP module's unit test), and every ingestion body must be valid JSON that keeps the values.

use std::sync::Arc;

use crate::export_support::*;
use observe_runtime::export::otlp::{encode_batch, Resource};
use observe_runtime::export::{console::ConsoleExporter, ingestion, Batch, Exporter};
use observe_runtime::model::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "",
            "a",
            "Z",
            " ",
            "\"",
            "\\",
            "\n",
            "\t",
            "\u{0}",
            "\u{1f}",
            "é",
            "ß",
            "日本",
            "😀",
            "\u{2028}",
            "</script>",
            "{",
            "}",
            "null",
            "%20",
            "langfuse.",
            ".",
            "=",
            ",",
        ];
        let n = self.below(12);
        (0..n)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn json(&mut self) -> Json {
        let value = match self.below(6) {
            0 => Value::String(self.text()),
            1 => Value::from(self.next() as i64),
            2 => Value::from(f64::from_bits(self.next()).clamp(-1e300, 1e300)),
            3 => Value::Null,
            4 => Value::Array(vec![Value::String(self.text()), Value::Bool(self.chance())]),
            _ => serde_json::json!({ self.text(): self.text(), "n": [1, 2, {"k": self.text()}] }),
        };
        Json::from_value(&value)
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Rng) -> T) -> Option<T> {
        if self.chance() {
            Some(f(self))
        } else {
            None
        }
    }

    fn timestamp(&mut self) -> Timestamp {
        match self.below(4) {
            0 => Timestamp(0),
            1 => Timestamp(u64::MAX),
            _ => Timestamp(1_700_000_000_000_000_000 + self.below(1 << 50)),
        }
    }
}

fn random_observation(rng: &mut Rng) -> Observation {
    let mut metadata = Metadata::new();
    for _ in 0..rng.below(4) {
        metadata.insert(rng.text(), rng.json());
    }
    let trace = TraceAttributes {
        name: rng.opt(Rng::text),
        session_id: rng.opt(Rng::text),
        user_id: rng.opt(Rng::text),
        tags: (0..rng.below(4)).map(|_| rng.text()).collect(),
        metadata: metadata.clone(),
        version: rng.opt(Rng::text),
        release: rng.opt(Rng::text),
        environment: rng.opt(Rng::text),
        public: rng.opt(Rng::chance),
        input: rng.opt(Rng::json),
        output: rng.opt(Rng::json),
    };
    let details = rng.opt(|rng| {
        Box::new(ObservationDetails {
            input: rng.opt(Rng::json),
            output: rng.opt(Rng::json),
            metadata,
            status_message: rng.opt(Rng::text),
            model: rng.opt(Rng::text),
            model_parameters: rng.opt(Rng::json),
            usage: rng
                .opt(|rng| Usage::new(rng.next(), rng.below(1000)).with(rng.text(), u64::MAX)),
            cost: rng.opt(|rng| {
                let mut c = Cost::new(f64::from_bits(rng.next()), 0.5);
                c.0.insert(rng.text(), f64::NAN);
                c.0.insert("inf".into(), f64::INFINITY);
                c
            }),
            // Only the store's reader fills it; exporters never send it.
            computed_cost: None,
            completion_start_time: rng.opt(Rng::timestamp),
            prompt_name: rng.opt(Rng::text),
            prompt_version: rng.opt(|rng| rng.next() as i64),
            version: rng.opt(Rng::text),
            gen_ai: rng.opt(|rng| {
                Box::new(GenAiCall {
                    provider: rng.opt(Rng::text),
                    operation: None,
                    response_id: rng.opt(Rng::text),
                    finish_reasons: rng.opt(Rng::text).into_iter().collect(),
                })
            }),
        })
    });
    Observation {
        trace_id: TraceId(((rng.next() as u128) << 64) | rng.next() as u128),
        id: SpanId(rng.next()),
        parent_id: rng.opt(|rng| SpanId(rng.next())),
        name: rng.text().into(),
        kind: ObservationType::ALL[rng.below(ObservationType::ALL.len() as u64) as usize],
        level: Level::ALL[rng.below(Level::ALL.len() as u64) as usize],
        start: rng.timestamp(),
        end: rng.timestamp(),
        details,
        trace: Arc::new(trace),
    }
}

#[test]
fn arbitrary_observations_encode_without_panics_and_decode_faithfully() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let observations: Vec<Box<Observation>> = (0..25)
            .map(|_| Box::new(random_observation(&mut rng)))
            .collect();
        let batch = Batch {
            observations,
            scores: vec![],
        };

        let bytes = encode_batch(&batch, &Resource::default());
        let decoded = ExportTraceServiceRequest::decode(&bytes[..])
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let spans = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), batch.observations.len(), "round {round}");
        for (span, obs) in spans.iter().zip(&batch.observations) {
            assert_eq!(span.span_id, obs.id.to_bytes(), "round {round}");
            assert_eq!(span.trace_id, obs.trace_id.to_bytes(), "round {round}");
            assert_eq!(span.name, obs.name.as_ref(), "round {round}");
            // Structured attributes are JSON; usage and cost hold only numbers.
            if let Some(cost) = attr_str(span, "langfuse.observation.cost_details") {
                let cost: Value = serde_json::from_str(&cost).expect("cost is JSON");
                assert!(cost.as_object().unwrap().values().all(Value::is_number));
            }
            if let Some(usage) = attr_str(span, "langfuse.observation.usage_details") {
                let usage: Value = serde_json::from_str(&usage).expect("usage is JSON");
                assert!(usage.as_object().unwrap().values().all(Value::is_u64));
            }
        }

        let bodies = ingestion::encode_batch(&batch);
        let mut events = 0;
        for body in &bodies {
            let v: Value = serde_json::from_slice(body)
                .unwrap_or_else(|e| panic!("round {round}: invalid JSON: {e}"));
            for event in v["batch"].as_array().unwrap() {
                events += 1;
                let b = &event["body"];
                assert!(b.as_object().unwrap().values().all(|v| !v.is_null()));
                if event["type"] != "trace-create" {
                    let id = b["id"].as_str().unwrap();
                    let original = batch
                        .observations
                        .iter()
                        .find(|o| o.id.to_string() == id)
                        .unwrap();
                    assert_eq!(b["name"], original.name.as_ref());
                    match &original.details().input {
                        Some(input) if input.as_str() != "null" => {
                            assert_eq!(b["input"], input.to_value())
                        }
                        _ => assert!(b.get("input").is_none()),
                    }
                }
            }
        }
        assert!(events >= batch.observations.len());

        let mut console = ConsoleExporter::new(std::io::sink());
        console.export(&batch).unwrap();
    }
}

#[test]
fn an_empty_batch_encodes_to_a_request_without_spans() {
    let batch = Batch::default();
    let decoded =
        ExportTraceServiceRequest::decode(&encode_batch(&batch, &Resource::default())[..]).unwrap();
    assert!(decoded.resource_spans[0].scope_spans[0].spans.is_empty());
    assert!(ingestion::encode_batch(&batch).is_empty());
}
