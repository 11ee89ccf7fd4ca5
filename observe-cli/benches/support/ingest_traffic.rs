//! Request bodies like those an instrumented LLM application sends to `observe serve`: the
//! ingest bench (`benches/ingest.rs`) decodes and stores them, the load generator
//! (`examples/ingest_load.rs`) posts them. Shared by `#[path]`, so both measure the same
//! traffic.
//!
//! A trace is an agent run of [`TRACE_LEN`] observations: the agent (root, ending last, so
//! arriving last), a retrieval span, three generations with model, parameters, usage and
//! cost, and tool calls, each with a small JSON input and output and the trace's session,
//! user, tags and metadata. Traces do not line up with batches: some straddle two requests,
//! as they do when an SDK flushes on a timer.

#![allow(dead_code)] // each user takes the encodings it needs

use std::borrow::Cow;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, Json, Level, Metadata, Observation, ObservationDetails, ObservationType, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};

/// Spans per request, as the Langfuse and OpenTelemetry SDKs batch them by default.
pub const SPANS_PER_REQUEST: usize = 512;
/// Observations per trace.
pub const TRACE_LEN: u64 = 9;

/// An endless run of agent traces. Ids are random 64-bit draws from a generator seeded with
/// `seed`, so two generators with different seeds (two load connections) write distinct ids.
pub struct Traffic {
    seed: u64,
    ids: fastrand::Rng,
    made: u64,
    trace: TraceId,
    root: SpanId,
    attributes: Arc<TraceAttributes>,
    /// Nanoseconds since the epoch; 1 ms per observation.
    clock: u64,
}

impl Traffic {
    /// A generator whose ids derive from `seed`.
    pub fn new(seed: u64) -> Traffic {
        let mut t = Traffic {
            seed,
            ids: fastrand::Rng::with_seed(seed),
            made: 0,
            trace: TraceId(0),
            root: SpanId(0),
            attributes: Arc::default(),
            clock: 1_767_225_600_000_000_000,
        };
        t.next_trace();
        t
    }

    /// A random id that is never zero (zero ids are invalid in OTLP).
    fn id(&mut self) -> u64 {
        self.ids.u64(1..)
    }

    fn next_trace(&mut self) {
        let n = self.made / TRACE_LEN;
        self.trace = TraceId(u128::from(self.id()) << 64 | u128::from(self.id()));
        self.root = SpanId(self.id());
        let mut metadata = Metadata::new();
        metadata.insert(
            "run".into(),
            Json::string(&format!("run-{}-{n}", self.seed)),
        );
        metadata.insert("documents".into(), Json::from_value(&(n % 40)));
        self.attributes = Arc::new(TraceAttributes {
            name: Some("research_agent".into()),
            session_id: Some(format!("chat-{}-{}", self.seed, n / 16)),
            user_id: Some(format!("user-{}", n % 211)),
            tags: vec!["agent".into(), "load-test".into()],
            metadata,
            release: Some("2026.12.1".into()),
            ..TraceAttributes::default()
        });
    }

    /// The next observation.
    pub fn next_observation(&mut self) -> Observation {
        let step = self.made % TRACE_LEN;
        let root = step == TRACE_LEN - 1;
        let (name, kind) = match step {
            _ if root => ("research_agent", ObservationType::Agent),
            0 => ("retrieve", ObservationType::Retriever),
            1 | 4 | 7 => ("chat gpt-4o-mini", ObservationType::Generation),
            _ => ("search_web", ObservationType::Tool),
        };
        let end = Timestamp(self.clock);
        let start = Timestamp(self.clock - 1_000_000 * if root { TRACE_LEN } else { 1 });
        self.clock += 1_000_000;
        let mut details = ObservationDetails {
            input: Some(Json::from_value(&serde_json::json!({
                "query": "What changed in the 2026 tariff schedule?",
                "step": step,
            }))),
            output: Some(Json::from_value(&serde_json::json!({
                "answer": "Three categories moved; see the attached table.",
                "sources": 3,
            }))),
            ..ObservationDetails::default()
        };
        if kind == ObservationType::Generation {
            details.model = Some("gpt-4o-mini".into());
            details.model_parameters = Some(Json::from_value(
                &serde_json::json!({"temperature": 0.3, "max_tokens": 800}),
            ));
            details.usage = Some(Usage::new(812, 164));
            details.cost = Some(Cost::new(0.000_121_8, 0.000_098_4));
        }
        let observation = Observation {
            trace_id: self.trace,
            id: if root { self.root } else { SpanId(self.id()) },
            parent_id: (!root).then_some(self.root),
            name: Cow::Borrowed(name),
            kind,
            level: Level::Default,
            start,
            end,
            details: Some(Box::new(details)),
            trace: Arc::clone(&self.attributes),
        };
        self.made += 1;
        if root {
            self.next_trace();
        }
        observation
    }

    /// The next request's worth of observations.
    pub fn batch(&mut self) -> Batch {
        Batch {
            observations: (0..SPANS_PER_REQUEST)
                .map(|_| Box::new(self.next_observation()))
                .collect(),
            ..Batch::default()
        }
    }
}

/// `batch` as an OTLP/HTTP protobuf body (uncompressed), as the exporters send it.
pub fn otlp_protobuf(batch: &Batch) -> Vec<u8> {
    observe_export::otlp::encode_batch(batch, &observe_export::otlp::Resource::new("load"))
}

/// `batch` as an OTLP/JSON body (hex ids, camelCase), as the JSON exporters send it.
pub fn otlp_json(batch: &Batch) -> Vec<u8> {
    use prost::Message as _;
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            &otlp_protobuf(batch)[..],
        )
        .expect("the exporter's own encoding decodes");
    serde_json::to_vec(&request).expect("OTLP/JSON")
}

/// `batch` as bodies of Langfuse's legacy ingestion API (`POST /api/public/ingestion`), as
/// the 2.x SDKs send them (split where a request would pass the server's size limit).
pub fn ingestion(batch: &Batch) -> Vec<Vec<u8>> {
    observe_export::ingestion::encode_batch(batch)
}
