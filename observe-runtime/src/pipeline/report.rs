//! The counters, and `flush` and `shutdown`: what they wait for, and what they report.
//!
//! Every record the pipeline accepted ends as exactly one of exported, failed or dropped,
//! per destination. At any moment, for each destination,
//! `accepted = exported + failed + dropped + pending`; after `shutdown` returns, `pending`
//! is 0: what a destination still held at the deadline was counted as dropped, and one
//! warning said how many and where.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::worker::Command;
use super::Pipeline;

/// Counts of what happened to records, readable at any time.
///
/// The totals cover the queue shared by every destination (`queued`, the two queue drops,
/// `truncated`) and summarise the destinations: with one destination `exported`, `failed`
/// and `dropped_by_destinations` are its own counts; with several, `exported` is the
/// smallest count of any destination, `failed` and `dropped_by_destinations` the largest,
/// and `retried` the sum. Each destination's own counts are in [`Stats::destinations`].
///
/// ```
/// use std::time::Duration;
/// use observe_runtime::{Client, Trace};
/// let (client, _memory) = Client::in_memory();
/// client.trace(Trace::new("t")).end();
/// let report = client.shutdown(Duration::from_secs(5));
/// let memory = &report.stats.destinations[0];
/// assert_eq!(memory.name, "memory");
/// assert_eq!((memory.accepted, memory.exported, memory.pending), (1, 1, 0));
/// assert!(memory.balanced());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records accepted onto the queue.
    pub queued: u64,
    /// Records exported: the smallest count of any destination.
    pub exported: u64,
    /// Records dropped because the queue was full (records or bytes): dropped for every
    /// destination.
    pub dropped_queue_full: u64,
    /// Records dropped because the pipeline was shut down: dropped for every destination.
    pub dropped_after_shutdown: u64,
    /// Records a destination failed to send (after its own retries): the largest count of
    /// any destination.
    pub failed: u64,
    /// Records with a field cut to its limit or replaced by a truncation marker (see
    /// [`crate::limits`]).
    pub truncated: u64,
    /// Retries the destinations made, counted as they happen.
    pub retried: u64,
    /// Records a destination dropped on its own (its queue was full, or the shutdown
    /// deadline passed first): the largest count of any destination.
    pub dropped_by_destinations: u64,
    /// Each destination's own counts.
    pub destinations: Vec<DestinationStats>,
}

impl Stats {
    /// All drops, whatever the reason (for the destination that dropped most).
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_after_shutdown + self.dropped_by_destinations
    }

    /// A destination's counts, by its exporter's name.
    pub fn destination(&self, name: &str) -> Option<&DestinationStats> {
        self.destinations.iter().find(|d| d.name == name)
    }
}

/// One destination's counts. Every record the application handed to the pipeline is
/// `accepted` by every destination, and ends as one of `exported`, `failed` or `dropped`
/// there (drops at the shared queue count for every destination); until then it is
/// `pending`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationStats {
    /// The exporter's name.
    pub name: String,
    /// Records the application handed to the pipeline.
    pub accepted: u64,
    /// Records the destination took.
    pub exported: u64,
    /// Records the destination refused, or could not be reached for, after its retries.
    pub failed: u64,
    /// Records dropped before they were sent: at the shared queue, at this destination's
    /// full queue, or still queued at the shutdown deadline.
    pub dropped: u64,
    /// Retries this destination made.
    pub retried: u64,
    /// Records queued or in flight.
    pub pending: u64,
    /// Records of this process waiting on disk in the destination's spool (see
    /// RELIABILITY.md): sent later by this process, the next one, or `observe push --spool`.
    pub spooled: u64,
    /// Records an earlier process spooled that this one delivered.
    pub replayed: u64,
    /// Records an earlier process spooled that the destination refused.
    pub replay_failed: u64,
    /// Records an earlier process spooled that were lost to a damaged spool file or to the
    /// spool's full policy.
    pub replay_dropped: u64,
    /// Records delivered from the spool that may have reached the server before (in flight
    /// at a crash, a timeout or a deadline): the bound on duplicates.
    pub resent: u64,
}

impl DestinationStats {
    /// `accepted = exported + failed + dropped + spooled + pending`.
    ///
    /// ```
    /// use observe_runtime::DestinationStats;
    /// let mut d = DestinationStats::default(); // non_exhaustive: built from the default
    /// (d.accepted, d.exported, d.failed, d.dropped, d.pending) = (5, 2, 1, 1, 1);
    /// assert!(d.balanced());
    /// d.accepted += 3;
    /// d.spooled = 3;
    /// assert!(d.balanced());
    /// ```
    pub fn balanced(&self) -> bool {
        self.accepted == self.exported + self.failed + self.dropped + self.spooled + self.pending
    }
}

/// What `flush` and `shutdown` report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Counters at the moment the call returned.
    pub stats: Stats,
    /// Records still queued or in flight when the call returned, at the destination that
    /// has most (0 after `shutdown`: what was left at the deadline is counted as dropped).
    pub pending: u64,
    /// True when the timeout ran out before every destination confirmed.
    pub timed_out: bool,
}

