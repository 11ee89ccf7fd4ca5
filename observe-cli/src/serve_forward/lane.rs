//! One upstream: a bounded queue, the thread that sends from it, the spool behind it, and
//! the counts that say where each record went.
//!
//! The server's request threads only ever lock the queue for a moment (and, when the queue
//! is full and a spool is on, append to the spool file): no network wait reaches them.
//! The thread sends one batch at a time through the exporter, which retries until the
//! retry deadline; a batch it could not deliver in that time goes to the spool (marked as
//! maybe sent when a request of it went unanswered) or is counted failed. When its queue is
//! empty, the thread sends what the spool holds, oldest first, backing off while the
//! upstream does not answer.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use observe_export::spool::{self, Next, Spool, SpoolError};
use observe_model::export::{Batch, ExportContext, ExportError, Exporter};

use crate::push_destination::Destination;

/// How long the thread waits before asking a silent upstream for the spool again; doubled
/// up to [`SPOOL_RETRY_MAX`] while it stays silent.
const SPOOL_RETRY_MIN: Duration = Duration::from_millis(250);
const SPOOL_RETRY_MAX: Duration = Duration::from_secs(10);
/// How often an idle thread looks at the spool (its fsync interval, its retry time).
const TICK: Duration = Duration::from_millis(100);
/// How long `finish` waits past the deadline for a request under way to return (the
/// exporter stops its retries at the deadline; a request already out ends by its timeout).
const JOIN_GRACE: Duration = Duration::from_millis(500);

/// The bounds of one upstream's queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueBounds {
    /// Records queued (and being sent) at most.
    pub records: usize,
    /// Bytes queued at most, as the requests that brought the batches weighed.
    pub bytes: usize,
}

/// Where the records handed to one upstream went. While the server runs, `accepted` also
/// counts those still queued; after shutdown `accepted = exported + failed + dropped +
/// spooled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneCounts {
    /// Records handed to this upstream.
    pub accepted: u64,
    /// Taken by the upstream (sent directly or from the spool).
    pub exported: u64,
    /// Refused by the upstream for good (bad keys, a `207` error, too large alone), or not
    /// delivered before the retry deadline without a spool.
    pub failed: u64,
    /// Not sent: the queue was full, the spool could not take them, or the shutdown
    /// deadline came first.
    pub dropped: u64,
    /// On disk in the spool, not yet delivered.
    pub spooled: u64,
    /// Records an earlier run spooled, delivered by this one (not in `accepted`).
    pub replayed: u64,
    /// Of those, refused by the upstream.
    pub replay_failed: u64,
    /// Retries the exporter made.
    pub retried: u64,
}

struct Queued {
    batch: Arc<Batch>,
    bytes: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Queued>,
    /// The batch being sent: whoever takes it counts it (the thread when the answer comes,
    /// or `finish` at the shutdown deadline, when the answer may never come).
    current: Option<Arc<Batch>>,
    /// Records and bytes queued, including the batch being sent.
    records: usize,
    bytes: usize,
    closing: bool,
    /// A full queue is logged once per episode.
    full_logged: bool,
}

struct Shared {
    description: String,
    queue: Mutex<Queue>,
    ready: Condvar,
    counts: Mutex<LaneCounts>,
    spool: Option<Mutex<Spool>>,
    context: ExportContext,
    bounds: QueueBounds,
}

