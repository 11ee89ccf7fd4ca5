//! The bounded queue between the instrumented code and the background worker: its hot,
//! producing side. The worker that drains it is in [`worker`], the destinations' own queues
//! and threads in [`destination`], the byte budget in [`budget`], and the counters, `flush`
//! and `shutdown` in [`report`].
//!
//! The hot side is [`Pipeline::push`]: a [`Finished`] record, plain data held by value, is
//! written into the calling thread's own ring (see [`ring`]): no allocation, no lock, no
//! atomic read-modify-write per record; the worker is woken only when a batch is ready. The
//! queue is bounded twice: by `queue_capacity` records (credits a thread takes a few at a
//! time) and by `max_queue_bytes` (byte credits, also taken a chunk at a time, see
//! [`budget`]). When either is spent the record is dropped and counted; the caller never
//! waits.
//!
//! The cold side is the worker thread: it drains the rings in batches (by count, by bytes and
//! by interval), turns each record into the exporters' [`Observation`] once, applies the
//! user's mask and the size limits, and hands the same batch to every destination's own
//! queue. Each destination runs on its own thread with its own budget, retries and counters,
//! so one that is slow or unreachable drops only its own records, counted as its own.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use crossbeam_channel::Sender;
use crossbeam_utils::CachePadded;

mod budget;
mod destination;
pub(crate) mod local;
mod record;
mod recycle;
mod report;
mod ring;
pub(crate) mod spare_trace;
mod spooling;
mod trace;
mod worker;

use record::SLOT_BYTES;
pub(crate) use record::{Batch, Captured, Entry, Finished, Record};
pub use report::{DestinationStats, FlushReport, Stats};
pub use spooling::{SpoolMode, SpoolSettings, DEFAULT_SPOOL_DIR};
pub(crate) use trace::{push_score, TraceState};

use budget::Budget;
use destination::Destination;
use ring::{Consumer, Producer, Slots};
use worker::{Command, Worker};

use crate::capture_buf::{CaptureBuf, Captures};
use crate::export::Exporter;
use crate::model::{Json, TraceAttributes, TraceId};

/// A function applied to every input, output and metadata value before it leaves the process
/// (to redact secrets or personal data).
pub type Mask = Arc<dyn Fn(Json) -> Json + Send + Sync>;

/// How the pipeline batches, samples and bounds its memory.
#[derive(Clone)]
pub struct PipelineSettings {
    /// Records the queue holds before new ones are dropped (and counted). A thread's batch
    /// of light records (observations with nothing captured, handed over together, see
    /// docs/ARCHITECTURE.md) takes one place; `max_queue_bytes` counts each of them.
    pub queue_capacity: usize,
    /// Records per batch (`LANGFUSE_FLUSH_AT`).
    pub max_batch_records: usize,
    /// Encoded bytes per batch, estimated before encoding.
    pub max_batch_bytes: usize,
    /// Longest a record waits in the queue (`LANGFUSE_FLUSH_INTERVAL`).
    pub flush_interval: Duration,
    /// Fraction of traces kept, decided from the trace id (`LANGFUSE_SAMPLE_RATE`).
    pub sample_rate: f64,
    /// Default for `#[observe]` input and output capture
    /// (`LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED`).
    pub capture_io: bool,
    /// Attributes every trace starts with (environment, release, version).
    pub base_attributes: TraceAttributes,
    /// Applied to input, output and metadata on the worker.
    pub mask: Option<Mask>,
    /// Largest encoded observation; over it the largest of input, output, metadata and model
    /// parameters is replaced by a truncation marker (see [`crate::limits`]).
    pub max_record_bytes: usize,
    /// Bytes of records the pipeline holds at most, from the moment they are queued until
    /// every destination is done with them (`OBSERVE_MAX_QUEUE_BYTES`); past it new records
    /// are dropped and counted. One destination's own queue holds at most half of it, so a
    /// stalled destination cannot starve the others.
    pub max_queue_bytes: usize,
    /// Whether, where and how remote destinations spool what they cannot deliver yet
    /// (`OBSERVE_SPOOL*`; off by default).
    pub spool: SpoolSettings,
}

