//! The boxes of sent observations, given back to the worker to be filled again.
//!
//! An exporter's batch holds each observation in its own `Box`. Allocated on the worker and
//! freed on a destination's thread, every one of them was a `malloc` and a cross-thread
//! `free` (past the allocator's per-thread cache, a locked operation on the worker's arena):
//! about 230 of the 740 instructions the two threads spent per light record (callgrind,
//! BENCHMARKS.md). The last destination done
//! with a batch now drops each observation's contents in place and hands the emptied boxes
//! back; the worker writes the next observations into them. At most `max` boxes wait here,
//! so what this keeps is bounded and small (a few batches' worth) beside the byte budget.
//!
//! The trace snapshot each observation holds comes back the same way: the worker and a
//! destination's thread incrementing and decrementing one `Arc`'s count for every record
//! took a locked operation on each side and moved its cache line between the cores, for
//! what is most often the same snapshot record after record. So the references to one
//! snapshot ([`HeldTrace`]) are kept, not released, with the boxes, and the worker hands them
//! to the next observations of that snapshot instead of cloning it. The pool and the worker
//! each keep one snapshot's references, so at most two snapshots outlive their observations.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, PoisonError};

use crate::export::Batch;
use crate::model::{Observation, TraceAttributes};

/// An observation's allocation, its value dropped.
pub(crate) type Spare = Box<MaybeUninit<Observation>>;

/// The emptied boxes waiting for the worker.
pub(crate) struct Spares {
    pool: Mutex<Pool>,
    max: usize,
}

#[derive(Default)]
struct Pool {
    boxes: Vec<Spare>,
    /// References to the snapshot of the observations given back, kept for the worker.
    held: Option<HeldTrace>,
}

impl Spares {
    /// A pool that keeps at most `max` boxes.
    pub(crate) fn new(max: usize) -> Spares {
        Spares {
            pool: Mutex::new(Pool::default()),
            max,
        }
    }

    /// Takes the batch's observations and drops each, keeping its box while the pool has
    /// room (the rest are freed), and its reference to the trace snapshot when it is the one
    /// the pool holds (the first given back, when it holds none). Called by whoever frees a
    /// sent batch: a destination's thread, or the worker.
    pub(crate) fn give_back(&self, batch: &mut Batch) {
        let observations = std::mem::take(&mut batch.observations);
        let mut guard = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = &mut *guard;
        let room = self.max.saturating_sub(pool.boxes.len());
        let mut observations = observations.into_iter();
        for obs in observations.by_ref().take(room) {
            let (spare, trace) = emptied(obs);
            pool.boxes.push(spare);
            match &mut pool.held {
                Some(held) => held.keep_or_drop(trace),
                None => pool.held = Some(HeldTrace::new(trace)),
            }
        }
        drop(guard);
        // Past the bound: freed here, with their values, outside the lock.
        drop(observations);
    }

    /// Moves every waiting box into `into` (empty: the two vectors are swapped, one lock,
    /// no copy), and the references kept with them into `held`.
    pub(crate) fn take_all(&self, into: &mut Vec<Spare>, held: &mut Option<HeldTrace>) {
        debug_assert!(into.is_empty());
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut pool.boxes, into);
        let Some(came) = pool.held.take() else {
            return;
        };
        drop(pool);
        match held {
            Some(mine) if Arc::ptr_eq(&mine.trace, &came.trace) => mine.absorb(came),
            // A new snapshot: the old one's references are released here, once.
            _ => *held = Some(came),
        }
    }
}

/// Strong references to one trace snapshot owned besides `trace` itself: each was counted in
/// the snapshot's strong count by an observation that is gone, and stands for the one an
/// observation made next will hold. Dropping it releases them.
pub(crate) struct HeldTrace {
    trace: Arc<TraceAttributes>,
    spares: usize,
}

impl HeldTrace {
    fn new(trace: Arc<TraceAttributes>) -> HeldTrace {
        HeldTrace { trace, spares: 0 }
    }

    /// Keeps `trace`'s reference as a spare when it is this snapshot, else drops it.
    #[inline]
    fn keep_or_drop(&mut self, trace: Arc<TraceAttributes>) {
        if Arc::ptr_eq(&self.trace, &trace) {
            // Its count stays: it is one of the spares now.
            std::mem::forget(trace);
            self.spares += 1;
        }
    }

    /// Takes over `other`'s references to the same snapshot, its own included.
    fn absorb(&mut self, mut other: HeldTrace) {
        debug_assert!(Arc::ptr_eq(&self.trace, &other.trace));
        self.spares += std::mem::take(&mut other.spares) + 1;
        // Its `trace`'s count stays: counted as a spare just above.
        std::mem::forget(other);
    }
}

impl Drop for HeldTrace {
    fn drop(&mut self) {
        for _ in 0..self.spares {
            // SAFETY: each spare is a strong reference to `trace`'s allocation that this
            // value owns (its count was kept when its `Arc` was forgotten); released once.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.trace)) };
        }
    }
}

/// A reference to `trace` for an observation: one of `held`'s spares when it holds this
/// snapshot (no atomic operation), else a clone.
#[inline]
pub(crate) fn share(
    held: &mut Option<HeldTrace>,
    trace: &Arc<TraceAttributes>,
) -> Arc<TraceAttributes> {
    if let Some(held) = held {
        if held.spares > 0 && Arc::ptr_eq(&held.trace, trace) {
            held.spares -= 1;
            // SAFETY: the pointer comes from a live `Arc` of this allocation, and the strong
            // reference the new `Arc` stands for is one `held` owned (counted in the
            // snapshot's count, see `HeldTrace`), whose ownership passes to it.
            return unsafe { Arc::from_raw(Arc::as_ptr(trace)) };
        }
    }
    trace.clone()
}

