//! The real clock read through the CPU's time-stamp counter where that is safe: what a rate
//! limiter's admission path reads.
//!
//! `clock_gettime(CLOCK_MONOTONIC)` through the vDSO costs about 18 ns on the machines this
//! project is measured on, `rdtsc` about 7 ns; on a limiter whose whole admission is one
//! compare-and-swap, the clock is most of the cost (governor reads the counter through `quanta`
//! for the same reason). The counter is used only where the kernel itself keeps time with it
//! (its current clocksource is `tsc`) and the CPU says it is invariant (constant rate, not
//! stopped in sleep states, CPUID `0x8000_0007` EDX bit 8); anywhere else, under Miri or loom,
//! and off x86-64 Linux, [`fast_nanos`] is [`real_nanos`](super::clock::real_nanos).
//!
//! # How it is calibrated
//!
//! The first reading fixes an anchor: a counter value and the monotonic time of the same moment
//! (the midpoint of two counter reads around one clock read). Until [`WINDOW`] of monotonic time
//! has passed, readings are the monotonic clock itself. The first reading after that takes a
//! second pair and fixes the rate, nanoseconds per tick, from the two pairs; from then on a
//! reading is `anchor time + (ticks since the anchor) · rate`. The two timelines meet at the
//! second pair, so the switch neither jumps nor runs backwards by more than the read jitter.
//!
//! Precision: two pairs each known to within the bracket of their counter reads (about 50 ns,
//! [`MAX_BRACKET`] at worst) over a 20 ms window give the rate to a few parts per million: a
//! limiter of 1000 per second admits 1000 ± 0.01. The counter does not follow NTP's slewing of
//! `CLOCK_MONOTONIC`, which is of the same order. A limiter only ever subtracts its own
//! readings, so this clock is never compared with a scheduler's instants or turned into a
//! deadline: timers keep reading [`real_now`](super::clock::real_now).
//!
//! Across cores, an invariant counter on one machine is synchronised by the kernel or the
//! hypervisor (Linux stops using it as its clocksource when it finds it is not); a reading a few
//! nanoseconds behind another thread's only makes the limiter stricter for that call (GCRA takes
//! `max(now, tat)`), never admits more.

#[cfg(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom)))]
pub(crate) use self::tsc::fast_nanos;

/// [`fast_nanos`] as an [`Instant`](super::Instant) on the real clock's timeline (within the
/// calibration's few parts per million of [`real_now`](super::clock::real_now)): what a
/// concurrency limiter times its calls with.
#[inline]
pub(crate) fn fast_now() -> super::Instant {
    super::Instant::EPOCH + std::time::Duration::from_nanos(fast_nanos())
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))))]
pub(crate) use super::clock::real_nanos as fast_nanos;

/// Monotonic time between the two calibration pairs.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
const WINDOW: u64 = 20_000_000;

/// The widest bracket (counter ticks around one clock read, in nanoseconds of the clock) a
/// calibration pair may have; a wider one was interrupted and is taken again.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
const MAX_BRACKET: u64 = 2_000;

/// Nanoseconds per tick as a 32.32 fixed-point number, from two (ticks, nanoseconds) pairs; `None`
/// when the pairs do not describe a counter between 50 MHz and 20 GHz running forwards.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
fn rate(a: (u64, u64), b: (u64, u64)) -> Option<u64> {
    let ticks = b.0.checked_sub(a.0)?;
    let nanos = b.1.checked_sub(a.1)?;
    if ticks == 0 || nanos == 0 {
        return None;
    }
    // 32.32 fixed point: nanos/ticks scaled by 2^32.
    let mult = (u128::from(nanos) << 32) / u128::from(ticks);
    // 20 GHz is 0.05 ns per tick, 50 MHz is 20 ns per tick.
    let (lo, hi) = ((1u128 << 32) / 20, 20u128 << 32);
    (lo..=hi).contains(&mult).then_some(mult as u64)
}

/// `anchor_nanos + (ticks - anchor_ticks) · mult / 2^32`, saturating; a counter reading behind
/// the anchor (another core a few ticks behind) reads as the anchor.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
#[inline]
fn scale(ticks: u64, anchor: (u64, u64), mult: u64) -> u64 {
    let since = ticks.saturating_sub(anchor.0);
    let nanos = (u128::from(since) * u128::from(mult)) >> 32;
    anchor
        .1
        .saturating_add(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom)))]
mod tsc {
    use std::sync::OnceLock;

    use super::super::clock::real_nanos;
    use super::{rate, scale, MAX_BRACKET, WINDOW};

    /// The anchor pair and the rate, once calibrated.
    struct Calibration {
        anchor: (u64, u64),
        mult: u64,
    }

    /// `Some` once calibrated; the fast path is one acquire load of it.
    static CALIBRATION: OnceLock<Calibration> = OnceLock::new();
    /// The first pair, `None` when the counter must not be used.
    static ANCHOR: OnceLock<Option<(u64, u64)>> = OnceLock::new();

