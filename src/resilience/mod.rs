//! The resilience toolkit: what a service does when more work comes than it can take.
//!
//! Backpressure inside one stream is `request(n)`. Between services, and between the many callers
//! of one service, the backpressure literature this crate grew from names more strategies, and
//! this module builds them (SEMANTICS §5):
//!
//! | primitive | what it does | on refusal | operator |
//! |---|---|---|---|
//! | [`RateLimiter`](rate::RateLimiter) (+ [`KeyedRateLimiter`](rate::KeyedRateLimiter)) | GCRA: `n` per period with a burst, shared by clones | [`Rejected`] with the exact wait | [`Flux::rate_limit`](crate::Flux::rate_limit) |
//! | [`Backoff`](retry::Backoff), [`ExponentialBackoff`](retry::ExponentialBackoff), [`RetryBudget`](retry::RetryBudget) | delays between attempts, with jitter; a budget that stops retry storms | `RetryExhausted { last }` | [`Flux::retry`](crate::Flux::retry), [`Flux::retry_when`](crate::Flux::retry_when), [`Flux::repeat`](crate::Flux::repeat) |
//! | [`CircuitBreaker`](breaker::CircuitBreaker) | stops calling a failing dependency, probes it, closes again | [`Rejected`] with the remaining open time | [`Flux::circuit_breaker`](crate::Flux::circuit_breaker), [`Flux::circuit_breaker_map`](crate::Flux::circuit_breaker_map) |
//! | [`Bulkhead`](bulkhead::Bulkhead), [`Bulkheads`](bulkhead::Bulkheads) | a concurrency pool per class; classes never block each other | [`Rejected`] with the expected release | — (guard the call) |
//! | [`LoadShedder`](shed::LoadShedder), [`PriorityPool`](shed::PriorityPool) | under load, the lowest priority goes first, never queued | [`Rejected`], or `on_drop(DropReason::Shed)` | [`Flux::shed`](crate::Flux::shed) |
//! | [`Limiter`](limit::Limiter) over [`Aimd`](limit::Aimd), [`Gradient2`](limit::Gradient2), [`Vegas`](limit::Vegas) | a concurrency limit that follows the measured capacity (RAII permits) | [`Rejected`] at once | [`Flux::concurrent_map`](crate::Flux::concurrent_map), [`Flux::concurrent_map_ordered`](crate::Flux::concurrent_map_ordered) |
//! | watermarks | stop requesting at `high` held items, resume at `low` | — | [`Flux::pause_at`](crate::Flux::pause_at) |
//!
//! # Shared rules
//!
//! - **Usable on its own and as an operator.** Each primitive has a plain API for request
//!   handlers (`try_acquire`, `call`, `try_enter`) and a `Flux` method that applies it to a stream.
//! - **Clones share.** A clone is a handle to the same state: two streams rate-limited by clones
//!   of one limiter share its rate; a clone never multiplies a limit.
//! - **Refusals hand the item back.** A refusal is a [`Rejected`]`{ retry_after, item }`: the caller
//!   keeps what it offered and learns when to come back (the limiter's deficit, the breaker's
//!   remaining open time). [`Rejected::to_error`] turns it into an
//!   [`ErrorKind::Rejected`](crate::ErrorKind::Rejected) stream error carrying the same hint, which
//!   [`retry_when`](crate::Flux::retry_when) honours.
//! - **Time comes from a scheduler.** Every primitive reads its clock from a
//!   [`Scheduler`] (the real clock by default; pass one with `.scheduler(..)`
//!   on its builder). Under a [`VirtualTime`](crate::sched::VirtualTime) every test is exact and
//!   instant.
//! - **Metrics.** Give a primitive a [`PrimitiveMetrics`](crate::metrics::PrimitiveMetrics) from
//!   [`Registry::primitive`](crate::metrics::Registry::primitive) and it counts what it admitted and
//!   rejected and reports its state, limit and in-flight calls; the registry's Prometheus text shows
//!   them.
//!
//! # Example
//!
//! A limiter of 2 calls per second with a burst of 2, on virtual time:
//!
//! ```
//! use std::time::Duration;
//! use backflow::resilience::rate::RateLimiter;
//! use backflow::sched::VirtualTime;
//!
//! let clock = VirtualTime::new();
//! let limiter = RateLimiter::builder(2, Duration::from_secs(1)).scheduler(clock.clone()).build();
//! let shared = limiter.clone(); // the same limit, not a second one
//! assert!(limiter.try_acquire(1).is_ok());
//! assert!(shared.try_acquire(1).is_ok());
//! let refused = limiter.try_acquire(1).unwrap_err();
//! assert_eq!(refused.retry_after, Some(Duration::from_millis(500))); // exact
//! clock.advance_by(Duration::from_millis(500));
//! assert!(shared.try_acquire(1).is_ok());
//! ```
//!
//! The seeds' InventoryService scenario (`examples/inventory.rs`) puts the pieces together: a
//! service that rejects with `Retry-After`, clients that retry with backoff and jitter through a
//! circuit breaker.

use std::time::Duration;

use crate::sched::{Instant, Scheduler};
use crate::sync::{Condvar, Mutex, StdArc};

pub mod breaker;
pub mod bulkhead;
pub mod limit;
pub mod rate;
pub mod retry;
pub mod shed;

pub use crate::error::Rejected;

/// The clock and timer a primitive runs on: any scheduler, shared.
pub type Clock = StdArc<dyn Scheduler>;

/// The real clock (the [`immediate`](crate::sched::immediate) scheduler's): the default.
pub(crate) fn real_clock() -> Clock {
    StdArc::new(crate::sched::immediate())
}

/// An instant as nanoseconds since its clock's epoch (saturating).
#[inline]
pub(crate) fn nanos(instant: Instant) -> u64 {
    u64::try_from(instant.since_epoch().as_nanos()).unwrap_or(u64::MAX)
}

/// Blocks the calling thread until `delay` has passed on `clock`: a timer task on the clock wakes
/// it, so on a [`VirtualTime`](crate::sched::VirtualTime) it returns once another thread advances
/// the clock far enough.
pub(crate) fn sleep_on(clock: &Clock, delay: Duration) {
    if delay.is_zero() {
        return;
    }
    let wake = StdArc::new((Mutex::new(false), Condvar::new()));
    let w = wake.clone();
    let _handle = clock.schedule_task_after(
        delay,
        crate::sched::Task::new(move || {
            *w.0.lock() = true;
            w.1.notify_all();
        }),
    );
    let mut done = wake.0.lock();
    while !*done {
        done = wake.1.wait(done);
    }
}

/// SplitMix64: the tiny seeded generator behind jitter (no `rand` dependency). Not for secrets.
///
/// ```
/// use backflow::resilience::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same sequence
/// assert!(a.next_f64() < 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from std's per-process random hash keys and the wall clock (different
    /// every call).
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        hasher.write_u128(wall.as_nanos());
        SplitMix64::new(hasher.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform duration in `[low, high]` (nanosecond resolution).
    pub fn duration_between(&mut self, low: Duration, high: Duration) -> Duration {
        let (lo, hi) = (nanos_of(low), nanos_of(high.max(low)));
        let span = hi - lo;
        let x = if span == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (span + 1)
        };
        Duration::from_nanos(lo + x)
    }
}

fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