impl Pipeline {
    pub(crate) fn stats(&self) -> Stats {
        // The destinations first, then the queue: a record moving meanwhile is counted
        // pending once more, never missed.
        let counts: Vec<_> = self.destinations.iter().map(|d| d.counts()).collect();
        let c = &self.counters;
        let held = self.held();
        let taken = c.taken.load(Ordering::Acquire);
        let dropped_queue_full = c.dropped_queue_full.load(Ordering::Relaxed);
        let refused_after_shutdown = c.dropped_after_shutdown.load(Ordering::Relaxed);
        // After the worker's last drain, what is still in a ring will never be sent.
        let stranded = if self.stopped.load(Ordering::Acquire) {
            held
        } else {
            0
        };
        let queued = taken + held;
        let accepted = queued + dropped_queue_full + refused_after_shutdown;
        let shared_drops = dropped_queue_full + refused_after_shutdown + stranded;
        let destinations: Vec<DestinationStats> = self
            .destinations
            .iter()
            .zip(&counts)
            .map(|(d, n)| {
                let dropped = n.dropped + shared_drops;
                DestinationStats {
                    name: d.name.clone(),
                    accepted,
                    exported: n.exported,
                    failed: n.failed,
                    dropped,
                    retried: n.retried,
                    pending: accepted.saturating_sub(n.exported + n.failed + dropped + n.spooled),
                    spooled: n.spooled,
                    replayed: n.replayed,
                    replay_failed: n.replay_failed,
                    replay_dropped: n.replay_dropped,
                    resent: n.resent,
                }
            })
            .collect();
        Stats {
            queued,
            exported: counts.iter().map(|n| n.exported).min().unwrap_or(0),
            dropped_queue_full,
            dropped_after_shutdown: refused_after_shutdown + stranded,
            failed: counts.iter().map(|n| n.failed).max().unwrap_or(0),
            truncated: c.truncated.load(Ordering::Relaxed),
            retried: counts.iter().map(|n| n.retried).sum(),
            dropped_by_destinations: counts.iter().map(|n| n.dropped).max().unwrap_or(0),
            destinations,
        }
    }

    /// One line per destination that leaves records in its spool at shutdown: where they
    /// are and how they will be sent.
    fn tell_spooled(&self) {
        for d in &self.destinations {
            let spooled = d.counts().spooled;
            if spooled > 0 {
                tracing::info!(
                    "observe: {spooled} records for `{}` are in the spool {}; the next run sends \
                     them, or `observe push --spool`",
                    d.name,
                    d.spool_dir().unwrap_or_default().display()
                );
            }
        }
    }

    fn report(&self, timed_out: bool) -> FlushReport {
        let stats = self.stats();
        let pending = match stats.destinations.iter().map(|d| d.pending).max() {
            Some(p) => p,
            None if self.stopped.load(Ordering::Acquire) => 0,
            None => self.held(),
        };
        FlushReport {
            stats,
            pending,
            timed_out,
        }
    }

    /// Waits until everything queued before the call is sent by every destination, or the
    /// timeout; returns then either way.
    pub(crate) fn flush(&self, timeout: Duration) -> FlushReport {
        // What the calling thread buffered is queued before the call, too.
        super::local::hand_over_pending();
        let deadline = Instant::now() + timeout;
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.commands.send(Command::Flush(tx)).is_err() {
            return self.report(false); // stopped: nothing left to wait for
        }
        self.worker.unpark();
        let Ok(markers) = rx.recv_deadline(deadline) else {
            // The worker is gone (shut down meanwhile) or late.
            return self.report(!self.closed.load(Ordering::Acquire));
        };
        let mut all = true;
        for marker in markers {
            if let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                marker.recv_deadline(deadline)
            {
                all = false;
            }
        }
        self.report(!all)
    }

    /// Stops taking records, sends what is queued until the deadline, and counts what is
    /// left then as dropped, per destination, with one warning. Returns within `timeout`
    /// (plus the time to count); called again, returns the first call's report at once.
    pub(crate) fn shutdown(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let mut last = self
            .last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(report) = &*last {
            let mut report = report.clone();
            // Counts may have moved since (a late push is counted as dropped).
            report.stats = self.stats();
            return report;
        }
        super::local::hand_over_pending();
        self.closed.store(true, Ordering::Release);
        for d in &self.destinations {
            d.context.set_deadline(deadline);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let worker_done = self.commands.send(Command::Shutdown(tx)).is_ok() && {
            self.worker.unpark();
            rx.recv_deadline(deadline).is_ok()
        };
        if worker_done {
            let join = self
                .join
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(join) = join {
                // It replied; it only has to return.
                let _ = join.join();
            }
        }
        self.stopped.store(true, Ordering::Release);
        let mut late = Vec::new();
        for d in &self.destinations {
            if !d.wait_ended(deadline) {
                // What went to the spool is told once, below, with the spool-first case.
                let (_spooled, left) = d.settle();
                if left > 0 {
                    late.push(format!("{} {left}", d.name));
                }
            }
        }
        if !late.is_empty() {
            tracing::warn!(
                "observe: shutdown deadline ({:.1}s) reached; records not delivered, counted as \
                 dropped: {}",
                timeout.as_secs_f64(),
                late.join(", ")
            );
        }
        self.tell_spooled();
        let report = self.report(!worker_done || !late.is_empty());
        *last = Some(report.clone());
        report
    }
}
