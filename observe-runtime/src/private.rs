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

use crate::context::{has_current, with_current, with_scoped, Frame, LocalFrame, Open};
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
        if nowhere_to_record() {
            return Span::inactive();
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
        let frame: &Frame = frame;
        // An update made while the output is serialized lands on this observation, not on
        // its parent.
        let result = run_entered(frame, true, body, |value| {
            record_output(frame, value, on_output)
        });
        match result {
            Ok(value) => {
                self.finish();
                value
            }
            Err(payload) => {
                self.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }

    /// Runs a sync body inside the observation and hands the observation back open, for
    /// [`Returned`] to end now or when the returned stream is consumed.
    #[inline]
    pub fn in_scope_open<R>(mut self, body: impl FnOnce() -> R) -> (R, Span) {
        let Some(frame) = self.frame_mut() else {
            return (body(), self);
        };
        let result = run_entered(frame, false, body, |_| {});
        match result {
            Ok(value) => (value, self),
            Err(payload) => {
                self.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }

    /// Wraps a future as [`Span::instrument`] does, but resolves to its output and the
    /// observation still open, for [`Returned`] to end now or when the returned stream is
    /// consumed.
    #[inline]
    pub fn instrument_open<F: Future>(self, future: F) -> InstrumentedOpen<F> {
        InstrumentedOpen {
            future,
            span: Some(self),
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

    /// Records the output (inside the observation's context) and ends the observation.
    pub(crate) fn complete<R>(
        &mut self,
        value: &R,
        on_output: impl FnOnce(&R, &mut OutputSink<'_>),
    ) {
        if let Some(frame) = self.frame_mut() {
            let frame: &Frame = frame;
            frame.enter(|| record_output(frame, value, on_output));
        }
        self.finish();
    }

    /// Opens an observation named at run time under the current context (what
    /// [`ObserveStreamExt::observe_as`](crate::ObserveStreamExt::observe_as) does).
    pub(crate) fn enter_named(name: Cow<'static, str>, kind: ObservationType) -> Span {
        if nowhere_to_record() {
            return Span::inactive();
        }
        let frame = with_current(|current| Frame::open(current, name, kind));
        Span::from_frame(frame)
    }

    /// Takes over an open frame (of a handle, say), with capture as the client says.
    pub(crate) fn from_frame(mut frame: Option<Frame>) -> Span {
        if let Some(frame) = &mut frame {
            if let Some(trace) = frame.trace.as_ref() {
                let capture = trace.sampled && trace.pipeline.capture_io();
                if let Some(open) = frame.open_mut() {
                    open.capture_output = capture;
                }
            }
        }
        Span {
            frame: frame.map(|f| SyncWrapper::new(FrameBox::new(f))),
        }
    }

    /// True while the observation is open and recording.
    #[inline]
    pub(crate) fn is_recording(&self) -> bool {
        self.frame.is_some()
    }

    /// The frame, while the observation is open and recording.
    #[inline]
    pub(crate) fn frame(&mut self) -> Option<&mut Frame> {
        self.frame_mut().map(|f| &mut **f)
    }

    /// The open fields, while the observation is open.
    pub(crate) fn open_fields(&mut self) -> Option<&mut Open> {
        self.open()
    }

    pub(crate) fn panicked(&mut self, payload: &(dyn std::any::Any + Send)) {
        if let Some(open) = self.open() {
            mark_panicked(open, payload);
        }
        self.finish();
    }

    pub(crate) fn finish(&mut self) {
        if let Some(frame) = self.frame.take() {
            frame.into_inner().finish();
        }
    }
}

/// `ERROR`, `"panicked: <message>"`.
fn mark_panicked(open: &mut Open, payload: &(dyn std::any::Any + Send)) {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned());
    open.level = Level::Error;
    open.details_mut().status_message = Some(format!("panicked: {message}"));
}

/// The observation of a plain `fn` being entered (what `#[observe]` emits for one that
/// returns its value, not a stream): a [`Span`], or, when nothing would be captured and the
/// current frame was entered by a scope, a light observation whose frame lives on the stack
/// and borrows its parent's trace (see `context::LocalFrame`), and which ends as an entry in the
/// thread's buffer of light records when it has nothing more to say.
pub struct SyncSpan(SyncKind);

enum SyncKind {
    Full(Span),
    /// Not decided yet: [`SyncSpan::in_scope`] opens it, light or full, under the frame
    /// current then (the same frame as at `enter`: nothing runs in between but the input
    /// capture, which asks [`SyncSpan::wants_input`] first, and that decides).
    Deferred(&'static Meta),
}

impl SyncSpan {
    /// Opens the observation under the current context (see [`Span::enter`]), or leaves
    /// that to [`SyncSpan::in_scope`], which decides whether it is light where it has the
    /// current frame at hand anyway.
    #[inline]
    pub fn enter(meta: &'static Meta) -> SyncSpan {
        if nowhere_to_record() {
            return SyncSpan(SyncKind::Full(Span::inactive()));
        }
        SyncSpan(SyncKind::Deferred(meta))
    }

    /// True when the input should be captured (never for a light observation). Decides
    /// what kind of observation this is, so that a captured input has a full one to go to.
    #[inline]
    pub fn wants_input(&mut self) -> bool {
        if let SyncKind::Deferred(meta) = self.0 {
            if !with_scoped(|parent| parent.is_some_and(|p| light_under(p, meta))) {
                self.0 = SyncKind::Full(Span::enter_active(meta));
            }
        }
        match &mut self.0 {
            SyncKind::Full(span) => span.wants_input(),
            SyncKind::Deferred(_) => false,
        }
    }

    /// Records the input object built by `writer`.
    pub fn set_input(&mut self, writer: InputWriter) {
        if let SyncKind::Full(span) = &mut self.0 {
            span.set_input(writer);
        }
    }

    /// Runs the body inside the observation (see [`Span::in_scope`]).
    #[inline]
    pub fn in_scope<R>(
        self,
        body: impl FnOnce() -> R,
        on_output: impl FnOnce(&R, &mut OutputSink<'_>),
    ) -> R {
        match self.0 {
            SyncKind::Full(span) => span.in_scope(body, on_output),
            SyncKind::Deferred(meta) => in_scope_light(meta, body, on_output),
        }
    }
}

/// Whether an observation of `meta` under `parent` captures nothing, so may be light.
#[inline]
fn light_under(parent: &Frame, meta: &Meta) -> bool {
    let Some(trace) = &parent.trace else {
        return false;
    };
    // As `Span::enter_active` decides capture.
    let default = trace.sampled && trace.pipeline.capture_io();
    !(trace.sampled
        && (meta.capture_input.unwrap_or(default) || meta.capture_output.unwrap_or(default)))
}

/// The observation's whole life when [`SyncSpan::enter`] left the decision here: light when
/// it may be (opened under the current frame, which a scope entered, so it outlives this
/// call; the body run inside it; ended), a full [`Span`] otherwise.
#[inline]
fn in_scope_light<R>(
    meta: &'static Meta,
    body: impl FnOnce() -> R,
    on_output: impl FnOnce(&R, &mut OutputSink<'_>),
) -> R {
    with_scoped(|parent| {
        let light = parent.filter(|p| light_under(p, meta));
        let Some((trace, parent_id)) = light.and_then(|p| Some((p.trace.as_ref()?, p.span_id)))
        else {
            // Not light: something would be captured, the current frame was made current
            // by a `RawEntered`, or there is no trace to borrow (a new trace starts here).
            return Span::enter_active(meta).in_scope(body, on_output);
        };
        let frame = LocalFrame::open(trace, parent_id, meta.name, meta.kind);
        let result = frame.enter_with(false, || {
            let result = catch_unwind(AssertUnwindSafe(body));
            if let Ok(value) = &result {
                record_output(&frame, value, on_output);
            }
            result
        });
        match result {
            Ok(value) => value,
            Err(payload) => {
                frame.with_open(|open| mark_panicked(open, payload.as_ref()));
                // Ended here, not while unwinding (which would say "cancelled").
                drop(frame);
                resume_unwind(payload)
            }
        }
    })
}

/// True when no context is current and no global client records; the first such call after
/// none was installed, or after it shut down, says so in a warning.
#[inline]
fn nowhere_to_record() -> bool {
    if has_current() {
        return false;
    }
    let state = global::state();
    if state == global::State::On {
        return false;
    }
    if state != global::State::Quiet {
        global::warn_no_client(state);
    }
    true
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
            open.mark_cancelled();
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

/// A stack of spare boxes: `boxes[..len]` hold one each, the rest `None`. A fixed array of
/// `Cell`s rather than a `RefCell<Vec<_>>`: no borrow flag to set and reset and no capacity
/// to check on each take and give back (~20 instructions of an async child's ~490).
struct Pool {
    len: Cell<usize>,
    boxes: [Cell<Option<Box<MaybeUninit<Frame>>>>; POOL_MAX],
}

thread_local! {
    static POOL: Pool = const {
        Pool {
            len: Cell::new(0),
            boxes: [const { Cell::new(None) }; POOL_MAX],
        }
    };
}

impl Pool {
    #[inline]
    fn take(&self) -> Option<Box<MaybeUninit<Frame>>> {
        let top = self.len.get().checked_sub(1)?;
        let spare = self.boxes.get(top)?.take();
        self.len.set(top);
        spare
    }

    #[inline]
    fn give(&self, boxed: Box<MaybeUninit<Frame>>) {
        let len = self.len.get();
        // Past `POOL_MAX` the box is dropped here (freed: it holds no frame).
        if let Some(slot) = self.boxes.get(len) {
            slot.set(Some(boxed));
            self.len.set(len + 1);
        }
    }
}

impl FrameBox {
    #[inline]
    fn new(frame: Frame) -> FrameBox {
        let spare = POOL.try_with(Pool::take).ok().flatten();
        let mut boxed = spare.unwrap_or_else(|| Box::new(MaybeUninit::uninit()));
        boxed.write(frame);
        FrameBox(ManuallyDrop::new(boxed))
    }

    /// Ends the frame's observation where it lies (see [`Frame::end_in_place`]: moving the
    /// frame out costs as much as ending it), then drops what is left of it; the box goes
    /// back to this thread's pool.
    #[inline]
    fn finish(self) {
        let mut this = ManuallyDrop::new(self);
        let frame: &mut Frame = &mut this;
        let trace = frame.trace.take();
        let owns_nothing = match &trace {
            Some(trace) if frame.open_mut().is_some() => {
                crate::traps::ended();
                frame.end_in_place(trace)
            }
            _ => false,
        };
        if let Some(trace) = trace {
            crate::pipeline::local::release_trace(trace);
        }
        // SAFETY: `this` is never used again (and its `Drop` never runs), so the box is
        // taken out exactly once.
        let mut boxed = unsafe { ManuallyDrop::take(&mut this.0) };
        if !owns_nothing {
            // SAFETY: initialized (the invariant), dropped once; then only the memory is
            // kept. Skipped when nothing in it owns anything: leaking plain data is a no-op.
            unsafe { boxed.assume_init_drop() };
        }
        recycle(boxed);
    }

    /// The frame, moved out; the box goes back to this thread's pool.
    #[cfg(test)]
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

/// Gives the box back to this thread's pool (or frees it: a full pool, a thread ending).
#[inline]
fn recycle(boxed: Box<MaybeUninit<Frame>>) {
    let _ = POOL.try_with(|pool| pool.give(boxed));
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
        let frame: &Frame = frame;
        let future = this.future;
        let on_output = this.on_output;
        let result = run_entered(
            frame,
            true,
            || future.poll(cx),
            |poll| {
                if let Poll::Ready(value) = poll {
                    if let Some(on_output) = on_output.take() {
                        record_output(frame, value, on_output);
                    }
                }
            },
        );
        match result {
            Ok(Poll::Pending) => {
                left_open(frame);
                Poll::Pending
            }
            Ok(Poll::Ready(value)) => {
                span.finish();
                Poll::Ready(value)
            }
            Err(payload) => {
                span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future [`Span::instrument_open`] returns. `Send` and `Sync` exactly when the
    /// body's future is, as [`Instrumented`].
    pub struct InstrumentedOpen<F> {
        #[pin]
        future: F,
        // `None` once handed back.
        span: Option<Span>,
    }
}

impl<F: Future> Future for InstrumentedOpen<F> {
    type Output = (F::Output, Span);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(span) = this.span.as_mut() else {
            // Polled after completion: the body's own future says what that does.
            return this.future.poll(cx).map(|value| (value, Span::inactive()));
        };
        let Some(frame) = span.frame_mut() else {
            let value = std::task::ready!(this.future.poll(cx));
            return Poll::Ready((value, this.span.take().unwrap_or_else(Span::inactive)));
        };
        let future = this.future;
        let result = run_entered(frame, false, || future.poll(cx), |_| {});
        match result {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                Poll::Ready((value, this.span.take().unwrap_or_else(Span::inactive)))
            }
            Err(payload) => {
                span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

/// Runs `body` inside `frame`, catching a panic for the caller to record and resume. `on_value`
/// sees what `body` returned while the frame is still entered, so that the user code it runs
/// (`Serialize`, `Display`, an update) sees this observation as the current one. The one
/// shape of every sync body, future poll and stream step.
///
/// `ends_after`: the caller ends the observation right after, or leaves it open only after
/// calling [`left_open`]; so leaving the scope need not hand over the light records
/// buffered under it (the observation's own entry, or its record, follows them). Otherwise
/// it does, so none is left behind while the observation stays open.
#[inline]
pub(crate) fn run_entered<R>(
    frame: &Frame,
    ends_after: bool,
    body: impl FnOnce() -> R,
    on_value: impl FnOnce(&R),
) -> std::thread::Result<R> {
    frame.enter_with(!ends_after, || {
        let result = catch_unwind(AssertUnwindSafe(body));
        if let Ok(value) = &result {
            on_value(value);
        }
        result
    })
}

/// The observation of `frame` stays open after a scope that [`run_entered`] was told it
/// ends: the light records buffered under it are handed over now.
#[inline]
fn left_open(frame: &Frame) {
    crate::pipeline::local::exited(frame.span_id);
}

/// Calls `on_output` with a sink over `frame`'s fields. The caller has entered the frame, so
/// that the user code `on_output` runs (`Serialize`, `Display`) sees this observation as the
/// current one; the sink touches the fields only after that code has returned.
#[inline]
fn record_output<R>(frame: &Frame, value: &R, on_output: impl FnOnce(&R, &mut OutputSink<'_>)) {
    let Some(capture) = frame.captures_output() else {
        return;
    };
    on_output(value, &mut OutputSink { frame, capture });
}

/// Where the emitted `on_output` closure records the result.
///
/// It holds the frame, not its fields: the user code that builds the output may itself update
/// the observation, and the fields are borrowed (`Frame::with_open`) only once that code
/// has returned.
pub struct OutputSink<'a> {
    frame: &'a Frame,
    capture: bool,
}

impl OutputSink<'_> {
    /// Records the output; `value` runs only when output capture is on.
    #[inline]
    pub fn output(&mut self, value: impl FnOnce() -> Json) {
        if self.capture {
            let value = value();
            self.frame.with_open(|open| open.output = Some(value));
        }
    }

    /// Sets level `ERROR` and the status message, whatever capture says.
    pub fn error(&mut self, message: String) {
        self.frame.with_open(|open| {
            open.level = Level::Error;
            open.details_mut().status_message = Some(message);
        });
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

/// Autoref specialization on a return value's type: `(&&ResultOf(&value)).as_result()` is the
/// `Result` itself when the value is one (whatever alias names it), else `Ok(&value)`.
pub struct ResultOf<'a, T: ?Sized>(pub &'a T);

/// See [`ResultOf`].
pub trait AsResult<'a> {
    /// The success type (the value's own type when it is not a `Result`).
    type Ok: ?Sized + 'a;
    /// The error type (`Infallible` when the value is not a `Result`).
    type Err: ?Sized + 'a;
    /// The value as a `Result` of references.
    fn as_result(&self) -> Result<&'a Self::Ok, &'a Self::Err>;
}

impl<'a, T: 'a, E: 'a> AsResult<'a> for &ResultOf<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn as_result(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

impl<'a, T: ?Sized + 'a> AsResult<'a> for ResultOf<'a, T> {
    type Ok = T;
    type Err = std::convert::Infallible;
    #[inline]
    fn as_result(&self) -> Result<&'a T, &'a std::convert::Infallible> {
        Ok(self.0)
    }
}

/// Autoref specialization: `(&&UnitOf(&value)).is_unit()` is true for `()`, which records no
/// output.
pub struct UnitOf<'a, T: ?Sized>(pub &'a T);

/// See [`UnitOf`].
pub trait IsUnit {
    /// True for `()`.
    fn is_unit(&self) -> bool;
}

impl IsUnit for &UnitOf<'_, ()> {
    #[inline]
    fn is_unit(&self) -> bool {
        true
    }
}

impl<T: ?Sized> IsUnit for UnitOf<'_, T> {
    #[inline]
    fn is_unit(&self) -> bool {
        false
    }
}

pub use crate::stream::{ItemSink, Observed, TextChunk};

/// Autoref specialization for one stream item: `(&&&&Chunk(&item)).record_chunk(sink)`
/// appends its text ([`TextChunk`]), else its `Serialize` form, else its `Debug` text, else
/// its type name.
pub struct Chunk<'a, T: ?Sized>(pub &'a T);

/// Text items (preferred).
pub trait ChunkText {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Items with a `Serialize` form.
pub trait ChunkSerialize {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Items with `Debug` text.
pub trait ChunkDebug {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Anything else: the type name.
pub trait ChunkOpaque {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

impl<T: TextChunk + ?Sized> ChunkText for &&&Chunk<'_, T> {
    #[inline]
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.text(self.0.chunk_text());
    }
}

impl<T: Serialize + ?Sized> ChunkSerialize for &&Chunk<'_, T> {
    #[inline]
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(self.0);
    }
}

impl<T: Debug + ?Sized> ChunkDebug for &Chunk<'_, T> {
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(&format!("{:?}", self.0));
    }
}

impl<T: ?Sized> ChunkOpaque for Chunk<'_, T> {
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(&opaque::<T>());
    }
}

/// The value an observed function returned, before its observation ends. Autoref
/// specialization decides by the value's type how it ends:
/// `(&&&&Returned::new(value)).observe_returned(span, on_output, on_item)` gives
///
/// - a boxed stream or iterator (`Pin<Box<dyn Stream<Item = T> + Send + 'a>>`,
///   `Box<dyn Iterator<Item = T> + 'a>`, ...): the same type, observed until consumed;
/// - a `Stream`: an [`Observed`] stream;
/// - an `Iterator`: an [`Observed`] iterator;
/// - anything else: the value, its observation ended now.
///
/// The emitted code calls this only when the declared return type can hold a wrapper
/// (`impl Trait`, a boxed `dyn`), so the `Observed` levels never meet a named type.
pub struct Returned<R>(Cell<Option<R>>);

impl<R> Returned<R> {
    /// Holds the value until one of the levels takes it.
    #[inline]
    pub fn new(value: R) -> Self {
        Returned(Cell::new(Some(value)))
    }

    #[inline]
    fn take(&self) -> R {
        match self.0.take() {
            Some(value) => value,
            // The emitted code makes one `Returned` and takes it once.
            None => unreachable!("a returned value is taken once"),
        }
    }
}

/// A boxed stream or iterator: observed, boxed again as the same type.
pub trait ObserveBoxed {
    /// The boxed type.
    type Value;
    /// Its items.
    type Item;
    /// See [`Returned`].
    fn observe_returned<C, I>(&self, span: Span, on_output: C, on_item: I) -> Self::Value
    where
        C: FnOnce(&Self::Value, &mut OutputSink<'_>),
        I: FnMut(&Self::Item, &mut ItemSink<'_>) + Send + 'static;
}

/// A stream: observed until consumed.
pub trait ObserveStream {
    /// The stream's type.
    type Stream: futures_core::Stream;
    /// See [`Returned`].
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Observed<Self::Stream, I>
    where
        C: FnOnce(&Self::Stream, &mut OutputSink<'_>),
        I: FnMut(&<Self::Stream as futures_core::Stream>::Item, &mut ItemSink<'_>);
}

/// An iterator: observed until consumed.
pub trait ObserveIterator {
    /// The iterator's type.
    type Iter: Iterator;
    /// See [`Returned`].
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Observed<Self::Iter, I>
    where
        C: FnOnce(&Self::Iter, &mut OutputSink<'_>),
        I: FnMut(&<Self::Iter as Iterator>::Item, &mut ItemSink<'_>);
}

/// Any other value: recorded, and its observation ended, now.
pub trait ObserveValue {
    /// The value's type.
    type Value;
    /// See [`Returned`].
    fn observe_returned<C, I>(&self, span: Span, on_output: C, on_item: I) -> Self::Value
    where
        C: FnOnce(&Self::Value, &mut OutputSink<'_>),
        I: FnMut(&Self::Value, &mut ItemSink<'_>);
}

macro_rules! observe_boxed_stream {
    ($([$($bounds:tt)*];)*) => {$(
        impl<'a, T: 'a> ObserveBoxed
            for &&&Returned<Pin<Box<dyn futures_core::Stream<Item = T> $($bounds)* + 'a>>>
        {
            type Value = Pin<Box<dyn futures_core::Stream<Item = T> $($bounds)* + 'a>>;
            type Item = T;
            fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Self::Value
            where
                C: FnOnce(&Self::Value, &mut OutputSink<'_>),
                I: FnMut(&T, &mut ItemSink<'_>) + Send + 'static,
            {
                Box::pin(Observed::new(self.take(), span, on_item))
            }
        }
    )*};
}

observe_boxed_stream! {
    [+ Send];
    [];
}

macro_rules! observe_boxed_iter {
    ($([$($bounds:tt)*];)*) => {$(
        impl<'a, T: 'a> ObserveBoxed for &&&Returned<Box<dyn Iterator<Item = T> $($bounds)* + 'a>> {
            type Value = Box<dyn Iterator<Item = T> $($bounds)* + 'a>;
            type Item = T;
            fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Self::Value
            where
                C: FnOnce(&Self::Value, &mut OutputSink<'_>),
                I: FnMut(&T, &mut ItemSink<'_>) + Send + 'static,
            {
                Box::new(Observed::new(self.take(), span, on_item))
            }
        }
    )*};
}

observe_boxed_iter! {
    [+ Send];
    [];
}

impl<S: futures_core::Stream> ObserveStream for &&Returned<S> {
    type Stream = S;
    #[inline]
    fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Observed<S, I>
    where
        C: FnOnce(&S, &mut OutputSink<'_>),
        I: FnMut(&S::Item, &mut ItemSink<'_>),
    {
        Observed::new(self.take(), span, on_item)
    }
}

impl<It: Iterator> ObserveIterator for &Returned<It> {
    type Iter = It;
    #[inline]
    fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Observed<It, I>
    where
        C: FnOnce(&It, &mut OutputSink<'_>),
        I: FnMut(&It::Item, &mut ItemSink<'_>),
    {
        Observed::new(self.take(), span, on_item)
    }
}

impl<R> ObserveValue for Returned<R> {
    type Value = R;
    #[inline]
    fn observe_returned<C, I>(&self, mut span: Span, on_output: C, _: I) -> R
    where
        C: FnOnce(&R, &mut OutputSink<'_>),
        I: FnMut(&R, &mut ItemSink<'_>),
    {
        let value = self.take();
        span.complete(&value, on_output);
        value
    }
}

/// What `#[observe(stream = true)]` checks the returned value against.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream = true)]` needs a function that returns a `Stream` or an `Iterator`, not `{Self}`",
    label = "not a `Stream` or an `Iterator`"
)]
pub trait StreamLike<Marker> {}

/// Marks [`StreamLike`] through `Stream`.
pub struct ThroughStream;
/// Marks [`StreamLike`] through `Iterator`.
pub struct ThroughIterator;

impl<S: futures_core::Stream> StreamLike<ThroughStream> for S {}
impl<I: Iterator> StreamLike<ThroughIterator> for I {}

/// Fails to compile unless `value` is a stream or an iterator.
#[inline]
pub fn require_stream<M, T: StreamLike<M>>(_value: &T) {}

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
    fn the_pool_keeps_at_most_pool_max_boxes_last_in_first_out() {
        let pool = Pool {
            len: Cell::new(0),
            boxes: [const { Cell::new(None) }; POOL_MAX],
        };
        assert!(pool.take().is_none(), "empty");
        let boxes: Vec<_> = (0..=POOL_MAX)
            .map(|_| Box::new(MaybeUninit::<Frame>::uninit()))
            .collect();
        let addresses: Vec<_> = boxes.iter().map(|b| &**b as *const _).collect();
        for boxed in boxes {
            pool.give(boxed);
        }
        assert_eq!(pool.len.get(), POOL_MAX, "the box past the cap was freed");
        for address in addresses[..POOL_MAX].iter().rev() {
            let boxed = pool.take().expect("kept");
            assert_eq!(&*boxed as *const _, *address);
        }
        assert!(pool.take().is_none(), "all taken back");
    }

    /// Under Miri too: a boxed frame whose observation ends light goes back to the pool
    /// without its frame being dropped, and its record reaches the worker.
    #[test]
    fn a_frame_box_ending_light_is_recycled_without_a_drop() {
        use crate::pipeline::TraceState;
        use crate::model::TraceId;
        let pipeline = crate::pipeline::Pipeline::start(Default::default(), Vec::new(), None);
        let trace = TraceState::new(pipeline.clone(), TraceId(9));
        let parent = Frame::with_trace(trace.clone(), None, "p".into(), Default::default());
        parent.enter(|| {
            let child = with_current(|p| Frame::open(p, "c".into(), ObservationType::Span));
            let boxed = FrameBox::new(child.expect("under a trace"));
            let address = &*boxed as *const Frame;
            boxed.finish();
            let next = FrameBox::new(frame());
            assert_eq!(&*next as *const Frame, address, "the box was recycled");
            drop(next.into_inner());
        });
        parent.finish();
        drop(trace);
        let report = pipeline.shutdown(std::time::Duration::from_secs(60));
        assert_eq!(report.stats.queued, 2);
    }

    #[test]
    fn an_inactive_span_runs_the_body_and_wants_nothing() {
        let mut span = Span::inactive();
        assert!(!span.wants_input());
        assert_eq!(span.in_scope(|| 2 + 2, |_, _| unreachable!()), 4);
    }
}
