//! Time on a scheduler's clock: [`Instant`], and the process-wide real clock.

use std::ops::{Add, AddAssign, Sub};
use std::sync::OnceLock;
use std::time::Duration;

/// A point on a scheduler's clock: the time elapsed since that clock's epoch.
///
/// Every [`Scheduler::now`](super::Scheduler::now) returns one. Real-time schedulers
/// ([`immediate`](super::immediate), [`single`](super::single), [`pool`](super::pool)) share one
/// process-wide epoch, fixed the first time any of them reads the clock, so their instants compare
/// with each other. A [`VirtualTime`](super::VirtualTime) clock starts at [`Instant::EPOCH`] and moves
/// only when a test advances it.
///
/// Why not `std::time::Instant`: a virtual clock has to make instants out of nothing (ten virtual
/// seconds after the start), which std's opaque instant cannot express. A `Duration` since an epoch
/// works for both clocks; the real clock converts once, at the timer.
///
/// Arithmetic saturates: `Instant + Duration::MAX` is the far future (a deadline that never comes),
/// and `later - earlier` is zero when `earlier` is in fact later. Nothing here panics.
///
/// ```
/// use backflow::sched::Instant;
/// use std::time::Duration;
///
/// let t = Instant::EPOCH + Duration::from_millis(10);
/// assert_eq!(t.since_epoch(), Duration::from_millis(10));
/// assert_eq!(t - Instant::EPOCH, Duration::from_millis(10));
/// assert_eq!(Instant::EPOCH - t, Duration::ZERO);
/// assert!(t + Duration::MAX > t);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The start of a clock: what a fresh [`VirtualTime`](super::VirtualTime) reads.
    pub const EPOCH: Instant = Instant(Duration::ZERO);

    /// The instant `since_epoch` after the clock's epoch.
    pub const fn from_epoch(since_epoch: Duration) -> Instant {
        Instant(since_epoch)
    }

    /// The time from the clock's epoch to this instant.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + delay`, or `None` if that does not fit in a `Duration`.
    pub fn checked_add(self, delay: Duration) -> Option<Instant> {
        self.0.checked_add(delay).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the far future instead of panicking.
    fn add(self, delay: Duration) -> Instant {
        Instant(self.0.saturating_add(delay))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, delay: Duration) {
        *self = *self + delay;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero, like [`saturating_duration_since`](Instant::saturating_duration_since).
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// The real clock's epoch, shared by every real-time scheduler so their instants compare: the
/// monotonic reading it stands for (in nanoseconds, on the fast path's scale) and the same point
/// as a std instant (for timers).
struct Epoch {
    /// [`raw_nanos`] when the epoch was fixed.
    raw: u64,
    /// The std instant of the epoch, read just *after* `raw`: a deadline converted with
    /// [`to_std`] therefore lands a few nanoseconds late, never early.
    std: std::time::Instant,
}

#[inline]
fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| {
        let raw = raw_nanos();
        Epoch {
            raw,
            std: std::time::Instant::now(),
        }
    })
}

/// The real clock, read as an [`Instant`].
#[inline]
pub(crate) fn real_now() -> Instant {
    Instant(Duration::from_nanos(real_nanos()))
}

/// The real clock in nanoseconds since the epoch: what [`real_now`] reads, without the
/// `Duration` (a rate limiter's hot path works in integer nanoseconds).
#[inline]
pub(crate) fn real_nanos() -> u64 {
    raw_nanos().saturating_sub(epoch().raw)
}

/// `CLOCK_MONOTONIC` (the clock std's `Instant` reads on Linux) in nanoseconds, read directly.
///
/// `std::time::Instant` offers no number, only `duration_since`, and its subtraction and
/// `Duration` normalisation cost more than the clock read itself (about 60 of the 80 instructions
/// a limiter spent per reading). Elsewhere, and under Miri or loom, this is std's instant
/// measured from a fixed std origin: slower, the same clock.
#[cfg(all(target_os = "linux", target_pointer_width = "64", not(miri), not(loom)))]
#[inline]
fn raw_nanos() -> u64 {
    /// `struct timespec` on 64-bit Linux: `time_t` and `long`, both 64 bits.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    /// `CLOCK_MONOTONIC` in Linux's uapi `<linux/time.h>`, the same on every architecture.
    const CLOCK_MONOTONIC: i32 = 1;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` is the C library's (std links it on Linux and reads this clock the
    // same way); it only writes the `timespec` behind `tp`, which points at a live, properly
    // aligned `Timespec` with the C layout (`repr(C)`, two 64-bit fields on 64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        // Cannot fail for CLOCK_MONOTONIC with a valid pointer; std's own reading panics here.
        return std_nanos();
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64", not(miri), not(loom))))]
#[inline]
fn raw_nanos() -> u64 {
    std_nanos()
}

/// std's monotonic instant in nanoseconds from a process-wide std origin.
#[cfg_attr(
    all(target_os = "linux", target_pointer_width = "64", not(miri), not(loom)),
    cold
)]
fn std_nanos() -> u64 {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The std instant a real-clock [`Instant`] stands for; `None` for deadlines beyond what the
/// platform can represent (they never come).
pub(crate) fn to_std(instant: Instant) -> Option<std::time::Instant> {
    epoch().std.checked_add(instant.0)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_fast_reading_is_std_monotonic_time() {
        let (std0, ours0) = (std::time::Instant::now(), real_nanos());
        std::thread::sleep(Duration::from_millis(20));
        let (ours1, std1) = (real_nanos(), std::time::Instant::now());
        let ours = Duration::from_nanos(ours1 - ours0);
        let theirs = std1 - std0;
        // Ours was read inside std's interval, on the same clock.
        assert!(ours <= theirs, "{ours:?} > {theirs:?}");
        assert!(ours >= Duration::from_millis(20), "{ours:?}");
        // `real_now` is the same reading as a `Duration`.
        let (a, b, c) = (real_nanos(), nanos_of(real_now()), real_nanos());
        assert!(a <= b && b <= c, "{a} {b} {c}");
    }

    #[test]
    fn a_real_instant_converts_to_a_std_instant_never_early() {
        for _ in 0..1000 {
            let before = std::time::Instant::now();
            let now = real_now();
            // The epoch's std instant was read after its raw reading, so the conversion can only
            // land later than the moment the clock said `now`.
            assert!(to_std(now).unwrap() >= before);
        }
        assert!(real_now() <= real_now());
    }

    fn nanos_of(instant: Instant) -> u64 {
        u64::try_from(instant.since_epoch().as_nanos()).unwrap()
    }
}
