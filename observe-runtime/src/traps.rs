//! Warnings for the ways an application can record nothing without noticing: `#[observe]`
//! with no client installed (`init()` never called), or after the client was shut down
//! (`let _ = init()` drops the guard, and so shuts down, at once), and records sent to a
//! client after its shutdown. Each is said once per process, through `tracing` and, when no
//! `tracing` subscriber is installed, on stderr, so that it is seen either way.
//!
//! At the global client's shutdown it also says how many observations were still open.
//!
//! Turning tracing off on purpose (`LANGFUSE_TRACING_ENABLED=false`) is not a trap: nothing
//! is said then.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::vars;

/// Says `message` once through `tracing`, and on stderr when no subscriber would show it.
fn warn(message: &str) {
    tracing::warn!("{message}");
    if !tracing::dispatcher::has_been_set() {
        eprintln!("{message}");
    }
}

/// True when the environment turns tracing off (`LANGFUSE_TRACING_ENABLED=false` or `0`).
fn disabled_by_environment() -> bool {
    std::env::var(vars::TRACING_ENABLED).is_ok_and(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("false") || v == "0" || v.eq_ignore_ascii_case("no")
    })
}

/// An observation found no client: none was ever installed.
#[cold]
#[inline(never)]
pub(crate) fn no_client_installed() {
    if disabled_by_environment() {
        return;
    }
    warn(
        "observe: an #[observe] function ran with no client installed, so nothing is \
         recorded; call `let _guard = observe_runtime::init()?;` at the start of main (or \
         set LANGFUSE_TRACING_ENABLED=false to turn tracing off without this warning)",
    );
}

/// An observation found no client: the global one was shut down.
#[cold]
#[inline(never)]
pub(crate) fn client_shut_down() {
    warn(
        "observe: an #[observe] function ran after the global client was shut down, so \
         nothing is recorded; keep the guard `init()` returns until the end of main (`let _ = \
         init()` drops it, and shuts tracing down, at once: write `let _guard = init()?;`)",
    );
}

/// A record reached a pipeline after its shutdown (it is counted as dropped).
#[cold]
#[inline(never)]
pub(crate) fn record_after_shutdown() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        warn(
            "observe: an observation ended after its client was shut down; it is dropped \
             (counted in Stats::dropped_after_shutdown)",
        );
    }
}

/// Observations opened minus ended on one thread. Only its thread writes it (a load and a
/// store, no read-modify-write: the open and end paths stay free of shared atomics); a
/// thread may end what another opened, so one count can go below zero, and the sum over
/// threads is what is open.
struct ThreadOpen(Arc<AtomicI64>);

/// Every live thread's count, and the sum of those of threads that exited.
static THREADS: Mutex<(Vec<Arc<AtomicI64>>, i64)> = Mutex::new((Vec::new(), 0));

thread_local! {
    static OPEN: ThreadOpen = ThreadOpen::register();
}

impl ThreadOpen {
    fn register() -> ThreadOpen {
        let count = Arc::new(AtomicI64::new(0));
        THREADS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .push(count.clone());
        ThreadOpen(count)
    }

    #[inline]
    fn add(&self, n: i64) {
        let c = &self.0;
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

impl Drop for ThreadOpen {
    fn drop(&mut self) {
        let mut threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
        threads.0.retain(|c| !Arc::ptr_eq(c, &self.0));
        threads.1 += self.0.load(Ordering::Relaxed);
    }
}

/// An observation was opened on this thread.
#[inline]
pub(crate) fn opened() {
    let _ = OPEN.try_with(|c| c.add(1));
}

/// An observation was ended on this thread.
#[inline]
pub(crate) fn ended() {
    let _ = OPEN.try_with(|c| c.add(-1));
}

/// Observations open now, in the whole process.
pub(crate) fn open_observations() -> i64 {
    let threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
    threads.1
        + threads
            .0
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<i64>()
}

/// Says, at the global client's shutdown, how many observations were still open (a spawned
/// task still running, a handle kept): what they record when they end is dropped and counted.
pub(crate) fn report_open_at_shutdown() {
    let open = open_observations();
    if open > 0 {
        warn(&format!(
            "observe: {open} observation(s) were still open when tracing shut down (a spawned \
             task still running? a handle not ended?); what they record when they end is \
             dropped (counted in Stats::dropped_after_shutdown)"
        ));
    }
}
