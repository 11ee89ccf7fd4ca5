//! Scores as the GenAI conventions' `gen_ai.evaluation.result` span events, for a plain
//! OpenTelemetry collector (Langfuse gets scores through its scores API instead).
//!
//! A score whose evaluated span is in the same batch (the observation it names, or for a
//! trace score the trace's root) becomes an event on that span. Any other score (the span
//! went in an earlier batch, or a past trace is scored by id) becomes an event on a span of
//! its own, `evaluation <name>`, with no duration, in the evaluated trace and under the
//! evaluated observation when it names one: spans cannot be changed once sent, and the
//! conventions ask for the event to be parented to the evaluated span when possible.
//!
//! The attributes: `gen_ai.evaluation.name` (the score's name),
//! `gen_ai.evaluation.score.value` (a number; a boolean as 1 or 0),
//! `gen_ai.evaluation.score.label` (a category; a boolean as `true` or `false`) and
//! `gen_ai.evaluation.explanation` (the comment).

use std::collections::{HashMap, HashSet};

use super::Sink;
use observe_model::export::Batch;
use observe_model::genai::attributes as gen_ai;
use observe_model::model::{Score, ScoreValue, SpanId, TraceId};

/// Which span each score of a batch rides on.
#[derive(Default)]
pub(super) struct Evaluations<'a> {
    on_span: HashMap<(TraceId, SpanId), Vec<&'a Score>>,
    apart: Vec<&'a Score>,
}

impl<'a> Evaluations<'a> {
    /// Places the batch's scores: on their span when it is in the batch, else apart.
    pub(super) fn plan(batch: &'a Batch) -> Evaluations<'a> {
        let mut plan = Evaluations::default();
        if batch.scores.is_empty() {
            return plan;
        }
        let mut spans: HashSet<(TraceId, SpanId)> = HashSet::new();
        let mut roots: HashMap<TraceId, SpanId> = HashMap::new();
        for obs in &batch.observations {
            spans.insert((obs.trace_id, obs.id));
            if obs.is_root() {
                roots.insert(obs.trace_id, obs.id);
            }
        }
        for score in &batch.scores {
            let target = match score.observation_id {
                Some(id) => Some(id).filter(|id| spans.contains(&(score.trace_id, *id))),
                None => roots.get(&score.trace_id).copied(),
            };
            match target {
                Some(id) => plan
                    .on_span
                    .entry((score.trace_id, id))
                    .or_default()
                    .push(score),
                None => plan.apart.push(score),
            }
        }
        plan
    }

    /// The scores that ride on this span.
    pub(super) fn on(&self, trace: TraceId, span: SpanId) -> &[&'a Score] {
        self.on_span.get(&(trace, span)).map_or(&[], Vec::as_slice)
    }

    /// The scores that need a span of their own.
    pub(super) fn apart(&self) -> &[&'a Score] {
        &self.apart
    }
}

/// The span id of a score's own span: drawn from the score's id, so that encoding a batch
/// twice (a retry) gives the same span.
pub(super) fn own_span_id(score: &Score) -> SpanId {
    let bits = u128::from_str_radix(&score.id, 16).unwrap_or_else(|_| {
        score.id.bytes().fold(0xcbf2_9ce4_8422_2325_u128, |h, b| {
            (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    });
    SpanId((bits as u64) | 1)
}

/// The name of a score's own span.
pub(super) fn own_span_name(score: &Score) -> String {
    format!("evaluation {}", score.name)
}

/// The event's attributes.
pub(super) fn visit(score: &Score, sink: &mut impl Sink) {
    sink.str(gen_ai::EVALUATION_NAME, &score.name);
    if let Some(v) = score.value.as_number() {
        sink.double(gen_ai::EVALUATION_SCORE_VALUE, v);
    }
    match &score.value {
        ScoreValue::Categorical(label) => sink.str(gen_ai::EVALUATION_SCORE_LABEL, label),
        ScoreValue::Boolean(b) => sink.str(
            gen_ai::EVALUATION_SCORE_LABEL,
            if *b { "true" } else { "false" },
        ),
        _ => {}
    }
    if let Some(comment) = &score.comment {
        sink.str(gen_ai::EVALUATION_EXPLANATION, comment);
    }
}