impl PipelineSettings {
    /// The most memory queued records take (`queue_capacity` records held by value), besides
    /// what captured inputs, outputs and updates hold; each thread's ring is allocated when
    /// the thread first ends an observation, up to 1024 records at a time.
    ///
    /// ```
    /// use observe_runtime::PipelineSettings;
    /// let settings = PipelineSettings { queue_capacity: 1024, ..Default::default() };
    /// assert!(settings.queue_bytes() < 1024 * 256);
    /// ```
    pub fn queue_bytes(&self) -> usize {
        self.queue_capacity.max(1) * SLOT_BYTES
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            queue_capacity: 65_536,
            max_batch_records: 512,
            max_batch_bytes: 3 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            sample_rate: 1.0,
            capture_io: true,
            base_attributes: TraceAttributes::default(),
            mask: None,
            max_record_bytes: 1_000_000,
            max_queue_bytes: 64 * 1024 * 1024,
            spool: SpoolSettings::default(),
        }
    }
}

impl fmt::Debug for PipelineSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineSettings")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch_records", &self.max_batch_records)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("flush_interval", &self.flush_interval)
            .field("sample_rate", &self.sample_rate)
            .field("capture_io", &self.capture_io)
            .field("base_attributes", &self.base_attributes)
            .field("mask", &self.mask.as_ref().map(|_| "<fn>"))
            .field("max_record_bytes", &self.max_record_bytes)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("spool", &self.spool)
            .finish()
    }
}

/// What the producing side counts (the destinations count the rest).
#[derive(Default)]
struct Counters {
    /// Records the worker took from the rings (it alone writes this); what was queued is
    /// this plus what the rings hold.
    taken: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    truncated: AtomicU64,
    /// Entries beyond one per record of the batches (see [`local`]) that are in the rings or
    /// set aside: a batch takes one slot but counts as each of its entries. Raised by the
    /// producer before it queues a batch, lowered by the worker when it takes one (or by the
    /// producer when the batch is refused).
    batched_extra: AtomicI64,
}

/// Slots in one thread's ring, at most: 128 KiB of records. Smaller when the whole queue is.
const RING_SLOTS: usize = 1024;

/// The shared half of a client: queue, counters, settings and the worker's address.
pub(crate) struct Pipeline {
    /// Tells this pipeline's rings apart in a thread's list of rings.
    id: u64,
    /// The consumer end of every thread's ring, for the worker to drain (it pops while
    /// holding the lock, which is what makes it the one consumer); locked by a thread once,
    /// to register.
    rings: Mutex<Vec<Consumer>>,
    /// Records that may still be queued: `queue_capacity` less those in flight. Threads take
    /// credits in chunks of `credit_chunk`; the worker gives them back as it drains.
    credits: CachePadded<AtomicI64>,
    credit_chunk: usize,
    /// Places only roots may take: the root ends after its children, so under a burst the
    /// children fill the queue first; the reserve keeps the trace's name and its tree.
    root_reserve: i64,
    /// Bytes the records held anywhere in the pipeline may take; returned when a batch is
    /// freed by the last destination.
    bytes: Arc<Budget>,
    /// Records pushed where a ring could not be used (the thread is exiting).
    orphans: Mutex<Vec<Record>>,
    counters: Counters,
    /// Every exporter's queue, thread and counters.
    destinations: Vec<Arc<Destination>>,
    settings: PipelineSettings,
    base_attributes: Arc<TraceAttributes>,
    sample_threshold: u64,
    wake_at: usize,
    /// Set when `shutdown` starts: new records are refused (and counted).
    closed: AtomicBool,
    /// Set when the worker made its last drain (or the shutdown deadline passed): records
    /// still in the rings then (pushed by a thread that saw `closed` unset a moment too
    /// late) are counted as dropped after shutdown.
    stopped: AtomicBool,
    worker: Thread,
    commands: Sender<Command>,
    join: Mutex<Option<JoinHandle<()>>>,
    /// The first shutdown's report: later calls (the guard's drop, then the client's) return
    /// it at once rather than waiting again.
    last_report: Mutex<Option<FlushReport>>,
    pub(crate) trace_url_base: Option<String>,
}

