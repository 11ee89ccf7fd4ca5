//! What the code `#[observe]` emits calls into. Not a public API: names and signatures may
//! change in any release. docs/MACRO_CONTRACT.md describes the expansion.

use std::any::type_name;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::io::Write as _;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use sync_wrapper::SyncWrapper;

pub use crate::model::{Json, ObservationType};

use crate::context::{has_current, with_current, Frame, Open};
use crate::global;
use crate::model::Level;

/// Static facts of one `#[observe]` site.
#[derive(Debug)]
pub struct Meta {
    name: &'static str,
    kind: ObservationType,
    capture_input: Option<bool>,
    capture_output: Option<bool>,
}

impl Meta {
    /// `capture_*`: what the attribute said, or `None` to follow the client's default.
    pub const fn new(
        name: &'static str,
        kind: ObservationType,
        capture_input: Option<bool>,
        capture_output: Option<bool>,
    ) -> Meta {
        Meta {
            name,
            kind,
            capture_input,
            capture_output,
        }
    }
}

/// An observation being entered; inactive (every method a no-op) when nothing records.
pub struct Span {
    /// Boxed: the span lives inside the caller's future, and a pointer keeps that future
    /// (and every future that awaits it) 120 bytes smaller and cheap to move, traced or not.
    /// The boxes come from a small per-thread pool ([`FrameBox`]), not from `malloc`.
    ///
    /// In a [`SyncWrapper`], so that a span (which `#[observe]` keeps in the caller's future)
    /// never makes that future `!Sync`: every method reaches the frame through `&mut self`
    /// or `self`, so sharing a `&Span` gives access to nothing.
    frame: Option<SyncWrapper<FrameBox>>,
}

impl Span {
    /// Opens the observation under the current context. One thread-local read and one
    /// relaxed atomic load when tracing is off: that check is inlined into the caller, the
    /// rest is not, so an untraced call stays a few instructions long.
    #[inline]
    pub fn enter(meta: &'static Meta) -> Span {
        if !has_current() {
            let state = global::state();
            if state != global::State::On {
                if state != global::State::Quiet {
                    global::warn_no_client(state);
                }
                return Span::inactive();
            }
        }
        Span::enter_active(meta)
    }

    #[inline(never)]
    fn enter_active(meta: &'static Meta) -> Span {
        let mut frame =
            with_current(|current| Frame::open(current, Cow::Borrowed(meta.name), meta.kind));
        if let Some(frame) = &mut frame {
            let trace = frame.trace.as_ref().expect("open frames have a trace");
            let sampled = trace.sampled;
            let default = sampled && trace.pipeline.capture_io();
            if let Some(open) = frame.open_mut() {
                open.capture_input = sampled && meta.capture_input.unwrap_or(default);
                open.capture_output = sampled && meta.capture_output.unwrap_or(default);
            }
        }
        Span {
            frame: frame.map(|f| SyncWrapper::new(FrameBox::new(f))),
        }
    }

    fn inactive() -> Span {
        Span { frame: None }
    }

    /// True when the input should be captured.
    #[inline]
    pub fn wants_input(&mut self) -> bool {
        self.frame_mut().is_some_and(|f| f.captures_input())
    }

    /// Records the input object built by `writer`.
    pub fn set_input(&mut self, writer: InputWriter) {
        if let Some(open) = self.open() {
            open.input = Some(writer.finish());
        }
    }

    fn open(&mut self) -> Option<&mut Open> {
        self.frame_mut().and_then(|f| f.open_mut())
    }

    #[inline]
    fn frame_mut(&mut self) -> Option<&mut FrameBox> {
        self.frame.as_mut().map(SyncWrapper::get_mut)
    }

