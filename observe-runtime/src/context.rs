//! The context: the frame of the innermost observation (or carried trace, or client scope)
//! of each thread, found through a thread-local pointer, and how an observation's frame opens
//! and ends. What user code calls to read, update and score it is [`crate::current`].
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
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::clock::{self, Ticks};
use crate::model::{Json, Level, ObservationDetails, ObservationType, SpanId, TraceId};
use crate::pipeline::{local, Captured, Entry, Finished, Pipeline, TraceState};

/// The fields of an observation still being recorded.
pub(crate) struct Open {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: ObservationType,
    pub(crate) level: Level,
    /// A raw clock reading: the worker turns it into wall time.
    pub(crate) start: Ticks,
    /// The input `#[observe]` captured. Kept out of `details` so that capturing costs no
    /// allocation besides the JSON text; an input set by an update wins over it.
    pub(crate) input: Option<Json>,
    /// The output `#[observe]` captured on return; it wins over an update's output.
    pub(crate) output: Option<Json>,
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

thread_local! {
    /// The innermost frame of this thread. Its lowest bit is set ([`RAW`]) when a
    /// [`RawEntered`] put it there (the frame's lifetime is only promised, and code run
    /// inside may end it), clear when [`Frame::enter`] did (the frame is borrowed until the
    /// scope ends, so it outlives everything run inside).
    static CURRENT: Cell<*const Frame> = const { Cell::new(std::ptr::null()) };
}

/// The tag of a frame entered by a [`RawEntered`]. Frames are aligned to at least 2 bytes,
/// so the bit is free.
const RAW: usize = 1;
const _: () = assert!(std::mem::align_of::<Frame>() > RAW);

/// The innermost frame's address, without its tag.
#[inline]
fn current_untagged() -> *const Frame {
    CURRENT.with(Cell::get).map_addr(|a| a & !RAW)
}

/// Runs `f` with the innermost frame of this thread, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    let ptr = current_untagged();
    // SAFETY: a non-null pointer was set by a live `Entered<'a>` (only `Frame::enter` makes
    // one, and it never lets the guard escape), which borrows its frame for `'a`: the frame
    // neither moves nor drops, nor is it borrowed mutably, until the guard puts the previous
    // pointer back; or (its tag, cleared above, says so) by a `RawEntered`, whose maker
    // promises the same by its `unsafe`. `f` cannot keep the reference past this call.
    f(unsafe { ptr.as_ref() })
}

/// Runs `f` with the innermost frame of this thread when a scope ([`Frame::enter`]) entered
/// it, `None` otherwise (no frame, or one a [`RawEntered`] put there).
///
/// Unlike with [`with_current`], the frame outlives anything `f` runs, whatever that code
/// does: the scope that entered it is below this call on the stack and borrows it until it
/// returns, and code run inside can neither end nor move a borrowed frame. So `f` may run
/// user code while it holds the frame (the sync fast path of `#[observe]` does).
#[inline]
pub(crate) fn with_scoped<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    let ptr = CURRENT.with(Cell::get);
    if ptr.addr() & RAW != 0 {
        return f(None);
    }
    // SAFETY: untagged, so set by a live `Entered<'a>` (see `with_current`), whose scope
    // holds the frame borrowed until after this call returns: the reference stays valid for
    // all of `f`, even while `f` runs user code.
    f(unsafe { ptr.as_ref() })
}

/// True when the innermost frame was entered by a scope and is the observation `parent`
/// (0 for none: never true).
#[inline]
pub(crate) fn is_scoped_current(parent: u64) -> bool {
    parent != 0 && with_scoped(|frame| frame.and_then(|f| f.span_id).is_some_and(|s| s.0 == parent))
}

