//! The low-level API: traces and observations built by hand, as Langfuse's own client does.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{Client, ObservationUpdate, ScoreRequest, Trace};
//! use observe_runtime::model::{Usage, Cost};
//!
//! let (client, memory) = Client::in_memory();
//! let trace = client.trace(Trace::new("url_fetch").session_id("analysis_abc123").user_id("u1"));
//! let mut fetch = trace.span("fetch");
//! fetch.update(ObservationUpdate::new().input(&"https://example.com"));
//! let mut llm = fetch.generation("summarize");
//! llm.update(ObservationUpdate::new().model("gpt-4o").usage(Usage::new(10, 5)).cost(Cost::new(0.01, 0.02)));
//! llm.end();
//! fetch.end();
//! trace.score(ScoreRequest::new("quality", 0.9));
//! trace.end();
//! client.flush(Duration::from_secs(5));
//! assert_eq!(memory.observations().len(), 3);
//! assert_eq!(memory.scores().len(), 1);
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::carry::WithContext;
use crate::context::Frame;
use crate::current::ScoreRequest;
use crate::model::{ObservationType, SpanId, TraceId};
use crate::pipeline::{Pipeline, TraceState};
use crate::update::{ObservationUpdate, TraceUpdate};

/// A trace to start with [`crate::Client::trace`]: its name, optional id, and attributes.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Trace {
    name: String,
    id: Option<TraceId>,
    attributes: TraceUpdate,
}

macro_rules! forward_to_attributes {
    ($($(#[$doc:meta])* $method:ident($($arg:ident: $ty:ty),*) $(where $($bound:tt)+)?;)+) => {
        $(
            $(#[$doc])*
            pub fn $method$(<$($bound)+>)?(mut self, $($arg: $ty),*) -> Self {
                self.attributes = self.attributes.$method($($arg),*);
                self
            }
        )+
    };
}

impl Trace {
    /// A trace named `name`; its root observation has the same name.
    pub fn new(name: impl Into<String>) -> Self {
        Trace {
            name: name.into(),
            ..Trace::default()
        }
    }

    /// Uses this id instead of a random one (to link with ids from elsewhere).
    pub fn id(mut self, id: TraceId) -> Self {
        self.id = Some(id);
        self
    }

    /// All attributes at once.
    pub fn attributes(mut self, update: TraceUpdate) -> Self {
        self.attributes = update;
        self
    }

    /// Session the trace belongs to.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.attributes = self.attributes.session_id(id);
        self
    }

    /// End user the trace acts for.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.attributes = self.attributes.user_id(id);
        self
    }

    /// Tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.attributes = self.attributes.tags(tags);
        self
    }

    /// Metadata (a JSON object, merged by key).
    pub fn metadata<T: Serialize>(mut self, metadata: T) -> Self {
        self.attributes = self.attributes.metadata(metadata);
        self
    }

    forward_to_attributes! {
        /// Application version.
        version(v: impl Into<String>);
        /// Release identifier.
        release(v: impl Into<String>);
        /// Whether the trace is publicly viewable.
        public(v: bool);
    }

    /// Trace input (also the root observation's input).
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        self.attributes = self.attributes.input(input);
        self
    }

    /// Trace output (also the root observation's output).
    pub fn output<T: Serialize + ?Sized>(mut self, output: &T) -> Self {
        self.attributes = self.attributes.output(output);
        self
    }
}

/// An open observation built by hand. Ends (and is queued) on [`ObservationHandle::end`] or
/// when dropped.
#[must_use = "an observation ends when its handle is dropped"]
pub struct ObservationHandle {
    frame: Option<Frame>,
}

impl std::fmt::Debug for ObservationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservationHandle")
            .field("trace_id", &self.trace_id())
            .field("id", &self.id())
            .finish()
    }
}

impl ObservationHandle {
    fn child_of(frame: &Frame, kind: ObservationType, name: Cow<'static, str>) -> Self {
        let trace = frame.trace.clone().expect("a handle's frame has a trace");
        ObservationHandle {
            frame: Some(Frame::with_trace(trace, frame.span_id, name, kind)),
        }
    }

    /// The open frame, handed over whole (to a stream that ends it later).
    pub(crate) fn take_frame(&mut self) -> Option<Frame> {
        self.frame.take()
    }

    fn frame(&self) -> &Frame {
        self.frame.as_ref().expect("present until end")
    }

    /// This observation's id.
    pub fn id(&self) -> SpanId {
        self.frame().span_id.expect("observations have ids")
    }

    /// The trace's id.
    pub fn trace_id(&self) -> TraceId {
        self.trace().id
    }

    fn trace(&self) -> &Arc<TraceState> {
        self.frame()
            .trace
            .as_ref()
            .expect("observations have traces")
    }

