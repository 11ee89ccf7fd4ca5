//! The context: the frame of the innermost observation (or carried trace, or client scope)
//! of each thread, found through a thread-local pointer, and how an observation's frame opens
//! and ends. The thread-local pointer and its guards are in [`scope`], the ways a frame ends in
//! [`end`]; what user code calls to read, update and score the context is [`crate::current`].
//!
//! The context is poll-scoped, as in fastrace: whoever owns an open observation (the future
//! that `#[observe]` wraps around an `async fn`, the guard around a plain `fn`, a client
//! handle's scope) puts a pointer to its [`Frame`] in a thread-local for the duration of each
//! poll or call, and puts the previous pointer back afterwards. So the context follows a
//! future across `.await` and across the threads of a multi-threaded runtime, works on any
//! executor, and costs two pointer swaps per poll. It was measured against
//! `tokio::task_local!` (see BENCHMARKS.md), which needs tokio and costs more per poll.
//!
//! ```
//! use observe_runtime::{observe, update_current_trace, current_trace_id, Client, TraceUpdate};
//!
//! #[observe]
//! fn handle(request: &str) -> usize {
//!     update_current_trace(TraceUpdate::new().user_id("user_42").session_id("chat_7"));
//!     assert!(current_trace_id().is_some());
//!     request.len()
//! }
//!
//! let (client, memory) = Client::in_memory();
//! client.in_scope(|| handle("hello"));
//! client.flush(std::time::Duration::from_secs(5));
//! let obs = memory.observations();
//! assert_eq!(obs[0].trace.user_id.as_deref(), Some("user_42"));
//! ```

use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::sync::Arc;

use crate::capture_buf::CaptureBuf;
use crate::clock::{self, Ticks};
use crate::model::{Level, ObservationDetails, ObservationType, SpanId};
use crate::pipeline::{local, spare_trace, Pipeline, TraceState};

mod end;
mod scope;

pub(crate) use end::LocalFrame;
#[cfg(feature = "tracing-bridge")]
pub(crate) use scope::{current_ptr, RawEntered};
pub(crate) use scope::{has_current, with_current, with_scoped};

/// The fields of an observation still being recorded.
pub(crate) struct Open {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: ObservationType,
    pub(crate) level: Level,
    /// A raw clock reading: the worker turns it into wall time.
    pub(crate) start: Ticks,
    /// The input `#[observe]` captured. Kept out of `details` so that capturing costs no
    /// allocation (a pooled buffer, see [`CaptureBuf`]); an input set by an update wins
    /// over it.
    pub(crate) input: Option<CaptureBuf>,
    /// The output `#[observe]` captured on return; it wins over an update's output.
    pub(crate) output: Option<CaptureBuf>,
    pub(crate) details: Option<Box<ObservationDetails>>,
    /// Whether `#[observe]` records the input and the output (decided on entry).
    pub(crate) capture_input: bool,
    pub(crate) capture_output: bool,
}

impl Open {
    pub(crate) fn details_mut(&mut self) -> &mut ObservationDetails {
        self.details.get_or_insert_with(Default::default)
    }
}

/// One level of context: what new observations hang under.
///
/// An observation's frame has a trace, its own id and its open fields. A carried context
/// (into a spawned task or a thread) has a trace and the id of the observation that spawned
/// it, and nothing open. A client scope has only the client: the next observation starts a
/// trace there.
pub(crate) struct Frame {
    pub(crate) trace: Option<Arc<TraceState>>,
    pub(crate) client: Option<Arc<Pipeline>>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) parent_id: Option<SpanId>,
    /// `UnsafeCell<Option<_>>` rather than the other way round: the option's niche keeps the
    /// frame (and so the span `#[observe]` moves into its future) within 128 bytes, which
    /// the compiler copies inline rather than through `memcpy`.
    ///
    /// Reached through [`Frame::open_mut`] (`&mut self`), or through `&self` (the frame as
    /// found in the thread-local) by [`Frame::with_open`], [`Frame::captures_input`], [`Frame::captures_output`] and
    /// [`Frame::is_observation`], each of which holds a reference into the cell only for a
    /// few statements that call no other code. So no two references into it ever overlap.
    open: UnsafeCell<Option<Open>>,
}

// `#[observe]` moves a frame into its future; past 128 bytes that move is a `memcpy` call.
const _: () = assert!(std::mem::size_of::<Option<Frame>>() <= 128);

// Frames and the records they become move between threads with the futures that own them.
// Asserted here rather than claimed with an `unsafe impl`: a field that is not `Send` fails
// the build. (`Frame` is not `Sync`: shared access to the open fields is for one thread.)
const _: () = {
    const fn send<T: Send>() {}
    send::<Frame>();
    send::<Open>();
    send::<Arc<TraceState>>();
};

