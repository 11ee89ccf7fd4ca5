//! The process-wide state: the global pipeline that `#[observe]` records into when no
//! client scope is active. Kept apart from [`crate::client`] so the context (which reads it on
//! every new trace) depends only on this module, not on the client that installs it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::pipeline::Pipeline;

static GLOBAL: ArcSwapOption<Pipeline> = ArcSwapOption::const_empty();
static GLOBAL_ON: AtomicBool = AtomicBool::new(false);
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
#[inline]
pub(crate) fn pipeline() -> Option<Arc<Pipeline>> {
    if !GLOBAL_ON.load(Ordering::Relaxed) {
        return None;
    }
    let generation = GLOBAL_GENERATION.load(Ordering::Acquire);
    GLOBAL_CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.0 != generation {
                *cache = (generation, GLOBAL.load_full());
            }
            cache.1.clone()
        })
        .unwrap_or_else(|_| GLOBAL.load_full())
}

/// Replaces the global pipeline; threads' cached copies go stale with it.
pub(crate) fn set(pipeline: Option<Arc<Pipeline>>) {
    let on = pipeline.is_some();
    if !on {
        GLOBAL_ON.store(false, Ordering::Release);
    }
    GLOBAL.store(pipeline);
    GLOBAL_GENERATION.fetch_add(1, Ordering::AcqRel);
    if on {
        GLOBAL_ON.store(true, Ordering::Release);
    }
}

/// True when a global client is installed (the fast check `#[observe]` makes first).
#[inline]
pub(crate) fn enabled() -> bool {
    GLOBAL_ON.load(Ordering::Relaxed)
}

/// The installed pipeline, read through `ArcSwap` (cold paths: flush, uninstall).
pub(crate) fn installed() -> Option<Arc<Pipeline>> {
    GLOBAL.load_full()
}

/// Uninstalls the global pipeline if it is `pipeline` (a later install may have replaced it).
pub(crate) fn uninstall_if(pipeline: &Arc<Pipeline>) {
    let ours = GLOBAL
        .load()
        .as_ref()
        .is_some_and(|p| Arc::ptr_eq(p, pipeline));
    if ours {
        set(None);
    }
}
