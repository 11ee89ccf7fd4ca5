//! One destination: an exporter with its own queue, its own thread, its own budget and its
//! own counters.
//!
//! The worker offers every batch to every destination ([`Destination::offer`]); the batch is
//! shared (`Arc`), not copied. A destination whose queue is full (records, or bytes) drops
//! the batch for itself alone and counts it; the others take it. Its thread sends what is
//! queued, one batch at a time, retrying as its exporter decides, and counts each record as
//! exported or failed. So a destination that is slow or down delays and drops only its own
//! records, and the conservation law holds for each destination on its own:
//! `accepted = exported + failed + dropped + spooled + pending`.
//!
//! A remote destination with a spool ([`super::spooling`]) writes to disk what it would
//! otherwise drop (its queue full, its retry deadline passed, the shutdown deadline come),
//! or, spool-first, every batch; its thread sends from the spool when its queue is empty.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::budget::Budget;
use super::recycle::Spares;
use super::spooling::{nothing_out, Appended, Drained, SpoolMode, SpoolSettings, Spooler};
use crate::export::{Batch, ExportContext, ExportError, Exporter};

/// The first wait before the spool is tried again after the destination did not answer;
/// it doubles up to [`SPOOL_BACKOFF_MAX`].
const SPOOL_BACKOFF_MIN: Duration = Duration::from_millis(200);
const SPOOL_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a spool-first shutdown gives the destination's thread to deliver what is on
/// disk (less when less of the deadline is left); the rest waits there for the next run.
const SPOOL_FIRST_GRACE: Duration = Duration::from_millis(500);
/// How often an idle destination with a spool looks at its fsync interval.
const SPOOL_SYNC_TICK: Duration = Duration::from_millis(100);

/// A batch the worker made, shared by the destinations; its bytes go back to the pipeline's
/// budget when the last of them is done with it.
pub(crate) struct SharedBatch {
    pub(crate) batch: Batch,
    /// What its records were charged.
    pub(crate) charge: usize,
    pub(crate) budget: Arc<Budget>,
    /// Where its observations' boxes go back to the worker.
    pub(crate) spares: Arc<Spares>,
}

impl Drop for SharedBatch {
    fn drop(&mut self) {
        self.spares.give_back(&mut self.batch);
        self.budget.give(self.charge);
    }
}

/// Moves the batches queued at the front of `items` into `group`, until it holds `at_once`
/// or a flush marker comes (what was queued before a flush is sent before it is answered).
fn take_queued(items: &mut VecDeque<Item>, group: &mut Vec<Arc<SharedBatch>>, at_once: usize) {
    while group.len() < at_once {
        match items.front() {
            Some(Item::Batch(_)) => {
                if let Some(Item::Batch(batch)) = items.pop_front() {
                    group.push(batch);
                }
            }
            _ => break,
        }
    }
}

/// Sends `group` in one call: the exporter's `export` for one batch, `export_many` for
/// more.
fn send(exporter: &mut dyn Exporter, group: &[Arc<SharedBatch>]) -> Result<(), ExportError> {
    match group {
        [one] => exporter.export(&one.batch),
        more => {
            let batches: Vec<&Batch> = more.iter().map(|b| &b.batch).collect();
            exporter.export_many(&batches)
        }
    }
}

/// A batch that carries a trace's root gets in while the queue is within its bounds, so
/// it passes them by at most one batch: roots end after their children, and a burst of
/// children must not cost their trace the record that names it and makes it a tree.
///
/// A group being sent counts as its first batch here: the batches behind it were admitted
/// within the bounds, and taking them early must not shut the root out.
fn root_may_pass(queue: &Queue, batch: &SharedBatch, max_records: usize, max_bytes: usize) -> bool {
    queue.records.saturating_sub(queue.grouped_records) <= max_records
        && queue.bytes.saturating_sub(queue.grouped_bytes) <= max_bytes
        && batch.batch.observations.iter().any(|o| o.is_root())
}

enum Item {
    Batch(Arc<SharedBatch>),
    /// Reply once everything queued before it is sent and the exporter flushed.
    Flush(Sender<()>),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    /// The batches being sent (more than one when the exporter takes several at once), for
    /// the spool at the shutdown deadline.
    current: Vec<Arc<SharedBatch>>,
    /// Records and bytes of the queued batches, and of those being sent.
    records: usize,
    bytes: usize,
    /// Of those being sent, the records and bytes of the batches after the first.
    grouped_records: usize,
    grouped_bytes: usize,
    /// No more items will come: the thread ends once the queue is empty.
    closing: bool,
}

