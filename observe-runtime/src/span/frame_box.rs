//! The pooled heap boxes the frames of [`Span`](super::Span)s live in.

use crate::box_stack::BoxStack;
use std::mem::{ManuallyDrop, MaybeUninit};

use crate::context::Frame;

/// A heap home for an open frame, taken from (and given back to) a per-thread pool.
///
/// `malloc` and `free` of a frame cost about a hundred instructions; the pool, a few. A frame
/// that ends on another thread than it began (a future that moved) goes to that thread's
/// pool; each pool keeps at most [`POOL_MAX`] boxes and frees the rest.
///
/// Invariant: the box holds an initialized frame from `new` until `into_inner` or drop. A
/// `Box` of `MaybeUninit<Frame>` (not a raw pointer) so that `Send` follows from `Frame`'s,
/// with no `unsafe impl`.
pub(super) struct FrameBox(ManuallyDrop<Box<MaybeUninit<Frame>>>);

const POOL_MAX: usize = 64;

thread_local! {
    static POOL: BoxStack<MaybeUninit<Frame>, POOL_MAX> = const { BoxStack::new() };
}

impl FrameBox {
    #[inline]
    pub(super) fn new(frame: Frame) -> FrameBox {
        let spare = POOL.try_with(BoxStack::take).ok().flatten();
        let mut boxed = spare.unwrap_or_else(|| Box::new(MaybeUninit::uninit()));
        boxed.write(frame);
        FrameBox(ManuallyDrop::new(boxed))
    }

    /// Ends the frame's observation where it lies (see [`Frame::end_in_place`]: moving the
    /// frame out costs as much as ending it), then drops what is left of it; the box goes
    /// back to this thread's pool.
    #[inline]
    pub(super) fn finish(self) {
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
    pub(super) fn into_inner(self) -> Frame {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::with_current;
    use crate::model::ObservationType;

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

    /// Under Miri too: a boxed frame whose observation ends light goes back to the pool
    /// without its frame being dropped, and its record reaches the worker.
    #[test]
    fn a_frame_box_ending_light_is_recycled_without_a_drop() {
        use crate::model::TraceId;
        use crate::pipeline::TraceState;
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
}
