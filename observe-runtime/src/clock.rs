//! A cheap wall clock for the instrumented path.
//!
//! `SystemTime::now()` costs a vDSO call (about 20 ns); the CPU's cycle counter, read through
//! `quanta`, costs a few. The two are tied together once, at first use: wall time is that
//! anchor plus the counter's elapsed time. Over a process's life the two may drift by the
//! counter's calibration error, which is far below the millisecond resolution Langfuse shows.
//!
//! The instrumented path only reads the counter ([`ticks`]); turning ticks into wall time
//! (a multiply and a shift) is left to the pipeline's worker ([`Ticks::to_timestamp`]).

use std::sync::OnceLock;
use std::time::SystemTime;

use crate::model::Timestamp;

struct Anchor {
    clock: quanta::Clock,
    wall_nanos: u64,
    start_raw: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        // Miri cannot run `cpuid` (how quanta picks its source): a mock counter there.
        #[cfg(miri)]
        let clock = quanta::Clock::mock().0;
        #[cfg(not(miri))]
        let clock = quanta::Clock::new();
        let start_raw = clock.raw();
        Anchor {
            wall_nanos: Timestamp::from(SystemTime::now()).as_nanos(),
            start_raw,
            clock,
        }
    })
}

/// A raw reading of the cycle counter (or of the monotonic clock where there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticks(u64);

impl Ticks {
    /// The wall time of this reading.
    pub(crate) fn to_timestamp(self) -> Timestamp {
        let a = anchor();
        Timestamp(a.wall_nanos + a.clock.delta_as_nanos(a.start_raw, self.0))
    }
}

/// The counter now: the only clock work on the instrumented path.
#[inline]
pub(crate) fn ticks() -> Ticks {
    Ticks(anchor().clock.raw())
}

/// The wall time now, from the cycle counter.
#[inline]
pub(crate) fn now() -> Timestamp {
    ticks().to_timestamp()
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
        let (c, d) = (ticks(), ticks());
        assert!(d.to_timestamp() >= c.to_timestamp());
    }
}