    /// Runs a sync body inside the observation.
    #[inline]
    pub fn in_scope<R>(
        mut self,
        body: impl FnOnce() -> R,
        on_output: impl FnOnce(&R, &mut OutputSink<'_>),
    ) -> R {
        let Some(frame) = self.frame_mut() else {
            return body();
        };
        let result = frame.enter(|| catch_unwind(AssertUnwindSafe(body)));
        match result {
            Ok(value) => {
                self.complete(&value, on_output);
                value
            }
            Err(payload) => {
                self.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }

    /// Wraps a future: context set on every poll, panics recorded, output captured on
    /// completion, `WARNING`/`cancelled` if dropped unfinished.
    #[inline]
    pub fn instrument<F, C>(self, future: F, on_output: C) -> Instrumented<F, C>
    where
        F: Future,
        C: FnOnce(&F::Output, &mut OutputSink<'_>),
    {
        Instrumented {
            future,
            span: self,
            on_output: Some(on_output),
        }
    }

    fn complete<R>(&mut self, value: &R, on_output: impl FnOnce(&R, &mut OutputSink<'_>)) {
        if let Some(open) = self.open() {
            let capture = open.capture_output;
            on_output(value, &mut OutputSink { open, capture });
        }
        self.finish();
    }

    fn panicked(&mut self, payload: &(dyn std::any::Any + Send)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned());
        if let Some(open) = self.open() {
            open.level = Level::Error;
            open.details_mut().status_message = Some(format!("panicked: {message}"));
        }
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(frame) = self.frame.take() {
            frame.into_inner().into_inner().finish();
        }
    }
}

impl Drop for Span {
    /// Inlined: a finished or inactive span only checks its frame.
    #[inline]
    fn drop(&mut self) {
        if self.frame.is_some() {
            self.cancelled();
        }
    }
}

impl Span {
    /// Dropped unfinished: the future was cancelled.
    #[cold]
    #[inline(never)]
    fn cancelled(&mut self) {
        if let Some(open) = self.open() {
            open.level = Level::Warning;
            open.details_mut().status_message = Some("cancelled".to_owned());
        }
        self.finish();
    }
}

/// A heap home for an open frame, taken from (and given back to) a per-thread pool.
///
/// `malloc` and `free` of a frame cost about a hundred instructions; the pool, a few. A frame
/// that ends on another thread than it began (a future that moved) goes to that thread's
/// pool; each pool keeps at most [`POOL_MAX`] boxes and frees the rest.
///
/// Invariant: the box holds an initialized frame from `new` until `into_inner` or drop. A
/// `Box` of `MaybeUninit<Frame>` (not a raw pointer) so that `Send` follows from `Frame`'s,
/// with no `unsafe impl`.
struct FrameBox(ManuallyDrop<Box<MaybeUninit<Frame>>>);

const POOL_MAX: usize = 64;

thread_local! {
    // Boxes, not frames: each is handed out and taken back whole.
    #[allow(clippy::vec_box)]
    static POOL: std::cell::RefCell<Vec<Box<MaybeUninit<Frame>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl FrameBox {
    #[inline]
    fn new(frame: Frame) -> FrameBox {
        let spare = POOL
            .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten();
        let mut boxed = spare.unwrap_or_else(|| Box::new(MaybeUninit::uninit()));
        boxed.write(frame);
        FrameBox(ManuallyDrop::new(boxed))
    }

    /// The frame, moved out; the box goes back to this thread's pool.
    #[inline]
    fn into_inner(self) -> Frame {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used again (and its `Drop` never runs), so the box is
        // taken out exactly once.
        let boxed = unsafe { ManuallyDrop::take(&mut this.0) };
        // SAFETY: initialized (the invariant); after the read the box holds uninitialized
        // memory of the right layout, which is what the pool keeps, and nothing reads it.
        let frame = unsafe { boxed.assume_init_read() };
        recycle(boxed);
        frame
    }
}

fn recycle(boxed: Box<MaybeUninit<Frame>>) {
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            if pool.len() < POOL_MAX {
                pool.push(boxed);
            }
        }
    });
}

impl std::ops::Deref for FrameBox {
    type Target = Frame;
    #[inline]
    fn deref(&self) -> &Frame {
        // SAFETY: initialized until `into_inner` or drop (the invariant).
        unsafe { self.0.assume_init_ref() }
    }
}

impl std::ops::DerefMut for FrameBox {
    #[inline]
    fn deref_mut(&mut self) -> &mut Frame {
        // SAFETY: as in `deref`.
        unsafe { self.0.assume_init_mut() }
    }
}

impl Drop for FrameBox {
    fn drop(&mut self) {
        // Only reached when a span is dropped without finishing, which `Span` never does;
        // kept correct anyway.
        // SAFETY: `drop` runs once and `self.0` is not used after it.
        let mut boxed = unsafe { ManuallyDrop::take(&mut self.0) };
        // SAFETY: initialized (the invariant); dropped once, then only the memory is kept.
        unsafe { boxed.assume_init_drop() };
        recycle(boxed);
    }
}

pin_project_lite::pin_project! {
    /// The future `#[observe]` wraps around an async body. `Send` and `Sync` exactly when
    /// the body's future (and the output closure, which captures nothing) is: the span is
    /// both (see [`Span`]'s frame).
    pub struct Instrumented<F, C> {
        // Declared first so that, when dropped unfinished, the body's own observations end
        // before this one.
        #[pin]
        future: F,
        span: Span,
        on_output: Option<C>,
    }
}

impl<F, C> Future for Instrumented<F, C>
where
    F: Future,
    C: FnOnce(&F::Output, &mut OutputSink<'_>),
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span = this.span;
        let Some(frame) = span.frame_mut() else {
            return this.future.poll(cx);
        };
        let future = this.future;
        let result = frame.enter(|| catch_unwind(AssertUnwindSafe(|| future.poll(cx))));
        match result {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                if let Some(on_output) = this.on_output.take() {
                    span.complete(&value, on_output);
                }
                Poll::Ready(value)
            }
            Err(payload) => {
                span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

/// Where the emitted `on_output` closure records the result.
pub struct OutputSink<'a> {
    open: &'a mut Open,
    capture: bool,
}

impl OutputSink<'_> {
    /// Records the output; `value` runs only when output capture is on.
    #[inline]
    pub fn output(&mut self, value: impl FnOnce() -> Json) {
        if self.capture {
            self.open.output = Some(value());
        }
    }

    /// Sets level `ERROR` and the status message, whatever capture says.
    pub fn error(&mut self, message: String) {
        self.open.level = Level::Error;
        self.open.details_mut().status_message = Some(message);
    }
}

/// Builds the input object `{"arg": value, ...}` in one buffer.
#[derive(Debug)]
pub struct InputWriter {
    buf: Vec<u8>,
}

impl Default for InputWriter {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// A buffer reused for the JSON that `#[observe]` captures on this thread, so that a
    /// capture allocates only its exact-size result (no growth, no shrinking copy).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The thread's scratch buffer, empty; a fresh one when it is in use (a `Serialize` impl
/// that itself calls observed code).
fn take_scratch() -> Vec<u8> {
    // `try_with`: during the thread's exit the buffer may be gone; a fresh one then.
    let mut buf = SCRATCH.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    buf
}

/// Gives the buffer back for the next capture, unless one huge value made it too big to keep.
fn return_scratch(buf: Vec<u8>) {
    if buf.capacity() <= 64 * 1024 {
        let _ = SCRATCH.try_with(|s| s.set(buf));
    }
}

/// Exactly-sized JSON from bytes that serde_json wrote, with only ASCII punctuation and
/// `&str` keys around them.
fn json_from_bytes(buf: &[u8]) -> Json {
    // SAFETY: serde_json's writer emits valid UTF-8 (it copies `str` data and escapes, and
    // formats numbers in ASCII); the rest is ASCII and `&str` bytes. Checking again costs
    // more than the copy on a small capture.
    Json::from_raw(unsafe { std::str::from_utf8_unchecked(buf) })
}

/// `Json::from_value` through the scratch buffer.
fn json_of<T: Serialize + ?Sized>(value: &T) -> Json {
    let mut buf = take_scratch();
    let json = match serde_json::to_writer(&mut buf, value) {
        Ok(()) => json_from_bytes(&buf),
        Err(e) => Json::string(&format!("<not serializable: {e}>")),
    };
    return_scratch(buf);
    json
}

impl InputWriter {
    /// An empty object.
    pub fn new() -> InputWriter {
        let mut buf = take_scratch();
        buf.push(b'{');
        InputWriter { buf }
    }

    fn key(&mut self, name: &str) -> usize {
        let mark = self.buf.len();
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Parameter names are Rust identifiers: no escaping needed.
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        mark
    }

    fn serialize<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let mark = self.key(name);
        let at = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, value) {
            self.buf.truncate(at);
            let _ = serde_json::to_writer(&mut self.buf, &format!("<not serializable: {e}>"));
        }
        debug_assert!(mark < self.buf.len());
    }

    fn text(&mut self, name: &str, text: &str) {
        self.key(name);
        let _ = serde_json::to_writer(&mut self.buf, text);
    }

    fn finish(mut self) -> Json {
        self.buf.push(b'}');
        // Built from a brace, identifier keys and serde_json output: valid JSON, valid UTF-8.
        let json = json_from_bytes(&self.buf);
        return_scratch(self.buf);
        json
    }
}

/// Autoref specialization: `(&&&Capture(&value))` captures by `Serialize`, else `Debug`, else
/// the type's name.
pub struct Capture<'a, T: ?Sized>(pub &'a T);