impl Pipeline {
    /// Starts the worker thread with these exporters.
    pub(crate) fn start(
        settings: PipelineSettings,
        exporters: Vec<Box<dyn Exporter>>,
        trace_url_base: Option<String>,
    ) -> Arc<Pipeline> {
        let (commands, receiver) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Arc<Pipeline>>();
        let join = thread::Builder::new()
            .name("observe-worker".into())
            .spawn(move || {
                let Ok(pipeline) = ready_rx.recv() else {
                    return;
                };
                Worker::new(pipeline, receiver).run();
            })
            .expect("spawning the observe worker thread");
        let destinations = exporters
            .into_iter()
            .map(|exporter| {
                Destination::start(
                    exporter,
                    settings.queue_capacity.max(1),
                    settings.max_queue_bytes.max(1) / 2,
                    &settings.spool,
                )
            })
            .collect();
        let rate = settings.sample_rate.clamp(0.0, 1.0);
        let wake_at = settings
            .max_batch_records
            .clamp(1, settings.queue_capacity.max(1));
        crate::limits::allow_capture_bytes(settings.max_record_bytes);
        static IDS: AtomicU64 = AtomicU64::new(1);
        let capacity = settings.queue_capacity.max(1);
        let pipeline = Arc::new(Pipeline {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            rings: Mutex::new(Vec::new()),
            credits: CachePadded::new(AtomicI64::new(capacity as i64)),
            // A thread holds at most this many credits unused: small against the capacity.
            credit_chunk: (capacity / 64).clamp(1, 32),
            root_reserve: (capacity / 16).min(64) as i64,
            bytes: Arc::new(Budget::new(settings.max_queue_bytes.max(1))),
            orphans: Mutex::new(Vec::new()),
            counters: Counters::default(),
            destinations,
            base_attributes: Arc::new(settings.base_attributes.clone()),
            sample_threshold: (rate * (1u64 << 63) as f64) as u64,
            wake_at,
            settings,
            closed: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            worker: join.thread().clone(),
            commands,
            join: Mutex::new(Some(join)),
            last_report: Mutex::new(None),
            trace_url_base,
        });
        // The worker holds a Weak-free strong reference only while it runs; it ends on
        // shutdown, which drops it.
        let _ = ready_tx.send(pipeline.clone());
        pipeline
    }

    /// Queues a finished record without blocking; drops and counts it when the queue is full.
    #[inline]
    pub(crate) fn push(&self, record: Record) {
        // What this thread buffered ended first: it goes first.
        local::hand_over_pending();
        let charge = record.charge();
        self.push_charged(record, charge);
    }

    /// Queues a record whose bytes were reckoned by the caller ([`Record::charge`]).
    #[inline]
    fn push_charged(&self, record: Record, charge: usize) {
        // Acquire: pairs with the release in `shutdown`; a push that misses the flag lands in
        // a ring and is counted at the end (see `stopped`), never lost.
        if self.closed.load(Ordering::Acquire) {
            self.after_shutdown(record.count());
            return;
        }
        // A root that finds the budget spent may take the roots' reserve (drop path only).
        let charged = budget::charge(self.id, &self.bytes, charge)
            || (record.is_root() && self.bytes.take_reserved(charge));
        if !charged {
            self.dropped(record, 0);
            return;
        }
        if let Err(record) = ring::push_fast(self.id, record) {
            self.push_slow(record, charge);
        }
    }

