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
//!
//! Who may touch what is in the types: a ring is made as a pair of ends, a [`Producer`] (one
//! per thread and pipeline, in a thread-local) and a [`Consumer`] (held by the pipeline for
//! its worker); neither is `Clone`, and every method that reads or writes slots takes
//! `&mut self` on its end. So two threads can never push into one ring, nor pop from it.

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::{Captured, Record};
use crate::capture_buf::{resolve, Captures};
use crate::model::Json;

/// Bytes of captured input and output a ring carries beside its records.
/// (Smaller under Miri, so that its tests wrap the ring many times in little time.)
const PAYLOAD_BYTES: usize = if cfg!(miri) { 4 * 1024 } else { 64 * 1024 };
/// Captures bigger than this (input and output together) go on the heap instead.
const PAYLOAD_INLINE_MAX: usize = 2048;

/// One thread's records for one pipeline: the state both ends share.
struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<Record>>]>,
    mask: usize,
    /// The next slot the worker reads: written by the worker only.
    head: CachePadded<AtomicUsize>,
    /// The next slot the producer writes: written by the producing thread only.
    tail: CachePadded<AtomicUsize>,
    /// The producing thread exited: once drained, the worker forgets the ring.
    abandoned: AtomicBool,
    /// Credits the exited thread did not use, for the worker to give back.
    unused_credits: AtomicUsize,
    /// Captured input and output, as JSON bytes; each record says where its own are.
    /// Reached only through [`Ring::bytes_at`], which derives pointers from the whole buffer.
    bytes: Box<[UnsafeCell<MaybeUninit<u8>>]>,
    /// Where the bytes of records the worker has taken end: written by the worker only.
    bytes_head: CachePadded<AtomicUsize>,
}

// SAFETY: the ring is shared by exactly one `Producer` and one `Consumer` (see `new_ring`;
// neither is `Clone`, and each writes through `&mut self`). A slot is written only by the
// producer before it publishes the tail past it (release), and read only by the consumer
// after it saw that tail (acquire) and before it publishes the head past it (release); the
// producer reuses a slot only after it saw that head (acquire). The byte ring follows the
// same rule with `bytes_head`. So no byte is accessed by both threads without a
// happens-before edge between the accesses. (`Send` is derived: see the assertions below.)
unsafe impl Sync for Ring {}

// What crosses threads inside a ring must be `Send`; asserted, not assumed.
const _: () = {
    const fn send<T: Send>() {}
    send::<Record>();
    send::<Ring>();
    send::<Producer>();
    send::<Consumer>();
};

/// A new ring of `capacity` slots (rounded up to a power of two), as its two ends: the
/// producer's part (for [`Producer::new`] or [`Producer::continue_in`]) and the consumer.
pub(super) fn new_ring(capacity: usize) -> (Slots, Consumer) {
    let ring = Arc::new(Ring::new(capacity));
    (Slots(ring.clone()), Consumer { ring })
}

/// The producer's end of a ring not yet given to a [`Producer`]. Not `Clone`: one producer
/// per ring.
pub(super) struct Slots(Arc<Ring>);

/// The worker's end of one ring. Not `Clone`: one consumer per ring, and `&mut self` to
/// take records, so "worker only" is a compile-time fact.
pub(super) struct Consumer {
    ring: Arc<Ring>,
}

impl Consumer {
    /// Records in the ring now (exact when neither side is moving).
    pub(super) fn len(&self) -> usize {
        self.ring.len()
    }

