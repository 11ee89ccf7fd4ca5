//! Warnings for the ways an application can record nothing without noticing: `#[observe]`
//! with no client installed (`init()` never called), or after the client was shut down
//! (`let _ = init()` drops the guard, and so shuts down, at once), and records sent to a
//! client after its shutdown. Each is said once per process, through `tracing` and, when no
//! `tracing` subscriber is installed, on stderr, so that it is seen either way.
//!
//! Turning tracing off on purpose (`LANGFUSE_TRACING_ENABLED=false`) is not a trap: nothing
//! is said then.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::vars;

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