    /// Queues a finished observation with the input and output it captured: their bytes go
    /// into this thread's ring when they fit (see [`Captured::InRing`]).
    ///
    /// The caller handed over this thread's light records first
    /// ([`local::hand_over_pending`], before building the record: called here, it would
    /// make the record move around the call).
    #[inline]
    pub(crate) fn push_observation(
        &self,
        mut record: Finished,
        input: Option<CaptureBuf>,
        output: Option<CaptureBuf>,
    ) {
        let captures = Captures::of(input.as_ref(), output.as_ref());
        let captured = captures.len();
        let charge = record.charge_without_capture() + captured;
        if input.is_some() || output.is_some() {
            record.captured = match ring::place(self.id, &captures) {
                Some(position) => Captured::InRing(position),
                // Made JSON here: a large capture, or no ring to place it in (rare).
                None => Captured::Heap(Box::new((
                    captures.input.to_json(),
                    captures.output.to_json(),
                    captured,
                ))),
            };
        }
        self.push_charged(Record::Observation(record), charge);
    }

    /// Queues a thread's buffered light observations as one record (see [`local`]).
    pub(crate) fn push_batch(&self, batch: Batch) {
        let n = batch.entries.len();
        if n == 0 {
            return;
        }
        // Raised before the batch can be seen, so `stats` never counts it short.
        self.counters
            .batched_extra
            .fetch_add(n as i64 - 1, Ordering::AcqRel);
        let record = Record::Batch(batch);
        let charge = record.charge();
        self.push_charged(record, charge);
    }

    /// A record (counting as `n`) that came after `shutdown` started: dropped and counted.
    #[cold]
    #[inline(never)]
    fn after_shutdown(&self, n: u64) {
        self.refused(n);
        self.counters
            .dropped_after_shutdown
            .fetch_add(n, Ordering::Relaxed);
        crate::traps::record_after_shutdown();
    }

    /// A record that counts as `n` was refused: a batch's extra entries are no longer
    /// queued.
    fn refused(&self, n: u64) {
        if n > 1 {
            self.counters
                .batched_extra
                .fetch_sub(n as i64 - 1, Ordering::AcqRel);
        }
    }

    /// Everything `push_fast` leaves: a first record from this thread (a new ring), another
    /// pipeline's producer first in line, no credit left, a full ring, a thread that is
    /// exiting.
    #[cold]
    #[inline(never)]
    fn push_slow(&self, record: Record, charge: usize) {
        let mut record = Some(record);
        let outcome = ring::with_producers(|producers| {
            let record = record.take().expect("taken once");
            let index = match producers.iter().position(|p| p.pipeline_id() == self.id) {
                Some(index) => index,
                None => {
                    // Forget producers of pipelines that are gone (they were drained).
                    producers.retain(Producer::is_live);
                    producers.push(Producer::new(self.id, self.register_ring()));
                    producers.len() - 1
                }
            };
            // The producer used last goes first, where `push_fast` looks.
            producers.swap(0, index);
            let producer = &mut producers[0];
            if producer.credits == 0 {
                producer.credits = self.take_credits();
                if producer.credits == 0 && record.is_root() && self.take_reserved_credit() {
                    producer.credits = 1;
                }
                if producer.credits == 0 {
                    return Some(record);
                }
            }
            // `Some(record)` when it could not be queued.
            match producer.push(record) {
                Err(mut record) => {
                    // The ring is full: the worker is behind. Go on in a new ring while the
                    // pipeline has credits (the record's captured bytes come along).
                    self.worker.unpark();
                    // SAFETY: `record` was placed (if at all) by this producer, the first in
                    // line, by `push_observation` just before, and its push just failed.
                    unsafe { producer.take_back(&mut record) };
                    producer.continue_in(self.register_ring());
                    producer.push(record).err()
                }
                Ok(()) => None,
            }
        });
        match outcome {
            Some(None) => {}
            Some(Some(record)) => self.dropped(record, charge),
            None => {
                // This thread's storage is gone (it is exiting): set the record aside.
                let record = record.take().expect("not taken when storage is gone");
                let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
                if orphans.len() < RING_SLOTS {
                    orphans.push(record);
                } else {
                    drop(orphans);
                    self.dropped(record, charge);
                }
            }
        }
    }

