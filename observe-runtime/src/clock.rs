//! A cheap wall clock for the instrumented path.
//!
//! `SystemTime::now()` costs a vDSO call (about 20 ns); the CPU's cycle counter, read through
//! `quanta`, costs a few. The two are tied together once, at first use: wall time is that
//! anchor plus the counter's elapsed time. Over a process's life the two may drift by the
//! counter's calibration error, which is far below the millisecond resolution Langfuse shows.
//!
//! The instrumented path only reads the counter ([`ticks`]); turning ticks into wall time
//! (a multiply and a shift) is left to the pipeline's worker ([`Ticks::to_timestamp`]).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::model::Timestamp;

struct Anchor {
    clock: quanta::Clock,
    wall_nanos: u64,
    start_raw: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

/// How [`ticks`] reads the counter, decided with the anchor: [`TSC`] when quanta's source is
/// the x86 time-stamp counter itself (then `ticks` reads it directly, without quanta's
/// dispatch on its source and the anchor's `OnceLock`: ~15 instructions of each read).
static SOURCE: AtomicU8 = AtomicU8::new(QUANTA);
const QUANTA: u8 = 0;
#[cfg_attr(not(all(target_arch = "x86_64", not(miri))), allow(dead_code))]
const TSC: u8 = 1;

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        // Miri cannot run `cpuid` (how quanta picks its source): a mock counter there.
        #[cfg(miri)]
        let clock = quanta::Clock::mock().0;
        #[cfg(not(miri))]
        let clock = quanta::Clock::new();
        if reads_the_tsc(&clock) {
            SOURCE.store(TSC, Ordering::Relaxed);
        }
        let start_raw = clock.raw();
        Anchor {
            wall_nanos: Timestamp::from(SystemTime::now()).as_nanos(),
            start_raw,
            clock,
        }
    })
}

/// True when `clock.raw()` is the time-stamp counter: each of three readings falls between
/// two reads of the counter around it (a monotonic clock's nanoseconds never do).
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn reads_the_tsc(clock: &quanta::Clock) -> bool {
    (0..3).all(|_| {
        let before = tsc();
        let raw = clock.raw();
        let after = tsc();
        before <= raw && raw <= after
    })
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
fn reads_the_tsc(_: &quanta::Clock) -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
fn tsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions and every x86_64 CPU has it (older toolchains
    // declare the intrinsic `unsafe`, newer ones safe).
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
}

/// A raw reading of the cycle counter (or of the monotonic clock where there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticks(u64);

impl Ticks {
    /// The wall time of this reading.
    pub(crate) fn to_timestamp(self) -> Timestamp {
        WallClock::get().timestamp(self)
    }
}

/// Turns readings into wall time with the anchor looked up once: the worker converts a
/// batch's readings with one.
#[derive(Clone, Copy)]
pub(crate) struct WallClock(&'static Anchor);

impl WallClock {
    /// The clock's anchor (set now if no reading was taken yet).
    #[inline]
    pub(crate) fn get() -> WallClock {
        WallClock(anchor())
    }

    /// The wall time of `ticks`.
    #[inline]
    pub(crate) fn timestamp(self, ticks: Ticks) -> Timestamp {
        let a = self.0;
        Timestamp(a.wall_nanos + a.clock.delta_as_nanos(a.start_raw, ticks.0))
    }
}

/// The counter now: the only clock work on the instrumented path.
#[inline]
pub(crate) fn ticks() -> Ticks {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if SOURCE.load(Ordering::Relaxed) == TSC {
        return Ticks(tsc());
    }
    ticks_through_quanta()
}

/// A reading through quanta: before the anchor is set, or where its source is not the TSC.
#[inline(never)]
fn ticks_through_quanta() -> Ticks {
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
    fn the_direct_read_and_quanta_read_the_same_counter() {
        let _ = now();
        for _ in 0..100 {
            let (a, b, c) = (ticks(), ticks_through_quanta(), ticks());
            assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
        }
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