    /// A child observation of any type.
    pub fn observation(
        &self,
        kind: ObservationType,
        name: impl Into<Cow<'static, str>>,
    ) -> ObservationHandle {
        ObservationHandle::child_of(self.frame(), kind, name.into())
    }

    /// A child span.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> ObservationHandle {
        self.observation(ObservationType::Span, name)
    }

    /// A child generation (an LLM call).
    pub fn generation(&self, name: impl Into<Cow<'static, str>>) -> ObservationHandle {
        self.observation(ObservationType::Generation, name)
    }

    /// A child event: a point in time, recorded at once.
    pub fn event(&self, name: impl Into<Cow<'static, str>>, update: ObservationUpdate) {
        let mut event = self.observation(ObservationType::Event, name);
        event.update(update);
    }

    /// Changes this observation's fields.
    pub fn update(&mut self, update: ObservationUpdate) -> &mut Self {
        if let Some(frame) = &mut self.frame {
            if let Some(open) = frame.open_mut() {
                let crate::context::Open {
                    name,
                    level,
                    details,
                    ..
                } = open;
                update.apply_to(details.get_or_insert_with(Default::default), level, name);
            }
        }
        self
    }

    /// Scores this observation.
    pub fn score(&self, score: ScoreRequest) {
        self.trace()
            .score(Some(self.id()), score.name, score.value, score.comment);
    }

    /// Runs a closure with this observation as the parent of `#[observe]` calls inside it.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.frame().enter(f)
    }

    /// Runs a future with this observation as the parent of `#[observe]` calls inside it.
    pub fn attach<F: Future>(&self, future: F) -> WithContext<F> {
        WithContext::new(self.frame().carried(), future)
    }

    /// Ends the observation now.
    pub fn end(mut self) {
        if let Some(frame) = self.frame.take() {
            frame.finish();
        }
    }

    /// Applies a last update, then ends.
    pub fn end_with(mut self, update: ObservationUpdate) {
        self.update(update);
        self.end();
    }
}

impl Drop for ObservationHandle {
    fn drop(&mut self) {
        if let Some(frame) = self.frame.take() {
            frame.finish();
        }
    }
}

/// A trace started by hand: its root observation plus trace-level updates and scores.
#[must_use = "a trace ends when its handle is dropped"]
#[derive(Debug)]
pub struct TraceHandle {
    root: ObservationHandle,
}

impl TraceHandle {
    pub(crate) fn start(pipeline: Arc<Pipeline>, trace: Trace) -> TraceHandle {
        let state = TraceState::new(pipeline, trace.id.unwrap_or_else(TraceId::random));
        let (input, output) = (
            trace.attributes.input.clone(),
            trace.attributes.output.clone(),
        );
        state.update(trace.attributes.name(trace.name.clone()));
        let mut root = ObservationHandle {
            frame: Some(Frame::with_trace(
                state,
                None,
                trace.name.into(),
                ObservationType::Span,
            )),
        };
        let mut update = ObservationUpdate::new();
        update.input = input;
        update.output = output;
        root.update(update);
        TraceHandle { root }
    }

    /// The trace's id.
    pub fn id(&self) -> TraceId {
        self.root.trace_id()
    }

    /// The root observation (for its id, or to update it directly).
    pub fn root(&mut self) -> &mut ObservationHandle {
        &mut self.root
    }

    /// Merges attributes into the trace (session id, user id, tags, metadata...).
    pub fn update(&self, update: TraceUpdate) -> &Self {
        self.root.trace().update(update);
        self
    }

    /// A top-level observation of any type.
    pub fn observation(
        &self,
        kind: ObservationType,
        name: impl Into<Cow<'static, str>>,
    ) -> ObservationHandle {
        self.root.observation(kind, name)
    }

    /// A top-level span.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> ObservationHandle {
        self.root.span(name)
    }

    /// A top-level generation.
    pub fn generation(&self, name: impl Into<Cow<'static, str>>) -> ObservationHandle {
        self.root.generation(name)
    }

    /// A top-level event.
    pub fn event(&self, name: impl Into<Cow<'static, str>>, update: ObservationUpdate) {
        self.root.event(name, update)
    }

    /// Scores the whole trace.
    pub fn score(&self, score: ScoreRequest) {
        self.root
            .trace()
            .score(None, score.name, score.value, score.comment);
    }

    /// Runs a closure with this trace as the parent of `#[observe]` calls inside it.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.root.in_scope(f)
    }

    /// Runs a future with this trace as the parent of `#[observe]` calls inside it.
    pub fn attach<F: Future>(&self, future: F) -> WithContext<F> {
        self.root.attach(future)
    }

    /// Ends the trace's root observation now.
    pub fn end(self) {
        self.root.end();
    }
}