impl Frame {
    /// A context that carries a trace (or a client) without an open observation.
    pub(crate) fn carried(&self) -> Frame {
        Frame {
            trace: self.trace.clone(),
            client: self.client.clone(),
            span_id: self.span_id,
            parent_id: None,
            open: UnsafeCell::new(None),
        }
    }

    /// Takes the open fields out, into a frame of their own to finish, leaving this one at
    /// its address as a carried context (same trace and ids, nothing open). Only the open
    /// fields' cell is written, so pointers to this frame held by guards stay valid: for a
    /// `tracing` span exited while a guard entered inside it still has its frame to put
    /// back (the bridge).
    #[cfg(feature = "tracing-bridge")]
    pub(crate) fn detach_open(&self) -> Option<Frame> {
        let cell = self.open.get();
        // SAFETY: momentary accesses on the frame's thread, as in `with_open`: a read, then
        // (only when there is something to take) a write through the raw pointer, which
        // makes no reference that other pointers to the frame would have to give way to.
        let open = unsafe {
            (*cell).as_ref()?;
            std::ptr::replace(cell, None)
        }?;
        Some(Frame {
            trace: self.trace.clone(),
            client: self.client.clone(),
            span_id: self.span_id,
            parent_id: self.parent_id,
            open: UnsafeCell::new(Some(open)),
        })
    }

    /// A context continuing a trace from elsewhere (another process, a `tracing` span seen
    /// from another thread): observations opened under it get `parent` as their parent id.
    #[cfg_attr(not(feature = "propagation"), allow(dead_code))]
    pub(crate) fn continued(trace: Arc<TraceState>, parent: SpanId) -> Frame {
        Frame {
            trace: Some(trace),
            client: None,
            span_id: Some(parent),
            parent_id: None,
            open: UnsafeCell::new(None),
        }
    }

    /// A bare client scope.
    pub(crate) fn client(pipeline: Arc<Pipeline>) -> Frame {
        Frame {
            trace: None,
            client: Some(pipeline),
            span_id: None,
            parent_id: None,
            open: UnsafeCell::new(None),
        }
    }

    /// Opens an observation under `parent` (the current frame), or as a new trace's root.
    /// `None` when there is nowhere to send it (no client in scope and no global client).
    /// Always inlined: the calls into it and into [`Frame::with_trace`] (their prologues
    /// and epilogues, the frame moved between return slots) were a fifth of an async
    /// child's cost.
    #[inline(always)]
    pub(crate) fn open(
        parent: Option<&Frame>,
        name: Cow<'static, str>,
        kind: ObservationType,
    ) -> Option<Frame> {
        let (trace, parent_id) = match parent {
            Some(Frame {
                trace: Some(trace),
                span_id,
                ..
            }) => (local::clone_trace(trace), *span_id),
            Some(Frame {
                client: Some(pipeline),
                ..
            }) => (spare_trace::new_trace(pipeline), None),
            _ => (crate::global::with_pipeline(spare_trace::new_trace)?, None),
        };
        Some(Frame::with_trace(trace, parent_id, name, kind))
    }

    /// Opens an observation of `trace` under `parent_id`. Always inlined, as
    /// [`Frame::open`] is: the frame is then built where its caller keeps it (an async
    /// child's pooled box) instead of in a return slot and moved (~60 instructions).
    #[inline(always)]
    pub(crate) fn with_trace(
        trace: Arc<TraceState>,
        parent_id: Option<SpanId>,
        name: Cow<'static, str>,
        kind: ObservationType,
    ) -> Frame {
        crate::traps::opened();
        Frame::observation(trace, parent_id, name, kind)
    }

    /// [`Frame::with_trace`] without counting it open (see [`crate::traps`]): for a
    /// [`LocalFrame`], which ends within the call that opened it, on its thread.
    #[inline]
    fn observation(
        trace: Arc<TraceState>,
        parent_id: Option<SpanId>,
        name: Cow<'static, str>,
        kind: ObservationType,
    ) -> Frame {
        Frame {
            trace: Some(trace),
            client: None,
            span_id: Some(new_span_id()),
            parent_id,
            open: UnsafeCell::new(Some(Open {
                name,
                kind,
                level: Level::Default,
                start: clock::ticks(),
                input: None,
                output: None,
                details: None,
                capture_input: false,
                capture_output: false,
            })),
        }
    }

    /// The open fields, if this frame is an observation, for its owner.
    #[inline]
    pub(crate) fn open_mut(&mut self) -> Option<&mut Open> {
        self.open.get_mut().as_mut()
    }