/// `obs`'s allocation with its value dropped, but for its trace snapshot's reference, which
/// is returned.
#[inline]
fn emptied(obs: Box<Observation>) -> (Spare, Arc<TraceAttributes>) {
    let raw = Box::into_raw(obs);
    // SAFETY: `raw` comes from a `Box` we own, so it points to a valid, initialized
    // `Observation` no one else reaches. Each field that owns something is dropped or moved
    // out exactly once (the pattern names every field, so a new one does not go unseen);
    // the rest are plain data. What is left is the same allocation, which
    // `MaybeUninit<Observation>` (same size and alignment) may hold uninitialized, and the
    // new `Box` owns it as the old one did.
    unsafe {
        let Observation {
            trace_id: _,
            id: _,
            parent_id: _,
            name,
            kind: _,
            level: _,
            start: _,
            end: _,
            details,
            trace,
        } = &mut *raw;
        // Light records have neither an owned name nor details: no call for them.
        if matches!(name, std::borrow::Cow::Owned(_)) {
            std::ptr::drop_in_place(name);
        }
        if details.is_some() {
            std::ptr::drop_in_place(details);
        }
        let trace = std::ptr::read(trace);
        (Box::from_raw(raw.cast::<MaybeUninit<Observation>>()), trace)
    }
}

/// `obs` in a box: a spare one when there is one, else a new one.
#[inline]
pub(crate) fn boxed(spare: Option<Spare>, obs: Observation) -> Box<Observation> {
    match spare {
        Some(spare) => Box::write(spare, obs),
        None => Box::new(obs),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Level, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId};

    fn observation(trace: &Arc<TraceAttributes>, id: u64) -> Observation {
        observation_with(trace.clone(), id)
    }

    fn observation_with(trace: Arc<TraceAttributes>, id: u64) -> Observation {
        Observation {
            trace_id: TraceId(7),
            id: SpanId(id),
            parent_id: Some(SpanId(1)),
            name: std::borrow::Cow::Owned(format!("child {id}")),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp(1),
            end: Timestamp(2),
            details: None,
            trace,
        }
    }

    #[test]
    fn given_back_boxes_drop_their_values_and_are_reused_up_to_the_bound() {
        let trace = Arc::new(TraceAttributes::default());
        let spares = Spares::new(2);
        let mut sent = Batch::default();
        sent.observations
            .extend((1..=3).map(|id| Box::new(observation(&trace, id))));
        assert_eq!(Arc::strong_count(&trace), 4);
        spares.give_back(&mut sent);
        assert!(sent.observations.is_empty());
        // The two boxes kept keep their references to the snapshot (one held, one spare);
        // the one past the bound is dropped whole.
        assert_eq!(Arc::strong_count(&trace), 3);
        let mut taken = Vec::new();
        let mut held = None;
        spares.take_all(&mut taken, &mut held);
        assert_eq!(taken.len(), 2);
        let mut again = Vec::new();
        spares.take_all(&mut again, &mut held);
        assert!(again.is_empty());
        // A spare reference is handed on without touching the count.
        let refilled = boxed(taken.pop(), observation_with(share(&mut held, &trace), 9));
        assert_eq!(refilled.id, SpanId(9));
        assert_eq!(refilled.name, "child 9");
        assert_eq!(Arc::strong_count(&trace), 3);
        // None left: the next one is a clone.
        let cloned = observation_with(share(&mut held, &trace), 10);
        assert_eq!(Arc::strong_count(&trace), 4);
        drop((refilled, cloned));
        assert_eq!(Arc::strong_count(&trace), 2);
        drop(held);
        assert_eq!(Arc::strong_count(&trace), 1);
        let fresh = boxed(None, observation(&trace, 11));
        assert_eq!(fresh.id, SpanId(11));
    }

    #[test]
    fn references_to_another_snapshot_are_released_and_a_new_snapshot_replaces_the_held_one() {
        let first = Arc::new(TraceAttributes::default());
        let second = Arc::new(TraceAttributes::default());
        let spares = Spares::new(8);
        let mut sent = Batch::default();
        sent.observations.extend([
            Box::new(observation(&first, 1)),
            Box::new(observation(&second, 2)),
            Box::new(observation(&first, 3)),
        ]);
        spares.give_back(&mut sent);
        // `first`'s two kept, `second`'s released at once.
        assert_eq!(Arc::strong_count(&first), 3);
        assert_eq!(Arc::strong_count(&second), 1);
        let mut boxes = Vec::new();
        let mut held = None;
        spares.take_all(&mut boxes, &mut held);
        // The same snapshot given back again: its references join those held.
        sent.observations.push(Box::new(observation(&first, 4)));
        spares.give_back(&mut sent);
        boxes.clear();
        spares.take_all(&mut boxes, &mut held);
        assert_eq!(Arc::strong_count(&first), 4);
        // Another snapshot comes: the held references to `first` are released.
        sent.observations.push(Box::new(observation(&second, 5)));
        spares.give_back(&mut sent);
        boxes.clear();
        spares.take_all(&mut boxes, &mut held);
        assert_eq!(Arc::strong_count(&first), 1);
        assert_eq!(Arc::strong_count(&second), 2);
        drop(held);
        assert_eq!(Arc::strong_count(&second), 1);
    }
}