    /// A new ring for the calling thread.
    fn register_ring(&self) -> Slots {
        let (slots, consumer) = ring::new_ring(RING_SLOTS.min(self.settings.queue_capacity.max(1)));
        self.rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(consumer);
        slots
    }

    /// Credits for the next few records of a thread, and a wake-up of the worker when that
    /// makes a batch's worth in flight. Zero when the queue is full.
    #[inline(never)]
    fn take_credits(&self) -> usize {
        let chunk = self.credit_chunk as i64;
        let before = self.credits.fetch_sub(chunk, Ordering::AcqRel);
        // The roots' reserve stays: a burst of children cannot take the last places.
        let got = (before - self.root_reserve).clamp(0, chunk);
        if got < chunk {
            self.credits.fetch_add(chunk - got, Ordering::AcqRel);
        }
        let capacity = self.settings.queue_capacity.max(1) as i64;
        let in_flight_before = capacity - before;
        let in_flight_after = in_flight_before + got;
        let wake_at = self.wake_at as i64;
        if got > 0 && in_flight_before / wake_at != in_flight_after / wake_at {
            self.worker.unpark();
        }
        got as usize
    }

    /// One place from the roots' reserve, when the queue is otherwise full.
    #[cold]
    fn take_reserved_credit(&self) -> bool {
        let before = self.credits.fetch_sub(1, Ordering::AcqRel);
        if before < 1 {
            self.credits.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// A record that did not get in: dropped (here, on the caller's thread: it is plain
    /// data) and counted; the bytes it was charged go back to the budget.
    fn dropped(&self, record: Record, charged: usize) {
        let n = record.count();
        self.refused(n);
        drop(record);
        if charged > 0 {
            self.bytes.give(charged);
        }
        if self
            .counters
            .dropped_queue_full
            .fetch_add(n, Ordering::Relaxed)
            == 0
        {
            tracing::warn!(
                capacity = self.settings.queue_capacity,
                max_bytes = self.settings.max_queue_bytes,
                "observe: queue full (records or bytes), records are being dropped (counted in \
                 stats); the application produces faster than the pipeline can take"
            );
        }
        self.worker.unpark();
    }

    /// Records in the rings and set aside now (a batch as its entries).
    fn held(&self) -> u64 {
        let in_rings: usize = self
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| r.len())
            .sum();
        let orphans = self
            .orphans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let extra = self.counters.batched_extra.load(Ordering::Acquire).max(0) as u64;
        (in_rings + orphans) as u64 + extra
    }

    /// Records in flight, as the credits count them (cheap, approximate).
    fn in_flight(&self) -> usize {
        let capacity = self.settings.queue_capacity.max(1) as i64;
        (capacity - self.credits.load(Ordering::Relaxed)).max(0) as usize
    }

    /// Deterministic per-trace sampling, as OpenTelemetry's `TraceIdRatioBased`.
    pub(crate) fn sampled(&self, id: TraceId) -> bool {
        (id.0 as u64 >> 1) < self.sample_threshold || self.settings.sample_rate >= 1.0
    }

    pub(crate) fn base_attributes(&self) -> &Arc<TraceAttributes> {
        &self.base_attributes
    }

    pub(crate) fn capture_io(&self) -> bool {
        self.settings.capture_io
    }

    /// Largest encoded observation: also what a stream's output may buffer.
    pub(crate) fn max_record_bytes(&self) -> usize {
        self.settings.max_record_bytes
    }
}