/// What happened to the records this destination was handed.
#[derive(Default)]
struct Tally {
    handed: u64,
    exported: u64,
    failed: u64,
    /// Dropped by this destination: its queue was full, or the shutdown deadline passed.
    dropped: u64,
    /// This process's records on disk in the spool, not yet sent.
    spooled: u64,
    /// Records an earlier process spooled, delivered by this one.
    replayed: u64,
    /// Of those, refused by the destination.
    replay_failed: u64,
    /// Of those, lost to a damaged spool file or to the full policy.
    replay_dropped: u64,
    /// Records delivered from the spool that may have reached the server before.
    resent: u64,
    /// Set at the shutdown deadline, when what was still pending was counted as dropped:
    /// an answer that comes later changes nothing.
    settled: bool,
    /// In an episode of a full queue (logged once per episode).
    full: bool,
    /// In an outage (the first failure is logged as an error, the rest at debug level).
    failing: bool,
}

/// A destination's counts at one moment.
pub(crate) struct Counts {
    pub(crate) exported: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    pub(crate) retried: u64,
    pub(crate) spooled: u64,
    pub(crate) replayed: u64,
    pub(crate) replay_failed: u64,
    pub(crate) replay_dropped: u64,
    pub(crate) resent: u64,
}

pub(crate) struct Destination {
    pub(crate) name: String,
    queue: Mutex<Queue>,
    ready: Condvar,
    tally: Mutex<Tally>,
    pub(crate) context: ExportContext,
    max_records: usize,
    max_bytes: usize,
    /// Disconnected when the thread has ended.
    ended: Receiver<()>,
    spool: Option<Spooler>,
    join: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Destination {
    /// Starts the destination's thread.
    pub(crate) fn start(
        mut exporter: Box<dyn Exporter>,
        max_records: usize,
        max_bytes: usize,
        spool: &SpoolSettings,
    ) -> Arc<Destination> {
        let spool = Spooler::open(spool, exporter.as_ref());
        let context = ExportContext::default();
        exporter.attach(context.clone());
        let (alive, ended) = crossbeam_channel::bounded::<()>(0);
        let destination = Arc::new(Destination {
            name: exporter.name().to_owned(),
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            tally: Mutex::new(Tally::default()),
            context,
            max_records,
            max_bytes: max_bytes.max(1),
            ended,
            spool,
            join: Mutex::new(None),
        });
        let d = destination.clone();
        let join = thread::Builder::new()
            .name(format!("observe-export-{}", destination.name))
            .spawn(move || {
                let _alive = alive;
                d.run(exporter.as_mut());
            })
            .expect("spawning an observe exporter thread");
        *lock(&destination.join) = Some(join);
        destination
    }

    /// Queues a batch for this destination, or drops it for this destination alone when its
    /// queue is full. Worker only.
    pub(crate) fn offer(&self, batch: &Arc<SharedBatch>) {
        let n = batch.batch.len();
        if let Some(spool) = self.spool.as_ref().filter(|s| s.mode() == SpoolMode::First) {
            // Spool-first: on disk before anything is sent; the thread sends from there.
            let appended = spool.append(&batch.batch, false);
            let mut tally = lock(&self.tally);
            tally.handed += n as u64;
            self.count_appended(&mut tally, appended);
            drop(tally);
            self.ready.notify_one();
            return;
        }
        let mut queue = lock(&self.queue);
        let full = !queue.items.is_empty()
            && (queue.records + n > self.max_records
                || queue.bytes + batch.charge > self.max_bytes)
            && !root_may_pass(&queue, batch, self.max_records, self.max_bytes);
        let mut tally = lock(&self.tally);
        tally.handed += n as u64;
        if let (Some(spool), true, false) = (&self.spool, full, queue.closing) {
            // Unreachable or slow: what its queue cannot hold waits on disk.
            drop(queue);
            let appended = spool.append(&batch.batch, false);
            self.count_appended(&mut tally, appended);
            drop(tally);
            self.ready.notify_one();
            return;
        }
        if full || queue.closing {
            tally.dropped += n as u64;
            if !tally.full {
                tally.full = true;
                tracing::warn!(
                    destination = %self.name,
                    "observe: the `{}` destination is behind (its queue holds {} records, {} \
                     bytes): its new records are dropped and counted; the other destinations \
                     are not affected",
                    self.name,
                    queue.records,
                    queue.bytes
                );
            }
            return;
        }
        tally.full = false;
        drop(tally);
        queue.records += n;
        queue.bytes += batch.charge;
        queue.items.push_back(Item::Batch(batch.clone()));
        self.ready.notify_one();
    }

    /// Queues a flush marker; the receiver hears once everything queued before it is sent.
    pub(crate) fn flush_marker(&self) -> Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if let Some(spool) = self.spool.as_ref().filter(|s| s.mode() == SpoolMode::First) {
            // Spool-first, a flush is done once what was offered before it is on disk.
            spool.sync(true);
            let _ = tx.send(());
            return rx;
        }
        let mut queue = lock(&self.queue);
        if queue.closing {
            drop(tx); // the thread is ending: nothing to wait for past its end
        } else {
            queue.items.push_back(Item::Flush(tx));
            self.ready.notify_one();
        }
        rx
    }

