//! The state one trace's observations share: its id, its pipeline, whether it is sampled,
//! and its attributes as updated. Every open observation of the trace holds a strong
//! reference to it (a thread's buffer of light records holds spare ones, see [`super::local`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Pipeline, Record};
use crate::clock;
use crate::model::{Score, ScoreValue, SpanId, TraceAttributes, TraceId};
use crate::update::TraceUpdate;

/// The state one trace's observations share.
pub(crate) struct TraceState {
    pub(crate) id: TraceId,
    pub(crate) pipeline: Arc<Pipeline>,
    /// Unsampled traces keep their context (so children know) but record nothing.
    pub(crate) sampled: bool,
    /// Set by the first update. Until then the trace has the pipeline's base attributes, and
    /// an observation ends without taking the lock: the worker stamps the base on it.
    updated: AtomicBool,
    /// The attributes once updated; `None` (the base) before.
    attrs: Mutex<Option<Arc<TraceAttributes>>>,
    /// The W3C `tracestate` that came with a trace continued from another service, passed on
    /// unchanged to the services this one calls.
    #[cfg_attr(not(feature = "propagation"), allow(dead_code))]
    pub(crate) tracestate: std::sync::OnceLock<Box<str>>,
}

impl TraceState {
    /// A trace of `pipeline`, sampled or not as the pipeline decides from `id`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, id: TraceId) -> Arc<TraceState> {
        let sampled = pipeline.sampled(id);
        Arc::new(TraceState {
            id,
            pipeline,
            sampled,
            updated: AtomicBool::new(false),
            attrs: Mutex::new(None),
            tracestate: std::sync::OnceLock::new(),
        })
    }

    /// Makes this state, no longer referenced by any observation, that of a new trace `id`
    /// of the same pipeline (see [`super::spare_trace`]).
    pub(super) fn renew(&mut self, id: TraceId) {
        self.id = id;
        self.sampled = self.pipeline.sampled(id);
        *self.updated.get_mut() = false;
        self.attrs = Mutex::new(None);
        self.tracestate = std::sync::OnceLock::new();
    }

    /// The attributes as they stand now.
    pub(crate) fn snapshot(&self) -> Arc<TraceAttributes> {
        self.stamp()
            .unwrap_or_else(|| self.pipeline.base_attributes().clone())
    }

    /// What a record ending now carries: the attributes, or `None` for "the base, never
    /// updated" (one load, no lock, no reference count touched).
    #[inline]
    pub(crate) fn stamp(&self) -> Option<Arc<TraceAttributes>> {
        if !self.updated.load(Ordering::Acquire) {
            return None;
        }
        self.attrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies `update` to the attributes (starting from the pipeline's base).
    pub(crate) fn update(&self, update: TraceUpdate) {
        let mut attrs = self.attrs.lock().unwrap_or_else(PoisonError::into_inner);
        let attrs = attrs.get_or_insert_with(|| self.pipeline.base_attributes().clone());
        update.apply_to(Arc::make_mut(attrs));
        self.updated.store(true, Ordering::Release);
    }

    /// Queues a score of this trace, or of its observation `observation`.
    pub(crate) fn score(
        &self,
        observation: Option<SpanId>,
        name: String,
        value: ScoreValue,
        comment: Option<String>,
    ) {
        if !self.sampled {
            return;
        }
        let session_id = self.snapshot().session_id.clone();
        push_score(
            &self.pipeline,
            self.id,
            observation,
            (name, value, comment),
            session_id,
        );
    }
}

/// Queues a score of trace `trace` (of one of its observations when `observation` is
/// given), stamped now: the one place scores are made, for open traces and past ones.
pub(crate) fn push_score(
    pipeline: &Pipeline,
    trace: TraceId,
    observation: Option<SpanId>,
    (name, value, comment): (String, ScoreValue, Option<String>),
    session_id: Option<String>,
) {
    let score = Score {
        id: TraceId::random().to_string(),
        trace_id: trace,
        observation_id: observation,
        name,
        value,
        comment,
        timestamp: clock::now(),
        session_id,
    };
    pipeline.push(Record::Score(Box::new(score)));
}
