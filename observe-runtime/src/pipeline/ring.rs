//! Per-thread rings: how a finished record reaches the worker without a shared atomic
//! operation per record.
//!
//! Each thread that ends observations for a pipeline gets its own single-producer,
//! single-consumer ring (as fastrace gives each thread its own span queue). Pushing is a write
//! into the thread's own slots and a release store of its tail: no compare-and-swap, no lock,
//! no counter shared with other threads, and nothing that waits for the stores before it to
//! reach other cores. The worker visits every registered ring when it drains, so records a
//! thread leaves behind (it went idle, or exited) are exported like the rest, and `flush`
//! sees them all.
//!
//! The pipeline's `queue_capacity` stays a bound on all records in flight: a thread takes
//! credits for a few records at a time from one shared counter (one atomic operation per
//! chunk), and the worker gives them back as it drains. A thread whose ring fills before the
//! worker comes by continues in a new ring, so a burst from one thread may use the whole
//! capacity, as with one shared queue.

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{OwnLine, Record};

/// One thread's records for one pipeline.
pub(super) struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<Record>>]>,
    mask: usize,
    /// The next slot the worker reads: written by the worker only.
    head: OwnLine<AtomicUsize>,
    /// The next slot the producer writes: written by the producing thread only.
    tail: OwnLine<AtomicUsize>,
    /// The producing thread exited: once drained, the worker forgets the ring.
    abandoned: AtomicBool,
    /// Credits the exited thread did not use, for the worker to give back.
    unused_credits: AtomicUsize,
}

// SAFETY: a slot is written only by the producer before it publishes the tail past it, and
// read only by the worker after it saw that tail and before it publishes the head past it;
// the records themselves are `Send`.
unsafe impl Send for Ring {}
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring of `capacity` slots, rounded up to a power of two.
    pub(super) fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1).next_power_of_two();
        Ring {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: capacity - 1,
            head: OwnLine(AtomicUsize::new(0)),
            tail: OwnLine(AtomicUsize::new(0)),
            abandoned: AtomicBool::new(false),
            unused_credits: AtomicUsize::new(0),
        }
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Records in the ring now (exact when neither side is moving).
    pub(super) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        self.tail.load(Ordering::Acquire).wrapping_sub(head)
    }

    /// True once the producing thread exited and every record was taken.
    pub(super) fn finished(&self) -> bool {
        self.abandoned.load(Ordering::Acquire) && self.len() == 0
    }

    /// Credits the exited thread left; read once, when the worker forgets the ring.
    pub(super) fn take_unused_credits(&self) -> usize {
        self.unused_credits.swap(0, Ordering::AcqRel)
    }

    /// Takes up to `max` records, oldest first. Worker only.
    pub(super) fn pop_into(&self, max: usize, mut sink: impl FnMut(Record)) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(max);
        for i in 0..n {
            let slot = &self.slots[head.wrapping_add(i) & self.mask];
            // SAFETY: slots in head..tail were written and published by the producer, and
            // are read exactly once here before the head moves past them.
            sink(unsafe { (*slot.get()).assume_init_read() });
        }
        self.head.store(head.wrapping_add(n), Ordering::Release);
        n
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Records never taken (the pipeline went away first) are dropped with the ring.
        let head = *self.head.0.get_mut();
        let tail = *self.tail.0.get_mut();
        for i in 0..tail.wrapping_sub(head) {
            let slot = &mut self.slots[head.wrapping_add(i) & self.mask];
            // SAFETY: published and never taken; we own the ring now.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// This thread's end of one pipeline's ring.
pub(super) struct Producer {
    pipeline_id: u64,
    ring: Arc<Ring>,
    /// Our copy of the tail (we are its only writer).
    tail: usize,
    /// The worker's head as last read: refreshed only when the ring looks full.
    head: usize,
    /// Records this thread may still queue before it asks the pipeline for more.
    pub(super) credits: usize,
}

impl Producer {
    /// A producer for `id` writing into `ring`, with no credit yet.
    pub(super) fn new(pipeline_id: u64, ring: Arc<Ring>) -> Producer {
        Producer {
            pipeline_id,
            ring,
            tail: 0,
            head: 0,
            credits: 0,
        }
    }

    /// Publishes one record, or gives it back when the ring is full. The caller made sure
    /// there is a credit.
    // The record comes back by value: boxing it would cost the allocation rings avoid.
    #[allow(clippy::result_large_err)]
    #[inline]
    pub(super) fn push(&mut self, record: Record) -> Result<(), Record> {
        if self.tail.wrapping_sub(self.head) == self.ring.capacity() {
            self.head = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head) == self.ring.capacity() {
                return Err(record);
            }
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: the slot is outside head..tail, so the worker does not read it; we are
        // the ring's only producer.
        unsafe { (*slot.get()).write(record) };
        self.tail = self.tail.wrapping_add(1);
        self.ring.tail.store(self.tail, Ordering::Release);
        self.credits -= 1;
        Ok(())
    }

    /// The pipeline this producer writes for.
    pub(super) fn pipeline_id(&self) -> u64 {
        self.pipeline_id
    }

    /// True while the pipeline still lists the ring (it has not gone away).
    pub(super) fn is_live(&self) -> bool {
        Arc::strong_count(&self.ring) > 1
    }
}

impl Producer {
    /// Continues in a fresh ring when this one is full and the worker is behind: the old
    /// ring is drained first (rings are listed in the order they were made) and then
    /// forgotten, so a burst is bounded by the pipeline's credits, not by one ring's size.
    #[cold]
    pub(super) fn continue_in(&mut self, ring: Arc<Ring>) {
        let old = std::mem::replace(&mut self.ring, ring);
        old.abandoned.store(true, Ordering::Release);
        self.tail = 0;
        self.head = 0;
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.ring
            .unused_credits
            .store(self.credits, Ordering::Release);
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

thread_local! {
    /// This thread's producers, one per pipeline it has pushed to (usually one); the one
    /// used last comes first.
    static PRODUCERS: RefCell<Vec<Producer>> = const { RefCell::new(Vec::new()) };
}

/// The common case, kept short: this thread's first producer is for pipeline `id`, holds a
/// credit, and its ring has room. Anything else gives the record back for the slow path.
#[allow(clippy::result_large_err)] // as `Producer::push`
#[inline]
pub(super) fn push_fast(id: u64, record: Record) -> Result<(), Record> {
    // A pointer out of `try_with` rather than the work inside its closure, so the record is
    // not moved in and out of closures (it is 128 bytes).
    let Ok(cell) = PRODUCERS.try_with(|cell| cell as *const RefCell<Vec<Producer>>) else {
        return Err(record);
    };
    // SAFETY: the thread-local lives until this thread's destructors run, and none runs
    // between here and the end of this function.
    let cell = unsafe { &*cell };
    let Ok(mut producers) = cell.try_borrow_mut() else {
        return Err(record);
    };
    match producers.first_mut() {
        Some(producer) if producer.pipeline_id == id && producer.credits > 0 => {
            producer.push(record)
        }
        _ => Err(record),
    }
}

/// Runs `f` with this thread's producers; `None` when its thread-local storage is gone or
/// busy.
pub(super) fn with_producers<R>(f: impl FnOnce(&mut Vec<Producer>) -> R) -> Option<R> {
    PRODUCERS
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut p| f(&mut p)))
        .ok()
        .flatten()
}
