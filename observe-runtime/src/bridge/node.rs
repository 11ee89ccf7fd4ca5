//! A bridged span's observation and the claim on its frame: what the layer and the table of
//! spans both hold, apart from either.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::fields::Recorded;
use crate::context::Frame;
use crate::model::SpanId;
use crate::pipeline::TraceState;

/// A bridged span's observation, in the [`spans`](super::spans) table from its creation to
/// its close.
pub(super) struct Node {
    /// The observation, `Some` until `on_close` takes it, after taking the node out of the
    /// table. Its open fields are touched only by whoever holds `claimed` (the one thread
    /// that has this frame current); its trace and id are read by any thread that has the
    /// span entered or holds the table's lock ([`Node::ids`]).
    pub(super) frame: UnsafeCell<Option<Frame>>,
    /// What other threads that enter the span at the same time get as their current
    /// frame: the same trace and parent id, no open fields.
    pub(super) carried: OnceLock<Option<Box<Frame>>>,
    claimed: AtomicBool,
    /// Fields given on creation and recorded since (`Span::record`, from any thread),
    /// applied on close.
    pub(super) pending: Mutex<Option<Box<Recorded>>>,
    /// Set once `pending` holds something: a span recorded nothing after creation (the
    /// usual case) closes without taking its lock.
    pub(super) recorded: AtomicBool,
    /// Set on close, before the registry can give the span's id to another span: an entry
    /// of a thread's list of the spans it made (`spans::MADE`) whose node is closed is stale.
    pub(super) closed: AtomicBool,
    pub(super) events: AtomicU32,
    /// Exited while a guard of someone else's still had this frame (or the carried one) as
    /// the one to restore: the node's memory must outlive the span, and the frame must not
    /// be written but for its open fields.
    pub(super) stranded: AtomicBool,
    /// The open fields of a stranded frame, detached by the thread that had it current (so
    /// that its guard puts back a frame no other thread writes), finished on close.
    pub(super) detached: Mutex<Option<Box<Frame>>>,
}

// SAFETY: the only non-`Sync` part is `frame` (an `UnsafeCell`, holding a frame whose open
// fields are another). Its open fields are reached through a shared `Node` only by the
// thread that won `claimed` in `enter`, until it gives it back in `leave`; every other
// thread reads the frame's trace and id alone (`Node::ids`), which nothing writes while the
// node is shared. The layer writes `frame` only in `on_new_span` (before the node is
// shared) and in `on_close`, after taking the node out of the table (so no reader under
// the table's lock remains) when no thread can have the span entered (entering takes a
// handle, and the span closes when the last one drops).
unsafe impl Sync for Node {}

impl Node {
    pub(super) fn new(frame: Frame) -> Node {
        Node {
            frame: UnsafeCell::new(Some(frame)),
            carried: OnceLock::new(),
            claimed: AtomicBool::new(false),
            pending: Mutex::new(None),
            recorded: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            events: AtomicU32::new(0),
            stranded: AtomicBool::new(false),
            detached: Mutex::new(None),
        }
    }

    /// Claims the frame for this thread; `None` while another thread has it.
    pub(super) fn claim(&self) -> Option<Claimed<'_>> {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Claimed { node: self })
    }

    /// The frame, for the thread that claimed it ([`Claimed::frame`]) or the layer.
    ///
    /// # Safety
    ///
    /// The caller holds `claimed`, or is the layer on creation or close (see the `Sync`
    /// impl), and drops the reference before giving that up.
    pub(super) unsafe fn frame(&self) -> Option<&Frame> {
        // SAFETY: by the caller's promise, no `&mut` to the cell exists meanwhile.
        unsafe { (*self.frame.get()).as_ref() }
    }

    /// The trace and the observation id of the node's frame.
    ///
    /// # Safety
    ///
    /// The node is in the table and the caller holds its lock
    /// ([`spans::with`](super::spans::with)), or the caller has the span entered: either way
    /// `on_close` cannot be taking the frame.
    pub(super) unsafe fn ids(&self) -> Option<(&Arc<TraceState>, SpanId)> {
        // SAFETY: by the caller's promise no `&mut` to the cell exists; the trace and id
        // are not in the frame's own cell, which only the claiming thread writes.
        let frame = unsafe { (*self.frame.get()).as_ref() }?;
        Some((frame.trace.as_ref()?, frame.span_id?))
    }

    /// The frame carried into threads that enter the span while another has it.
    ///
    /// # Safety
    ///
    /// As for [`Node::ids`].
    pub(super) unsafe fn carried(&self) -> Option<Frame> {
        // SAFETY: the caller's promise is `ids`'.
        let (trace, span_id) = unsafe { self.ids() }?;
        Some(Frame::continued(trace.clone(), span_id))
    }

    /// A node with no trace to send to, for the table's unit tests.
    #[cfg(test)]
    pub(super) fn for_test() -> Node {
        let pipeline = crate::Client::in_memory().0.pipeline().clone();
        let trace = TraceState::new(pipeline, crate::model::TraceId::random());
        Node::new(Frame::with_trace(
            trace,
            None,
            std::borrow::Cow::Borrowed("test"),
            crate::model::ObservationType::Span,
        ))
    }
}

/// The claim on a node's frame: while it lives, this thread alone reaches the frame's open
/// fields (see the `Sync` impl of [`Node`]); dropping it gives the claim back.
pub(super) struct Claimed<'a> {
    node: &'a Node,
}

impl<'a> Claimed<'a> {
    /// The node's frame, for as long as the claim is borrowed.
    pub(super) fn frame(&self) -> Option<&Frame> {
        // SAFETY: the claim is held while `self` lives, and the reference cannot outlive
        // the borrow of `self`.
        unsafe { self.node.frame() }
    }

    /// Keeps the claim past this call, for the thread's stack of entered spans (a slot's
    /// `claimed`): given back when [`leave`](super::leave) takes the slot off and
    /// [`Claimed::resume`]s it.
    pub(super) fn keep(self) {
        std::mem::forget(self);
    }

    /// The claim [`Claimed::keep`] kept.
    ///
    /// # Safety
    ///
    /// This thread holds `node`'s claim, kept by [`Claimed::keep`], and resumes it once.
    pub(super) unsafe fn resume(node: &'a Node) -> Claimed<'a> {
        Claimed { node }
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        self.node.claimed.store(false, Ordering::Release);
    }
}
