//! A cheap wall clock for the instrumented path.
//!
//! `SystemTime::now()` costs a vDSO call (about 20 ns); the CPU's cycle counter, read through
//! `quanta`, costs a few. The two are tied together once, at first use: wall time is that
//! anchor plus the counter's elapsed time. Over a process's life the two may drift by the
//! counter's calibration error, which is far below the millisecond resolution Langfuse shows.

use std::sync::OnceLock;
use std::time::SystemTime;

use crate::model::Timestamp;

struct Anchor {
    clock: quanta::Clock,
    wall_nanos: u64,
    start: quanta::Instant,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let clock = quanta::Clock::new();
        let start = clock.now();
        Anchor {
            wall_nanos: Timestamp::from(SystemTime::now()).as_nanos(),
            start,
            clock,
        }
    })
}

/// The wall time now, from the cycle counter.
#[inline]
pub(crate) fn now() -> Timestamp {
    let a = anchor();
    let elapsed = a.clock.now().saturating_duration_since(a.start);
    Timestamp(a.wall_nanos + elapsed.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_system_clock() {
        let ours = now().as_nanos() as i128;
        let sys = Timestamp::now().as_nanos() as i128;
        assert!((ours - sys).abs() < 50_000_000, "drift {} ns", ours - sys);
    }

    #[test]
    fn is_monotonic() {
        let a = now();
        let b = now();
        assert!(b >= a);
    }
}