/// True when this thread is inside some context (one thread-local read).
#[inline]
pub(crate) fn has_current() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Puts a frame in the thread-local until dropped. The lifetime ties the guard to the frame
/// it points at: while the guard lives, the frame is borrowed, so it cannot move, drop or be
/// borrowed mutably. Private to this module and used only inside [`Frame::enter`], so no
/// guard can be leaked (`mem::forget`) with the thread-local pointing at a dead frame.
struct Entered<'a> {
    previous: *const Frame,
    frame: &'a Frame,
    /// Whether leaving hands over the light records buffered under this frame (see
    /// [`local::exited`]); not when the observation ends right after.
    hand_over: bool,
}

impl<'a> Entered<'a> {
    #[inline]
    fn new(frame: &'a Frame, hand_over: bool) -> Entered<'a> {
        let previous = CURRENT.with(|c| c.replace(frame as *const Frame));
        Entered {
            previous,
            frame,
            hand_over,
        }
    }
}

impl Drop for Entered<'_> {
    /// Also runs when `f` of [`Frame::enter`] unwinds, so a panic never leaves the pointer.
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        if self.hand_over {
            local::exited(self.frame.span_id);
        }
    }
}

/// A guard for the `tracing` bridge, whose spans are entered and exited by separate
/// callbacks (`on_enter`/`on_exit`), so no closure can scope them. Unlike [`Entered`] it
/// borrows nothing: whoever makes one promises, by the `unsafe` of [`RawEntered::new`], what
/// the lifetime promises for `Entered`.
#[cfg(feature = "tracing-bridge")]
pub(crate) struct RawEntered {
    previous: *const Frame,
}

#[cfg(feature = "tracing-bridge")]
impl RawEntered {
    /// Makes `frame` the thread's current context until the guard drops.
    ///
    /// # Safety
    ///
    /// `frame` must stay alive, unmoved and not borrowed mutably until the guard is dropped
    /// on this thread, or until it is forgotten after handing its `previous` to the guard
    /// entered after it ([`RawEntered::set_previous`]).
    #[inline]
    pub(crate) unsafe fn new(frame: &Frame) -> RawEntered {
        let tagged = (frame as *const Frame).map_addr(|a| a | RAW);
        let previous = CURRENT.with(|c| c.replace(tagged));
        RawEntered { previous }
    }

    /// The frame current before this guard (with its tag: only for
    /// [`RawEntered::set_previous`]).
    pub(crate) fn previous(&self) -> *const Frame {
        self.previous
    }

    /// Makes this guard restore `previous` instead: how a stack of guards closes the gap
    /// when one below the top ends first (a `tracing` span exited out of order).
    pub(crate) fn set_previous(&mut self, previous: *const Frame) {
        self.previous = previous;
    }
}

#[cfg(feature = "tracing-bridge")]
impl Drop for RawEntered {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// The current frame's address, to tell whether a frame is still the innermost.
#[cfg(feature = "tracing-bridge")]
pub(crate) fn current_ptr() -> *const Frame {
    current_untagged()
}

impl Frame {
    /// Runs `f` with this frame as the thread's current context, then puts the previous one
    /// back (also on unwind).
    ///
    /// Leaving hands over the light records buffered under this frame (see
    /// [`local::exited`]), so none waits while the frame stays open.
    #[inline]
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        self.enter_with(true, f)
    }

    /// [`Frame::enter`], handing over on leaving or not: not when the observation ends right
    /// after (a light child's entry, or a record, then follows what the buffer holds).
    #[inline]
    pub(crate) fn enter_with<R>(&self, hand_over: bool, f: impl FnOnce() -> R) -> R {
        let _entered = Entered::new(self, hand_over);
        f()
    }

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
            }) => (TraceState::new(pipeline.clone(), TraceId::random()), None),
            _ => (
                TraceState::new(crate::global::pipeline()?, TraceId::random()),
                None,
            ),
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
            span_id: Some(SpanId::random()),
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

    /// True when this frame is an observation (not a carried context or a client scope).
    pub(crate) fn is_observation(&self) -> bool {
        // SAFETY: a momentary shared read on the frame's thread, as in `with_open`.
        unsafe { (*self.open.get()).is_some() }
    }

    /// Ends the observation: builds the record and queues it. Does nothing for a frame
    /// without an open observation or of an unsampled trace.
    pub(crate) fn finish(self) {
        let (Some(trace), Some(open), Some(id)) =
            (self.trace, self.open.into_inner(), self.span_id)
        else {
            return;
        };
        crate::traps::ended();
        let parent_id = self.parent_id.map_or(0, |p| p.0);
        if let Ended::Full(end) = end_light(&trace, &open, id, parent_id) {
            queue_full(&trace, open, id, parent_id, end);
        }
    }
}