/// Capture through `Serialize` (preferred).
pub trait CaptureSerialize {
    /// Writes `"name": value` into the input object.
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter);
    /// The value as JSON.
    fn to_json(&self) -> Json;
}

/// Capture through `Debug`: the value's debug text as a JSON string.
pub trait CaptureDebug {
    /// Writes `"name": "debug text"` into the input object.
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter);
    /// The debug text as a JSON string.
    fn to_json(&self) -> Json;
}

/// Neither: the type's name, so the user sees what was left out.
pub trait CaptureOpaque {
    /// Writes `"name": "<not captured: Type>"`.
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter);
    /// `"<not captured: Type>"`.
    fn to_json(&self) -> Json;
}

impl<T: Serialize + ?Sized> CaptureSerialize for &&Capture<'_, T> {
    #[inline]
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter) {
        writer.serialize(name, self.0);
    }
    fn to_json(&self) -> Json {
        json_of(self.0)
    }
}

impl<T: Debug + ?Sized> CaptureDebug for &Capture<'_, T> {
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter) {
        let mut text = Vec::new();
        let _ = write!(text, "{:?}", self.0);
        writer.text(name, &String::from_utf8_lossy(&text));
    }
    fn to_json(&self) -> Json {
        Json::string(&format!("{:?}", self.0))
    }
}

