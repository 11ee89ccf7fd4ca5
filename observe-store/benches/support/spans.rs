//! The spans the store's write benches write: requests of 512 spans in traces of 8 (a root
//! and 7 children, the root last), one span in four a generation with model, usage and
//! cost, each with a small JSON input and output and its trace's attributes; and the same
//! spans as `observe serve` receives them, as pieces. Shared (`#[path]`) by `write_pieces`
//! and `insert_floor`, so both write the same rows.

use std::borrow::Cow;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, Json, Level, Metadata, Observation, ObservationDetails, ObservationType, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};
use observe_model::piece::{ObservationPiece, Piece};

/// Spans per request.
pub const REQUEST: usize = 512;
/// Spans per trace.
const TRACE: u64 = 8;

/// An endless stream of spans; ids derive from a counter, so they never repeat.
pub struct Stream {
    made: u64,
    trace: TraceId,
    attrs: Arc<TraceAttributes>,
    clock: u64,
}

impl Stream {
    pub fn new(seed: u64) -> Self {
        let mut s = Stream {
            made: seed << 40,
            trace: TraceId(0),
            attrs: Arc::default(),
            clock: 1_764_282_066_000_000_000,
        };
        s.start_trace();
        s
    }

    fn start_trace(&mut self) {
        let n = self.made;
        self.trace = TraceId(u128::from(mix(n)) << 64 | u128::from(mix(n ^ 0x5555)));
        let mut metadata = Metadata::new();
        metadata.insert("analysis_id".into(), Json::string(&format!("a{n}")));
        self.attrs = Arc::new(TraceAttributes {
            name: Some("content_analysis_workflow".into()),
            session_id: Some(format!("analysis_{}", n / 64)),
            user_id: Some(format!("user_{}", n % 97)),
            tags: vec!["content-analysis".into(), "production".into()],
            metadata,
            ..TraceAttributes::default()
        });
    }

    fn next(&mut self) -> Box<Observation> {
        let n = self.made;
        self.made += 1;
        let position = n % TRACE;
        let root = position == TRACE - 1;
        let root_id = mix(self.trace.0 as u64) | 1;
        let id = if root { root_id } else { mix(n) | 1 };
        let generation = n % 4 == 1;
        let start = Timestamp(self.clock - (position + 1) * 1_000_000);
        let end = Timestamp(self.clock);
        self.clock += 1_000_000;
        let mut details = ObservationDetails {
            input: Some(Json::from_value(&serde_json::json!({
                "content": "The quick brown fox jumps over the lazy dog",
                "step": position,
            }))),
            output: Some(Json::from_value(&serde_json::json!({
                "summary": "a fox and a dog",
                "score": 0.87,
            }))),
            ..ObservationDetails::default()
        };
        if generation {
            details.model = Some("gpt-4o".into());
            details.usage = Some(Usage::new(120, 30));
            details.cost = Some(Cost::new(0.0006, 0.0003));
        }
        let o = Box::new(Observation {
            trace_id: self.trace,
            id: SpanId(id),
            parent_id: (!root).then_some(SpanId(root_id)),
            name: Cow::Borrowed(if generation { "llm_call" } else { "analyze" }),
            kind: if generation {
                ObservationType::Generation
            } else {
                ObservationType::Span
            },
            level: Level::Default,
            start,
            end,
            details: Some(Box::new(details)),
            trace: self.attrs.clone(),
        });
        if root {
            self.start_trace();
        }
        o
    }

    pub fn batch(&mut self) -> Batch {
        Batch {
            observations: (0..REQUEST).map(|_| self.next()).collect(),
            ..Batch::default()
        }
    }
}

/// One complete piece per span.
pub fn complete(batch: &Batch) -> Vec<Piece> {
    batch
        .observations
        .iter()
        .map(|o| Piece::Observation(ObservationPiece::from(&**o)))
        .collect()
}

/// A create and an update per span, in that order.
#[allow(dead_code)] // `insert_floor` writes complete spans only.
pub fn create_update(batch: &Batch) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(2 * batch.observations.len());
    for o in &batch.observations {
        let whole = ObservationPiece::from(&**o);
        let d = whole.details.as_deref().cloned().unwrap_or_default();
        let create = ObservationPiece {
            end: None,
            details: Some(Box::new(ObservationDetails {
                input: d.input.clone(),
                ..ObservationDetails::default()
            })),
            ..whole.clone()
        };
        let update = ObservationPiece {
            end: whole.end,
            details: Some(Box::new(ObservationDetails {
                output: d.output,
                model: d.model,
                usage: d.usage,
                cost: d.cost,
                ..ObservationDetails::default()
            })),
            ..ObservationPiece::new(&*whole.trace_id, &*whole.id)
        };
        pieces.push(Piece::Observation(create));
        pieces.push(Piece::Observation(update));
    }
    pieces
}

/// SplitMix64: distinct inputs give distinct, well-spread outputs.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