    /// No more batches: the thread sends what is queued (until the shutdown deadline, see
    /// [`ExportContext`]) and ends.
    pub(crate) fn close(&self) {
        lock(&self.queue).closing = true;
        self.ready.notify_all();
    }

    /// Waits for the thread to end, until `deadline`; true when it did. Spool-first, the
    /// records are on disk already: the thread gets a short grace (0.5 s, or what is left
    /// of the deadline if less) to deliver them, then the spool is closed and this returns,
    /// whatever the network does (a send under way goes on until the process exits; its
    /// entry stays marked in flight if a request of it may have reached the server, so a
    /// replay counts it as resent).
    pub(crate) fn wait_ended(&self, deadline: Instant) -> bool {
        if let Some(spool) = self.spool.as_ref().filter(|s| s.mode() == SpoolMode::First) {
            let until = deadline.min(Instant::now() + SPOOL_FIRST_GRACE);
            let ended = self.ended.recv_deadline(until);
            if !matches!(ended, Err(crossbeam_channel::RecvTimeoutError::Timeout)) {
                if let Some(join) = lock(&self.join).take() {
                    let _ = join.join();
                }
            }
            spool.release(nothing_out(&self.context));
            return true;
        }
        match self.ended.recv_deadline(deadline) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => false,
            _ => {
                if let Some(join) = lock(&self.join).take() {
                    let _ = join.join();
                }
                true
            }
        }
    }

    /// At the shutdown deadline: spools what this destination still had (queued, and in
    /// flight: marked as maybe sent when a request of it is out or went unanswered) when it has a
    /// spool, counts the rest as dropped, once, and returns how many were spooled and how
    /// many dropped.
    pub(crate) fn settle(&self) -> (u64, u64) {
        let (current, queued) = {
            let mut queue = lock(&self.queue);
            {
                // Settled with the queue locked, before it is emptied: a thread that then
                // finds it empty leaves the spool open for the appends below, and one that
                // took its batch counted it first (see `run`).
                let mut tally = lock(&self.tally);
                if tally.settled {
                    return (0, 0);
                }
                tally.settled = true;
            }
            let items: Vec<Item> = queue.items.drain(..).collect();
            (std::mem::take(&mut queue.current), items)
        };
        let mut tally = lock(&self.tally);
        let before = tally.spooled;
        if let Some(spool) = &self.spool {
            // The batch (or spool entry) being sent may have reached the server only if a
            // request of it went unanswered or is still out; refused connections leave it
            // unsent.
            let nothing_out = nothing_out(&self.context);
            let batches =
                current
                    .iter()
                    .map(|b| (b, !nothing_out))
                    .chain(queued.iter().filter_map(|item| match item {
                        Item::Batch(b) => Some((b, false)),
                        Item::Flush(_) => None,
                    }));
            for (batch, maybe_sent) in batches {
                let appended = spool.append(&batch.batch, maybe_sent);
                self.count_appended(&mut tally, appended);
            }
            spool.release(nothing_out);
        }
        let pending = tally
            .handed
            .saturating_sub(tally.exported + tally.failed + tally.dropped + tally.spooled);
        tally.dropped += pending;
        (tally.spooled.saturating_sub(before), pending)
    }

    /// Where this destination's spool is, if it has one.
    pub(crate) fn spool_dir(&self) -> Option<std::path::PathBuf> {
        self.spool.as_ref().map(Spooler::dir)
    }

    /// Counts what an append did.
    fn count_appended(&self, tally: &mut Tally, a: Appended) {
        tally.spooled += a.spooled;
        tally.dropped += a.dropped;
        // This process's records deleted to make room were counted spooled: now dropped.
        tally.spooled = tally.spooled.saturating_sub(a.evicted_own);
        tally.dropped += a.evicted_own;
        tally.replay_dropped += a.evicted_earlier;
        if a.dropped > 0 && !tally.full {
            tally.full = true;
            tracing::warn!(
                destination = %self.name,
                "observe: the `{}` destination's spool cannot take more: its new records are \
                 dropped and counted",
                self.name
            );
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        let tally = lock(&self.tally);
        Counts {
            exported: tally.exported,
            failed: tally.failed,
            dropped: tally.dropped,
            retried: self.context.retried(),
            spooled: tally.spooled,
            replayed: tally.replayed,
            replay_failed: tally.replay_failed,
            replay_dropped: tally.replay_dropped,
            resent: tally.resent,
        }
    }

    fn run(&self, exporter: &mut dyn Exporter) {
        // The spool is tried when the queue is empty, and after a failure not before this.
        let mut retry_spool_at = Instant::now();
        let mut backoff = SPOOL_BACKOFF_MIN;
        // A spool keeps batch by batch what the destination did not answer, so with one the
        // batches go one at a time.
        let at_once = match self.spool {
            None => exporter.batches_at_once().max(1),
            Some(_) => 1,
        };
        // The batches sent in one call: the first queued, and those queued behind it.
        let mut group: Vec<Arc<SharedBatch>> = Vec::with_capacity(at_once);
        loop {
            let item = {
                let mut queue = lock(&self.queue);
                loop {
                    if let Some(item) = queue.items.pop_front() {
                        if let Item::Batch(batch) = &item {
                            group.push(batch.clone());
                            take_queued(&mut queue.items, &mut group, at_once);
                            queue.current.extend(group.iter().cloned());
                            for later in group.iter().skip(1) {
                                queue.grouped_records += later.batch.len();
                                queue.grouped_bytes += later.charge;
                            }
                        }
                        break Some(item);
                    }
                    let first = self.spool.as_ref().filter(|s| s.mode() == SpoolMode::First);
                    if queue.closing
                        && first
                            .is_some_and(|s| s.unacked() > 0 && Instant::now() >= retry_spool_at)
                    {
                        // Spool-first at shutdown: deliver what is on disk until the
                        // destination stops answering (shutdown waits only a moment).
                        break None;
                    }
                    if queue.closing {
                        drop(queue);
                        // After `settle` began, it appends what it took and releases the
                        // spool itself.
                        if let Some(spool) =
                            self.spool.as_ref().filter(|_| !lock(&self.tally).settled)
                        {
                            spool.release(nothing_out(&self.context));
                        }
                        if let Err(err) = exporter.shutdown() {
                            tracing::warn!(destination = %self.name, "observe: {err}");
                        }
                        return;
                    }
                    let Some(spool) = &self.spool else {
                        queue = self
                            .ready
                            .wait(queue)
                            .unwrap_or_else(PoisonError::into_inner);
                        continue;
                    };
                    let now = Instant::now();
                    if now >= retry_spool_at && spool.unacked() > 0 {
                        break None;
                    }
                    let wait = retry_spool_at
                        .saturating_duration_since(now)
                        .clamp(Duration::from_millis(10), SPOOL_SYNC_TICK);
                    queue = self
                        .ready
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    drop(queue);
                    spool.sync(false);
                    queue = lock(&self.queue);
                }
            };
            match item {
                None => {
                    if self.drain_spool(exporter) {
                        backoff = SPOOL_BACKOFF_MIN;
                    } else {
                        retry_spool_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(SPOOL_BACKOFF_MAX);
                    }
                }
                Some(Item::Batch(_)) => {
                    let result = if self.context.passed() {
                        None
                    } else {
                        self.context.take_unanswered(); // a note of an earlier send
                        Some(send(exporter, &group))
                    };
                    // Whoever takes `current` counts the batches: this thread, or `settle`
                    // at the shutdown deadline (then the answer changes nothing). The queue
                    // stays locked until they are counted: `settle` settles under the same
                    // lock, so it cannot come between (a batch would be neither spooled by
                    // this thread nor seen by `settle`).
                    let mut queue = lock(&self.queue);
                    for batch in &group {
                        queue.records -= batch.batch.len();
                        queue.bytes -= batch.charge;
                    }
                    queue.grouped_records = 0;
                    queue.grouped_bytes = 0;
                    if !queue.current.is_empty() {
                        queue.current.clear();
                        self.settle_batches(&group, result, &mut retry_spool_at, backoff);
                    }
                    drop(queue);
                    // Their bytes go back to the budget now, not at the next batch.
                    group.clear();
                }
                Some(Item::Flush(reply)) => {
                    if let Err(err) = exporter.flush() {
                        tracing::warn!(destination = %self.name, "observe: {err}");
                    }
                    if let Some(spool) = &self.spool {
                        spool.sync(true);
                    }
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Counts the batches this thread sent in one call (`Some` result) or did not send
    /// before the shutdown deadline (`None`); with a spool, what the destination did not
    /// answer waits on disk.
    fn settle_batches(
        &self,
        batches: &[Arc<SharedBatch>],
        result: Option<Result<(), ExportError>>,
        retry_spool_at: &mut Instant,
        backoff: Duration,
    ) {
        let n = batches.iter().map(|b| b.batch.len()).sum();
        let Some(spool) = &self.spool else {
            return self.count(n, result);
        };
        let maybe_sent = match result {
            None => false,
            // Its retry deadline passed, or no answer came: then it may have reached the
            // server, and a replay counts it as resent.
            Some(Err(ExportError::Unavailable { .. } | ExportError::Io { .. })) => {
                *retry_spool_at = Instant::now() + backoff;
                self.context.take_unanswered()
            }
            Some(result) => return self.count(n, Some(result)),
        };
        let mut tally = lock(&self.tally);
        if !tally.settled {
            for batch in batches {
                let appended = spool.append(&batch.batch, maybe_sent);
                self.count_appended(&mut tally, appended);
            }
        }
    }

    /// Sends the spool's oldest entry; false when the destination did not answer, or when
    /// nothing could be read though records are counted on disk (then the loop backs off
    /// rather than spin).
    fn drain_spool(&self, exporter: &mut dyn Exporter) -> bool {
        let Some(spool) = &self.spool else {
            return true;
        };
        let drained = spool.drain_one(exporter, &self.context);
        if matches!(drained, Drained::Nothing) {
            return spool.unacked() == 0;
        }
        let mut tally = lock(&self.tally);
        match drained {
            Drained::Nothing => true,
            Drained::Unreachable => false,
            Drained::Corrupt { earlier, records } => {
                if earlier {
                    tally.replay_dropped += records;
                } else {
                    let own = records.min(tally.spooled);
                    tally.spooled -= own;
                    tally.dropped += own;
                }
                true
            }
            Drained::Sent {
                earlier,
                delivered,
                failed,
                resent,
            } => {
                tally.resent += resent;
                if earlier {
                    tally.replayed += delivered;
                    tally.replay_failed += failed;
                } else {
                    let n = (delivered + failed).min(tally.spooled);
                    tally.spooled -= n;
                    tally.exported += delivered.min(n);
                    tally.failed += n - delivered.min(n);
                }
                true
            }
        }
    }

    /// Counts a batch of `n` records: by its result, or as dropped (`None`: the shutdown
    /// deadline passed before it was sent).
    fn count(&self, n: usize, result: Option<Result<(), ExportError>>) {
        let mut tally = lock(&self.tally);
        if tally.settled {
            return;
        }
        match result {
            None => tally.dropped += n as u64,
            Some(Ok(())) => {
                tally.exported += n as u64;
                if tally.failing {
                    tally.failing = false;
                    tracing::info!(destination = %self.name, "observe: `{}` exports again", self.name);
                }
            }
            Some(Err(err)) => {
                let failed = err.failed_of(n);
                tally.failed += failed as u64;
                tally.exported += (n - failed) as u64;
                if tally.failing {
                    tracing::debug!(destination = %self.name, "observe: export failed: {err}");
                } else {
                    tally.failing = true;
                    tracing::error!(
                        destination = %self.name,
                        "observe: export failed: {err} ({failed} of {n} records counted failed; \
                         later failures of this outage are logged at debug level)"
                    );
                }
            }
        }
    }
}
