//! The bounded queue between the instrumented code and the background worker.
//!
//! The hot side is [`Pipeline::push`]: a [`Finished`] record, plain data held by value, is
//! written into the calling thread's own ring (see [`ring`]): no allocation, no lock, no
//! atomic read-modify-write per record; the worker is woken only when a batch is ready. When
//! the queue is full the record is dropped and counted; the caller never waits. The queue's
//! memory is bounded by `queue_capacity` records of a hundred-odd bytes
//! ([`PipelineSettings::queue_bytes`]), plus what captured inputs, outputs and updates hold.
//!
//! The cold side is the worker thread: it drains the queue in batches (by count, by bytes and
//! by interval), turns each record into the exporters' [`Observation`] (timestamps from the
//! cycle counter, the pipeline's base attributes on traces that were never updated), applies
//! the user's mask and the size limits, and hands each batch to every exporter.
//!
//! `flush` and `shutdown` are commands to the worker, answered on a channel, so each returns
//! within its timeout and reports what was sent, dropped and left pending.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

mod ring;
use ring::{Producer, Ring};

use crate::clock::Ticks;
use crate::export::{Batch, ExportError, Exporter};
use crate::limits;
use crate::model::{
    Json, Level, Observation, ObservationDetails, ObservationType, Score, SpanId, TraceAttributes,
    TraceId,
};

/// A function applied to every input, output and metadata value before it leaves the process
/// (to redact secrets or personal data).
pub type Mask = Arc<dyn Fn(Json) -> Json + Send + Sync>;

/// How the pipeline batches, samples and bounds its memory.
#[derive(Clone)]
pub struct PipelineSettings {
    /// Records the queue holds before new ones are dropped (and counted).
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
    /// Largest encoded observation; over it the largest of input, output and metadata is
    /// replaced by a truncation marker.
    pub max_record_bytes: usize,
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
            .finish()
    }
}

/// Counts of what happened to records, readable at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records accepted onto the queue.
    pub queued: u64,
    /// Records every exporter accepted.
    pub exported: u64,
    /// Records dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Records dropped because the pipeline was shut down.
    pub dropped_after_shutdown: u64,
    /// Records at least one exporter failed to send (after its own retries).
    pub failed: u64,
    /// Records whose largest field was replaced by a truncation marker.
    pub truncated: u64,
    /// Retries the exporters made.
    pub retried: u64,
}

impl Stats {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_after_shutdown
    }
}

/// Keeps a value on a cache line of its own, so that a counter the instrumented threads bump
/// does not share a line with what the worker writes.
#[derive(Default)]
#[repr(align(128))]
struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Default)]
struct Counters {
    /// Records the worker took from the rings (it alone writes this); what was queued is
    /// this plus what the rings hold.
    taken: AtomicU64,
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    failed: AtomicU64,
    truncated: AtomicU64,
    retried: AtomicU64,
}

/// What `flush` and `shutdown` report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Counters at the moment the call returned.
    pub stats: Stats,
    /// Records still queued or in flight when the call returned.
    pub pending: u64,
    /// True when the timeout ran out before the worker confirmed.
    pub timed_out: bool,
}

/// A finished observation as the instrumented thread leaves it: plain data, no allocation of
/// its own, the clock readings still raw. The worker turns it into an [`Observation`].
pub(crate) struct Finished {
    pub(crate) trace_id: TraceId,
    pub(crate) id: SpanId,
    /// The parent's id, 0 for a root (ids are never 0): 8 bytes rather than an option's 16
    /// keep the record, and so each queue slot, within 128 bytes.
    pub(crate) parent_id: u64,
    pub(crate) name: std::borrow::Cow<'static, str>,
    pub(crate) kind: ObservationType,
    pub(crate) level: Level,
    pub(crate) start: Ticks,
    pub(crate) end: Ticks,
    /// The input and output `#[observe]` captured (an update's input, in `details`, wins over
    /// the captured one; the captured output wins over an update's).
    pub(crate) captured: Captured,
    pub(crate) details: Option<Box<ObservationDetails>>,
    /// The trace's attributes when the observation ended; `None` while the trace was never
    /// updated: the worker then stamps the pipeline's base attributes.
    pub(crate) attributes: Option<Arc<TraceAttributes>>,
}

