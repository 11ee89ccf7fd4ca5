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

use super::{Captured, OwnLine, Record};
use crate::model::Json;

/// Bytes of captured input and output a ring carries beside its records.
const PAYLOAD_BYTES: usize = 64 * 1024;
/// Captures bigger than this (input and output together) go on the heap instead.
const PAYLOAD_INLINE_MAX: usize = 2048;

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
    /// Captured input and output, as JSON bytes; each record says where its own are.
    bytes: Box<[UnsafeCell<MaybeUninit<u8>>]>,
    /// Where the bytes of records the worker has taken end: written by the worker only.
    bytes_head: OwnLine<AtomicUsize>,
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
            bytes: uninit_bytes(PAYLOAD_BYTES),
            bytes_head: OwnLine(AtomicUsize::new(0)),
        }
    }

    /// The JSON at `start..start + len` of the byte ring.
    ///
    /// SAFETY: the range was written by the producer and published with a record the
    /// caller has taken.
    unsafe fn json_at(&self, start: usize, len: usize) -> Option<Json> {
        if len == 0 {
            return None;
        }
        let at = start & (PAYLOAD_BYTES - 1);
        let bytes = std::slice::from_raw_parts(self.bytes[at].get() as *const u8, len);
        // (Only bytes the producer wrote are read: `place` copied them in.)
        // The bytes are a copy of a `Json`'s text: valid UTF-8.
        Some(Json::from_raw(std::str::from_utf8_unchecked(bytes)))
    }

    /// Moves a taken record's captured bytes out of the ring onto the heap, and says where
    /// its bytes end (`None` when it has none here). `bytes_head` is where the taken bytes
    /// end so far.
    fn materialize(&self, record: &mut Record, bytes_head: usize) -> Option<usize> {
        let Record::Observation(finished) = record else {
            return None;
        };
        let Captured::InRing(code) = finished.captured else {
            return None;
        };
        let (start, input_len, output_len) = decode(code, bytes_head);
        // SAFETY: published with this record, which the worker has taken.
        let (input, output) = unsafe {
            (
                self.json_at(start, input_len),
                self.json_at(start + input_len, output_len),
            )
        };
        finished.captured = Captured::Heap(Box::new((input, output)));
        Some(start + input_len + output_len)
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
        let mut bytes_head = self.bytes_head.load(Ordering::Relaxed);
        for i in 0..n {
            let slot = &self.slots[head.wrapping_add(i) & self.mask];
            // SAFETY: slots in head..tail were written and published by the producer, and
            // are read exactly once here before the head moves past them.
            let mut record = unsafe { (*slot.get()).assume_init_read() };
            if let Some(end) = self.materialize(&mut record, bytes_head) {
                bytes_head = end;
            }
            sink(record);
        }
        self.bytes_head.store(bytes_head, Ordering::Release);
        self.head.store(head.wrapping_add(n), Ordering::Release);
        n
    }
}

