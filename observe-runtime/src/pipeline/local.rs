//! Each thread's buffer of light records: the observations that ended with nothing to say
//! beyond their ids, name, kind, level and clock readings (no captured input or output, no
//! details), written into a small per-thread array and handed to the ring as ONE record per
//! [`CAPACITY`] of them, as fastrace's `LocalSpan`s are collected per thread.
//!
//! What stays different from fastrace: every entry still reaches the worker (the worker
//! expands a batch into the usual observations), memory stays bounded (a batch is charged to
//! the byte budget for each of its entries, and the buffer holds at most [`CAPACITY`]), and
//! the trace's attributes are stamped on every observation (from the trace as it stands when
//! the batch is handed over: a superset of what it held when each entry ended, since
//! attributes are only ever added or replaced, never removed).
//!
//! The buffer is handed over when it is full, when an entry of another trace comes, before
//! this thread queues any other record (so a thread's records reach the worker in the order
//! they ended), when the scope of the frame the last entry hangs under is exited (see
//! [`exited`]: the end of each poll of an async observation, of `in_scope`, of a handle's
//! scope), on `flush`, and when the thread exits. An entry is only written while its parent
//! is the thread's current frame, entered by a scope (`Frame::enter`), so that scope's exit
//! always comes: children reach the worker before their parent, and a parent that never ends
//! still delivers its children after each poll.

use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::sync::Arc;

use super::record::{Batch, Entry};
use super::trace::TraceState;
use crate::model::SpanId;

/// Entries a thread buffers before it hands them over.
pub(crate) const CAPACITY: usize = 64;

/// This thread's entries, and the trace they belong to.
struct Buffer {
    trace: Option<HeldTrace>,
    entries: Vec<Entry>,
}

/// The trace a buffer holds, and spare strong references to it that the buffer owns besides
/// its own: given back by observations of the trace that ended on this thread
/// ([`release_trace`]) and handed to the next one it opens ([`clone_trace`]), so that a run
/// of children takes and releases its trace with no atomic operation. Dropping it (at
/// hand-over) releases the spares with the trace.
struct HeldTrace {
    trace: Arc<TraceState>,
    /// Strong references to `trace` this value owns besides `trace` itself, at most
    /// [`CAPACITY`]: each was counted in the trace's strong count when an `Arc` gave it up.
    spares: usize,
}

impl HeldTrace {
    fn new(trace: Arc<TraceState>) -> HeldTrace {
        HeldTrace { trace, spares: 0 }
    }

    #[inline]
    fn holds(&self, trace: *const TraceState) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.trace), trace)
    }

    /// One of the spare references, as an `Arc`; `None` when there is none.
    #[inline]
    fn take_spare(&mut self) -> Option<Arc<TraceState>> {
        if self.spares == 0 {
            return None;
        }
        self.spares -= 1;
        // SAFETY: this value owned the reference (a spare, counted in the trace's strong
        // count) and has just given it up: it now belongs to the returned `Arc`.
        Some(unsafe { Arc::from_raw(Arc::as_ptr(&self.trace)) })
    }

    /// Keeps `reference`, a strong reference to the held trace, as a spare; gives it back
    /// when there are enough spares.
    #[inline]
    fn keep_spare(&mut self, reference: Arc<TraceState>) -> Option<Arc<TraceState>> {
        debug_assert!(Arc::ptr_eq(&reference, &self.trace));
        if self.spares >= CAPACITY {
            return Some(reference);
        }
        self.spares += 1;
        // Its count now belongs to this value (in `spares`), released in `drop`.
        std::mem::forget(reference);
        None
    }
}

impl Drop for HeldTrace {
    fn drop(&mut self) {
        for _ in 0..self.spares {
            // SAFETY: each spare is a strong reference this value owns (see `spares`);
            // `self.trace` holds another, so the count stays above zero here.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.trace)) };
        }
    }
}

/// The buffer may be used.
const FREE: u8 = 0;
/// Code that may end observations (queueing a batch) runs with the buffer borrowed: an
/// observation ending meanwhile goes as a full record.
const BUSY: u8 = 1;
/// The thread is exiting and its buffer was handed over for the last time.
const GONE: u8 = 2;

