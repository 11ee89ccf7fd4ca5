//! [`SyncSpan`]: the observation of a plain `fn`, which is light (a frame on the stack that
//! borrows its parent's trace, ended as an entry in the thread's buffer of light records)
//! when it captures nothing and its parent was entered by a scope, a full [`Span`] otherwise.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::capture::{record_output, InputWriter, OutputSink};
use super::{mark_panicked, nowhere_to_record, Meta, Span};
use crate::context::{with_scoped, Frame, LocalFrame};

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
            Ok(value) => {
                frame.end();
                value
            }
            Err(payload) => {
                frame.with_open(|open| mark_panicked(open, payload.as_ref()));
                // Ended here, not while unwinding (which would say "cancelled"); by the
                // drop, out of line: the rare path.
                drop(frame);
                resume_unwind(payload)
            }
        }
    })
}
