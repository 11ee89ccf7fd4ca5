//! What the server did with what it was sent: every span of an answered request ends in
//! exactly one of these counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the connections and the writer.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) spans_written: AtomicU64,
    pub(crate) spans_invalid: AtomicU64,
    pub(crate) spans_store_refused: AtomicU64,
    pub(crate) spans_write_failed: AtomicU64,
    pub(crate) requests_written: AtomicU64,
    pub(crate) requests_queue_full: AtomicU64,
    pub(crate) requests_refused: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn summary(&self) -> Summary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            spans_written: get(&self.spans_written),
            spans_invalid: get(&self.spans_invalid),
            spans_store_refused: get(&self.spans_store_refused),
            spans_write_failed: get(&self.spans_write_failed),
            requests_written: get(&self.requests_written),
            requests_queue_full: get(&self.requests_queue_full),
            requests_refused: get(&self.requests_refused),
            requests_unwritten: 0,
        }
    }
}

/// What a server did from start to stop.
///
/// ```
/// use observe_cli::serve::Summary;
///
/// let summary = Summary { spans_written: 3, requests_written: 1, ..Summary::default() };
/// assert!(summary.to_string().contains("3 spans written"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Spans committed to the store.
    pub spans_written: u64,
    /// Spans refused by the decoder (answered as OTLP partial success).
    pub spans_invalid: u64,
    /// Spans the store refused within a written batch.
    pub spans_store_refused: u64,
    /// Spans of requests answered 503 because the store could not be written.
    pub spans_write_failed: u64,
    /// Requests whose data was committed.
    pub requests_written: u64,
    /// Requests refused with 429 because the write queue was full.
    pub requests_queue_full: u64,
    /// Requests refused for any other reason (auth, limits, malformed, stopping).
    pub requests_refused: u64,
    /// Requests still queued when the drain deadline passed (not acknowledged).
    pub requests_unwritten: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} spans written ({} requests); {} spans invalid, {} refused by the store, \
             {} failed to write; {} requests refused as the queue was full, {} refused \
             otherwise; {} requests left unwritten",
            self.spans_written,
            self.requests_written,
            self.spans_invalid,
            self.spans_store_refused,
            self.spans_write_failed,
            self.requests_queue_full,
            self.requests_refused,
            self.requests_unwritten
        )
    }
}
