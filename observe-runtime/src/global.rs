//! The process-wide state: the global pipeline that `#[observe]` records into when no
//! client scope is active. Kept apart from [`crate::client`] so the context (which reads it on
//! every new trace) depends only on this module, not on the client that installs it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::pipeline::Pipeline;

static GLOBAL: ArcSwapOption<Pipeline> = ArcSwapOption::const_empty();
/// Whether `GLOBAL` holds a pipeline, and if not, whether an observation that finds none
/// should warn: one load tells `#[observe]` both (see [`State`]).
static GLOBAL_STATE: AtomicU8 = AtomicU8::new(State::NeverInstalled as u8);

/// What an observation outside any client scope finds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum State {
    /// No client, and nothing to say: tracing was turned off, or the warning was given.
    Quiet = 0,
    /// A client is installed.
    On = 1,
    /// No client was ever installed (warn once).
    NeverInstalled = 2,
    /// The installed client was shut down (warn once).
    ShutDown = 3,
}

/// The global state, in one relaxed load.
#[inline]
pub(crate) fn state() -> State {
    match GLOBAL_STATE.load(Ordering::Relaxed) {
        1 => State::On,
        0 => State::Quiet,
        2 => State::NeverInstalled,
        _ => State::ShutDown,
    }
}

/// Warns (once) that an observation found no global client in `state`, then stays quiet.
#[cold]
#[inline(never)]
pub(crate) fn warn_no_client(state: State) {
    let quieted = GLOBAL_STATE.compare_exchange(
        state as u8,
        State::Quiet as u8,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    if quieted.is_ok() {
        match state {
            State::NeverInstalled => crate::traps::no_client_installed(),
            State::ShutDown => crate::traps::client_shut_down(),
            State::On | State::Quiet => {}
        }
    }
}

/// Tracing was turned off on purpose: `#[observe]` finding no client is expected, not a trap.
pub(crate) fn mark_disabled() {
    let _ = GLOBAL_STATE.compare_exchange(
        State::NeverInstalled as u8,
        State::Quiet as u8,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}

/// Bumped whenever `GLOBAL` changes, so a thread knows when its cached copy is stale.
static GLOBAL_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of the global pipeline and the generation it was read at: a new
    /// trace clones it (one reference count) rather than going through `ArcSwap`'s debt
    /// list (~80 instructions and two atomics more per trace). A copy outlives an uninstall
    /// until the thread's next trace or its exit; it keeps only the stopped pipeline's memory.
    static GLOBAL_CACHE: RefCell<(u64, Option<Arc<Pipeline>>)> =
        const { RefCell::new((u64::MAX, None)) };
}

/// The global pipeline, if one is installed and enabled. One relaxed load when there is none.
/// (The `tracing` bridge and propagation keep one; a new trace only borrows it.)
#[cfg_attr(
    not(any(feature = "tracing-bridge", feature = "propagation")),
    allow(dead_code)
)]
#[inline]
pub(crate) fn pipeline() -> Option<Arc<Pipeline>> {
    with_pipeline(Arc::clone)
}

/// Runs `f` on the global pipeline, if one is installed and enabled, without taking a
/// reference count of it (a new trace that reuses its thread's spare state needs none).
/// One relaxed load when there is none.
#[inline]
pub(crate) fn with_pipeline<R>(f: impl FnOnce(&Arc<Pipeline>) -> R) -> Option<R> {
    if state() != State::On {
        return None;
    }
    let generation = GLOBAL_GENERATION.load(Ordering::Acquire);
    let mut f = Some(f);
    let cached = GLOBAL_CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.0 != generation {
                *cache = (generation, GLOBAL.load_full());
            }
            let pipeline = cache.1.as_ref()?;
            f.take().map(|f| f(pipeline))
        })
        .ok()
        .flatten();
    match (cached, f) {
        (Some(done), _) => Some(done),
        // The thread's copy is gone or busy (its exit, a nested call): read it directly.
        (None, Some(f)) => GLOBAL.load_full().as_ref().map(f),
        (None, None) => None,
    }
}

/// Replaces the global pipeline; threads' cached copies go stale with it.
pub(crate) fn set(pipeline: Option<Arc<Pipeline>>) {
    let on = pipeline.is_some();
    if !on {
        GLOBAL_STATE.store(State::ShutDown as u8, Ordering::Release);
    }
    GLOBAL.store(pipeline);
    GLOBAL_GENERATION.fetch_add(1, Ordering::AcqRel);
    if on {
        GLOBAL_STATE.store(State::On as u8, Ordering::Release);
    }
}

/// The installed pipeline, read through `ArcSwap` (cold paths: flush, uninstall).
pub(crate) fn installed() -> Option<Arc<Pipeline>> {
    GLOBAL.load_full()
}

/// Uninstalls the global pipeline if it is `pipeline` (a later install may have replaced
/// it); true when it was.
pub(crate) fn uninstall_if(pipeline: &Arc<Pipeline>) -> bool {
    let ours = GLOBAL
        .load()
        .as_ref()
        .is_some_and(|p| Arc::ptr_eq(p, pipeline));
    if ours {
        set(None);
    }
    ours
}
