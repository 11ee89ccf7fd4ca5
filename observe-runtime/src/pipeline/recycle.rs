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

use std::mem::MaybeUninit;
use std::sync::{Mutex, PoisonError};

use crate::export::Batch;
use crate::model::Observation;

/// An observation's allocation, its value dropped.
pub(crate) type Spare = Box<MaybeUninit<Observation>>;

/// The emptied boxes waiting for the worker.
pub(crate) struct Spares {
    boxes: Mutex<Vec<Spare>>,
    max: usize,
}

impl Spares {
    /// A pool that keeps at most `max` boxes.
    pub(crate) fn new(max: usize) -> Spares {
        Spares {
            boxes: Mutex::new(Vec::new()),
            max,
        }
    }

    /// Takes the batch's observations and drops each, keeping its box while the pool has
    /// room (the rest are freed). Called by whoever frees a sent batch: a destination's
    /// thread, or the worker.
    pub(crate) fn give_back(&self, batch: &mut Batch) {
        let observations = std::mem::take(&mut batch.observations);
        let mut boxes = self.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.max.saturating_sub(boxes.len());
        let mut observations = observations.into_iter();
        for obs in observations.by_ref().take(room) {
            boxes.push(emptied(obs));
        }
        drop(boxes);
        // Past the bound: freed here, with their values, outside the lock.
        drop(observations);
    }

    /// Moves every waiting box into `into` (empty: the two vectors are swapped, one lock,
    /// no copy).
    pub(crate) fn take_all(&self, into: &mut Vec<Spare>) {
        debug_assert!(into.is_empty());
        let mut boxes = self.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *boxes, into);
    }
}

/// `obs`'s allocation with its value dropped.
fn emptied(obs: Box<Observation>) -> Spare {
    let raw = Box::into_raw(obs);
    // SAFETY: `raw` comes from a `Box` we own, so it points to a valid, initialized
    // `Observation` no one else reaches; it is dropped exactly once here. What is left is
    // the same allocation, which `MaybeUninit<Observation>` (same size and alignment) may
    // hold uninitialized, and the new `Box` owns it as the old one did.
    unsafe {
        std::ptr::drop_in_place(raw);
        Box::from_raw(raw.cast::<MaybeUninit<Observation>>())
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
            trace: trace.clone(),
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
        // Every value dropped (the ones kept and the one past the bound).
        assert_eq!(Arc::strong_count(&trace), 1);
        let mut taken = Vec::new();
        spares.take_all(&mut taken);
        assert_eq!(taken.len(), 2);
        let mut again = Vec::new();
        spares.take_all(&mut again);
        assert!(again.is_empty());
        let refilled = boxed(taken.pop(), observation(&trace, 9));
        assert_eq!(refilled.id, SpanId(9));
        assert_eq!(refilled.name, "child 9");
        assert_eq!(Arc::strong_count(&trace), 2);
        drop(refilled);
        assert_eq!(Arc::strong_count(&trace), 1);
        let fresh = boxed(None, observation(&trace, 10));
        assert_eq!(fresh.id, SpanId(10));
    }
}