    /// True once the producing thread exited and every record was taken.
    pub(super) fn finished(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire) && self.len() == 0
    }

    /// Credits the exited thread left; read once, when the worker forgets the ring.
    pub(super) fn take_unused_credits(&mut self) -> usize {
        self.ring.unused_credits.swap(0, Ordering::AcqRel)
    }

    /// Takes up to `max` records, oldest first.
    pub(super) fn pop_into(&mut self, max: usize, mut sink: impl FnMut(Record)) -> usize {
        let ring = &*self.ring;
        let head = ring.head.load(Ordering::Relaxed);
        let tail = ring.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(max);
        let mut bytes_head = ring.bytes_head.load(Ordering::Relaxed);
        for i in 0..n {
            let slot = &ring.slots[head.wrapping_add(i) & ring.mask];
            // SAFETY: slots in head..tail were written and published by the producer (the
            // acquire load of `tail` above), and we, the one consumer, read each exactly
            // once here before the head moves past it.
            let mut record = unsafe { (*slot.get()).assume_init_read() };
            // SAFETY: the record was just taken by the consumer, so its bytes were published
            // with it, and `bytes_head` is where the bytes of earlier records end.
            if let Some(end) = unsafe { ring.materialize(&mut record, bytes_head) } {
                bytes_head = end;
            }
            sink(record);
        }
        ring.bytes_head.store(bytes_head, Ordering::Release);
        ring.head.store(head.wrapping_add(n), Ordering::Release);
        n
    }
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1).next_power_of_two();
        Ring {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: capacity - 1,
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            abandoned: AtomicBool::new(false),
            unused_credits: AtomicUsize::new(0),
            bytes: uninit_bytes(PAYLOAD_BYTES),
            bytes_head: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// A pointer to byte `at` (already reduced modulo [`PAYLOAD_BYTES`]) of the byte ring,
    /// valid for the rest of the buffer. Derived from the whole buffer, not from the one
    /// element at `at`: a pointer from `&self.bytes[at]` may only reach that one byte.
    fn bytes_at(&self, at: usize) -> *mut u8 {
        debug_assert!(at < PAYLOAD_BYTES);
        let base = UnsafeCell::raw_get(self.bytes.as_ptr()).cast::<u8>();
        // `wrapping_add` keeps this function safe; `at` is in bounds, so it equals `add`.
        base.wrapping_add(at)
    }

    /// The JSON at `start..start + len` of the byte ring; `raw`: the bytes hold raw values
    /// (see [`crate::capture_buf`]), written as JSON here.
    ///
    /// # Safety
    /// The range was written by the producer and published with a record the caller has
    /// taken, and the producer does not write it again until `bytes_head` moves past it.
    unsafe fn json_at(&self, start: usize, len: usize, raw: bool) -> Option<Json> {
        if len == 0 {
            return None;
        }
        let at = start & (PAYLOAD_BYTES - 1);
        debug_assert!(
            at + len <= PAYLOAD_BYTES,
            "`place` keeps captures contiguous"
        );
        // SAFETY: `at..at + len` is inside the buffer (`place` never lets a capture wrap),
        // initialized by `place`, and not written while we read (the caller's contract).
        let bytes = unsafe { std::slice::from_raw_parts(self.bytes_at(at), len) };
        if raw {
            return Some(resolve(bytes, true));
        }
        // SAFETY: without raw values the bytes are JSON text that serde_json wrote (or a
        // `Json`'s text): valid UTF-8.
        let text = unsafe { std::str::from_utf8_unchecked(bytes) };
        Some(Json::from_raw(text))
    }

    /// Moves a taken record's captured bytes out of the ring into its details, as JSON, and
    /// says where its bytes end (`None` when it has none here). `bytes_head` is where the
    /// taken bytes end so far.
    ///
    /// # Safety
    /// The record came out of this ring (so its bytes are published), and its bytes are not
    /// yet given back to the producer (`bytes_head` has not moved past them).
    unsafe fn materialize(&self, record: &mut Record, bytes_head: usize) -> Option<usize> {
        let Record::Observation(finished) = record else {
            return None;
        };
        let Captured::InRing(code) = finished.captured else {
            return None;
        };
        let (start, input, output) = decode(code, bytes_head);
        // SAFETY: published with this record, and not given back (our caller's contract).
        let json = unsafe {
            (
                self.json_at(start, input.len, input.raw),
                self.json_at(start + input.len, output.len, output.raw),
            )
        };
        // Charged as the bytes it took here, whatever the length of the JSON made of them.
        finished.settle(json.0, json.1, input.len + output.len);
        Some(start + input.len + output.len)
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        self.tail.load(Ordering::Acquire).wrapping_sub(head)
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
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
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
    /// A producer for `id` writing into `slots`, with no credit yet.
    pub(super) fn new(pipeline_id: u64, slots: Slots) -> Producer {
        Producer {
            pipeline_id,
            ring: slots.0,
            tail: 0,
            head: 0,
            credits: 0,
            bytes_tail: 0,
            bytes_head: 0,
        }
    }

    /// Copies captured input and output into the byte ring; where they are, or `None` when
    /// they do not fit (the caller keeps them on the heap).
    fn place(&mut self, captures: &Captures<'_>) -> Option<u64> {
        let (input, output) = (captures.input.bytes, captures.output.bytes);
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
        let to = self.ring.bytes_at(at);
        // SAFETY: `at + total <= PAYLOAD_BYTES` (the skip above), so the range is inside the
        // buffer, which `to` may reach whole. It is past the consumer's `bytes_head` (acquired
        // above or earlier) and within one buffer of it, so the consumer does not read it
        // until a record published later says so; we, the one producer, are its only writer.
        // The sources are the capture buffers' bytes (`joined` is the input's and the
        // output's `total` bytes in one slice), never the ring.
        unsafe {
            match captures.joined() {
                // One buffer held both: one copy.
                Some(both) => std::ptr::copy_nonoverlapping(both.as_ptr(), to, total),
                None => {
                    std::ptr::copy_nonoverlapping(input.as_ptr(), to, input.len());
                    std::ptr::copy_nonoverlapping(
                        output.as_ptr(),
                        to.add(input.len()),
                        output.len(),
                    );
                }
            }
        }
        self.bytes_tail = end;
        Some(encode(
            start,
            Extent {
                len: input.len(),
                raw: captures.input.raw,
            },
            Extent {
                len: output.len(),
                raw: captures.output.raw,
            },
        ))
    }

    /// Takes a record's captured bytes back out of this ring into its details, before the
    /// record goes into another ring.
    ///
    /// # Safety
    /// The record's captured bytes were placed by this producer (with [`Producer::place`])
    /// and the record was never pushed.
    pub(super) unsafe fn take_back(&mut self, record: &mut Record) {
        let bytes_head = self.ring.bytes_head.load(Ordering::Acquire);
        // SAFETY: we wrote the bytes and do not write them again before this returns; the
        // consumer never reads them (the record was not published), so `bytes_head` is at
        // or before them.
        unsafe { self.ring.materialize(record, bytes_head) };
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
        // SAFETY: the slot is outside head..tail (the head acquired above or earlier), so
        // the consumer does not read it; we are the ring's one producer (`&mut self`).
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
    pub(super) fn continue_in(&mut self, slots: Slots) {
        let old = std::mem::replace(&mut self.ring, slots.0);
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
    // between here and the end of this function (nothing below can exit the thread).
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
pub(super) fn place(id: u64, captures: &Captures<'_>) -> Option<u64> {
    PRODUCERS
        .try_with(|cell| {
            let mut producers = cell.try_borrow_mut().ok()?;
            let producer = producers.first_mut().filter(|p| p.pipeline_id == id)?;
            producer.place(captures)
        })
        .ok()
        .flatten()
}

/// Where one capture (input or output) is in the byte ring, after the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    len: usize,
    /// It holds raw values (see [`crate::capture_buf`]).
    raw: bool,
}

/// The top bit of a capture's 16: it holds raw values. Lengths take 12 at most.
const RAW_BIT: u64 = 1 << 15;
const _: () = assert!(PAYLOAD_INLINE_MAX < RAW_BIT as usize);

impl Extent {
    fn code(self) -> u64 {
        self.len as u64 | if self.raw { RAW_BIT } else { 0 }
    }

    fn from_code(code: u64) -> Extent {
        Extent {
            len: (code & (RAW_BIT - 1)) as usize,
            raw: code & RAW_BIT != 0,
        }
    }
}

/// A byte position (low 32 bits) and two captures (16 bits each) in one word.
fn encode(start: usize, input: Extent, output: Extent) -> u64 {
    debug_assert!(input.len + output.len <= PAYLOAD_INLINE_MAX);
    (start as u32 as u64) | input.code() << 32 | output.code() << 48
}

/// The full position back from its low 32 bits, knowing it is at or after `head` and less
/// than a ring's size past it; and the two captures.
fn decode(code: u64, head: usize) -> (usize, Extent, Extent) {
    let low = code as u32;
    let start = head.wrapping_add(low.wrapping_sub(head as u32) as usize);
    (
        start,
        Extent::from_code((code >> 32) & 0xFFFF),
        Extent::from_code(code >> 48),
    )
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
    use crate::capture_buf::CaptureBuf;
    use crate::clock;
    use crate::model::{Level, ObservationType, SpanId, TraceId};
    use crate::pipeline::Finished;

    pub(super) fn record(i: u64) -> Record {
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
        let text = |j: &Option<Json>| j.as_ref().map(|j| j.as_str().to_owned());
        match record {
            Record::Observation(Finished {
                captured: Captured::Heap(c),
                ..
            }) => (text(&c.0), text(&c.1)),
            Record::Observation(Finished {
                captured: Captured::Settled(_),
                details: Some(d),
                ..
            }) => (text(&d.input), text(&d.output)),
            _ => (None, None),
        }
    }

    #[test]
    fn captured_bytes_travel_with_their_records_across_many_wraps() {
        let (slots, mut consumer) = new_ring(64);
        let mut producer = Producer::new(1, slots);
        let mut expected = std::collections::VecDeque::new();
        let mut seen = 0;
        // Under Miri, fewer: still several wraps of the 64 KiB byte ring.
        let records = if cfg!(miri) { 200 } else { 20_000 };
        for i in 0..records {
            // Sizes from 2 to ~1,500 bytes, so the byte ring wraps at odd places; JSON text
            // and raw values (text, scalars) in turn.
            let text = "x".repeat((i * 37 % 1500) as usize);
            let mut input = CaptureBuf::new();
            if i % 2 == 0 {
                input.text(&text);
            } else {
                input.push_bytes(Json::string(&text).as_str().as_bytes());
            }
            // An output in a buffer of its own, or appended to the input's (as `#[observe]`
            // does), in turn.
            let output = (i % 6 == 0).then(|| {
                let mut output = CaptureBuf::new();
                output.scalar(crate::capture_buf::Scalar::U64(i));
                output
            });
            if i % 6 == 3 {
                input.begin_output();
                input.scalar(crate::capture_buf::Scalar::U64(i));
            }
            let mut r = record(i);
            producer.credits = 1;
            if let Record::Observation(f) = &mut r {
                let captures = Captures::of(Some(&input), output.as_ref());
                f.captured = match producer.place(&captures) {
                    Some(code) => Captured::InRing(code),
                    None => Captured::Heap(Box::new((
                        captures.input.to_json(),
                        captures.output.to_json(),
                        0,
                    ))),
                };
            }
            expected.push_back((
                Some(Json::string(&text).as_str().to_owned()),
                (i % 3 == 0).then(|| i.to_string()),
            ));
            if let Err(r) = producer.push(r) {
                panic!("ring full at {i}: {}", matches!(r, Record::Observation(_)));
            }
            // Drain now and then, as the worker would.
            if i % 50 == 49 {
                consumer.pop_into(usize::MAX, |r| {
                    assert_eq!(captured(&r), expected.pop_front().unwrap(), "record {seen}");
                    seen += 1;
                });
            }
        }
        consumer.pop_into(usize::MAX, |r| {
            assert_eq!(captured(&r), expected.pop_front().unwrap());
            seen += 1;
        });
        assert_eq!(seen, records);
    }
}

/// The hand-written ring against `rtrb` (a well-kept SPSC ring), push then pop of one record
/// (128 bytes), on one thread. A criterion run, not a test: `cargo test -p observe-runtime
/// --release --lib ring_against_rtrb -- --ignored --nocapture`. Figures in BENCHMARKS.md.
#[cfg(all(test, not(miri)))]
mod bench {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::Criterion;

    use super::tests::record;
    use super::*;

    #[test]
    #[ignore = "a benchmark: run with --release --ignored"]
    fn ring_against_rtrb() {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let mut group = c.benchmark_group("spsc_push_pop_128B");
        {
            let (slots, mut consumer) = new_ring(1024);
            let mut producer = Producer::new(1, slots);
            producer.credits = usize::MAX;
            let mut held = Some(record(0));
            group.bench_function("observe_ring", |b| {
                b.iter(|| {
                    let r = held.take().expect("popped back");
                    if producer.push(black_box(r)).is_err() {
                        unreachable!("one record in a 1024-slot ring");
                    }
                    consumer.pop_into(1, |r| held = Some(black_box(r)));
                })
            });
        }
        {
            let (mut producer, mut consumer) = rtrb::RingBuffer::<Record>::new(1024);
            let mut held = Some(record(0));
            group.bench_function("rtrb", |b| {
                b.iter(|| {
                    let r = held.take().expect("popped back");
                    if producer.push(black_box(r)).is_err() {
                        unreachable!("one record in a 1024-slot ring");
                    }
                    held = consumer.pop().ok().map(black_box);
                })
            });
        }
        group.finish();
    }
}