/// Where a record's captured input and output are.
pub(crate) enum Captured {
    /// Nothing captured.
    None,
    /// In the producing thread's ring, as JSON bytes: input then output, from a wrapping
    /// byte position (low 32 bits), with their lengths (16 bits each). So the bytes travel
    /// with the record and the allocation that held them is freed on the thread that made
    /// it: a heap block freed on another thread contends for the allocator's lock.
    InRing(u64),
    /// On the heap: too big for the ring, or already taken out of it by the worker.
    Heap(Box<(Option<Json>, Option<Json>)>),
}

/// What flows from the instrumented code to the worker.
pub(crate) enum Record {
    /// A finished observation, by value.
    Observation(Finished),
    /// A score (rare: boxed, to keep the queue's slots small).
    Score(Box<Score>),
}

// Past 128 bytes the compiler moves a record through `memcpy` calls (and each slot grows).
const _: () = assert!(std::mem::size_of::<Record>() <= 128);

/// Bytes one queued record takes.
const SLOT_BYTES: usize = std::mem::size_of::<Record>();

/// Slots in one thread's ring, at most: 128 KiB of records. Smaller when the whole queue is.
const RING_SLOTS: usize = 1024;

enum Command {
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// The shared half of a client: queue, counters, settings and the worker's address.
pub(crate) struct Pipeline {
    /// Tells this pipeline's rings apart in a thread's list of rings.
    id: u64,
    /// Every thread's ring, for the worker to drain; locked by a thread once, to register.
    rings: Mutex<Vec<Arc<Ring>>>,
    /// Records that may still be queued: `queue_capacity` less those in flight. Threads take
    /// credits in chunks of `credit_chunk`; the worker gives them back as it drains.
    credits: OwnLine<AtomicI64>,
    credit_chunk: usize,
    /// Records pushed where a ring could not be used (the thread is exiting).
    orphans: Mutex<Vec<Record>>,
    counters: Counters,
    settings: PipelineSettings,
    base_attributes: Arc<TraceAttributes>,
    sample_threshold: u64,
    wake_at: usize,
    closed: AtomicBool,
    worker: Thread,
    commands: Sender<Command>,
    join: Mutex<Option<JoinHandle<()>>>,
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
                Worker::new(pipeline, exporters, receiver).run();
            })
            .expect("spawning the observe worker thread");
        let rate = settings.sample_rate.clamp(0.0, 1.0);
        let wake_at = settings
            .max_batch_records
            .clamp(1, settings.queue_capacity.max(1));
        static IDS: AtomicU64 = AtomicU64::new(1);
        let capacity = settings.queue_capacity.max(1);
        let pipeline = Arc::new(Pipeline {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            rings: Mutex::new(Vec::new()),
            credits: OwnLine(AtomicI64::new(capacity as i64)),
            // A thread holds at most this many credits unused: small against the capacity.
            credit_chunk: (capacity / 64).clamp(1, 32),
            orphans: Mutex::new(Vec::new()),
            counters: Counters::default(),
            base_attributes: Arc::new(settings.base_attributes.clone()),
            sample_threshold: (rate * (1u64 << 63) as f64) as u64,
            wake_at,
            settings,
            closed: AtomicBool::new(false),
            worker: join.thread().clone(),
            commands,
            join: Mutex::new(Some(join)),
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
        if self.closed.load(Ordering::Relaxed) {
            self.counters
                .dropped_after_shutdown
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Err(record) = ring::push_fast(self.id, record) {
            self.push_slow(record);
        }
    }

    /// Queues a finished observation with the input and output it captured: their bytes go
    /// into this thread's ring when they fit (see [`Captured::InRing`]).
    #[inline]
    pub(crate) fn push_observation(
        &self,
        mut record: Finished,
        input: Option<Json>,
        output: Option<Json>,
    ) {
        if input.is_some() || output.is_some() {
            record.captured = match ring::place(self.id, input.as_ref(), output.as_ref()) {
                Some(position) => Captured::InRing(position),
                None => Captured::Heap(Box::new((input, output))),
            };
        }
        self.push(Record::Observation(record));
    }

    /// Everything `push_fast` leaves: a first record from this thread (a new ring), another
    /// pipeline's producer first in line, no credit left, a full ring, a thread that is
    /// exiting.
    #[cold]
    #[inline(never)]
    fn push_slow(&self, record: Record) {
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
                    producer.take_back(&mut record);
                    producer.continue_in(self.register_ring());
                    producer.push(record).err()
                }
                Ok(()) => None,
            }
        });
        match outcome {
            Some(None) => {}
            Some(Some(record)) => self.dropped(record),
            None => {
                // This thread's storage is gone (it is exiting): set the record aside.
                let record = record.take().expect("not taken when storage is gone");
                let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
                if orphans.len() < RING_SLOTS {
                    orphans.push(record);
                } else {
                    drop(orphans);
                    self.dropped(record);
                }
            }
        }
    }

    /// A new ring for the calling thread.
    fn register_ring(&self) -> Arc<Ring> {
        let ring = Arc::new(Ring::new(
            RING_SLOTS.min(self.settings.queue_capacity.max(1)),
        ));
        self.rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ring.clone());
        ring
    }

    /// Credits for the next few records of a thread, and a wake-up of the worker when that
    /// makes a batch's worth in flight. Zero when the queue is full.
    #[inline(never)]
    fn take_credits(&self) -> usize {
        let chunk = self.credit_chunk as i64;
        let before = self.credits.fetch_sub(chunk, Ordering::AcqRel);
        let got = before.clamp(0, chunk);
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

    /// A record that did not get in: dropped (here, on the caller's thread: it is plain
    /// data) and counted.
    fn dropped(&self, record: Record) {
        drop(record);
        if self
            .counters
            .dropped_queue_full
            .fetch_add(1, Ordering::Relaxed)
            == 0
        {
            tracing::warn!(
                capacity = self.settings.queue_capacity,
                "observe: queue full, records are being dropped (counted in stats); \
                 the destination is slower than the application produces, or unreachable"
            );
        }
        self.worker.unpark();
    }

    /// Records in the rings and set aside now.
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
        (in_rings + orphans) as u64
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

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            queued: c.taken.load(Ordering::Relaxed) + self.held(),
            exported: c.exported.load(Ordering::Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
            dropped_after_shutdown: c.dropped_after_shutdown.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
        }
    }

    fn report(&self, timed_out: bool) -> FlushReport {
        let stats = self.stats();
        FlushReport {
            stats,
            pending: stats.queued - stats.exported - stats.failed,
            timed_out,
        }
    }

    fn command(&self, make: impl FnOnce(Sender<()>) -> Command, timeout: Duration) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.commands.send(make(tx)).is_err() {
            return true; // the worker is gone: nothing to wait for
        }
        self.worker.unpark();
        rx.recv_timeout(timeout).is_ok()
    }

    /// Waits until everything queued before the call is exported, or the timeout.
    pub(crate) fn flush(&self, timeout: Duration) -> FlushReport {
        let ok = self.command(Command::Flush, timeout);
        self.report(!ok)
    }

    /// Flushes, stops the worker and refuses new records. Idempotent.
    pub(crate) fn shutdown(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let ok = self.command(Command::Shutdown, timeout);
        self.closed.store(true, Ordering::Relaxed);
        if ok {
            let join = self
                .join
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(join) = join {
                // The worker confirmed; it only has to return now.
                while !join.is_finished() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
        self.report(!ok)
    }
}

/// The background side: owns the exporters.
struct Worker {
    pipeline: Arc<Pipeline>,
    exporters: Vec<Box<dyn Exporter>>,
    commands: Receiver<Command>,
    logged_failure: bool,
    /// The last trace attributes masked, and their masked copy: observations of one trace
    /// share a snapshot, so the mask runs once per snapshot, not once per observation.
    masked_trace: Option<(Arc<TraceAttributes>, Arc<TraceAttributes>)>,
    /// Boxes of the last exported batch, emptied, for the next one: a batch boxes its
    /// observations (that is the exporters' interface) without a malloc and a free each.
    #[allow(clippy::vec_box)] // the boxes are the point: they are what gets reused
    spare: Vec<Box<Observation>>,
    /// Records taken from the rings, not yet in a batch.
    staged: std::collections::VecDeque<Record>,
    /// The rings as last listed.
    rings: Vec<Arc<Ring>>,
}

impl Worker {
    fn new(
        pipeline: Arc<Pipeline>,
        exporters: Vec<Box<dyn Exporter>>,
        commands: Receiver<Command>,
    ) -> Self {
        Worker {
            pipeline,
            exporters,
            commands,
            logged_failure: false,
            masked_trace: None,
            spare: Vec::new(),
            staged: std::collections::VecDeque::new(),
            rings: Vec::new(),
        }
    }

    fn run(mut self) {
        let interval = self.pipeline.settings.flush_interval;
        let mut last_export = Instant::now();
        loop {
            while let Ok(command) = self.commands.try_recv() {
                match command {
                    Command::Flush(reply) => {
                        self.drain_all();
                        for e in &mut self.exporters {
                            if let Err(err) = e.flush() {
                                tracing::warn!("observe: {err}");
                            }
                        }
                        let _ = reply.send(());
                    }
                    Command::Shutdown(reply) => {
                        self.pipeline.closed.store(true, Ordering::Relaxed);
                        self.drain_all();
                        for e in &mut self.exporters {
                            if let Err(err) = e.shutdown() {
                                tracing::warn!("observe: {err}");
                            }
                        }
                        let _ = reply.send(());
                        return;
                    }
                }
            }
            // Producers wake the worker when a batch's worth is in flight (or a ring is
            // full); otherwise the interval does.
            let full = self.pipeline.in_flight() >= self.pipeline.wake_at;
            if full || last_export.elapsed() >= interval {
                self.drain_all();
                last_export = Instant::now();
            }
            if self.commands.is_empty() {
                thread::park_timeout(interval.saturating_sub(last_export.elapsed()));
            }
        }
    }

    /// Exports everything queued now, batch after batch.
    fn drain_all(&mut self) {
        while let Some(batch) = self.next_batch() {
            self.export(batch);
        }
    }

    fn next_batch(&mut self) -> Option<Batch> {
        let pipeline = self.pipeline.clone();
        let settings = &pipeline.settings;
        let mut batch = Batch::default();
        let mut bytes = 0usize;
        while batch.len() < settings.max_batch_records && bytes < settings.max_batch_bytes {
            if self.staged.is_empty() {
                self.stage();
            }
            let Some(record) = self.staged.pop_front() else {
                break;
            };
            match record {
                Record::Observation(finished) => {
                    let obs = finished.into_observation(&self.pipeline);
                    let mut obs = match self.spare.pop() {
                        Some(mut spare) => {
                            *spare = obs;
                            spare
                        }
                        None => Box::new(obs),
                    };
                    if let Some(mask) = &settings.mask {
                        limits::mask(&mut obs, mask.as_ref());
                        obs.trace = mask_trace(&mut self.masked_trace, &obs.trace, mask.as_ref());
                    }
                    if limits::truncate(&mut obs, settings.max_record_bytes) {
                        self.pipeline
                            .counters
                            .truncated
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    bytes += limits::estimated_size(&obs);
                    batch.observations.push(obs);
                }
                Record::Score(score) => {
                    bytes += 256;
                    batch.scores.push(score);
                }
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// Takes up to a batch's worth of records from the threads' rings (and the records set
    /// aside) into `staged`, and gives their credits back.
    fn stage(&mut self) {
        let pipeline = &self.pipeline;
        let want = pipeline.settings.max_batch_records.max(1);
        {
            let mut rings = pipeline
                .rings
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Rings whose thread exited are forgotten once empty; their unused credits
            // come back.
            let mut returned = 0;
            rings.retain(|ring| {
                let finished = ring.finished();
                if finished {
                    returned += ring.take_unused_credits();
                }
                !finished
            });
            if returned > 0 {
                pipeline
                    .credits
                    .fetch_add(returned as i64, Ordering::AcqRel);
            }
            self.rings.clear();
            self.rings.extend(rings.iter().cloned());
        }
        let mut taken = 0;
        // In the order the rings were made: a thread's full ring before the one it went on
        // in, so that each thread's records stay in the order they ended.
        for ring in &self.rings {
            let room = want.saturating_sub(self.staged.len());
            if room == 0 {
                break;
            }
            let staged = &mut self.staged;
            taken += ring.pop_into(room, |record| staged.push_back(record));
        }
        let room = want.saturating_sub(self.staged.len());
        if room > 0 {
            let mut orphans = pipeline
                .orphans
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = orphans.len().min(room);
            taken += n;
            self.staged.extend(orphans.drain(..n));
        }
        if taken > 0 {
            pipeline
                .counters
                .taken
                .fetch_add(taken as u64, Ordering::Relaxed);
            pipeline.credits.fetch_add(taken as i64, Ordering::AcqRel);
        }
    }

    fn export(&mut self, mut batch: Batch) {
        let n = batch.len() as u64;
        let mut failed = false;
        for exporter in &mut self.exporters {
            let before = exporter.retries();
            let result = exporter.export(&batch);
            let retried = exporter.retries().saturating_sub(before);
            if retried > 0 {
                self.pipeline
                    .counters
                    .retried
                    .fetch_add(retried, Ordering::Relaxed);
            }
            if let Err(err) = result {
                failed = true;
                log_failure(&mut self.logged_failure, &err);
            }
        }
        let counter = if failed {
            &self.pipeline.counters.failed
        } else {
            &self.pipeline.counters.exported
        };
        counter.fetch_add(n, Ordering::Relaxed);
        self.keep_boxes(&mut batch.observations);
    }

    /// Empties the batch's boxes (dropping what they held now, not at reuse) and keeps them.
    #[allow(clippy::vec_box)] // `Batch` holds boxes; they are what gets reused
    fn keep_boxes(&mut self, observations: &mut Vec<Box<Observation>>) {
        let keep = self
            .pipeline
            .settings
            .max_batch_records
            .saturating_sub(self.spare.len());
        for mut obs in observations.drain(..).take(keep) {
            *obs = Observation::placeholder(&self.pipeline.base_attributes);
            self.spare.push(obs);
        }
    }
}

/// The trace's metadata, input and output with the mask applied (they leave the process on
/// every observation too), reusing the previous result for the same snapshot.
fn mask_trace(
    cache: &mut Option<(Arc<TraceAttributes>, Arc<TraceAttributes>)>,
    attrs: &Arc<TraceAttributes>,
    mask: &(dyn Fn(Json) -> Json + Send + Sync),
) -> Arc<TraceAttributes> {
    if let Some((original, masked)) = cache {
        if Arc::ptr_eq(original, attrs) {
            return masked.clone();
        }
    }
    if attrs.metadata.is_empty() && attrs.input.is_none() && attrs.output.is_none() {
        return attrs.clone();
    }
    let mut copy = TraceAttributes::clone(attrs);
    for slot in [&mut copy.input, &mut copy.output] {
        if let Some(v) = slot.take() {
            *slot = Some(mask(v));
        }
    }
    for v in copy.metadata.values_mut() {
        let taken = std::mem::replace(v, Json::from_raw_unchecked("null"));
        *v = mask(taken);
    }
    let masked = Arc::new(copy);
    *cache = Some((attrs.clone(), masked.clone()));
    masked
}

/// The first failure is an error in the log; later ones are debug lines (the counters keep
/// the tally), so a down server does not flood the application's log.
fn log_failure(logged: &mut bool, err: &ExportError) {
    if *logged {
        tracing::debug!("observe: export failed: {err}");
    } else {
        tracing::error!("observe: export failed: {err}");
        *logged = true;
    }
}

impl Finished {
    /// The record exporters see: wall-clock timestamps, captured input and output merged into
    /// the details, attributes stamped.
    fn into_observation(self, pipeline: &Pipeline) -> Observation {
        let mut details = self.details;
        // The ring's bytes were turned into `Heap` when the worker took the record.
        if let Captured::Heap(captured) = self.captured {
            let (input, output) = *captured;
            let d = details.get_or_insert_with(Default::default);
            if d.input.is_none() {
                d.input = input;
            }
            if output.is_some() {
                d.output = output;
            }
        }
        Observation {
            trace_id: self.trace_id,
            id: self.id,
            parent_id: (self.parent_id != 0).then_some(SpanId(self.parent_id)),
            name: self.name,
            kind: self.kind,
            level: self.level,
            start: self.start.to_timestamp(),
            end: self.end.to_timestamp(),
            details,
            trace: self
                .attributes
                .unwrap_or_else(|| pipeline.base_attributes.clone()),
        }
    }
}

impl Observation {
    /// An empty record that only holds a box's place until it is reused.
    fn placeholder(attributes: &Arc<TraceAttributes>) -> Observation {
        Observation {
            trace_id: TraceId(0),
            id: SpanId(0),
            parent_id: None,
            name: std::borrow::Cow::Borrowed(""),
            kind: ObservationType::Span,
            level: Level::Default,
            start: crate::model::Timestamp(0),
            end: crate::model::Timestamp(0),
            details: None,
            trace: attributes.clone(),
        }
    }
}