    /// The real clock in nanoseconds on [`real_nanos`]'s timeline, through the counter once it
    /// is calibrated.
    #[inline]
    pub(crate) fn fast_nanos() -> u64 {
        match CALIBRATION.get() {
            Some(c) => scale(ticks(), c.anchor, c.mult),
            None => calibrating(),
        }
    }

    /// Before calibration, and always where the counter is not usable: the monotonic clock,
    /// fixing the anchor on the first call and the rate on the first call a window later.
    #[cold]
    #[inline(never)]
    fn calibrating() -> u64 {
        let Some(anchor) = *ANCHOR.get_or_init(|| usable().then(pair).flatten()) else {
            return real_nanos();
        };
        let Some(now) = pair() else {
            return real_nanos();
        };
        if now.1.saturating_sub(anchor.1) < WINDOW {
            return now.1;
        }
        match rate(anchor, now) {
            Some(mult) => {
                let c = CALIBRATION.get_or_init(|| Calibration { anchor, mult });
                // Another thread may have fixed the rate from its own second pair: read on the
                // calibration that won, from this call's counter value.
                scale(now.0, c.anchor, c.mult)
            }
            None => now.1,
        }
    }

    /// A (ticks, nanoseconds) pair of the same moment: the clock read between two counter reads,
    /// the counter taken at their midpoint. `None` after a few interrupted tries.
    fn pair() -> Option<(u64, u64)> {
        for _ in 0..8 {
            let before = ticks();
            let nanos = real_nanos();
            let after = ticks();
            let Some(spread) = after.checked_sub(before) else {
                continue;
            };
            // A tick is at least 0.05 ns (20 GHz): a spread of 40 000 ticks is at most 2 µs on
            // the slowest counter accepted and far less on a real one.
            if spread <= MAX_BRACKET * 20 {
                return Some((before + spread / 2, nanos));
            }
        }
        None
    }

    /// The kernel keeps time with the counter and the CPU says it is invariant.
    fn usable() -> bool {
        let kernel = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
        kernel && invariant()
    }

    /// CPUID `0x8000_0007` EDX bit 8: the counter runs at a constant rate in every P-, C- and
    /// T-state.
    fn invariant() -> bool {
        use std::arch::x86_64::__cpuid;
        // `__cpuid` is a safe function on newer toolchains; the block keeps the crate building on
        // its `rust-version`.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID is available on every x86-64 CPU; leaf 0x8000_0000 reports the highest
        // extended leaf, which is read only when it is supported.
        let max = unsafe { __cpuid(0x8000_0000) }.eax;
        if max < 0x8000_0007 {
            return false;
        }
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU, and leaf 0x8000_0007 was just checked to exist.
        let edx = unsafe { __cpuid(0x8000_0007) }.edx;
        edx & (1 << 8) != 0
    }

    #[inline]
    fn ticks() -> u64 {
        // SAFETY: RDTSC exists on every x86-64 CPU and has no preconditions; user-mode reads are
        // allowed on Linux (the vDSO's own clock reads it when the clocksource is `tsc`, which
        // `usable` checked before any reading is used).
        unsafe { std::arch::x86_64::_rdtsc() }
    }
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rate_is_nanoseconds_per_tick_in_fixed_point() {
        // 3 GHz: 1/3 ns per tick.
        let mult = rate((1_000, 50), (3_000_001_000, 1_000_000_050)).unwrap();
        assert_eq!(mult, (1u64 << 32) / 3);
        assert_eq!(scale(3_000_001_000, (1_000, 50), mult), 1_000_000_049);
        // Behind the anchor reads as the anchor.
        assert_eq!(scale(10, (1_000, 50), mult), 50);
        // Backwards, stopped or implausible counters are refused.
        assert_eq!(rate((10, 0), (5, 100)), None);
        assert_eq!(rate((10, 0), (10, 100)), None);
        assert_eq!(rate((0, 0), (1_000, 1_000_000)), None); // 1 MHz
        assert_eq!(rate((0, 0), (1_000_000_000, 1)), None); // 1e18 Hz
    }

    #[test]
    fn the_fast_clock_follows_the_monotonic_clock() {
        let start = (fast_nanos(), super::super::clock::real_nanos());
        // Past the calibration window, then a stretch measured on both clocks.
        std::thread::sleep(Duration::from_nanos(WINDOW) + Duration::from_millis(5));
        let mid = (fast_nanos(), super::super::clock::real_nanos());
        std::thread::sleep(Duration::from_millis(50));
        let end = (fast_nanos(), super::super::clock::real_nanos());
        let fast = end.0 - mid.0;
        let real = end.1 - mid.1;
        // Within 0.5% over 50 ms (the rate is good to ppm; the slack is the reads themselves).
        assert!(fast.abs_diff(real) < real / 200, "fast {fast} real {real}");
        // One timeline: the readings stay within a few microseconds of the monotonic clock.
        for (f, r) in [start, mid, end] {
            assert!(f.abs_diff(r) < 200_000, "fast {f} real {r}");
        }
        // Non-decreasing on one thread.
        let mut last = fast_nanos();
        for _ in 0..100_000 {
            let now = fast_nanos();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
    }
}