/// One upstream with its own queue and thread.
pub(super) struct Lane {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lane {
    /// Starts the thread that sends to `destination`.
    pub(super) fn start(
        destination: Destination,
        bounds: QueueBounds,
        spool: Option<Spool>,
    ) -> Lane {
        let Destination {
            mut exporter,
            description,
            ..
        } = destination;
        let context = ExportContext::default();
        exporter.attach(context.clone());
        if let Some(spool) = &spool {
            if spool.unacked() > 0 {
                eprintln!(
                    "observe serve: {} records an earlier run spooled in {} are sent to {} first",
                    spool.unacked(),
                    spool.dir().display(),
                    description
                );
            }
        }
        let shared = Arc::new(Shared {
            description,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            counts: Mutex::new(LaneCounts::default()),
            spool: spool.map(Mutex::new),
            context,
            bounds,
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("observe-forward".to_owned())
                .spawn(move || shared.run(exporter.as_mut()))
                .map_err(|e| eprintln!("observe serve: cannot start the forwarding thread: {e}"))
                .ok()
        };
        if thread.is_none() {
            // Nothing will send: everything handed to this lane is spooled or dropped.
            lock(&shared.queue).closing = true;
        }
        Lane {
            shared,
            thread: Mutex::new(thread),
        }
    }

    pub(super) fn description(&self) -> &str {
        &self.shared.description
    }

    pub(super) fn counts(&self) -> LaneCounts {
        let mut counts = *lock(&self.shared.counts);
        counts.retried = self.shared.context.retried();
        counts
    }

    /// Queues `batch`, or (queue full, or closing) spools it or drops it, counted.
    pub(super) fn offer(&self, batch: &Arc<Batch>, bytes: usize) {
        let s = &self.shared;
        let n = batch.len();
        let mut queue = lock(&s.queue);
        let full = queue.closing
            || (!queue.items.is_empty()
                && (queue.records + n > s.bounds.records || queue.bytes + bytes > s.bounds.bytes));
        lock(&s.counts).accepted += n as u64;
        if !full {
            queue.full_logged = false;
            queue.records += n;
            queue.bytes += bytes;
            queue.items.push_back(Queued {
                batch: Arc::clone(batch),
                bytes,
            });
            drop(queue);
            s.ready.notify_one();
            return;
        }
        if !queue.full_logged && !queue.closing {
            queue.full_logged = true;
            eprintln!(
                "observe serve: {} is behind ({} records queued): its new records are {} and \
                 counted; the store and the other upstreams are not affected",
                s.description,
                queue.records,
                if s.spool.is_some() {
                    "spooled"
                } else {
                    "dropped"
                }
            );
        }
        drop(queue);
        s.spool_or_drop(batch, false);
    }

    /// No more batches: the thread sends what is queued until `deadline`, then ends.
    pub(super) fn close(&self, deadline: Instant) {
        self.shared.context.set_deadline(deadline);
        lock(&self.shared.queue).closing = true;
        self.shared.ready.notify_all();
    }

    /// Waits for the thread (until a moment past `deadline`), spools or drops what is still
    /// queued, and returns the description, the spool directory and the final counts.
    pub(super) fn finish(&self, deadline: Instant) -> (String, Option<PathBuf>, LaneCounts) {
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let until = deadline + JOIN_GRACE;
            while !thread.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
            // Else it is stuck in a request past its timeout: it is left to the process
            // exit, and whatever it was sending is counted below as dropped.
        }
        let s = &self.shared;
        let (current, left) = {
            let mut queue = lock(&s.queue);
            let left: Vec<Queued> = queue.items.drain(..).collect();
            (queue.current.take(), left)
        };
        if let Some(batch) = current {
            // Still being sent at the deadline: a request of it may have reached the
            // upstream, so a replay counts it as resent.
            s.spool_or_drop(&batch, true);
        }
        for queued in left {
            s.spool_or_drop(&queued.batch, false);
        }
        let spool_dir = s.spool.as_ref().map(|sp| {
            let mut sp = lock(sp);
            if let Err(e) = sp.sync() {
                eprintln!("observe serve: {e}");
            }
            sp.dir().to_owned()
        });
        let mut counts = self.counts();
        // Nothing should be left unsettled; if anything is, it was not delivered.
        let settled = counts.exported + counts.failed + counts.dropped + counts.spooled;
        counts.dropped += counts.accepted.saturating_sub(settled);
        (s.description.clone(), spool_dir, counts)
    }
}

impl Shared {
    fn run(&self, exporter: &mut dyn Exporter) {
        let mut spool_at = Instant::now();
        let mut backoff = SPOOL_RETRY_MIN;
        loop {
            enum Work {
                Send(Queued),
                Spool,
                Stop,
            }
            let work = {
                let mut queue = lock(&self.queue);
                loop {
                    if let Some(item) = queue.items.pop_front() {
                        queue.current = Some(Arc::clone(&item.batch));
                        break Work::Send(item);
                    }
                    if queue.closing {
                        break Work::Stop;
                    }
                    if Instant::now() >= spool_at && self.spool_waiting() {
                        break Work::Spool;
                    }
                    queue = self
                        .ready
                        .wait_timeout(queue, TICK)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    if let Some(spool) = &self.spool {
                        drop(queue);
                        if let Err(e) = lock(spool).sync_due() {
                            eprintln!("observe serve: {e}");
                        }
                        queue = lock(&self.queue);
                    }
                }
            };
            match work {
                Work::Stop => break,
                Work::Spool => {
                    if self.send_spooled(exporter) {
                        backoff = SPOOL_RETRY_MIN;
                    } else {
                        spool_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(SPOOL_RETRY_MAX);
                    }
                }
                Work::Send(queued) => {
                    let result = self.attempt(exporter, &queued.batch);
                    let mut queue = lock(&self.queue);
                    queue.records -= queued.batch.len();
                    queue.bytes -= queued.bytes;
                    let ours = queue.current.take().is_some();
                    drop(queue);
                    if ours && !self.settle(&queued.batch, result) {
                        spool_at = Instant::now() + backoff;
                    }
                }
            }
        }
        if let Err(e) = exporter.shutdown() {
            eprintln!("observe serve: {}: {e}", self.description);
        }
    }

