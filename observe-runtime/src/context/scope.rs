//! The thread-local pointer to each thread's innermost frame, and the guards that set it: a
//! scope's [`Entered`] (only inside [`Frame::enter`]), the bridge's [`RawEntered`].

use std::cell::Cell;

use super::Frame;
use crate::pipeline::local;

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
}
