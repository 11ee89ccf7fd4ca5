//! The life of one `#[observe]` observation: opened under the current context ([`Span`], or
//! [`SyncSpan`] for a plain `fn`, which may end as a light entry), its frame kept in a pooled
//! box ([`frame_box`]), its body run entered (sync, as a future in [`future`], or as a stream
//! step), its input and output captured ([`capture`]), and ended: finished, panicked or
//! cancelled. The macro reaches these types through `crate::__private`, which re-exports them.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use sync_wrapper::SyncWrapper;

use crate::context::{has_current, with_current, Frame, Open};
use crate::global;
use crate::model::{Level, ObservationType};

mod capture;
mod frame_box;
mod future;
mod sync;

pub(crate) use capture::record_output;
pub use capture::{InputWriter, OutputSink};
use frame_box::FrameBox;
pub use future::{Instrumented, InstrumentedOpen};
pub use sync::SyncSpan;

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

    /// Records the input object built by `writer`. Inlined: it is on every captured
    /// input's path, in the observed function's crate.
    #[inline]
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
    /// [`Returned`](crate::__private::Returned) to end now or when the returned stream is
    /// consumed.
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
    /// observation still open, for [`Returned`](crate::__private::Returned) to end now or
    /// when the returned stream is consumed.
    #[inline]
    pub fn instrument_open<F: Future>(self, future: F) -> InstrumentedOpen<F> {
        InstrumentedOpen::new(future, self)
    }

    /// Wraps a future: context set on every poll, panics recorded, output captured on
    /// completion, `WARNING`/`cancelled` if dropped unfinished.
    #[inline]
    pub fn instrument<F, C>(self, future: F, on_output: C) -> Instrumented<F, C>
    where
        F: Future,
        C: FnOnce(&F::Output, &mut OutputSink<'_>),
    {
        Instrumented::new(future, self, on_output)
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
pub(crate) fn left_open(frame: &Frame) {
    crate::pipeline::local::exited(frame.span_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_span_runs_the_body_and_wants_nothing() {
        let mut span = Span::inactive();
        assert!(!span.wants_input());
        assert_eq!(span.in_scope(|| 2 + 2, |_, _| unreachable!()), 4);
    }
}
