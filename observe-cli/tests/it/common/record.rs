//! Stores written the way an application's client writes them, without the client: a trace
//! is a root span with child observations and scores; what ends goes to [`StoreExporter`]
//! in one [`Batch`] per flush, children before their root (the order they end in), each
//! stamped with the trace's attributes. Times come from the wall clock, as the client's do,
//! so a store written later holds later rows.

use std::path::Path;
use std::sync::Arc;

use observe_model::export::{Batch, Exporter};
use observe_model::model::{
    Level, Observation, ObservationDetails, ObservationType, Score, ScoreValue, SpanId, Timestamp,
    TraceAttributes, TraceId,
};
use observe_store::StoreExporter;

/// Hands `batch` to a store exporter on `path` (created if missing) and shuts it down, as
/// the client's worker does with the batch of its last flush.
pub fn write_batch(path: &Path, batch: &Batch) {
    let mut store = StoreExporter::open(path).expect("opening the store");
    store.export(batch).expect("storing the batch");
    store.shutdown().expect("shutting the store exporter down");
}

/// The records of one flush, and the clock their times come from.
#[derive(Default)]
pub struct Recorder {
    batch: Batch,
    last: Timestamp,
}

impl Recorder {
    /// Nothing recorded yet.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The wall clock, at least a microsecond after its previous reading: the store keeps
    /// microseconds, and two starts read within one would lose their order.
    fn now(&mut self) -> Timestamp {
        self.last = Timestamp::now().max(Timestamp(self.last.as_nanos() + 1_000));
        self.last
    }

    /// Starts trace `name` (also its root span's name) with `attributes`, under a fresh
    /// random id; `attributes.input` and `.output` are the root's too.
    pub fn trace(&mut self, name: &str, attributes: TraceAttributes) -> TraceRecord<'_> {
        let attributes = Arc::new(TraceAttributes {
            name: Some(name.to_owned()),
            ..attributes
        });
        let root = Open {
            id: SpanId::random(),
            parent_id: None,
            kind: ObservationType::Span,
            name: name.to_owned(),
            start: self.now(),
        };
        TraceRecord {
            trace_id: TraceId::random(),
            attributes,
            root,
            recorder: self,
        }
    }

    /// Writes everything ended so far into the store at `path`, as one flush.
    pub fn write(self, path: &Path) {
        write_batch(path, &self.batch);
    }
}

/// An observation started and not ended yet.
#[derive(Clone)]
pub struct Open {
    /// Its id, for scores and children.
    pub id: SpanId,
    parent_id: Option<SpanId>,
    kind: ObservationType,
    name: String,
    start: Timestamp,
}

/// A trace being recorded; [`TraceRecord::end`] ends its root.
pub struct TraceRecord<'r> {
    recorder: &'r mut Recorder,
    trace_id: TraceId,
    attributes: Arc<TraceAttributes>,
    root: Open,
}

impl TraceRecord<'_> {
    /// The trace's id.
    pub fn id(&self) -> TraceId {
        self.trace_id
    }

    /// Starts a child of the root.
    pub fn start(&mut self, kind: ObservationType, name: &str) -> Open {
        Open {
            id: SpanId::random(),
            parent_id: Some(self.root.id),
            kind,
            name: name.to_owned(),
            start: self.recorder.now(),
        }
    }

    /// Ends `open` now with `level` and `details`.
    pub fn finish(&mut self, open: Open, level: Level, details: ObservationDetails) {
        let ended = self.ended(open, level, details);
        self.recorder.batch.observations.push(ended);
    }

    /// A child generation started and ended now; its id.
    pub fn generation(&mut self, name: &str, details: ObservationDetails) -> SpanId {
        let open = self.start(ObservationType::Generation, name);
        let id = open.id;
        self.finish(open, Level::Default, details);
        id
    }

    /// Scores the observation `observation`, or the whole trace when `None`, now.
    pub fn score(
        &mut self,
        observation: Option<SpanId>,
        name: &str,
        value: impl Into<ScoreValue>,
        comment: Option<&str>,
    ) {
        let score = Score {
            id: TraceId::random().to_string(),
            trace_id: self.trace_id,
            observation_id: observation,
            name: name.to_owned(),
            value: value.into(),
            comment: comment.map(str::to_owned),
            timestamp: self.recorder.now(),
            session_id: self.attributes.session_id.clone(),
        };
        self.recorder.batch.scores.push(Box::new(score));
    }

    /// Ends the root, after its children.
    pub fn end(mut self) {
        let details = ObservationDetails {
            input: self.attributes.input.clone(),
            output: self.attributes.output.clone(),
            ..ObservationDetails::default()
        };
        self.finish(self.root.clone(), Level::Default, details);
    }

    fn ended(&mut self, open: Open, level: Level, details: ObservationDetails) -> Box<Observation> {
        Box::new(Observation {
            trace_id: self.trace_id,
            id: open.id,
            parent_id: open.parent_id,
            name: open.name.into(),
            kind: open.kind,
            level,
            start: open.start,
            end: self.recorder.now(),
            details: Some(Box::new(details)),
            trace: self.attributes.clone(),
        })
    }
}
