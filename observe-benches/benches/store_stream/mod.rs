//! The observations the store benchmarks write: what the pipeline hands a store, 512 to a
//! batch. A typical observation is a span with a small JSON input and output, stamped with
//! its trace's attributes (session id, user id, two tags, two metadata keys); one in four is
//! a generation with model, model parameters, usage and cost. A trace is a root and
//! [`CHILDREN`] children, the root ending (and so arriving) last; traces do not line up with
//! batches, so some straddle two batches and their rows are updated twice.

use std::borrow::Cow;
use std::sync::Arc;

use observe_runtime::export::Batch;
use observe_runtime::model::{
    Cost, Json, Level, Metadata, Observation, ObservationDetails, ObservationType, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};

/// Observations per batch, as the pipeline's default batch size.
pub const BATCH: usize = 512;
/// Children per trace (plus one root).
pub const CHILDREN: u64 = 6;

/// An endless stream of observations, cut into batches.
pub struct Stream {
    /// Observations made so far (ids derive from it, so they never repeat).
    made: u64,
    /// The current trace and its attributes.
    trace: TraceId,
    attrs: Arc<TraceAttributes>,
    /// Wall clock of the stream: 2025-11-27T22:21:06Z onwards, 1 ms per observation.
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
        // Spread ids over the key space as random ids are.
        self.trace = TraceId(u128::from(mix(n)) << 64 | u128::from(mix(n ^ 0x5555)));
        let mut metadata = Metadata::new();
        metadata.insert("analysis_id".into(), Json::string(&format!("a{n}")));
        metadata.insert("content_length".into(), Json::from_value(&(n % 5000)));
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
        let position = n % (CHILDREN + 1);
        let root = position == CHILDREN;
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
            details.model_parameters = Some(Json::from_value(
                &serde_json::json!({"temperature": 0.2, "max_tokens": 512}),
            ));
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
            observations: (0..BATCH).map(|_| self.next()).collect(),
            ..Batch::default()
        }
    }
}

/// SplitMix64: distinct inputs give distinct, well-spread outputs.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