    /// Runs `f` on the open fields, if this frame is an observation, through a shared
    /// reference (the frame as found in the thread-local).
    ///
    /// The fields are moved out of the frame while `f` runs and put back after (also on
    /// unwind), so `f` works on a value of its own: if it reaches this frame again (a nested
    /// call), the frame looks closed there and that call does nothing.
    #[inline]
    pub(crate) fn with_open<R>(&self, f: impl FnOnce(&mut Open) -> R) -> Option<R> {
        /// Puts the fields back into the frame when `f` returns or unwinds.
        struct Lent<'a> {
            home: &'a UnsafeCell<Option<Open>>,
            open: Option<Open>,
        }
        impl Drop for Lent<'_> {
            fn drop(&mut self) {
                // SAFETY: as in `with_open`: a momentary access on the frame's thread. The
                // cell holds `None` (nothing puts fields into a lent frame), so the
                // assignment drops nothing that runs code.
                unsafe { *self.home.get() = self.open.take() };
            }
        }
        // SAFETY: `Frame` is not `Sync`, so every `&Frame` is on this thread; a `&mut Frame`
        // (`open_mut`) cannot coexist with our `&self`; and every other access through
        // `&self` is momentary (see the field), so none is alive during this one.
        let open = unsafe { (*self.open.get()).take() }?;
        let mut lent = Lent {
            home: &self.open,
            open: Some(open),
        };
        lent.open.as_mut().map(f)
    }

    /// Whether `#[observe]` should capture this observation's input.
    #[inline]
    pub(crate) fn captures_input(&self) -> bool {
        // SAFETY: a momentary shared read on the frame's thread, as in `with_open`.
        unsafe { (*self.open.get()).as_ref() }.is_some_and(|open| open.capture_input)
    }

    /// Whether `#[observe]` should capture this observation's output; `None` when the frame
    /// has no open observation (or its fields are lent out by [`Frame::with_open`]). A plain
    /// read: moving the fields out and back, as `with_open` does, cost ~50 instructions on
    /// every completion.
    #[inline]
    pub(crate) fn captures_output(&self) -> Option<bool> {
        // SAFETY: a momentary shared read on the frame's thread, as in `with_open`.
        unsafe { (*self.open.get()).as_ref() }.map(|open| open.capture_output)
    }

    /// Sets the output `#[observe]` captured, if this frame is an observation whose fields
    /// are not lent out. Written in place: moving the fields out and back, as `with_open`
    /// does, cost ~50 instructions on every captured output.
    #[inline]
    pub(crate) fn set_captured_output(&self, output: CaptureBuf) {
        // SAFETY: a momentary access on the frame's thread, as in `with_open`. The output it
        // replaces is a `CaptureBuf`, whose drop runs no code that could reach this frame.
        if let Some(open) = unsafe { (*self.open.get()).as_mut() } {
            open.output = Some(output);
        }
    }

    /// Writes the output `#[observe]` captured with `write`, after the input in the input's
    /// buffer (one buffer for both: see [`CaptureBuf::begin_output`]), or into a buffer of
    /// its own when there is no input; if this frame is an observation whose fields are not
    /// lent out. `write` must run no user code (only [`CaptureBuf`]'s own writes): the
    /// fields are borrowed while it runs. Always inlined: it is on every captured output's
    /// path, and out of line its call (~57 instructions with the write) was not.
    #[inline(always)]
    pub(crate) fn append_captured_output(&self, write: impl FnOnce(&mut CaptureBuf)) {
        // SAFETY: a momentary access on the frame's thread, as in `with_open`: `write` runs
        // only the buffer's code (the contract above), which cannot reach this frame.
        if let Some(open) = unsafe { (*self.open.get()).as_mut() } {
            let buf = match &mut open.input {
                Some(input) => {
                    // An output set before in a buffer of its own would win over this one.
                    open.output = None;
                    input
                }
                None => open.output.insert(CaptureBuf::new()),
            };
            buf.begin_output();
            write(buf);
        }
    }

    /// True when this frame is an observation (not a carried context or a client scope).
    pub(crate) fn is_observation(&self) -> bool {
        // SAFETY: a momentary shared read on the frame's thread, as in `with_open`.
        unsafe { (*self.open.get()).is_some() }
    }
}

/// A random, non-zero span id from the thread's fast generator, as `SpanId::random` makes
/// one, but inlined into the observation's path: across the crates it is a call, which cost
/// as much as the generator itself (~12 instructions of a plain `fn`'s span).
#[inline(always)]
fn new_span_id() -> SpanId {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return SpanId(id);
        }
    }
}

