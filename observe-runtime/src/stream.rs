//! Observations that stay open while a stream or an iterator is consumed.
//!
//! A function that returns a stream does its work later, when the stream is polled. So
//! `#[observe]` on such a function (and [`ObserveStreamExt::observe_as`] on any stream) hands
//! the observation to an [`Observed`] wrapper, which ends it when the stream does:
//!
//! - exhausted: the output is the items, reduced (text chunks concatenated, other items a
//!   JSON array);
//! - an `Err` item: level `ERROR`, the error's text as status message;
//! - a panic while polling: level `ERROR`, `panicked: ...`, then the panic goes on;
//! - dropped unfinished: level `WARNING`, status `cancelled`, metadata `items` (how many
//!   were seen).
//!
//! Each poll enters the observation, so observed calls made while producing an item are its
//! children. The first item of a generation stamps `completion_start_time` (time to first
//! token). Buffered output is bounded by the pipeline's `max_record_bytes`; past it the
//! output becomes the usual truncation marker.
//!
//! ```
//! use futures::StreamExt as _;
//! use observe_runtime::{observe, Client};
//!
//! #[observe(as_type = "generation")]
//! fn answer(question: &str) -> impl futures::Stream<Item = String> {
//!     let words: Vec<String> = question.split(' ').map(|w| format!("{w} ")).collect();
//!     futures::stream::iter(words)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (client, memory) = Client::in_memory();
//! let text: Vec<String> = client
//!     .attach(async { answer("why is the sky blue").collect().await })
//!     .await;
//! assert_eq!(text.len(), 5);
//! client.flush(std::time::Duration::from_secs(5));
//! let obs = &memory.observations()[0];
//! assert_eq!(obs.details().output.as_ref().unwrap().as_str(), r#""why is the sky blue ""#);
//! assert!(obs.details().completion_start_time.is_some());
//! # }
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::Serialize;
use sync_wrapper::SyncWrapper;

use crate::capture_buf::CaptureBuf;
use crate::clock;
use crate::context::Frame;
use crate::handle::ObservationHandle;
use crate::model::{Json, Level, ObservationType};
use crate::span::{run_entered, Span};

/// An item type whose output is text, concatenated over the stream: `String`, `&str`,
/// `Cow<str>`, and chunk types of your own.
///
/// ```
/// use observe_runtime::TextChunk;
///
/// struct Delta { content: String, index: u32 }
///
/// impl TextChunk for Delta {
///     fn chunk_text(&self) -> &str {
///         &self.content
///     }
/// }
/// # let _ = Delta { content: String::new(), index: 0 }.index;
/// ```
pub trait TextChunk {
    /// The text this item adds to the output.
    fn chunk_text(&self) -> &str;
}

impl TextChunk for str {
    fn chunk_text(&self) -> &str {
        self
    }
}

impl TextChunk for String {
    fn chunk_text(&self) -> &str {
        self
    }
}

impl TextChunk for Cow<'_, str> {
    fn chunk_text(&self) -> &str {
        self
    }
}

impl TextChunk for Box<str> {
    fn chunk_text(&self) -> &str {
        self
    }
}

impl TextChunk for Arc<str> {
    fn chunk_text(&self) -> &str {
        self
    }
}

impl<T: TextChunk + ?Sized> TextChunk for &T {
    fn chunk_text(&self) -> &str {
        (**self).chunk_text()
    }
}

/// What a stream's items add to its observation: text, JSON values, an error.
///
/// `#[observe]` writes the calls for you; with [`ObserveStreamExt::observe_with`] you write
/// them yourself. Nothing is buffered when output capture is off.
pub struct ItemSink<'a> {
    out: &'a mut StreamOutput,
}

impl ItemSink<'_> {
    /// Appends text to the output (the output is then one string).
    #[inline]
    pub fn text(&mut self, chunk: &str) {
        if self.out.capture {
            self.out.text(chunk);
        }
    }

    /// Appends a value to the output (the output is then a JSON array).
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.out.capture {
            self.out.json(value);
        }
    }

    /// Ends the observation after this item with level `ERROR` and `message` as status.
    pub fn error(&mut self, message: String) {
        self.out.error = Some(message);
    }

    /// Folds the item into an accumulator that becomes the output (what
    /// `#[observe(output = path::to::reducer)]` writes).
    pub fn fold<A, T, F>(&mut self, reducer: F, item: &T)
    where
        A: Default + Serialize + Send + 'static,
        T: ?Sized,
        F: FnOnce(&mut A, &T),
    {
        if !self.out.capture {
            return;
        }
        let started = match &mut self.out.buffer {
            Buffer::Fold(acc, _) => acc.get_mut().is::<A>(),
            _ => false,
        };
        if !started {
            let acc: Box<dyn Any + Send> = Box::<A>::default();
            self.out.buffer = Buffer::Fold(SyncWrapper::new(acc), fold_json::<A>);
        }
        if let Buffer::Fold(acc, _) = &mut self.out.buffer {
            if let Some(acc) = acc.get_mut().downcast_mut::<A>() {
                reducer(acc, item);
            }
        }
    }
}

