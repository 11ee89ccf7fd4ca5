//! How an observation's frame ends: as a light entry in the thread's buffer when it has
//! nothing but ids, name, kind, level and times, else as a full record; in place (a pooled
//! box, a [`LocalFrame`] on the stack) or moved out ([`Frame::finish`]).

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use super::scope::is_scoped_current;
use super::{Frame, Open};
use crate::clock::{self, Ticks};
use crate::model::{Level, ObservationType, SpanId};
use crate::pipeline::{local, Captured, Entry, Finished, TraceState};

impl Frame {
    /// Ends the observation: builds the record and queues it. Does nothing for a frame
    /// without an open observation or of an unsampled trace.
    pub(crate) fn finish(mut self) {
        let Some(trace) = self.trace.take() else {
            return;
        };
        if self.span_id.is_none() || self.open.get_mut().is_none() {
            return;
        }
        crate::traps::ended();
        self.end_in_place(&trace);
    }

    /// Ends the observation of `trace` (taken out of this frame) without moving the frame:
    /// what a light entry leaves in it owns no heap memory. For a frame that is not moved
    /// out of where it lives (a [`LocalFrame`] on the stack, a pooled box); it is not
    /// counted open (see [`crate::traps`]): the caller counts it ended if it was.
    ///
    /// True when what is left in the frame owns nothing: dropping it may be skipped.
    #[inline]
    pub(crate) fn end_in_place(&mut self, trace: &Arc<TraceState>) -> bool {
        self.end_with::<false>(trace)
    }

    /// [`Frame::end_in_place`], inlined whole into its caller. `PARENT_IS_SCOPED`: the
    /// caller knows the parent is the thread's current frame, entered by a scope, as a
    /// light entry needs (a [`LocalFrame`], see [`LocalFrame::drop`]), so that is not
    /// checked again. The full record, the rare case, is made out of line.
    #[inline(always)]
    fn end_with<const PARENT_IS_SCOPED: bool>(&mut self, trace: &Arc<TraceState>) -> bool {
        let Some(id) = self.span_id else {
            return false;
        };
        let parent_id = self.parent_id.map_or(0, |p| p.0);
        let fields = self.open.get_mut();
        let Some(open) = fields.as_ref() else {
            return false;
        };
        if !trace.sampled {
            return false;
        }
        let end = if open.kind == ObservationType::Event {
            open.start
        } else {
            clock::ticks()
        };
        match open.light(id, parent_id, end) {
            Some(entry)
                if (PARENT_IS_SCOPED || is_scoped_current(parent_id))
                    && local::try_add(trace, entry) =>
            {
                self.client.is_none()
            }
            _ => {
                queue_full_taken(trace, fields, id, parent_id, end);
                false
            }
        }
    }
}

/// Queues the full record of an observation whose fields are in `fields` (left empty).
#[cold]
#[inline(never)]
fn queue_full_taken(
    trace: &Arc<TraceState>,
    fields: &mut Option<Open>,
    id: SpanId,
    parent_id: u64,
    end: Ticks,
) {
    if let Some(open) = fields.take() {
        queue_full(trace, open, id, parent_id, end);
    }
}

/// Builds the full record of an observation and queues it.
#[inline]
fn queue_full(trace: &Arc<TraceState>, open: Open, id: SpanId, parent_id: u64, end: Ticks) {
    // What this thread buffered ended first: it goes first.
    local::hand_over_pending();
    let record = Finished {
        trace_id: trace.id,
        id,
        parent_id,
        name: open.name,
        kind: open.kind,
        level: open.level,
        start: open.start,
        end,
        captured: Captured::None,
        details: open.details,
        attributes: trace.stamp(),
    };
    trace
        .pipeline
        .push_observation(record, open.input, open.output);
}

impl Open {
    /// This observation as a light entry, when that is all there is to it: no details, no
    /// captured input or output, a static name.
    #[inline]
    fn light(&self, id: SpanId, parent_id: u64, end: Ticks) -> Option<Entry> {
        if parent_id == 0 {
            return None;
        }
        let Cow::Borrowed(name) = self.name else {
            return None;
        };
        if self.details.is_some() || self.input.is_some() || self.output.is_some() {
            return None;
        }
        Some(Entry {
            id,
            parent_id,
            name,
            kind: self.kind,
            level: self.level,
            start: self.start,
            end,
        })
    }
}

