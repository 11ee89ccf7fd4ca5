//! What the instrumented code calls to reach the current trace and observation, as
//! Langfuse's `langfuse_context`: update them, read their ids and URL, score them. Each finds
//! the innermost frame of the thread (see [`crate::context`]) and does nothing outside one.

use crate::context::{with_current, Frame, Open};
use crate::model::{ScoreValue, SpanId, TraceId};
use crate::update::{ObservationUpdate, TraceUpdate};

/// Applies `f` to the innermost frame, or says once at debug level that there is none.
fn with_frame(what: &'static str, f: impl FnOnce(&Frame)) {
    with_current(|frame| match frame {
        Some(frame) if frame.trace.is_some() => f(frame),
        _ => outside_once(what),
    })
}

fn outside_once(what: &'static str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::debug!(
            "observe: {what} called outside any observation; it does nothing there (said once)"
        )
    });
}

/// Updates the trace of the current observation: session id, user id, tags, metadata...
///
/// Callable at any depth; every observation of the trace carries the attributes as they stand
/// when it ends (an observation with nothing captured, handed over with others of its thread,
/// as they stand then: a moment later, so a superset). Outside any observation it does nothing.
///
/// ```
/// use observe_runtime::{observe, update_current_trace, TraceUpdate};
///
/// #[observe(name = "content_analysis_workflow")]
/// async fn workflow(analysis_id: &str) {
///     update_current_trace(
///         TraceUpdate::new()
///             .session_id(format!("analysis_{analysis_id}"))
///             .tags(["content-analysis"]),
///     );
/// }
/// ```
pub fn update_current_trace(update: TraceUpdate) {
    with_frame("update_current_trace", |frame| {
        if let Some(trace) = &frame.trace {
            trace.update(update);
        }
    });
}

/// Updates the current observation: input, output, model, usage, cost, level...
///
/// ```
/// use observe_runtime::{observe, update_current_observation, ObservationUpdate};
/// use observe_runtime::model::{Cost, Usage};
///
/// #[observe(as_type = "generation")]
/// async fn summarize(text: &str) -> String {
///     update_current_observation(
///         ObservationUpdate::new()
///             .model("gpt-4o-mini")
///             .usage(Usage::new(812, 64))
///             .cost(Cost::new(0.000122, 0.000038)),
///     );
///     text.chars().take(20).collect()
/// }
/// ```
pub fn update_current_observation(update: ObservationUpdate) {
    with_current(|frame| {
        let applied = frame.and_then(|f| {
            f.with_open(|open| {
                let Open {
                    name,
                    level,
                    details,
                    ..
                } = open;
                update.apply_to(details.get_or_insert_with(Default::default), level, name)
            })
        });
        if applied.is_none() {
            outside_once("update_current_observation");
        }
    })
}

/// The id of the current trace, if inside one.
pub fn current_trace_id() -> Option<TraceId> {
    with_current(|f| f.and_then(|f| f.trace.as_ref()).map(|t| t.id))
}

/// The id of the current observation, if inside one.
pub fn current_observation_id() -> Option<SpanId> {
    with_current(|f| f.filter(|f| f.is_observation()).and_then(|f| f.span_id))
}

/// The Langfuse URL of the current trace (`{base_url}/trace/{trace_id}`, which Langfuse
/// redirects to the project's page), when inside a sampled trace whose client sends to
/// Langfuse.
///
/// ```
/// use observe_runtime::{current_trace_url, Client, Trace};
/// use observe_runtime::export::memory::InMemory;
///
/// assert_eq!(current_trace_url(), None); // outside any trace
/// let client = Client::builder()
///     .exporter(InMemory::new())
///     .trace_url_base("https://cloud.langfuse.com")
///     .build();
/// let trace = client.trace(Trace::new("t"));
/// let url = trace.in_scope(current_trace_url).unwrap();
/// assert_eq!(url, format!("https://cloud.langfuse.com/trace/{}", trace.id()));
/// ```
pub fn current_trace_url() -> Option<String> {
    with_current(|frame| {
        let trace = frame?.trace.as_ref()?;
        if !trace.sampled {
            return None;
        }
        let base = trace.pipeline.trace_url_base.as_deref()?;
        Some(format!("{}/trace/{}", base.trim_end_matches('/'), trace.id))
    })
}

/// A score to attach with [`score_current_trace`] or [`score_current_observation`].
///
/// ```
/// use observe_runtime::ScoreRequest;
/// let s = ScoreRequest::new("quality", 0.92).comment("clear and complete");
/// # let _ = s;
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct ScoreRequest {
    pub(crate) name: String,
    pub(crate) value: ScoreValue,
    pub(crate) comment: Option<String>,
}

impl ScoreRequest {
    /// A score: a number, a bool or a category label.
    pub fn new(name: impl Into<String>, value: impl Into<ScoreValue>) -> Self {
        ScoreRequest {
            name: name.into(),
            value: value.into(),
            comment: None,
        }
    }

    /// A free-text comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

/// Scores the current trace. Outside any observation it does nothing.
pub fn score_current_trace(score: ScoreRequest) {
    with_frame("score_current_trace", |frame| {
        if let Some(trace) = &frame.trace {
            trace.score(None, score.name, score.value, score.comment);
        }
    });
}

/// Scores the current observation. Outside any observation it does nothing.
pub fn score_current_observation(score: ScoreRequest) {
    with_frame("score_current_observation", |frame| {
        if let (Some(trace), true) = (&frame.trace, frame.is_observation()) {
            trace.score(frame.span_id, score.name, score.value, score.comment);
        } else {
            outside_once("score_current_observation");
        }
    });
}