fn fold_json<A: Serialize + 'static>(acc: &(dyn Any + Send)) -> Json {
    match acc.downcast_ref::<A>() {
        Some(acc) => Json::from_value(acc),
        None => Json::string("<reducer state of another type>"),
    }
}

/// What the output holds so far.
enum Buffer {
    Empty,
    Text(String),
    /// `[a,b,c` without the closing bracket.
    Array(Vec<u8>),
    /// A reducer's accumulator and how to write it out. In a [`SyncWrapper`] (reached only
    /// through `&mut`), so that an observed stream is `Sync` whenever the stream is, whatever
    /// the accumulator.
    Fold(
        SyncWrapper<Box<dyn Any + Send>>,
        fn(&(dyn Any + Send)) -> Json,
    ),
}

/// The reduced output of a stream, bounded in bytes.
struct StreamOutput {
    capture: bool,
    limit: usize,
    buffer: Buffer,
    /// Bytes offered, kept or not (what the truncation marker reports).
    offered: usize,
    truncated: bool,
    /// Set by an `Err` item.
    error: Option<String>,
}

impl StreamOutput {
    fn new(capture: bool, limit: usize) -> Self {
        StreamOutput {
            capture,
            limit,
            buffer: Buffer::Empty,
            offered: 0,
            truncated: false,
            error: None,
        }
    }

    fn text(&mut self, chunk: &str) {
        self.offered += chunk.len();
        if self.truncated {
            return;
        }
        match &mut self.buffer {
            Buffer::Text(text) if text.len() + chunk.len() <= self.limit => text.push_str(chunk),
            Buffer::Text(_) => self.cut(),
            buffer => *buffer = Buffer::Text(chunk.to_owned()),
        }
    }

    fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.truncated {
            return;
        }
        if !matches!(self.buffer, Buffer::Array(_)) {
            self.buffer = Buffer::Array(vec![b'[']);
        }
        let Buffer::Array(buf) = &mut self.buffer else {
            return;
        };
        let mark = buf.len();
        if mark > 1 {
            buf.push(b',');
        }
        // One level (the array) is open around the item.
        if crate::limits::write_bounded(buf, value, 1).is_err() {
            buf.truncate(mark);
            return;
        }
        self.offered += buf.len() - mark;
        if buf.len() + 1 > self.limit {
            self.cut();
        }
    }

    /// Over the limit: the buffer goes, the marker will say how much was offered.
    #[cold]
    fn cut(&mut self) {
        self.truncated = true;
        self.buffer = Buffer::Empty;
    }

    /// The output to record: the reduction, or the truncation marker.
    fn take(&mut self) -> Option<Json> {
        if self.truncated {
            return Some(Json::from_value(&serde_json::json!({
                "truncated": true,
                "original_bytes": self.offered.max(self.limit),
                "reason": format!("over the {}-byte limit per observation", self.limit),
            })));
        }
        match std::mem::replace(&mut self.buffer, Buffer::Empty) {
            Buffer::Empty => None,
            Buffer::Text(text) => Some(Json::string(&text)),
            Buffer::Array(mut buf) => {
                buf.push(b']');
                // serde_json wrote valid JSON between ASCII brackets and commas.
                Json::parse_checked(&String::from_utf8_lossy(&buf)).ok()
            }
            Buffer::Fold(acc, to_json) => Some(to_json(&*acc.into_inner())),
        }
    }
}

/// The observation of one stream, and what it has seen.
struct StreamState {
    span: Span,
    items: u64,
    output: StreamOutput,
}

impl StreamState {
    fn new(mut span: Span) -> StreamState {
        let limit = span
            .frame()
            .and_then(|f| f.trace.as_ref())
            .map_or(usize::MAX, |t| t.pipeline.max_record_bytes());
        let capture = span.open_fields().is_some_and(|open| open.capture_output);
        StreamState {
            span,
            items: 0,
            output: StreamOutput::new(capture, limit),
        }
    }