/// A thread's buffer and whether it may be used: one byte does what a `RefCell`'s flag and
/// the thread-local's destructor state each did (a check on every entry).
struct Slot {
    state: Cell<u8>,
    buffer: UnsafeCell<Buffer>,
}

thread_local! {
    /// Without a destructor (`ManuallyDrop`), so that reaching it is one thread-local
    /// address: a value with a destructor has its registration checked on every access.
    /// [`ON_EXIT`], registered when the thread's first batch starts, empties it.
    static BUFFER: ManuallyDrop<Slot> = const {
        ManuallyDrop::new(Slot {
            state: Cell::new(FREE),
            buffer: UnsafeCell::new(Buffer { trace: None, entries: Vec::new() }),
        })
    };
    /// Hands over what the thread buffered when it exits.
    static ON_EXIT: OnExit = const { OnExit };
    /// The parent id of the last entry buffered, 0 when the buffer is empty. Kept apart from
    /// the buffer (no destructor, so no lazy registration): every scope's exit reads it.
    static LAST_PARENT: Cell<u64> = const { Cell::new(0) };
}

/// This thread's slot. Storage without a destructor lives as long as the thread, so the
/// reference may be `'static` (it is not `Send`: `Slot` is not `Sync`).
#[inline(always)]
fn slot() -> &'static Slot {
    let slot: *const Slot = BUFFER.with(|slot| &**slot as *const Slot);
    // SAFETY: the thread-local has no destructor, so its storage stays valid until the
    // thread's memory is released, after all of this thread's code has run; and a
    // `&'static Slot` cannot leave the thread (`Slot` is not `Sync`).
    unsafe { &*slot }
}

/// Runs `f` on the buffer, marked busy meanwhile; `None` when it is busy or gone. For code
/// that may queue a record (and so, through a full queue's warning and the `tracing`
/// bridge, end an observation that reaches here again).
#[inline]
fn with_busy<R>(f: impl FnOnce(&mut Buffer) -> R) -> Option<R> {
    /// Frees the buffer when `f` returns or unwinds.
    struct Release(&'static Slot);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.state.set(FREE);
        }
    }
    let slot = slot();
    if slot.state.get() != FREE {
        return None;
    }
    slot.state.set(BUSY);
    let _release = Release(slot);
    // SAFETY: the buffer is reached only through `with_busy` and `with_free`, each of which
    // makes its reference only while the state is FREE and ends it before it could become
    // FREE again (set here only by `Release`, after `f`); marked BUSY, nothing else makes one
    // until then.
    Some(f(unsafe { &mut *slot.buffer.get() }))
}

/// Runs `f` on the buffer when it is free. `f` must not reach the buffer again: it runs
/// no code that could end an observation or queue a record (so the buffer is not marked
/// busy, which would cost two stores).
#[inline(always)]
fn with_free<R>(f: impl FnOnce(&mut Buffer) -> R) -> Option<R> {
    let slot = slot();
    if slot.state.get() != FREE {
        return None;
    }
    // SAFETY: FREE, so no reference into the buffer lives (see `with_busy`), and `f` makes
    // none (its contract).
    Some(f(unsafe { &mut *slot.buffer.get() }))
}

/// Empties the thread's buffer when the thread exits.
struct OnExit;

impl Drop for OnExit {
    /// The thread exits: what it buffered goes to the worker (or is counted as dropped after
    /// shutdown) like any record; the buffer is then gone (an observation ending later, in
    /// another thread-local's destructor, goes as a full record).
    fn drop(&mut self) {
        LAST_PARENT.with(|c| c.set(0));
        let _ = with_busy(|buffer| {
            buffer.hand_over();
            std::mem::take(&mut buffer.entries)
        });
        slot().state.set(GONE);
    }
}

impl Buffer {
    /// Queues the buffered entries as one record, and empties the buffer.
    fn hand_over(&mut self) {
        // Dropped on every way out: the spares are released with the trace.
        let Some(held) = self.trace.take() else {
            return;
        };
        let trace = &held.trace;
        if self.entries.is_empty() {
            return;
        }
        let entries = std::mem::replace(&mut self.entries, Vec::with_capacity(CAPACITY));
        let batch = Batch {
            trace_id: trace.id,
            attributes: trace.stamp(),
            entries,
        };
        trace.pipeline.push_batch(batch);
    }
}

