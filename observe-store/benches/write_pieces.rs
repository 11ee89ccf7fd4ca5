//! Throughput of `StoreExporter::write_pieces` (what `observe serve` writes every request
//! with) beside `StoreExporter::write` (the library's batch path) on the same spans.
//!
//! A request holds 512 spans in traces of 8 (a root and 7 children, the root last); one
//! span in four is a generation with model, usage and cost, each carries a small JSON input
//! and output and its trace's attributes. Three cases, each writing into a file of its own
//! that grows from sample to sample:
//!
//! - `batch`: the spans as one library `Batch`;
//! - `complete`: one complete piece per span (`From<&Observation>`, as OTLP gives them);
//! - `create_update`: two pieces per span, as Langfuse's legacy ingestion API sends them:
//!   a create (ids, parent, name, type, start, input, trace attributes) and an update of the
//!   same id (end, output, model, usage, cost), both in the same request.
//!
//! Requests are built before the clock starts; only the write is timed, as the benchmarking
//! thread's time on a CPU (`/proc/thread-self/schedstat`): on a shared machine the wall
//! clock measures the other processes too. Run:
//! `cargo bench -p observe-store --bench write_pieces` (criterion prints `elem/s`, one
//! element being one span).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use observe_model::export::Batch;
use observe_model::model::{
    Cost, Json, Level, Metadata, Observation, ObservationDetails, ObservationType, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};
use observe_model::piece::{ObservationPiece, Piece};
use observe_store::StoreExporter;

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_now;

/// Spans per request.
const REQUEST: usize = 512;
/// Spans per trace.
const TRACE: u64 = 8;

/// An endless stream of spans; ids derive from a counter, so they never repeat.
struct Stream {
    made: u64,
    trace: TraceId,
    attrs: Arc<TraceAttributes>,
    clock: u64,
}

impl Stream {
    fn new(seed: u64) -> Self {
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

    fn batch(&mut self) -> Batch {
        Batch {
            observations: (0..REQUEST).map(|_| self.next()).collect(),
            ..Batch::default()
        }
    }
}

/// One complete piece per span.
fn complete(batch: &Batch) -> Vec<Piece> {
    batch
        .observations
        .iter()
        .map(|o| Piece::Observation(ObservationPiece::from(&**o)))
        .collect()
}

/// A create and an update per span, in that order.
fn create_update(batch: &Batch) -> Vec<Piece> {
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

/// How a case writes one request of spans.
#[derive(Clone, Copy)]
enum Case {
    Batch,
    Complete,
    CreateUpdate,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Batch => "batch",
            Case::Complete => "complete",
            Case::CreateUpdate => "create_update",
        }
    }

    /// Writes `iters` requests, each built before the clock starts; the time spent writing.
    fn timed(self, store: &mut StoreExporter, stream: &mut Stream, iters: u64) -> Duration {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            let batch = stream.batch();
            let pieces = match self {
                Case::Batch => Vec::new(),
                Case::Complete => complete(&batch),
                Case::CreateUpdate => create_update(&batch),
            };
            let start = cpu_now();
            match self {
                Case::Batch => store.write(&batch).expect("write"),
                Case::Complete | Case::CreateUpdate => {
                    let report = store.write_pieces(Some("bench"), &pieces).expect("write");
                    assert!(report.refused.is_empty(), "{:?}", report.refused);
                }
            }
            spent += cpu_now() - start;
        }
        spent
    }
}

fn write_pieces(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_pieces");
    group.throughput(Throughput::Elements(REQUEST as u64));
    group.sample_size(20);
    // Every sample as long as the others: the CPU clock advances in scheduler ticks, which a
    // sample of one or two requests could fall between.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(8));
    let dir = tempfile::tempdir().expect("tempdir");
    for (seed, case) in [Case::Batch, Case::Complete, Case::CreateUpdate]
        .into_iter()
        .enumerate()
    {
        let mut store =
            StoreExporter::open(dir.path().join(format!("{}.db", case.name()))).expect("open");
        let mut stream = Stream::new(seed as u64 + 1);
        group.bench_function(case.name(), |b| {
            b.iter_custom(|iters| case.timed(&mut store, &mut stream, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, write_pieces);
criterion_main!(benches);
