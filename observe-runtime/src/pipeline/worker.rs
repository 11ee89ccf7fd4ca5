//! The pipeline's worker thread: drains the per-thread rings in batches, turns each record
//! into an [`Observation`] once (timestamps from the cycle counter, the pipeline's base
//! attributes on traces that were never updated), applies the user's mask and the size
//! limits, and offers the same batch to every destination's queue. It never waits on a
//! destination: sending, retrying and counting are each destination's own business (see
//! [`super::destination`]).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::destination::SharedBatch;
use super::record::merge_captured;
use super::recycle::{self, HeldTrace, Spare, Spares};
use super::{Batch as LightBatch, Captured, Entry, Finished, Pipeline, Record};
use crate::clock;
use crate::export::Batch;
use crate::limits;
use crate::model::{Json, Observation, SpanId, TraceAttributes, TraceId};

/// Batches' worth of observation boxes kept for reuse (see [`recycle`]): enough for the
/// batch being sent and the next ones while the worker makes more.
const SPARE_BATCHES: usize = 4;

/// What `flush` and `shutdown` ask of the worker.
pub(crate) enum Command {
    /// Hand everything queued to the destinations, then reply with one flush marker per
    /// destination.
    Flush(Sender<Vec<Receiver<()>>>),
    /// Hand everything queued to the destinations, close their queues, reply and stop.
    Shutdown(Sender<()>),
}

/// The background side: owns the batching.
pub(crate) struct Worker {
    pipeline: Arc<Pipeline>,
    commands: Receiver<Command>,
    /// The last trace attributes masked, and their masked copy: observations of one trace
    /// share a snapshot, so the mask runs once per snapshot, not once per observation.
    masked_trace: Option<(Arc<TraceAttributes>, Arc<TraceAttributes>)>,
    /// Records taken from the rings, not yet in a batch (a thread's light batch whole).
    staged: VecDeque<Record>,
    /// How many records `staged` counts as (a light batch as its entries).
    staged_records: usize,
    /// Boxes of sent observations to fill again, taken from `returned` when empty.
    spares: Vec<Spare>,
    /// Where the destinations give the boxes of the batches they are done with back.
    returned: Arc<Spares>,
    /// References to a trace snapshot that came back with the boxes, for the next light
    /// entries of that snapshot (see [`recycle`]).
    held: Option<HeldTrace>,
    /// Field limits, with the trace snapshots already brought within them.
    limits: limits::Limits,
}

impl Worker {
    pub(crate) fn new(pipeline: Arc<Pipeline>, commands: Receiver<Command>) -> Self {
        let max_batch_records = pipeline.settings.max_batch_records.max(1);
        Worker {
            limits: limits::Limits::new(pipeline.settings.max_record_bytes),
            pipeline,
            commands,
            masked_trace: None,
            staged: VecDeque::new(),
            staged_records: 0,
            spares: Vec::new(),
            held: None,
            returned: Arc::new(Spares::new(SPARE_BATCHES * max_batch_records)),
        }
    }