/// Buffers `entry` of `trace`; false when the buffer is busy or gone (the caller queues a
/// full record). The caller checked that the entry's parent is this thread's current frame
/// and that a scope entered it, so that scope's exit hands the buffer over (see the module).
#[inline(always)]
pub(crate) fn try_add(trace: &Arc<TraceState>, entry: Entry) -> bool {
    // The buffer reached here rather than through `with_free`: inlined into a plain `fn`'s
    // end, its closure was made a function of its own (~30 instructions of call and the
    // entry passed through memory).
    let slot = slot();
    if slot.state.get() != FREE {
        return false;
    }
    // SAFETY: FREE, so no reference into the buffer lives (see `with_busy`); this one ends
    // before `start_batch` makes its own.
    let buffer = unsafe { &mut *slot.buffer.get() };
    let len = match &buffer.trace {
        Some(held) if held.holds(Arc::as_ptr(trace)) => {
            buffer.entries.push(entry);
            buffer.entries.len()
        }
        _ => match start_batch(trace, entry) {
            Some(len) => len,
            None => return false,
        },
    };
    if len >= CAPACITY {
        hand_over();
    } else {
        LAST_PARENT.with(|c| c.set(entry.parent_id));
    }
    true
}

/// Runs `f` on the buffer's trace and spares when the buffer holds `trace`; `None` when it
/// does not (or the buffer is busy or gone).
#[inline]
fn with_held<R>(trace: *const TraceState, f: impl FnOnce(&mut HeldTrace) -> R) -> Option<R> {
    with_free(|buffer| match &mut buffer.trace {
        Some(held) if held.holds(trace) => Some(f(held)),
        _ => None,
    })
    .flatten()
}

/// A strong reference to `trace` for an observation opening on this thread: one of the
/// buffer's spares when it holds this trace, else a new one.
#[inline]
pub(crate) fn clone_trace(trace: &Arc<TraceState>) -> Arc<TraceState> {
    match with_held(Arc::as_ptr(trace), HeldTrace::take_spare) {
        Some(Some(spare)) => spare,
        _ => trace.clone(),
    }
}

/// Gives back the strong reference of an observation that ended on this thread: kept as a
/// spare when the buffer holds this trace, else released (after the buffer is; the last
/// reference of a trace keeps its state for this thread's next trace, see
/// [`super::spare_trace`]).
#[inline]
pub(crate) fn release_trace(trace: Arc<TraceState>) {
    let ptr = Arc::as_ptr(&trace);
    let mut left = Some(trace);
    // `keep_spare` drops nothing: it keeps the reference or gives it back.
    with_held(ptr, |held| {
        left = left.take().and_then(|t| held.keep_spare(t))
    });
    if let Some(trace) = left {
        super::spare_trace::release(trace);
    }
}

/// Hands over what another trace left, starts a batch of `trace` and buffers `entry`: the
/// buffer's length after it, `None` when the buffer is busy or gone.
#[cold]
#[inline(never)]
fn start_batch(trace: &Arc<TraceState>, entry: Entry) -> Option<usize> {
    // Registers the destructor that hands over what is left when the thread exits; fails
    // only while this thread's thread-locals are being destroyed.
    ON_EXIT.try_with(|_| ()).ok()?;
    with_busy(|buffer| {
        LAST_PARENT.with(|c| c.set(0));
        buffer.hand_over();
        buffer.trace = Some(HeldTrace::new(trace.clone()));
        if buffer.entries.capacity() == 0 {
            buffer.entries.reserve_exact(CAPACITY);
        }
        buffer.entries.push(entry);
        buffer.entries.len()
    })
}

/// The scope of the frame `span` was exited: when the last entry buffered hangs under it,
/// the buffer is handed over (one thread-local read when the buffer is empty).
#[inline]
pub(crate) fn exited(span: Option<SpanId>) {
    let last = LAST_PARENT.with(Cell::get);
    if last != 0 && span.is_some_and(|s| s.0 == last) {
        hand_over();
    }
}

/// Hands over whatever this thread buffered: before it queues any other record, and on
/// `flush`.
#[inline]
pub(crate) fn hand_over_pending() {
    if LAST_PARENT.with(Cell::get) != 0 {
        hand_over();
    }
}

