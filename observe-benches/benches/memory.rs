//! Memory per open observation and per buffered record, counted: a global allocator that
//! keeps the bytes live on the heap, read before and after holding `N` of each.
//!
//! Run: `cargo bench -p observe-benches --bench memory` (prints a Markdown table; no
//! criterion: these are sizes, not times, and do not depend on the machine's load).
//!
//! - **open async child**: an `#[observe]` async fn polled once (its observation open) and
//!   kept pending: what the future itself grows by (`size_of` of the future against the
//!   same body without the attribute) and what observe holds on the heap for it.
//! - **open handle**: `TraceHandle::span` held open: the handle's size and its heap.
//! - **buffered record**: observations ended while the one destination is held inside
//!   `export` (a real slow destination), so that the worker has made them into the batches
//!   that wait in the destination's queue: the heap each one holds there. Before the worker
//!   takes a record, it sits in its thread's ring, whose slots are allocated once per thread
//!   (see the table's notes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Context as TaskContext;
use std::time::{Duration, Instant};

use futures::task::noop_waker_ref;
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::{Client, Trace};

/// The system allocator, keeping count of the bytes live.
struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the counter is only
// bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Observations held open at once: enough that the per-thread pools and buffers (a few
/// dozen entries) are noise.
const N: usize = 20_000;

mod ours {
    use observe_runtime::observe;

    /// An async child with nothing captured that never completes on its own.
    #[observe(capture_input = false, capture_output = false)]
    pub async fn pending_child() {
        std::future::pending::<()>().await
    }

    /// The same body, not observed: the future's size without the attribute.
    pub async fn pending_plain() {
        std::future::pending::<()>().await
    }

    #[observe(capture_input = false, capture_output = false)]
    pub fn leaf(x: u64) -> u64 {
        std::hint::black_box(x)
    }

    /// Two small arguments captured.
    #[observe(capture_input = true, capture_output = false)]
    pub fn with_args(query: &str, limit: u32) -> u64 {
        std::hint::black_box(query.len() as u64 + limit as u64)
    }

    #[observe(capture_input = false, capture_output = false)]
    pub fn root(work: &mut dyn FnMut()) {
        work()
    }
}

/// A destination that takes every batch and waits inside `export` while `held` is set:
/// what the worker makes meanwhile waits in its queue.
struct Held {
    gate: Arc<(Mutex<bool>, Condvar)>,
    seen: Arc<AtomicU64>,
}

impl Exporter for Held {
    fn name(&self) -> &str {
        "held"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let (held, changed) = &*self.gate;
        let mut held = held.lock().unwrap();
        while *held {
            held = changed.wait(held).unwrap();
        }
        self.seen
            .fetch_add(batch.observations.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn set_held(gate: &(Mutex<bool>, Condvar), value: bool) {
    *gate.0.lock().unwrap() = value;
    gate.1.notify_all();
}

/// Waits until `done` holds, for at most 30 s.
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the pipeline"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Heap bytes per open async child: polled once and kept pending.
fn open_async_children(client: &Client) -> (usize, usize, f64) {
    let mut per_child = 0.0;
    client.in_scope(|| {
        ours::root(&mut || {
            let mut cx = TaskContext::from_waker(noop_waker_ref());
            // The worker and the destination idle: nothing else allocates or frees meanwhile.
            client.flush(Duration::from_secs(10));
            let before = live();
            let mut futures: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::with_capacity(N);
            for _ in 0..N {
                futures.push(Box::pin(ours::pending_child()));
            }
            let boxed = live();
            for f in &mut futures {
                assert!(f.as_mut().poll(&mut cx).is_pending());
            }
            let opened = live();
            per_child = (opened - boxed) as f64 / N as f64;
            assert!(boxed > before);
            drop(futures);
        })
    });
    (
        std::mem::size_of_val(&ours::pending_child()),
        std::mem::size_of_val(&ours::pending_plain()),
        per_child,
    )
}

/// Heap bytes per open handle (`TraceHandle::span`).
fn open_handles(client: &Client) -> (usize, f64) {
    let trace = client.trace(Trace::new("memory"));
    let mut handles = Vec::with_capacity(N);
    client.flush(Duration::from_secs(10));
    let before = live();
    for _ in 0..N {
        handles.push(trace.span("open"));
    }
    let per = (live() - before) as f64 / N as f64;
    drop(handles);
    trace.end();
    (
        std::mem::size_of::<observe_runtime::ObservationHandle>(),
        per,
    )
}

/// Heap bytes per record the worker made into an observation that waits in the held
/// destination's queue.
fn buffered(call: impl Fn(u64)) -> f64 {
    let gate = Arc::new((Mutex::new(true), Condvar::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let client = Client::builder()
        .exporter(Held {
            gate: gate.clone(),
            seen: seen.clone(),
        })
        .build();
    // Warm the thread's ring, buffer and pools, then let the destination through.
    client.in_scope(|| ours::root(&mut || (0..2_000).for_each(&call)));
    set_held(&gate, false);
    client.flush(Duration::from_secs(10));
    set_held(&gate, true);
    let pending = |client: &Client| client.stats().destinations[0].pending;
    wait_for(|| pending(&client) == 0);
    let before = live();
    // Roots included: one per 1,000 children, as in the overhead bench.
    let mut made = 0u64;
    while made < N as u64 {
        client.in_scope(|| ours::root(&mut || (0..1_000).for_each(&call)));
        made += 1_001;
    }
    // A flush makes the worker turn everything queued into batches and offer them before it
    // answers; the held destination cannot answer, so this returns at its timeout, with
    // every record waiting in the destination's queue.
    client.flush(Duration::from_secs(2));
    assert!(pending(&client) >= made);
    let per = (live() - before) as f64 / made as f64;
    set_held(&gate, false);
    client.flush(Duration::from_secs(30));
    let stats = client.stats();
    assert_eq!(stats.dropped(), 0, "the queue dropped records: {stats:?}");
    per
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, is ignored.
    let seen = Arc::new(AtomicU64::new(0));
    let client = Client::builder()
        .exporter(Held {
            gate: Arc::new((Mutex::new(false), Condvar::new())),
            seen: seen.clone(),
        })
        .build();
    // Warm the per-thread state (ring, buffer, frame pool) so it is not counted below.
    open_async_children(&client);
    let (future_size, plain_size, child_heap) = open_async_children(&client);
    let (handle_size, handle_heap) = open_handles(&client);
    client.flush(Duration::from_secs(10));
    let plain_fn = buffered(|i| {
        std::hint::black_box(ours::leaf(i));
    });
    let captured = buffered(|i| {
        std::hint::black_box(ours::with_args("what is observe?", i as u32));
    });
    println!("| what | inline | heap per item |");
    println!("| --- | --- | --- |");
    println!(
        "| open async child (`#[observe]` async fn, polled once, pending) | future {future_size} B (the same body unobserved: {plain_size} B) | {child_heap:.0} B |"
    );
    println!("| open handle (`TraceHandle::span`) | {handle_size} B | {handle_heap:.0} B |");
    println!(
        "| buffered record, plain `fn` ended, waiting in a destination's queue | | {plain_fn:.0} B |"
    );
    println!(
        "| buffered record, two arguments captured, waiting in a destination's queue | | {captured:.0} B |"
    );
}