impl Frame {
    /// Ends the observation of `trace` (taken out of this frame) without moving the frame:
    /// what a light entry leaves in it owns no heap memory. For a frame that is not moved
    /// out of where it lives (a [`LocalFrame`] on the stack, a pooled box); it is not
    /// counted open (see [`crate::traps`]): the caller counts it ended if it was.
    ///
    /// True when what is left in the frame owns nothing: dropping it may be skipped.
    #[inline]
    pub(crate) fn end_in_place(&mut self, trace: &Arc<TraceState>) -> bool {
        let Some(id) = self.span_id else {
            return false;
        };
        let parent_id = self.parent_id.map_or(0, |p| p.0);
        let fields = self.open.get_mut();
        let Some(open) = fields.as_ref() else {
            return false;
        };
        match end_light(trace, open, id, parent_id) {
            Ended::Light => self.client.is_none(),
            Ended::Unsampled => false,
            Ended::Full(end) => {
                if let Some(open) = fields.take() {
                    queue_full(trace, open, id, parent_id, end);
                }
                false
            }
        }
    }
}

/// Ends an observation of `trace` as a light entry in this thread's buffer, when it has
/// nothing but ids, name, kind, level and times and its parent is the current scope; or
/// as nothing, when the trace is not sampled. Otherwise gives the end time back, for the
/// caller to [`queue_full`] the record. Reads the fields in place, so that a light entry
/// moves nothing (a [`LocalFrame`] ends on the stack).
#[inline]
fn end_light(trace: &Arc<TraceState>, open: &Open, id: SpanId, parent_id: u64) -> Ended {
    if !trace.sampled {
        return Ended::Unsampled;
    }
    let end = if open.kind == ObservationType::Event {
        open.start
    } else {
        clock::ticks()
    };
    match open.light(id, parent_id, end) {
        Some(entry) if is_scoped_current(parent_id) && local::try_add(trace, entry) => Ended::Light,
        _ => Ended::Full(end),
    }
}

/// How [`end_light`] ended an observation.
enum Ended {
    /// As a light entry: its fields own nothing (see [`Open::light`]).
    Light,
    /// Not at all: its trace is not sampled.
    Unsampled,
    /// Not yet: the caller queues the full record, ended at this time.
    Full(Ticks),
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

impl Drop for LocalFrame<'_> {
    /// Ends the observation. Unwinding through it (a panic in user code outside the body's
    /// `catch_unwind`) ends it as cancelled, as a dropped span does.
    #[inline]
    fn drop(&mut self) {
        let frame = &mut *self.frame;
        // Never dropped: it holds no count (see `open`).
        let alias = std::mem::ManuallyDrop::new(frame.trace.take());
        if std::thread::panicking() {
            if let Some(open) = frame.open_mut() {
                open.mark_cancelled();
            }
        }
        let owns_nothing = match &*alias {
            Some(trace) => frame.end_in_place(trace),
            None => false,
        };
        if !owns_nothing {
            // SAFETY: `drop` runs once, and `self.frame` is not used after it. Its `trace`
            // was taken out above, so dropping the rest drops no `Arc<TraceState>`.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.frame) };
        }
    }
}

impl Open {
    /// A future dropped unfinished, or a scope unwound through: `WARNING`, "cancelled".
    pub(crate) fn mark_cancelled(&mut self) {
        self.level = Level::Warning;
        self.details_mut().status_message = Some("cancelled".to_owned());
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