#[cold]
#[inline(never)]
fn hand_over() {
    LAST_PARENT.with(|c| c.set(0));
    with_busy(Buffer::hand_over);
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::clock;
    use crate::context::{with_current, Frame};
    use crate::model::{Level, ObservationType, TraceId};
    use crate::pipeline::Pipeline;
    use crate::Client;

    fn pipeline_of(client: &Client) -> Arc<Pipeline> {
        client
            .in_scope(|| with_current(|f| f.and_then(|f| f.client.clone())))
            .expect("a client scope has its pipeline")
    }

    fn entry(parent: SpanId, i: u64) -> Entry {
        let t = clock::ticks();
        Entry {
            id: SpanId(1000 + i),
            parent_id: parent.0,
            name: "buffered",
            kind: ObservationType::Span,
            level: Level::Default,
            start: t,
            end: t,
        }
    }

    /// A thread buffers `n` entries under a parent whose scope does not hand them over,
    /// then `meanwhile` runs here, then the thread exits with them still buffered.
    fn buffer_then_exit(client: &Client, n: u64, meanwhile: impl FnOnce()) {
        let pipeline = pipeline_of(client);
        let (ready_tx, ready) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let trace = TraceState::new(pipeline, TraceId::random());
            let parent =
                Frame::with_trace(trace.clone(), None, "parent".into(), Default::default());
            let id = parent.span_id.expect("an observation");
            parent.enter_with(false, || {
                for i in 0..n {
                    assert!(try_add(&trace, entry(id, i)), "the parent is the scope");
                }
            });
            assert_eq!(LAST_PARENT.with(Cell::get), id.0, "still buffered");
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // Never ended: nothing but the buffered entries is recorded.
            drop(parent);
        });
        ready.recv().unwrap();
        meanwhile();
        go.send(()).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn a_thread_that_exits_hands_over_what_it_buffered() {
        let (client, memory) = Client::in_memory();
        buffer_then_exit(&client, 3, || {});
        client.flush(Duration::from_secs(30));
        let obs = memory.observations();
        assert_eq!(obs.len(), 3);
        assert!(obs.iter().all(|o| o.name == "buffered"));
        let stats = client.stats();
        assert_eq!(stats.queued, 3);
        assert!(stats.destinations[0].balanced());
    }

    #[test]
    fn a_buffer_handed_over_after_shutdown_is_counted_dropped_as_each_entry() {
        let (client, memory) = Client::in_memory();
        buffer_then_exit(&client, 5, || {
            client.shutdown(Duration::from_secs(30));
        });
        assert!(memory.observations().is_empty());
        let stats = client.stats();
        assert_eq!(stats.dropped_after_shutdown, 5);
        let d = &stats.destinations[0];
        assert_eq!((d.accepted, d.dropped, d.pending), (5, 5, 0));
        assert!(d.balanced());
    }

    #[test]
    fn spare_references_are_reused_then_released_at_hand_over() {
        let (client, _memory) = Client::in_memory();
        let trace = TraceState::new(pipeline_of(&client), TraceId::random());
        let parent = Frame::with_trace(trace.clone(), None, "parent".into(), Default::default());
        let id = parent.span_id.expect("an observation");
        let base = Arc::strong_count(&trace);
        parent.enter_with(false, || {
            // Not held by the buffer yet: a new reference, and dropped on release.
            let early = clone_trace(&trace);
            assert_eq!(Arc::strong_count(&trace), base + 1);
            release_trace(early);
            assert_eq!(Arc::strong_count(&trace), base);

            assert!(try_add(&trace, entry(id, 0)));
            assert_eq!(Arc::strong_count(&trace), base + 1, "the buffer's own");
            let child = clone_trace(&trace);
            assert_eq!(Arc::strong_count(&trace), base + 2);
            release_trace(child);
            assert_eq!(Arc::strong_count(&trace), base + 2, "kept as a spare");
            let next = clone_trace(&trace);
            assert!(Arc::ptr_eq(&next, &trace));
            assert_eq!(Arc::strong_count(&trace), base + 2, "the spare, handed out");
            release_trace(next);
        });
        hand_over_pending();
        assert_eq!(
            Arc::strong_count(&trace),
            base,
            "spares released with the batch"
        );
        drop(parent);
    }
}