    /// One step of the stream: `next` runs inside the observation, and what it yields is
    /// recorded. The same code serves `Stream::poll_next` and `Iterator::next`.
    #[inline]
    fn observe_next<T>(
        &mut self,
        on_item: &mut impl FnMut(&T, &mut ItemSink<'_>),
        next: impl FnOnce() -> Poll<Option<T>>,
    ) -> Poll<Option<T>> {
        let Some(frame) = self.span.frame() else {
            return next();
        };
        let frame: &Frame = frame;
        let (items, output) = (&mut self.items, &mut self.output);
        let result = run_entered(frame, false, next, |poll| {
            if let Poll::Ready(Some(item)) = poll {
                *items += 1;
                if *items == 1 {
                    first_item(frame);
                }
                on_item(item, &mut ItemSink { out: output });
            }
        });
        match result {
            Ok(Poll::Ready(Some(item))) => {
                if let Some(message) = self.output.error.take() {
                    self.end(Level::Error, Some(message));
                }
                Poll::Ready(Some(item))
            }
            Ok(Poll::Ready(None)) => {
                self.end(Level::Default, None);
                Poll::Ready(None)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                self.record_output();
                self.span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }

    fn record_output(&mut self) {
        let output = self.output.take();
        if let (Some(open), Some(output)) = (self.span.open_fields(), output) {
            open.output = Some(CaptureBuf::from_json(&output));
        }
    }

    /// Ends the observation with the output so far; a level other than `DEFAULT` also
    /// records how many items were seen.
    fn end(&mut self, level: Level, status: Option<String>) {
        self.record_output();
        let items = self.items;
        if let Some(open) = self.span.open_fields() {
            if level != Level::Default {
                open.level = level;
                let details = open.details_mut();
                details.status_message = status;
                details
                    .metadata
                    .insert("items".to_owned(), Json::from_value(&items));
            }
        }
        self.span.finish();
    }
}

/// Time to first token, for a generation: stamped when the first item arrives, through the
/// frame that is current while it is produced.
#[cold]
fn first_item(frame: &Frame) {
    frame.with_open(|open| {
        if open.kind == ObservationType::Generation {
            let details = open.details_mut();
            if details.completion_start_time.is_none() {
                details.completion_start_time = Some(clock::now());
            }
        }
    });
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if self.span.is_recording() {
            self.end(Level::Warning, Some("cancelled".to_owned()));
        }
    }
}

pin_project_lite::pin_project! {
    /// A stream (or iterator) whose consumption is an observation; see the
    /// [module documentation](self).
    ///
    /// It is a `Stream` when `S` is one, and an `Iterator` when `S` is one.
    pub struct Observed<S, I> {
        // Declared first so that, when dropped unfinished, observations still open inside
        // the stream end before this one.
        #[pin]
        inner: S,
        state: StreamState,
        on_item: I,
    }
}

impl<S, I> Observed<S, I> {
    /// Wraps `inner` in the observation `span` holds.
    pub(crate) fn new(inner: S, span: Span, on_item: I) -> Self {
        Observed {
            inner,
            state: StreamState::new(span),
            on_item,
        }
    }
}

impl<S, I> Stream for Observed<S, I>
where
    S: Stream,
    I: FnMut(&S::Item, &mut ItemSink<'_>),
{
    type Item = S::Item;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        this.state
            .observe_next(this.on_item, move || inner.poll_next(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S, I> Iterator for Observed<S, I>
where
    S: Iterator,
    I: FnMut(&S::Item, &mut ItemSink<'_>),
{
    type Item = S::Item;

    #[inline]
    fn next(&mut self) -> Option<S::Item> {
        let inner = &mut self.inner;
        match self
            .state
            .observe_next(&mut self.on_item, || Poll::Ready(inner.next()))
        {
            Poll::Ready(item) => item,
            Poll::Pending => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// The item recorder that records nothing but the count.
pub type CountOnly<T> = fn(&T, &mut ItemSink<'_>);

fn count_only<T>(_: &T, _: &mut ItemSink<'_>) {}

/// The methods of [`ObserveStreamExt`] and [`ObserveIteratorExt`]: the same code over either
/// kind of source, only the documentation differs.
macro_rules! observe_source_methods {
    (as: $(#[$as_doc:meta])*, with: $(#[$with_doc:meta])*) => {
        $(#[$as_doc])*
        fn observe_as(
            self,
            kind: ObservationType,
            name: impl Into<Cow<'static, str>>,
        ) -> Observed<Self, CountOnly<Self::Item>> {
            self.observe_with(kind, name, count_only::<Self::Item>)
        }

        $(#[$with_doc])*
        fn observe_with<I>(
            self,
            kind: ObservationType,
            name: impl Into<Cow<'static, str>>,
            on_item: I,
        ) -> Observed<Self, I>
        where
            I: FnMut(&Self::Item, &mut ItemSink<'_>),
        {
            // A new child of the current observation (or a new trace).
            Observed::new(self, Span::enter_named(name.into(), kind), on_item)
        }
    };
}

/// Observes streams and iterators that no `#[observe]` function returned.
///
/// ```
/// use futures::StreamExt as _;
/// use observe_runtime::{observe, Client, ObserveStreamExt};
/// use observe_runtime::model::ObservationType;
///
/// #[observe]
/// async fn chat() -> String {
///     let tokens = futures::stream::iter(["Hel", "lo"]);
///     tokens
///         .observe_with(ObservationType::Generation, "llm", |t, sink| sink.text(t))
///         .collect::<String>()
///         .await
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (client, memory) = Client::in_memory();
/// assert_eq!(client.attach(chat()).await, "Hello");
/// client.flush(std::time::Duration::from_secs(5));
/// let obs = memory.observations();
/// let llm = obs.iter().find(|o| o.name == "llm").unwrap();
/// assert_eq!(llm.details().output.as_ref().unwrap().as_str(), r#""Hello""#);
/// assert!(llm.parent_id.is_some());
/// # }
/// ```
pub trait ObserveStreamExt: Stream + Sized {
    observe_source_methods! {
        as:
        /// A new child of the current observation (or a new trace) that stays open while
        /// `self` is consumed. Items are counted, not recorded; see
        /// [`observe_with`](Self::observe_with).
        ,
        with:
        /// Same, with `on_item` recording each item into the output. It runs inside the
        /// observation: `update_current_observation` there (on the final item, say) changes it.
    }
}

impl<S: Stream> ObserveStreamExt for S {}

/// [`ObserveStreamExt`] for iterators.
///
/// ```
/// use observe_runtime::{observe, ObserveIteratorExt as _};
/// use observe_runtime::model::ObservationType;
///
/// #[observe]
/// fn parse(text: &str) -> usize {
///     text.lines().observe_as(ObservationType::Span, "lines").count()
/// }
/// # assert_eq!(parse("a\nb"), 2);
/// ```
pub trait ObserveIteratorExt: Iterator + Sized {
    observe_source_methods! {
        as:
        /// See [`ObserveStreamExt::observe_as`].
        ,
        with:
        /// See [`ObserveStreamExt::observe_with`].
    }
}

impl<I: Iterator> ObserveIteratorExt for I {}

impl ObservationHandle {
    /// Hands this observation to `stream`: it ends when the stream does (see
    /// [`Observed`]), and `on_item` records each item.
    ///
    /// ```
    /// use futures::StreamExt as _;
    /// use observe_runtime::{Client, Trace};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (client, memory) = Client::in_memory();
    /// let trace = client.trace(Trace::new("chat"));
    /// let tokens = futures::stream::iter(["a", "b"]);
    /// let tokens = trace.generation("llm").observe_stream(tokens, |t, sink| sink.text(t));
    /// assert_eq!(tokens.collect::<String>().await, "ab");
    /// trace.end();
    /// client.flush(std::time::Duration::from_secs(5));
    /// let obs = memory.observations();
    /// assert!(obs.iter().any(|o| o.name == "llm" && o.details().completion_start_time.is_some()));
    /// # }
    /// ```
    pub fn observe_stream<S, I>(mut self, stream: S, on_item: I) -> Observed<S, I>
    where
        S: Stream,
        I: FnMut(&S::Item, &mut ItemSink<'_>),
    {
        Observed::new(stream, Span::from_frame(self.take_frame()), on_item)
    }

    /// [`observe_stream`](Self::observe_stream) for an iterator.
    ///
    /// ```
    /// use observe_runtime::{Client, Trace};
    ///
    /// let (client, memory) = Client::in_memory();
    /// let trace = client.trace(Trace::new("parse"));
    /// let lines = trace.span("lines").observe_iter("a\nb".lines(), |l, sink| sink.text(l));
    /// assert_eq!(lines.count(), 2);
    /// trace.end();
    /// client.flush(std::time::Duration::from_secs(5));
    /// let obs = memory.observations();
    /// let lines = obs.iter().find(|o| o.name == "lines").unwrap();
    /// assert_eq!(lines.details().output.as_ref().unwrap().as_str(), r#""ab""#);
    /// ```
    pub fn observe_iter<It, I>(mut self, iter: It, on_item: I) -> Observed<It, I>
    where
        It: Iterator,
        I: FnMut(&It::Item, &mut ItemSink<'_>),
    {
        Observed::new(iter, Span::from_frame(self.take_frame()), on_item)
    }
}
