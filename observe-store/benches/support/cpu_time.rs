//! The benchmarking thread's time on a CPU, for benches on a shared machine, where the
//! wall clock measures the other processes too. Shared by the store's and `observe serve`'s
//! write benches (`#[path]`).

use std::time::Duration;

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`).
pub fn cpu_now() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux with schedstats)");
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat's first field: time on CPU in nanoseconds");
    Duration::from_nanos(nanos)
}
