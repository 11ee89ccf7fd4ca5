//! One spare [`TraceState`] per thread: the state of a trace whose last observation ended
//! on this thread, renewed (a new id, nothing updated) and kept for the thread's next new
//! trace of the same pipeline, instead of freed and allocated again.
//!
//! A new trace otherwise paid for a `malloc` and a `free` of its state (~150 instructions),
//! a reference count of its pipeline taken and released (two locked operations) and the
//! `Arc`'s own decrement; recycled, it pays one locked compare-exchange (the `Arc::get_mut`
//! that proves no other reference is left). The trace id of the next trace is drawn when
//! the state is renewed, so taking the spare is a thread-local read.
//!
//! A spare keeps its pipeline's memory alive until the thread's next trace or its exit, as
//! the thread's copy of the global pipeline does (see `crate::global`).

use std::cell::Cell;
use std::sync::Arc;

use super::{Pipeline, TraceState};
use crate::model::TraceId;

thread_local! {
    /// The renewed state of the last trace that ended on this thread, if any.
    static SPARE: Cell<Option<Arc<TraceState>>> = const { Cell::new(None) };
}

/// The state of a new trace of `pipeline`: this thread's spare when it belongs to that
/// pipeline, else a new one with a random id.
#[inline]
pub(crate) fn new_trace(pipeline: &Arc<Pipeline>) -> Arc<TraceState> {
    match SPARE.try_with(Cell::take).ok().flatten() {
        Some(spare) if Arc::ptr_eq(&spare.pipeline, pipeline) => spare,
        other => {
            drop(other);
            TraceState::new(pipeline.clone(), new_trace_id())
        }
    }
}

/// Gives back a reference to a trace's state: kept, renewed, as this thread's spare when it
/// was the last one, else released.
#[inline]
pub(crate) fn release(mut trace: Arc<TraceState>) {
    // No `Weak` of a trace's state is ever made, so a strong count of one (this reference)
    // cannot rise under us: only the holder of a strong reference could clone it.
    if Arc::strong_count(&trace) == 1 && renew(&mut trace) {
        // The spare it replaces (of another pipeline, or never taken) is dropped.
        let _ = SPARE.try_with(|spare| spare.replace(Some(trace)));
    }
}

/// Renews the state for its next trace: its id drawn now, nothing updated. False when some
/// other reference is left after all. Out of line: it runs once per trace.
#[inline(never)]
fn renew(trace: &mut Arc<TraceState>) -> bool {
    match Arc::get_mut(trace) {
        Some(state) => {
            state.renew(new_trace_id());
            true
        }
        None => false,
    }
}

/// A random, non-zero trace id from the thread's fast generator, as `TraceId::random` makes
/// one from two 64-bit draws, inlined (out of line, across the crates, it cost ~47
/// instructions, three times the draws).
#[inline(always)]
fn new_trace_id() -> TraceId {
    loop {
        let id = (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(..));
        if id != 0 {
            return TraceId(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::update::TraceUpdate;

    #[test]
    fn the_last_reference_leaves_a_renewed_state_for_the_next_trace_of_its_pipeline() {
        let pipeline = Pipeline::start(Default::default(), Vec::new(), None);
        let first = new_trace(&pipeline);
        let (address, id) = (Arc::as_ptr(&first), first.id);
        first.update(TraceUpdate::new().user_id("user_42"));
        assert!(first.stamp().is_some());

        // Not the last reference: released, nothing kept.
        let other = first.clone();
        release(first);
        let fresh = new_trace(&pipeline);
        assert_ne!(Arc::as_ptr(&fresh), address, "still referenced: not reused");
        drop(fresh);

        // The last one: kept, renewed, and taken by the next trace of the same pipeline.
        release(other);
        let next = new_trace(&pipeline);
        assert_eq!(Arc::as_ptr(&next), address, "the spare was reused");
        assert_ne!(next.id, id, "a new trace id");
        assert!(next.stamp().is_none(), "the update went with the old trace");
        assert_eq!(Arc::strong_count(&next), 1);
        assert!(next.sampled);

        // A trace of another pipeline does not take it.
        release(next);
        let elsewhere = Pipeline::start(Default::default(), Vec::new(), None);
        let foreign = new_trace(&elsewhere);
        // (Its address may be the spare's: the spare was freed just before, and `malloc`
        // hands the same block out again.)
        assert!(Arc::ptr_eq(&foreign.pipeline, &elsewhere));
        drop(foreign);
        for p in [pipeline, elsewhere] {
            let _ = p.shutdown(Duration::from_secs(30));
        }
    }

    #[test]
    fn a_renewed_state_is_sampled_as_its_pipeline_decides_for_the_new_id() {
        let settings = crate::PipelineSettings {
            sample_rate: 0.0,
            ..Default::default()
        };
        let pipeline = Pipeline::start(settings, Vec::new(), None);
        let first = new_trace(&pipeline);
        assert!(!first.sampled);
        release(first);
        let next = new_trace(&pipeline);
        assert!(!next.sampled);
        drop(next);
        let _ = pipeline.shutdown(Duration::from_secs(30));
    }
}