/// `n` bytes left uninitialized: nothing is read before `place` writes it, and zeroing
/// 64 KiB per ring would cost more than the ring's first thousand records.
fn uninit_bytes(n: usize) -> Box<[UnsafeCell<MaybeUninit<u8>>]> {
    let mut bytes = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialization, and `UnsafeCell` has its layout.
    unsafe { bytes.set_len(n) };
    bytes.into_boxed_slice()
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
    /// Our end of the byte ring, and the worker's as last read.
    bytes_tail: usize,
    bytes_head: usize,
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
            bytes_tail: 0,
            bytes_head: 0,
        }
    }

    /// Copies captured input and output into the byte ring; where they are, or `None` when
    /// they do not fit (the caller keeps them on the heap).
    fn place(&mut self, input: Option<&Json>, output: Option<&Json>) -> Option<u64> {
        let input = input.map_or(&[][..], |j| j.as_str().as_bytes());
        let output = output.map_or(&[][..], |j| j.as_str().as_bytes());
        let total = input.len() + output.len();
        if total > PAYLOAD_INLINE_MAX {
            return None;
        }
        // Contiguous: skip to the ring's start when the bytes would wrap.
        let offset = self.bytes_tail & (PAYLOAD_BYTES - 1);
        let start = if offset + total > PAYLOAD_BYTES {
            self.bytes_tail + (PAYLOAD_BYTES - offset)
        } else {
            self.bytes_tail
        };
        let end = start + total;
        if end - self.bytes_head > PAYLOAD_BYTES {
            self.bytes_head = self.ring.bytes_head.load(Ordering::Acquire);
            if end - self.bytes_head > PAYLOAD_BYTES {
                return None;
            }
        }
        let at = start & (PAYLOAD_BYTES - 1);
        // SAFETY: `at..at + total` is past the worker's head and before our tail plus the
        // ring's size, so the worker does not read it until a record published later says
        // so; we are the only writer.
        unsafe {
            let to = self.ring.bytes[at].get().cast::<u8>();
            std::ptr::copy_nonoverlapping(input.as_ptr(), to, input.len());
            std::ptr::copy_nonoverlapping(output.as_ptr(), to.add(input.len()), output.len());
        }
        self.bytes_tail = end;
        Some(encode(start, input.len(), output.len()))
    }

    /// Takes a record's captured bytes back out of this ring onto the heap, before the
    /// record goes into another ring.
    pub(super) fn take_back(&mut self, record: &mut Record) {
        let bytes_head = self.ring.bytes_head.load(Ordering::Acquire);
        self.ring.materialize(record, bytes_head);
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
        self.bytes_tail = 0;
        self.bytes_head = 0;
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

/// Copies captured input and output into this thread's ring for pipeline `id`, when it is
/// the first in line (as `push_fast` expects) and they fit; the record must be pushed next.
#[inline]
pub(super) fn place(id: u64, input: Option<&Json>, output: Option<&Json>) -> Option<u64> {
    PRODUCERS
        .try_with(|cell| {
            let mut producers = cell.try_borrow_mut().ok()?;
            let producer = producers.first_mut().filter(|p| p.pipeline_id == id)?;
            producer.place(input, output)
        })
        .ok()
        .flatten()
}

/// A byte position (low 32 bits) and two lengths (16 bits each) in one word.
fn encode(start: usize, input_len: usize, output_len: usize) -> u64 {
    debug_assert!(input_len + output_len <= PAYLOAD_INLINE_MAX);
    (start as u32 as u64) | (input_len as u64) << 32 | (output_len as u64) << 48
}

/// The full position back from its low 32 bits, knowing it is at or after `head` and less
/// than a ring's size past it; and the two lengths.
fn decode(code: u64, head: usize) -> (usize, usize, usize) {
    let low = code as u32;
    let start = head.wrapping_add(low.wrapping_sub(head as u32) as usize);
    (start, (code >> 32) as u16 as usize, (code >> 48) as usize)
}

/// Runs `f` with this thread's producers; `None` when its thread-local storage is gone or
/// busy.
pub(super) fn with_producers<R>(f: impl FnOnce(&mut Vec<Producer>) -> R) -> Option<R> {
    PRODUCERS
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut p| f(&mut p)))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::model::{Level, ObservationType, SpanId, TraceId};
    use crate::pipeline::Finished;

    fn record(i: u64) -> Record {
        let t = clock::ticks();
        Record::Observation(Finished {
            trace_id: TraceId(1),
            id: SpanId(i + 1),
            parent_id: 0,
            name: "r".into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: t,
            end: t,
            captured: Captured::None,
            details: None,
            attributes: None,
        })
    }

    fn captured(record: &Record) -> (Option<String>, Option<String>) {
        match record {
            Record::Observation(Finished {
                captured: Captured::Heap(c),
                ..
            }) => (
                c.0.as_ref().map(|j| j.as_str().to_owned()),
                c.1.as_ref().map(|j| j.as_str().to_owned()),
            ),
            _ => (None, None),
        }
    }

    #[test]
    fn captured_bytes_travel_with_their_records_across_many_wraps() {
        let ring = Arc::new(Ring::new(64));
        let mut producer = Producer::new(1, ring.clone());
        let mut expected = std::collections::VecDeque::new();
        let mut seen = 0;
        for i in 0..20_000u64 {
            // Sizes from 2 to ~1,500 bytes, so the byte ring wraps at odd places.
            let input = Json::string(&"x".repeat((i * 37 % 1500) as usize));
            let output = (i % 3 == 0).then(|| Json::from_value(&i));
            let mut r = record(i);
            producer.credits = 1;
            if let Record::Observation(f) = &mut r {
                f.captured = match producer.place(Some(&input), output.as_ref()) {
                    Some(code) => Captured::InRing(code),
                    None => Captured::Heap(Box::new((Some(input.clone()), output.clone()))),
                };
            }
            expected.push_back((
                Some(input.as_str().to_owned()),
                output.map(|o| o.as_str().to_owned()),
            ));
            if let Err(r) = producer.push(r) {
                panic!("ring full at {i}: {}", matches!(r, Record::Observation(_)));
            }
            // Drain now and then, as the worker would.
            if i % 50 == 49 {
                ring.pop_into(usize::MAX, |r| {
                    assert_eq!(captured(&r), expected.pop_front().unwrap(), "record {seen}");
                    seen += 1;
                });
            }
        }
        ring.pop_into(usize::MAX, |r| {
            assert_eq!(captured(&r), expected.pop_front().unwrap());
            seen += 1;
        });
        assert_eq!(seen, 20_000);
    }
}
