//! What flows from the instrumented threads to the worker: a [`Record`] in a ring slot,
//! holding a [`Finished`] observation by value, a score, or a [`Batch`] of a thread's light
//! [`Entry`]s (see [`super::local`]); and what each is charged against the byte budget.

use std::sync::Arc;

use crate::clock::Ticks;
use crate::model::{
    Json, Level, ObservationDetails, ObservationType, Score, SpanId, TraceAttributes, TraceId,
};

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
    /// On the heap, made JSON on the caller: too big for the ring, or no ring to place it
    /// in; with the bytes the capture was charged when it was queued (raw values, see
    /// `crate::capture_buf`, take other room than the JSON the worker makes of them).
    Heap(Box<(Option<Json>, Option<Json>, usize)>),
    /// Taken out of the ring (by the worker, or by the producer before the record moves to
    /// another ring) and merged into the details as JSON (see [`Finished::settle`]), with the record's whole charge as it was queued: the details
    /// now hold the JSON, which is not what was charged.
    Settled(usize),
}

/// What flows from the instrumented code to the worker.
pub(crate) enum Record {
    /// A finished observation, by value.
    Observation(Finished),
    /// A score (rare: boxed, to keep the queue's slots small).
    Score(Box<Score>),
    /// Light observations one thread buffered (see [`super::local`]): one slot, one credit, but
    /// charged and counted as each of its entries.
    Batch(Batch),
}

// Past 128 bytes the compiler moves a record through `memcpy` calls (and each slot grows).
const _: () = assert!(std::mem::size_of::<Record>() <= 128);

/// Bytes one queued record takes.
pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Record>();

/// What one record costs the byte budget besides its text: its queue slot, and the boxed
/// [`crate::model::Observation`] the worker makes of it.
const RECORD_OVERHEAD: usize = SLOT_BYTES + std::mem::size_of::<crate::model::Observation>() + 64;

impl Record {
    /// True for a trace's root observation: the record that makes the others a tree (it
    /// ends last, with the trace's name), for which the queue keeps a reserve.
    pub(crate) fn is_root(&self) -> bool {
        matches!(self, Record::Observation(finished) if finished.parent_id == 0)
    }

    /// The bytes this record is charged against `max_queue_bytes`. The producer and the
    /// worker compute the same figure (captured input and output count by their length
    /// whether they sit in the ring or on the heap), so what is charged is what comes back.
    pub(crate) fn charge(&self) -> usize {
        match self {
            Record::Observation(finished) => finished.charge(),
            Record::Score(score) => Record::score_charge(score),
            // What each entry will be charged as the observation the worker makes of it.
            Record::Batch(batch) => batch.entries.len() * Batch::ENTRY_CHARGE,
        }
    }

    /// What a queued score is charged.
    pub(crate) fn score_charge(score: &Score) -> usize {
        RECORD_OVERHEAD
            + score.name.len()
            + score.id.len()
            + score.comment.as_ref().map_or(0, String::len)
    }

    /// The records this one counts as: its entries for a batch, else one.
    #[inline]
    pub(crate) fn count(&self) -> u64 {
        match self {
            Record::Batch(batch) => batch.entries.len() as u64,
            _ => 1,
        }
    }
}

impl Finished {
    /// What this record is charged (see [`Record::charge`]).
    pub(crate) fn charge(&self) -> usize {
        let captured = match &self.captured {
            // What the caller charged for its capture, so the worker gives back exactly that.
            Captured::Heap(c) => c.2,
            Captured::Settled(charge) => return *charge,
            // Only `push_observation` makes these, and it reckons them itself.
            Captured::InRing(_) | Captured::None => 0,
        };
        self.charge_without_capture() + captured
    }

    /// Puts captured input and output, charged `captured` bytes when queued, straight into
    /// the details (no box of their own on the way), and remembers the whole charge.
    #[inline]
    pub(crate) fn settle(&mut self, input: Option<Json>, output: Option<Json>, captured: usize) {
        let charge = self.charge_without_capture() + captured;
        merge_captured(&mut self.details, input, output);
        self.captured = Captured::Settled(charge);
    }

    /// [`Record::charge`] less the captured input and output. Inlined: it is on every
    /// observation's path, and out of line its call cost as much as its body.
    #[inline]
    pub(crate) fn charge_without_capture(&self) -> usize {
        let name = match &self.name {
            std::borrow::Cow::Owned(name) => name.len(),
            std::borrow::Cow::Borrowed(_) => 0,
        };
        RECORD_OVERHEAD + name + self.details.as_deref().map_or(0, details_bytes)
    }
}

/// Merges captured input and output into `details`: an input set by an update wins over
/// the captured one; the captured output wins over an update's.
#[inline]
pub(crate) fn merge_captured(
    details: &mut Option<Box<ObservationDetails>>,
    input: Option<Json>,
    output: Option<Json>,
) {
    let d = details.get_or_insert_with(Default::default);
    if d.input.is_none() {
        d.input = input;
    }
    if output.is_some() {
        d.output = output;
    }
}

/// The heap bytes an observation's details hold, roughly (the text they carry).
fn details_bytes(d: &ObservationDetails) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let json = |j: &Option<Json>| j.as_ref().map_or(0, Json::len);
    std::mem::size_of::<ObservationDetails>()
        + json(&d.input)
        + json(&d.output)
        + json(&d.model_parameters)
        + d.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + 64)
            .sum::<usize>()
        + text(&d.status_message)
        + text(&d.model)
        + text(&d.prompt_name)
        + text(&d.version)
        + d.usage.as_ref().map_or(0, |u| u.0.len() * 48)
        + d.cost.as_ref().map_or(0, |c| c.0.len() * 48)
}

/// One light observation: what the worker needs to make its `Observation`, besides the
/// trace (the same for the whole batch).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) id: SpanId,
    /// 0 for none (ids are never 0).
    pub(crate) parent_id: u64,
    pub(crate) name: &'static str,
    pub(crate) kind: ObservationType,
    pub(crate) level: Level,
    pub(crate) start: Ticks,
    pub(crate) end: Ticks,
}

/// A thread's buffered entries of one trace, as one ring record.
pub(crate) struct Batch {
    pub(crate) trace_id: TraceId,
    /// The trace's attributes when the batch was handed over (`None`: never updated, the
    /// worker stamps the base attributes).
    pub(crate) attributes: Option<Arc<TraceAttributes>>,
    pub(crate) entries: Vec<Entry>,
}

impl Batch {
    /// What each entry is charged: the observation the worker makes of it.
    pub(crate) const ENTRY_CHARGE: usize = RECORD_OVERHEAD;
}