    pub(crate) fn run(mut self) {
        let interval = self.pipeline.settings.flush_interval;
        let mut last_export = Instant::now();
        loop {
            while let Ok(command) = self.commands.try_recv() {
                match command {
                    Command::Flush(reply) => {
                        self.drain_all();
                        let markers = self
                            .pipeline
                            .destinations
                            .iter()
                            .map(|d| d.flush_marker())
                            .collect();
                        let _ = reply.send(markers);
                    }
                    Command::Shutdown(reply) => {
                        self.drain_all();
                        for d in &self.pipeline.destinations {
                            d.close();
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

    /// Hands everything queued now to the destinations, batch after batch.
    fn drain_all(&mut self) {
        while let Some(batch) = self.next_batch() {
            let batch = Arc::new(batch);
            for d in &self.pipeline.destinations {
                d.offer(&batch);
            }
        }
    }

    fn next_batch(&mut self) -> Option<SharedBatch> {
        let pipeline = self.pipeline.clone();
        let mut out = Assembly::default();
        while out.has_room(&pipeline) {
            if self.staged.is_empty() {
                self.stage();
            }
            let Some(record) = self.staged.pop_front() else {
                break;
            };
            match record {
                Record::Observation(finished) => {
                    self.staged_records -= 1;
                    out.charge += finished.charge();
                    let obs = finished.into_observation(&pipeline, &mut self.held);
                    self.admit(&pipeline, obs, &mut out);
                }
                Record::Batch(light) => self.take_light(&pipeline, light, &mut out),
                Record::Score(mut score) => {
                    self.staged_records -= 1;
                    out.charge += Record::score_charge(&score);
                    if self.limits.score(&mut score) {
                        pipeline.counters.truncated.fetch_add(1, Ordering::Relaxed);
                    }
                    out.bytes += 256;
                    out.batch.scores.push(score);
                }
            }
        }
        let shared = SharedBatch {
            batch: out.batch,
            charge: out.charge,
            budget: pipeline.bytes.clone(),
            spares: self.returned.clone(),
        };
        (!shared.batch.is_empty()).then_some(shared)
    }

    /// Turns a thread's light entries into observations straight from the batch (no
    /// `Finished` record in between), as many as the batch being made has room for; the
    /// rest go back to the front of `staged`.
    ///
    /// The entries share one trace snapshot and have no details, so the mask and the limits
    /// of the trace run once for the batch, and what is left per entry is its name's length
    /// check and its size from its name.
    fn take_light(&mut self, pipeline: &Pipeline, mut light: LightBatch, out: &mut Assembly) {
        let original = light
            .attributes
            .take()
            .unwrap_or_else(|| pipeline.base_attributes.clone());
        let mut trace = match &pipeline.settings.mask {
            Some(mask) => mask_trace(&mut self.masked_trace, &original, mask.as_ref()),
            None => original.clone(),
        };
        if self.limits.trace(&mut trace) {
            pipeline.counters.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let root_io = limits::trace_io_size(&trace);
        let wall = clock::WallClock::get();
        let mut used = 0;
        for entry in &light.entries {
            if !out.has_room(pipeline) {
                break;
            }
            out.charge += LightBatch::ENTRY_CHARGE;
            let shared = recycle::share(&mut self.held, &trace);
            let mut obs = entry.observation(light.trace_id, shared, wall);
            if self.limits.name(&mut obs.name) {
                pipeline.counters.truncated.fetch_add(1, Ordering::Relaxed);
            }
            out.bytes +=
                limits::bare_size(&obs.name, if entry.parent_id == 0 { root_io } else { 0 });
            self.push_boxed(obs, out);
            used += 1;
        }
        self.staged_records -= used;
        if used < light.entries.len() {
            light.entries.drain(..used);
            // The snapshot as it came: the rest are masked and limited when they are taken.
            light.attributes = Some(original);
            self.staged.push_front(Record::Batch(light));
        }
    }

    /// Masks and limits `obs` and adds it to the batch being made, in a spare box when
    /// there is one.
    #[inline]
    fn admit(&mut self, pipeline: &Pipeline, mut obs: Observation, out: &mut Assembly) {
        if let Some(mask) = &pipeline.settings.mask {
            limits::mask(&mut obs, mask.as_ref());
            obs.trace = mask_trace(&mut self.masked_trace, &obs.trace, mask.as_ref());
        }
        if self.limits.observation(&mut obs) {
            pipeline.counters.truncated.fetch_add(1, Ordering::Relaxed);
        }
        out.bytes += limits::estimated_size(&obs);
        self.push_boxed(obs, out);
    }

    /// Adds `obs` to the batch being made, in a spare box when there is one.
    #[inline]
    fn push_boxed(&mut self, obs: Observation, out: &mut Assembly) {
        if self.spares.is_empty() {
            self.returned.take_all(&mut self.spares, &mut self.held);
        }
        out.batch
            .observations
            .push(recycle::boxed(self.spares.pop(), obs));
    }

    /// Takes up to a batch's worth of records from the threads' rings (and the records set
    /// aside) into `staged`, and gives their credits back.
    fn stage(&mut self) {
        let pipeline = &self.pipeline;
        let want = pipeline.settings.max_batch_records.max(1);
        // Held while popping: `&mut Consumer` is how the worker is the rings' one reader.
        // Threads lock it only to register a ring, rarely.
        let mut rings = pipeline
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Rings whose thread exited are forgotten once empty; their unused credits come back.
        let mut returned = 0;
        rings.retain_mut(|ring| {
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
        // Slots taken (what credits count), and the records they held (a batch counts, and
        // is staged, as each of its entries).
        let mut taken = 0;
        let mut records = 0u64;
        // In the order the rings were made: a thread's full ring before the one it went on
        // in, so that each thread's records stay in the order they ended.
        for ring in rings.iter_mut() {
            let room = want.saturating_sub(self.staged_records + records as usize);
            if room == 0 {
                break;
            }
            let staged = &mut self.staged;
            taken += ring.pop_into(room, |record| records += stage_record(staged, record));
        }
        drop(rings);
        let room = want.saturating_sub(self.staged_records + records as usize);
        if room > 0 {
            let mut orphans = pipeline
                .orphans
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = orphans.len().min(room);
            taken += n;
            for record in orphans.drain(..n) {
                records += stage_record(&mut self.staged, record);
            }
        }
        self.staged_records += records as usize;
        if taken > 0 {
            pipeline
                .counters
                .taken
                .fetch_add(records, Ordering::Relaxed);
            // After `taken` is raised: a batch is never missing from both counts.
            let extra = records - taken as u64;
            if extra > 0 {
                pipeline
                    .counters
                    .batched_extra
                    .fetch_sub(extra as i64, Ordering::AcqRel);
            }
            pipeline.credits.fetch_add(taken as i64, Ordering::AcqRel);
        }
    }
}

/// Puts a record taken from a ring into `staged` (a light batch whole: the batch being made
/// expands it); returns how many records it counts as.
#[inline]
fn stage_record(staged: &mut VecDeque<Record>, record: Record) -> u64 {
    let n = record.count();
    staged.push_back(record);
    n
}

/// The batch being made, and what it holds against the batch's bounds.
#[derive(Default)]
struct Assembly {
    batch: Batch,
    /// Its estimated size, against `max_batch_bytes`.
    bytes: usize,
    /// What its records were charged against the queue's byte budget.
    charge: usize,
}

impl Assembly {
    #[inline]
    fn has_room(&self, pipeline: &Pipeline) -> bool {
        let settings = &pipeline.settings;
        self.batch.len() < settings.max_batch_records && self.bytes < settings.max_batch_bytes
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
        let taken = std::mem::replace(v, Json::from_raw("null"));
        *v = mask(taken);
    }
    let masked = Arc::new(copy);
    *cache = Some((attrs.clone(), masked.clone()));
    masked
}

impl Finished {
    /// The record exporters see: wall-clock timestamps, captured input and output merged into
    /// the details, attributes stamped (the base ones from `held` when it holds them).
    #[inline]
    fn into_observation(self, pipeline: &Pipeline, held: &mut Option<HeldTrace>) -> Observation {
        let mut details = self.details;
        // The ring's bytes were settled into the details when the worker took the record;
        // a capture too big for the ring comes on the heap.
        if let Captured::Heap(captured) = self.captured {
            let (input, output, _) = *captured;
            merge_captured(&mut details, input, output);
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
                .unwrap_or_else(|| recycle::share(held, &pipeline.base_attributes)),
        }
    }
}

impl Entry {
    /// The observation exporters see for this light entry of trace `trace_id`.
    #[inline]
    fn observation(
        &self,
        trace_id: TraceId,
        trace: Arc<TraceAttributes>,
        wall: clock::WallClock,
    ) -> Observation {
        Observation {
            trace_id,
            id: self.id,
            parent_id: (self.parent_id != 0).then_some(SpanId(self.parent_id)),
            name: std::borrow::Cow::Borrowed(self.name),
            kind: self.kind,
            level: self.level,
            start: wall.timestamp(self.start),
            end: wall.timestamp(self.end),
            details: None,
            trace,
        }
    }
}