/// An observation frame with no trace (nothing to send it to): enough for unit tests of the
/// context.
#[cfg(test)]
impl Frame {
    pub(crate) fn test_observation(id: u64) -> Frame {
        Frame {
            trace: None,
            client: None,
            span_id: Some(SpanId(id)),
            parent_id: None,
            open: UnsafeCell::new(Some(Open {
                name: Cow::Borrowed("test"),
                kind: ObservationType::Span,
                level: Level::Default,
                start: clock::ticks(),
                input: None,
                output: None,
                details: None,
                capture_input: true,
                capture_output: false,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceId;
    use std::panic::AssertUnwindSafe;

    fn observation(id: u64) -> Frame {
        Frame::test_observation(id)
    }

    fn current_id() -> Option<u64> {
        with_current(|f| f.and_then(|f| f.span_id).map(|id| id.0))
    }

    #[test]
    fn enter_nests_and_restores_the_previous_frame_also_on_unwind() {
        let outer = observation(1);
        let inner = observation(2);
        assert_eq!(current_id(), None);
        outer.enter(|| {
            assert_eq!(current_id(), Some(1));
            inner.enter(|| assert_eq!(current_id(), Some(2)));
            assert_eq!(current_id(), Some(1));
            let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| {
                inner.enter(|| panic!("inside"));
            }));
            assert!(unwound.is_err());
            assert_eq!(
                current_id(),
                Some(1),
                "the guard restored the pointer on unwind"
            );
        });
        assert_eq!(current_id(), None);
    }

    #[test]
    fn open_fields_are_lent_once_and_put_back() {
        let frame = observation(1);
        assert!(frame.is_observation());
        assert!(frame.captures_input());
        frame.enter(|| {
            let nested = with_current(|current| {
                let current = current.expect("entered");
                current
                    .with_open(|open| {
                        open.level = Level::Warning;
                        // The same frame reached again while its fields are out: it looks
                        // closed, so no second `&mut` exists.
                        with_current(|again| {
                            let again = again.expect("entered");
                            (again.is_observation(), again.with_open(|_| ()).is_some())
                        })
                    })
                    .expect("an observation")
            });
            assert_eq!(nested, (false, false));
        });
        let mut frame = frame;
        assert!(frame.is_observation(), "the fields came back");
        assert_eq!(frame.open_mut().map(|o| o.level), Some(Level::Warning));
    }

    #[test]
    fn open_fields_come_back_when_the_borrower_panics() {
        let frame = observation(1);
        let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| {
            frame.with_open(|_| panic!("inside"));
        }));
        assert!(unwound.is_err());
        assert!(frame.is_observation());
    }

    /// Under Miri (`scripts/miri.sh`): the borrowed `Arc` of a [`LocalFrame`] (made without
    /// an increment, never dropped), a clone taken from it while it is current, its light end
    /// into the thread's buffer and the buffer handed over through the ring to the worker.
    #[test]
    fn a_local_frame_borrows_its_parents_trace_and_leaves_the_count_as_it_was() {
        for sampled in [true, false] {
            let settings = crate::PipelineSettings {
                sample_rate: if sampled { 1.0 } else { 0.0 },
                ..Default::default()
            };
            let pipeline = Pipeline::start(settings, Vec::new(), None);
            let trace = TraceState::new(pipeline.clone(), TraceId(7));
            let parent =
                Frame::with_trace(trace.clone(), None, "parent".into(), Default::default());
            let count = Arc::strong_count(&trace);
            parent.enter(|| {
                with_scoped(|current| {
                    let current = current.expect("entered by a scope");
                    let borrowed = current.trace.as_ref().expect("an observation");
                    let child =
                        LocalFrame::open(borrowed, current.span_id, "child", ObservationType::Span);
                    assert_eq!(Arc::strong_count(&trace), count, "no increment");
                    child.enter_with(false, || {
                        let carried = with_current(|f| f.map(Frame::carried)).expect("current");
                        assert_eq!(Arc::strong_count(&trace), count + 1, "a real clone");
                        drop(carried);
                    });
                    drop(child);
                });
            });
            // The buffer holds one count until the parent's scope handed it over.
            assert_eq!(Arc::strong_count(&trace), count);
            parent.finish();
            drop(trace);
            let report = pipeline.shutdown(std::time::Duration::from_secs(60));
            assert_eq!(report.stats.queued, if sampled { 2 } else { 0 });
        }
    }

    #[test]
    fn carried_frames_have_no_open_fields() {
        let carried = observation(7).carried();
        assert!(!carried.is_observation());
        assert!(!carried.captures_input());
        assert_eq!(carried.with_open(|_| ()), None);
        assert_eq!(carried.span_id, Some(SpanId(7)));
    }
}