    /// Sends one queued batch; `None` when the shutdown deadline came before its turn.
    fn attempt(
        &self,
        exporter: &mut dyn Exporter,
        batch: &Batch,
    ) -> Option<Result<(), ExportError>> {
        if self.context.passed() {
            return None;
        }
        self.context.take_unanswered();
        Some(exporter.export(batch))
    }

    /// Counts a batch by its result (spooling what was not delivered in time, when there is
    /// a spool); false when the upstream did not answer.
    fn settle(&self, batch: &Batch, result: Option<Result<(), ExportError>>) -> bool {
        let n = batch.len() as u64;
        match result {
            None => {
                self.spool_or_drop(batch, false);
                true
            }
            Some(Ok(())) => {
                lock(&self.counts).exported += n;
                true
            }
            Some(Err(e @ (ExportError::Unavailable { .. } | ExportError::Io { .. })))
                if self.spool.is_some() =>
            {
                eprintln!("observe serve: {}: {e}; spooled", self.description);
                let maybe_sent = self.context.take_unanswered();
                self.spool_or_drop(batch, maybe_sent);
                false
            }
            Some(Err(e)) => {
                let failed = e.failed_of(batch.len()) as u64;
                let mut counts = lock(&self.counts);
                counts.failed += failed;
                counts.exported += n - failed;
                drop(counts);
                eprintln!("observe serve: {}: {e}", self.description);
                !matches!(e, ExportError::Unavailable { .. } | ExportError::Io { .. })
            }
        }
    }

    fn spool_waiting(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| lock(s).unacked() > 0)
    }

    /// Appends `batch` to the spool, or counts it dropped (no spool, or it refused).
    fn spool_or_drop(&self, batch: &Batch, maybe_sent: bool) {
        let n = batch.len() as u64;
        let appended = self
            .spool
            .as_ref()
            .map(|spool| lock(spool).append(batch, maybe_sent));
        let mut counts = lock(&self.counts);
        match appended {
            None => counts.dropped += n,
            Some(Ok(evicted)) => {
                counts.spooled += n;
                // Records the full policy deleted to make room: this run's were counted
                // spooled and are now dropped; an earlier run's are not in this run's counts.
                let own = evicted.own.min(counts.spooled);
                counts.spooled -= own;
                counts.dropped += own;
            }
            Some(Err(e)) => {
                counts.dropped += n;
                if !matches!(e, SpoolError::Full { .. }) {
                    eprintln!("observe serve: {}: {e}", self.description);
                }
            }
        }
    }

    /// Sends the spool's oldest entry; false when the upstream did not answer.
    fn send_spooled(&self, exporter: &mut dyn Exporter) -> bool {
        let Some(spool) = &self.spool else {
            return true;
        };
        let entry = {
            let mut spool = lock(spool);
            match spool.oldest() {
                Next::Empty => return true,
                Next::Corrupt {
                    records, earlier, ..
                } => {
                    eprintln!(
                        "observe serve: skipped a damaged stretch of the spool {} ({records} \
                         records counted dropped)",
                        spool.dir().display()
                    );
                    if !earlier {
                        let mut counts = lock(&self.counts);
                        let own = records.min(counts.spooled);
                        counts.spooled -= own;
                        counts.dropped += own;
                    }
                    return true;
                }
                Next::Entry(entry) => {
                    if spool.begin(&entry).is_err() {
                        return false;
                    }
                    entry
                }
            }
        };
        self.context.take_unanswered();
        let answer = spool::answer(exporter.export(&entry.batch), entry.records);
        let mut spool = lock(spool);
        match answer {
            spool::Answer::Later(_) => {
                if !self.context.take_unanswered() {
                    let _ = spool.not_sent(&entry);
                }
                false
            }
            spool::Answer::Done { failed } => {
                // An ack that cannot be written means a resend later, never a loss.
                let _ = spool.ack(&entry);
                drop(spool);
                let mut counts = lock(&self.counts);
                if entry.earlier {
                    counts.replayed += entry.records - failed;
                    counts.replay_failed += failed;
                } else {
                    let n = entry.records.min(counts.spooled);
                    counts.spooled -= n;
                    let failed = failed.min(n);
                    counts.failed += failed;
                    counts.exported += n - failed;
                }
                true
            }
        }
    }
}
