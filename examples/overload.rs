//! Overload: the application produces observations flat out into a destination that is slow
//! or unreachable. The caller never blocks, memory stays under the bound the queue size sets,
//! and what could not be queued is counted.
//!
//! ```text
//! cargo run --release --example overload -- [slow|unreachable] [seconds] [queue_capacity]
//! ```
//!
//! `slow` is a destination that takes 200 ms per batch (about 2,500 records/s, far below what
//! the producers make); `unreachable` is the OTLP/HTTP exporter pointed at a closed port on
//! 127.0.0.1, retrying each batch for 2 s. Two threads call an observed function with two
//! captured arguments in a loop for the given time; every call is timed.
//!
//! It prints the peak resident memory (`VmHWM` from `/proc/self/status`) against the bound,
//! the longest call, and the counters, and exits non-zero if the bound or the "never blocks"
//! promise was broken. `scripts/overload.sh` runs both modes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observe_runtime::export::http::{HttpOptions, RetryPolicy};
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::{observe, Client, PipelineSettings};

/// Bytes an accepted record may take beyond the queue's slot: its captured input (about 40
/// bytes of JSON) and the allocator's overhead, with room to spare.
const PAYLOAD_PER_RECORD: usize = 128;
/// The process's own growth besides the queue: threads' stacks, the HTTP client, buffers.
const SLACK: usize = 8 << 20;
/// The 99.9th percentile of call times must stay under this. A call that waited for the
/// destination would take its 200 ms per batch or its 500 ms connect timeout, and one such
/// wait per batch of 512 would put it there. (The single longest call is printed too, but on
/// a shared 2-core machine it measures the scheduler: a thread preempted mid-call.)
const BLOCKED_P999: Duration = Duration::from_micros(100);

#[observe(capture_output = false)]
fn handle(query: &str, attempt: u32) -> usize {
    query.len() + attempt as usize
}

/// A destination that takes `delay` per batch.
struct Slow {
    delay: Duration,
}

impl Exporter for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn export(&mut self, _batch: &Batch) -> Result<(), ExportError> {
        std::thread::sleep(self.delay);
        Ok(())
    }
}

fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("slow", String::as_str).to_owned();
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let capacity: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(65_536);

    let exporter: Box<dyn Exporter> = match mode.as_str() {
        "slow" => Box::new(Slow {
            delay: Duration::from_millis(200),
        }),
        "unreachable" => Box::new(
            OtlpExporter::collector(
                "http://127.0.0.1:9/v1/traces",
                &[],
                HttpOptions {
                    timeout: Duration::from_millis(500),
                    retry: RetryPolicy {
                        deadline: Duration::from_secs(2),
                        ..RetryPolicy::default()
                    },
                    ..HttpOptions::default()
                },
            )
            .expect("a valid URL"),
        ),
        other => {
            eprintln!("unknown mode {other}: slow or unreachable");
            std::process::exit(2);
        }
    };
    let settings = PipelineSettings {
        queue_capacity: capacity,
        ..PipelineSettings::default()
    };
    let bound_bytes = settings.queue_bytes() + capacity * PAYLOAD_PER_RECORD + SLACK;
    let client = Client::builder()
        .settings(settings)
        .boxed_exporter(exporter)
        .build();

    let baseline_kib = status_kib("VmRSS:");
    let stop = Arc::new(AtomicBool::new(false));
    // Call times by power of two of nanoseconds, summed over the producing threads.
    let histogram: Arc<Vec<AtomicU64>> = Arc::new((0..64).map(|_| AtomicU64::new(0)).collect());
    let longest_ns = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (client, stop, histogram, longest_ns) = (
                client.clone(),
                stop.clone(),
                histogram.clone(),
                longest_ns.clone(),
            );
            std::thread::spawn(move || {
                client.in_scope(|| {
                    let mut local = [0u64; 64];
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        std::hint::black_box(handle("what does observe cost?", t + n));
                        let ns = started.elapsed().as_nanos() as u64;
                        local[(64 - ns.leading_zeros() as usize).min(63)] += 1;
                        longest_ns.fetch_max(ns, Ordering::Relaxed);
                        n = n.wrapping_add(1);
                    }
                    for (bucket, count) in histogram.iter().zip(local) {
                        bucket.fetch_add(count, Ordering::Relaxed);
                    }
                })
            })
        })
        .collect();

    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        let stats = client.stats();
        println!(
            "{:>5.1}s  rss {:>7} KiB  queued {:>10}  exported {:>8}  dropped {:>10}  failed {:>8}",
            started.elapsed().as_secs_f64(),
            status_kib("VmRSS:"),
            stats.queued,
            stats.exported,
            stats.dropped_queue_full,
            stats.failed
        );
    }
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("producer");
    }
    let stats = client.stats();
    let peak_kib = status_kib("VmHWM:");
    let counts: Vec<u64> = histogram
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let calls: u64 = counts.iter().sum();
    // The upper edge of the bucket holding the `q` quantile.
    let quantile = |q: f64| {
        let want = (calls as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= want {
                return Duration::from_nanos(1u64 << bucket);
            }
        }
        Duration::MAX
    };
    let (p50, p999, p9999) = (quantile(0.5), quantile(0.999), quantile(0.9999));
    let longest = Duration::from_nanos(longest_ns.load(Ordering::Relaxed));
    let growth = peak_kib.saturating_sub(baseline_kib) * 1024;

    println!("mode                 {mode}");
    println!("queue_capacity       {capacity} records");
    println!(
        "calls                {calls} in {seconds} s ({:.1} M/s over 2 threads)",
        calls as f64 / seconds as f64 / 1e6
    );
    println!(
        "call time            p50 < {p50:?}, p99.9 < {p999:?}, p99.99 < {p9999:?}, longest {longest:?}"
    );
    println!(
        "queued / dropped     {} / {} (+{} failed at the destination)",
        stats.queued, stats.dropped_queue_full, stats.failed
    );
    println!("rss at start         {baseline_kib} KiB");
    println!("peak rss (VmHWM)     {peak_kib} KiB");
    println!(
        "growth / bound       {} KiB / {} KiB (queue {} KiB + payloads {} KiB + slack {} KiB)",
        growth / 1024,
        bound_bytes / 1024,
        PipelineSettings {
            queue_capacity: capacity,
            ..PipelineSettings::default()
        }
        .queue_bytes()
            / 1024,
        capacity * PAYLOAD_PER_RECORD / 1024,
        SLACK / 1024
    );

    let mut ok = true;
    if growth > bound_bytes {
        println!("FAIL: memory grew past the bound");
        ok = false;
    }
    if p999 > BLOCKED_P999 {
        println!("FAIL: one call in a thousand took over {p999:?}: callers wait");
        ok = false;
    }
    if stats.dropped_queue_full == 0 {
        println!("FAIL: the destination kept up, so this run did not overload anything");
        ok = false;
    }
    // Do not wait for the slow destination to drain: what is left is counted as pending.
    let report = client.shutdown(Duration::from_millis(500));
    println!(
        "shutdown             pending {} (timed out: {})",
        report.pending, report.timed_out
    );
    println!("{}", if ok { "OK" } else { "FAILED" });
    std::process::exit(if ok { 0 } else { 1 });
}
