//! One destination: an exporter with its own queue, its own thread, its own budget and its
//! own counters.
//!
//! The worker offers every batch to every destination ([`Destination::offer`]); the batch is
//! shared (`Arc`), not copied. A destination whose queue is full (records, or bytes) drops
//! the batch for itself alone and counts it; the others take it. Its thread sends what is
//! queued, one batch at a time, retrying as its exporter decides, and counts each record as
//! exported or failed. So a destination that is slow or down delays and drops only its own
//! records, and the conservation law holds for each destination on its own:
//! `accepted = exported + failed + dropped + pending`.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::budget::Budget;
use crate::export::{Batch, ExportContext, ExportError, Exporter};

/// A batch the worker made, shared by the destinations; its bytes go back to the pipeline's
/// budget when the last of them is done with it.
pub(crate) struct SharedBatch {
    pub(crate) batch: Batch,
    /// What its records were charged.
    pub(crate) charge: usize,
    pub(crate) budget: Arc<Budget>,
}

impl Drop for SharedBatch {
    fn drop(&mut self) {
        self.budget.give(self.charge);
    }
}

/// A batch that carries a trace's root gets in while the queue is within its bounds, so
/// it passes them by at most one batch: roots end after their children, and a burst of
/// children must not cost their trace the record that names it and makes it a tree.
fn root_may_pass(queue: &Queue, batch: &SharedBatch, max_records: usize, max_bytes: usize) -> bool {
    queue.records <= max_records
        && queue.bytes <= max_bytes
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
    /// Records and bytes of the queued batches, and of the one being sent.
    records: usize,
    bytes: usize,
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
    ) -> Arc<Destination> {
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
        let mut queue = lock(&self.queue);
        let full = !queue.items.is_empty()
            && (queue.records + n > self.max_records
                || queue.bytes + batch.charge > self.max_bytes)
            && !root_may_pass(&queue, batch, self.max_records, self.max_bytes);
        let mut tally = lock(&self.tally);
        tally.handed += n as u64;
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

    /// Waits for the thread to end, until `deadline`; true when it did.
    pub(crate) fn wait_ended(&self, deadline: Instant) -> bool {
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

    /// At the shutdown deadline: counts what this destination still had (queued or in
    /// flight) as dropped, once, and returns how many.
    pub(crate) fn settle(&self) -> u64 {
        let mut tally = lock(&self.tally);
        if tally.settled {
            return 0;
        }
        tally.settled = true;
        let pending = tally
            .handed
            .saturating_sub(tally.exported + tally.failed + tally.dropped);
        tally.dropped += pending;
        pending
    }

    pub(crate) fn counts(&self) -> Counts {
        let tally = lock(&self.tally);
        Counts {
            exported: tally.exported,
            failed: tally.failed,
            dropped: tally.dropped,
            retried: self.context.retried(),
        }
    }

    fn run(&self, exporter: &mut dyn Exporter) {
        loop {
            let item = {
                let mut queue = lock(&self.queue);
                loop {
                    if let Some(item) = queue.items.pop_front() {
                        break item;
                    }
                    if queue.closing {
                        drop(queue);
                        if let Err(err) = exporter.shutdown() {
                            tracing::warn!(destination = %self.name, "observe: {err}");
                        }
                        return;
                    }
                    queue = self
                        .ready
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            match item {
                Item::Batch(batch) => {
                    let n = batch.batch.len();
                    if self.context.passed() {
                        self.count(n, None);
                    } else {
                        let result = exporter.export(&batch.batch);
                        self.count(n, Some(result));
                    }
                    let mut queue = lock(&self.queue);
                    queue.records -= n;
                    queue.bytes -= batch.charge;
                }
                Item::Flush(reply) => {
                    if let Err(err) = exporter.flush() {
                        tracing::warn!(destination = %self.name, "observe: {err}");
                    }
                    let _ = reply.send(());
                }
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