/// An observation's frame that borrows its parent's trace instead of holding a reference
/// count of its own: the frame of a plain `fn` opened under a frame a scope entered (see
/// [`with_scoped`]), which outlives it. Lives on the caller's stack.
///
/// The frame's `trace` is an `Arc` made from the parent's pointer without an increment, so
/// it must never be dropped: this type ends the frame itself and forgets that `Arc`, also
/// when unwinding. A clone made from it (carrying the context into a spawned task) is an
/// ordinary one, with its own increment.
pub(crate) struct LocalFrame<'a> {
    frame: std::mem::ManuallyDrop<Frame>,
    _parent: PhantomData<&'a Arc<TraceState>>,
}

impl<'a> LocalFrame<'a> {
    /// Opens an observation of `trace` under `parent_id`.
    #[inline]
    pub(crate) fn open(
        trace: &'a Arc<TraceState>,
        parent_id: Option<SpanId>,
        name: &'static str,
        kind: ObservationType,
    ) -> LocalFrame<'a> {
        // SAFETY: `trace` points at a live `TraceState` with a strong count of at least one
        // (the parent's `Arc`, borrowed for `'a`, which this frame does not outlive). The
        // `Arc` made here takes no count of its own and is never dropped (`Drop` below
        // forgets it), so the count stays exact; clones of it increment as usual.
        let alias = unsafe { Arc::from_raw(Arc::as_ptr(trace)) };
        LocalFrame {
            frame: std::mem::ManuallyDrop::new(Frame::observation(
                alias,
                parent_id,
                Cow::Borrowed(name),
                kind,
            )),
            _parent: PhantomData,
        }
    }
}

impl std::ops::Deref for LocalFrame<'_> {
    type Target = Frame;
    #[inline]
    fn deref(&self) -> &Frame {
        &self.frame
    }
}

impl LocalFrame<'_> {
    /// Ends the observation. Always inlined into the observed function: out of line (as the
    /// drop glue is), the call, its stack frame and the fields read back from memory were a
    /// third of a plain `fn`'s cost.
    #[inline(always)]
    pub(crate) fn end(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.end_here();
    }

    /// Ends the observation, once (by [`LocalFrame::end`] or by the drop).
    ///
    /// Its parent is then the thread's current frame, entered by a scope, as a light entry
    /// needs (see `local`): the frame was opened under that frame (`with_scoped`), and its
    /// own scope, entered and left within the parent's, put the parent back on leaving,
    /// also when unwinding.
    #[inline(always)]
    fn end_here(&mut self) {
        let frame = &mut *self.frame;
        // Never dropped: it holds no count (see `open`).
        let alias = std::mem::ManuallyDrop::new(frame.trace.take());
        if std::thread::panicking() {
            if let Some(open) = frame.open_mut() {
                open.mark_cancelled();
            }
        }
        let owns_nothing = match &*alias {
            Some(trace) => frame.end_with::<true>(trace),
            None => false,
        };
        if !owns_nothing {
            // SAFETY: `end_here` runs once (from `end`, which forgets the value, or from
            // `drop`), and `self.frame` is not used after it. Its `trace` was taken out
            // above, so dropping the rest drops no `Arc<TraceState>`.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.frame) };
        }
    }
}

impl Drop for LocalFrame<'_> {
    /// Ends the observation when it was not ended by [`LocalFrame::end`]. Unwinding through
    /// it (a panic in user code outside the body's `catch_unwind`) ends it as cancelled, as
    /// a dropped span does.
    fn drop(&mut self) {
        self.end_here();
    }
}

impl Open {
    /// A future dropped unfinished, or a scope unwound through: `WARNING`, "cancelled".
    pub(crate) fn mark_cancelled(&mut self) {
        self.level = Level::Warning;
        self.details_mut().status_message = Some("cancelled".to_owned());
    }
}
