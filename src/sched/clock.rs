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

/// The real clock's epoch, shared by every real-time scheduler so their instants compare.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// The real clock, read as an [`Instant`].
pub(crate) fn real_now() -> Instant {
    Instant(epoch().elapsed())
}

/// The std instant a real-clock [`Instant`] stands for; `None` for deadlines beyond what the
/// platform can represent (they never come).
pub(crate) fn to_std(instant: Instant) -> Option<std::time::Instant> {
    epoch().checked_add(instant.0)
}
