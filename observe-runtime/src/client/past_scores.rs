//! Scores for traces that already ended: feedback that arrives later (a user's thumbs-up
//! on yesterday's answer, an offline evaluation), by trace id, as Langfuse's
//! `create_score(trace_id=...)` does.

use super::Client;
use crate::current::ScoreRequest;
use crate::model::{SpanId, TraceId};
use crate::pipeline::push_score;

impl Client {
    /// Scores the trace `trace_id`, which may have ended long ago (its id from
    /// [`current_trace_id`](crate::current_trace_id), a handle, or a stored trace). The
    /// score goes wherever this client's traces go; a trace the sampler dropped is not
    /// scored, as the same sample rate decides from the id.
    ///
    /// ```
    /// use observe_runtime::{Client, ScoreRequest, Trace};
    /// let (client, memory) = Client::in_memory();
    /// let trace = client.trace(Trace::new("answer"));
    /// let id = trace.id();
    /// trace.end();
    /// // Later, when the user's feedback arrives:
    /// client.score_trace(id, ScoreRequest::new("user_feedback", 1.0).comment("helpful"));
    /// client.flush(std::time::Duration::from_secs(5));
    /// assert_eq!(memory.scores()[0].trace_id, id);
    /// ```
    pub fn score_trace(&self, trace_id: TraceId, score: ScoreRequest) {
        self.score_past(trace_id, None, score);
    }

    /// Scores the observation `observation_id` of the trace `trace_id`, after the fact.
    ///
    /// ```
    /// use observe_runtime::{Client, ScoreRequest, Trace};
    /// let (client, memory) = Client::in_memory();
    /// let trace = client.trace(Trace::new("answer"));
    /// let llm = trace.generation("llm");
    /// let (trace_id, llm_id) = (trace.id(), llm.id());
    /// drop(llm);
    /// trace.end();
    /// client.score_observation(trace_id, llm_id, ScoreRequest::new("correct", true));
    /// client.flush(std::time::Duration::from_secs(5));
    /// assert_eq!(memory.scores()[0].observation_id, Some(llm_id));
    /// ```
    pub fn score_observation(
        &self,
        trace_id: TraceId,
        observation_id: SpanId,
        score: ScoreRequest,
    ) {
        self.score_past(trace_id, Some(observation_id), score);
    }

    fn score_past(&self, trace_id: TraceId, observation: Option<SpanId>, score: ScoreRequest) {
        let pipeline = self.pipeline();
        if !pipeline.sampled(trace_id) {
            return;
        }
        push_score(
            pipeline,
            trace_id,
            observation,
            (score.name, score.value, score.comment),
            None,
        );
    }
}