impl<T: ?Sized> CaptureOpaque for Capture<'_, T> {
    fn capture_into(&self, name: &'static str, writer: &mut InputWriter) {
        writer.text(name, &opaque::<T>());
    }
    fn to_json(&self) -> Json {
        Json::string(&opaque::<T>())
    }
}

fn opaque<T: ?Sized>() -> String {
    format!(
        "<not captured: {} is neither Serialize nor Debug>",
        type_name::<T>()
    )
}

/// Autoref specialization for error text: `(&&&ErrorText(&err)).error_text()` uses `Display`,
/// else `Debug`, else the type's name.
pub struct ErrorText<'a, T: ?Sized>(pub &'a T);

/// Error text through `Display` (preferred).
pub trait ErrorDisplay {
    /// The error's text.
    fn error_text(&self) -> String;
}

/// Error text through `Debug`.
pub trait ErrorDebug {
    /// The error's debug text.
    fn error_text(&self) -> String;
}

/// Error text when the error is neither `Display` nor `Debug`.
pub trait ErrorOpaque {
    /// The error type's name.
    fn error_text(&self) -> String;
}

impl<T: Display + ?Sized> ErrorDisplay for &&ErrorText<'_, T> {
    fn error_text(&self) -> String {
        self.0.to_string()
    }
}

impl<T: Debug + ?Sized> ErrorDebug for &ErrorText<'_, T> {
    fn error_text(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl<T: ?Sized> ErrorOpaque for ErrorText<'_, T> {
    fn error_text(&self) -> String {
        format!("error of type {}", type_name::<T>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        // No trace: finishing it sends nothing.
        Frame::test_observation(3)
    }

    #[test]
    fn frame_boxes_are_reused_and_hand_their_frame_back() {
        let first = FrameBox::new(frame());
        let address = &*first as *const Frame;
        let back = first.into_inner();
        assert_eq!(back.span_id, Some(crate::model::SpanId(3)));
        // The box went to this thread's pool: the next frame lands in it.
        let second = FrameBox::new(back);
        assert_eq!(&*second as *const Frame, address);
        // Dropped without `into_inner`: the frame is dropped, the box kept.
        drop(second);
        let third = FrameBox::new(frame());
        assert_eq!(&*third as *const Frame, address);
        drop(third.into_inner());
    }

    #[test]
    fn an_inactive_span_runs_the_body_and_wants_nothing() {
        let mut span = Span::inactive();
        assert!(!span.wants_input());
        assert_eq!(span.in_scope(|| 2 + 2, |_, _| unreachable!()), 4);
    }
}
