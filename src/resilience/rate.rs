//! A rate limiter shared by many callers: GCRA (the generic cell rate algorithm) in one CAS loop.
//!
//! The state is one number, the *theoretical arrival time* `tat`: when the limiter would be idle
//! again if nothing more came. With an emission interval `T = period / elements` and a burst `b`,
//! a request for `n` cells at `now` computes `tat' = max(now, tat) + n·T` and is admitted iff
//! `tat' − now ≤ b·T`; otherwise it is refused with `retry_after = tat' − now − b·T`, the exact
//! wait after which the same request would pass. This is the same arithmetic as `governor`'s (a
//! differential property test, `tests/resilience_rate.rs`, checks that on random schedules).
//!
//! [`RateLimiter`] keeps `tat` in one atomic and updates it with a compare-and-swap, so clones on
//! any number of threads share one limit exactly and nobody takes a lock. [`KeyedRateLimiter`] keeps
//! one `tat` per key (a tenant, a client), with a bound on the number of keys.
//!
//! The user-facing stream operator is [`Flux::rate_limit`](crate::Flux::rate_limit).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::error::Rejected;
use crate::metrics::PrimitiveMetrics;
use crate::resilience::{nanos, real_clock, sleep_on, Clock};
use crate::sched::Scheduler;
use crate::sync::{AtomicU64, Mutex, Ordering, StdArc};

/// The GCRA decision for `cost` cells at `now` given `tat`: the new `tat`, or the exact wait.
///
/// `tau` is `burst · T`. A `cost` above `tau` never passes: `Err(None)`.
#[inline]
fn gcra(tat: u64, now: u64, cost: u64, tau: u64) -> Result<u64, Option<Duration>> {
    if cost > tau {
        return Err(None);
    }
    let next = tat.max(now).saturating_add(cost);
    let ahead = next - now;
    if ahead <= tau {
        Ok(next)
    } else {
        Err(Some(Duration::from_nanos(ahead - tau)))
    }
}

/// Reads `clock` in nanoseconds. `real` says it is the default real clock, read directly
/// ([`fast_nanos`](crate::sched::fast_nanos): the CPU's calibrated time-stamp counter where the
/// kernel keeps time with it, else `CLOCK_MONOTONIC`) without the dynamic call, the `Duration`
/// and the 128-bit conversion, which cost more than the reading itself. A limiter only subtracts
/// its own readings, so this timeline never meets a scheduler's instants.
#[inline]
fn now_nanos(clock: &Clock, real: bool) -> u64 {
    if real {
        crate::sched::fast_nanos()
    } else {
        scheduler_nanos(clock)
    }
}

/// A scheduler's clock (a virtual one, or a real one given explicitly) in nanoseconds: kept out
/// of line so the admission path that inlines into callers is the real clock's.
#[inline(never)]
fn scheduler_nanos(clock: &Clock) -> u64 {
    nanos(clock.now())
}

/// The rate of a limiter: emission interval and burst, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rate {
    /// `T`: nanoseconds per cell, at least 1.
    interval: u64,
    /// The most cells admitted back to back after a quiet spell.
    burst: u64,
    /// `τ = burst · T` (saturating), computed once: the admission test's bound.
    tau: u64,
}

impl Rate {
    fn new(elements: u64, per: Duration, burst: u64) -> Self {
        assert!(
            elements > 0,
            "a rate of 0 elements per period admits nothing"
        );
        assert!(!per.is_zero(), "a rate per zero time is infinite");
        assert!(burst > 0, "a burst of 0 admits nothing");
        let per = u64::try_from(per.as_nanos()).unwrap_or(u64::MAX);
        let interval = (per / elements).max(1);
        Rate {
            interval,
            burst,
            tau: interval.saturating_mul(burst),
        }
    }

    #[inline]
    fn tau(&self) -> u64 {
        self.tau
    }

    #[inline]
    fn cost(&self, n: u64) -> u64 {
        self.interval.saturating_mul(n)
    }
}

/// Builds a [`RateLimiter`] or a [`KeyedRateLimiter`]: `elements` per `per`, a burst (default
/// `elements`), a scheduler for the clock (default real time) and optional metrics.
#[derive(Clone)]
pub struct RateLimiterBuilder {
    elements: u64,
    per: Duration,
    burst: Option<u64>,
    clock: Option<Clock>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl fmt::Debug for RateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("elements", &self.elements)
            .field("per", &self.per)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl RateLimiterBuilder {
    /// The most cells admitted back to back after a quiet spell (default: `elements`).
    /// `burst(1)` spaces admissions evenly, `per / elements` apart.
    pub fn burst(mut self, burst: u64) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Reads time from `scheduler` (a [`VirtualTime`](crate::sched::VirtualTime) in tests) and
    /// waits on its timer in [`RateLimiter::acquire`].
    pub fn scheduler<S: Scheduler + 'static>(mut self, scheduler: S) -> Self {
        self.clock = Some(StdArc::new(scheduler));
        self
    }

    /// Counts admissions and rejections in `metrics` (limit = the burst).
    pub fn metrics(mut self, metrics: StdArc<PrimitiveMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The rate, the clock, whether that is the default real clock, and the metrics.
    fn parts(self) -> (Rate, Clock, bool, Option<StdArc<PrimitiveMetrics>>) {
        let rate = Rate::new(self.elements, self.per, self.burst.unwrap_or(self.elements));
        if let Some(m) = &self.metrics {
            m.set_limit(rate.burst);
        }
        let real = self.clock.is_none();
        (
            rate,
            self.clock.unwrap_or_else(real_clock),
            real,
            self.metrics,
        )
    }

    /// The limiter, starting idle (a full burst is available at once).
    ///
    /// # Panics
    ///
    /// If `elements`, `per` or the burst is zero.
    pub fn build(self) -> RateLimiter {
        let (rate, clock, real, metrics) = self.parts();
        let start = now_nanos(&clock, real);
        RateLimiter {
            inner: StdArc::new(Inner {
                tat: CachePadded::new(AtomicU64::new(start)),
                rate,
                clock,
                real,
                metrics,
            }),
        }
    }

    /// A limiter per key, each with this rate, holding at most `max_keys` keys (see
    /// [`KeyedRateLimiter`]).
    ///
    /// # Panics
    ///
    /// If `elements`, `per`, the burst or `max_keys` is zero.
    pub fn build_keyed<K: Hash + Eq + Clone + Send>(self, max_keys: usize) -> KeyedRateLimiter<K> {
        assert!(max_keys > 0, "a keyed limiter must hold at least one key");
        let (rate, clock, real, metrics) = self.parts();
        KeyedRateLimiter {
            inner: StdArc::new(KeyedInner {
                rate,
                clock,
                real,
                metrics,
                max_keys,
                keys: Mutex::new(Keys {
                    tats: HashMap::new(),
                    next_idle: 0,
                }),
            }),
        }
    }
}

/// A GCRA rate limiter: `elements` per `per` with a burst, shared by all its clones.
///
/// - [`try_acquire(n)`](Self::try_acquire) admits `n` cells now or refuses with the exact
///   `retry_after`; it never blocks and never takes a lock (one CAS loop on one atomic).
/// - [`acquire(n)`](Self::acquire) blocks the calling thread until the cells are admitted (waiting
///   on the limiter's scheduler, so a test advancing a virtual clock releases it).
/// - Clones share the state: a limit of 10/s shared by 4 streams is 10/s in total.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::rate::RateLimiter;
/// use backflow::sched::VirtualTime;
///
/// let clock = VirtualTime::new();
/// // 10 per second, bursts of up to 5.
/// let limiter = RateLimiter::builder(10, Duration::from_secs(1))
///     .burst(5)
///     .scheduler(clock.clone())
///     .build();
/// assert!(limiter.try_acquire(5).is_ok());
/// let refused = limiter.try_acquire(2).unwrap_err();
/// assert_eq!(refused.retry_after, Some(Duration::from_millis(200))); // two cells of 100 ms
/// assert_eq!(limiter.try_acquire(6).unwrap_err().retry_after, None); // above the burst: never
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: StdArc<Inner>,
}

struct Inner {
    /// The theoretical arrival time, in nanoseconds on `clock`. Relaxed CAS: it guards no other
    /// data, and the CAS alone makes every admission see every earlier one. On a cache line of
    /// its own: the read-only fields below (and the `Arc`'s counts) stay in every caller's cache
    /// while the callers' CASes move this line between cores.
    tat: CachePadded<AtomicU64>,
    rate: Rate,
    clock: Clock,
    /// `clock` is the default real clock: read it directly ([`now_nanos`]).
    real: bool,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl Inner {
    /// The refusal, counted: off the admission path, so that path stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn refuse(&self, n: u64, retry_after: Option<Duration>) -> Rejected {
        if let Some(m) = &self.metrics {
            m.record_rejected(n);
        }
        Rejected::new((), retry_after)
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &Duration::from_nanos(self.inner.rate.interval))
            .field("burst", &self.inner.rate.burst)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter of `elements` per `per` with a burst of `elements`, on the real clock.
    ///
    /// # Panics
    ///
    /// If `elements` or `per` is zero.
    pub fn new(elements: u64, per: Duration) -> Self {
        Self::builder(elements, per).build()
    }

    /// A builder for a limiter of `elements` per `per`.
    pub fn builder(elements: u64, per: Duration) -> RateLimiterBuilder {
        RateLimiterBuilder {
            elements,
            per,
            burst: None,
            clock: None,
            metrics: None,
        }
    }

    /// The most cells admitted back to back.
    pub fn burst(&self) -> u64 {
        self.inner.rate.burst
    }

    /// The emission interval `T`: the time one cell costs.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.inner.rate.interval)
    }

    /// Whether `self` and `other` are handles to the same limiter.
    pub fn same_as(&self, other: &RateLimiter) -> bool {
        StdArc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Admits `n` cells now, or refuses with the exact wait after which the same request passes.
    ///
    /// `n = 0` always passes. `n` above the burst never passes: `retry_after` is `None`.
    #[doc(alias = "check")]
    #[doc(alias = "check_n")]
    #[doc(alias = "acquirePermission")]
    // Always inlined: on the admission path it is a clock read, a few compares and one CAS (the
    // refusal and a scheduler's clock are out of line), and a call's register saves were a
    // tenth of it.
    #[inline(always)]
    pub fn try_acquire(&self, n: u64) -> Result<(), Rejected> {
        let inner = &*self.inner;
        let now = now_nanos(&inner.clock, inner.real);
        let cost = inner.rate.cost(n);
        let tau = inner.rate.tau();
        let mut tat = inner.tat.load(Ordering::Relaxed);
        loop {
            match gcra(tat, now, cost, tau) {
                Ok(next) => {
                    match inner.tat.compare_exchange_weak(
                        tat,
                        next,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => {
                            if let Some(m) = &inner.metrics {
                                m.record_admitted(n);
                            }
                            return Ok(());
                        }
                        Err(actual) => tat = actual,
                    }
                }
                Err(retry_after) => return Err(inner.refuse(n, retry_after)),
            }
        }
    }

    /// Admits `n` cells, blocking the calling thread until they pass.
    ///
    /// The wait is on the limiter's scheduler: on a [`VirtualTime`](crate::sched::VirtualTime) it
    /// ends when another thread advances the clock. Fails only for `n` above the burst (no wait
    /// will do).
    pub fn acquire(&self, n: u64) -> Result<(), Rejected> {
        loop {
            match self.try_acquire(n) {
                Ok(()) => return Ok(()),
                Err(Rejected {
                    retry_after: Some(wait),
                    ..
                }) => sleep_on(&self.inner.clock, wait),
                Err(never) => return Err(never),
            }
        }
    }
}

/// One GCRA limiter per key (a tenant, a client), all with the same rate, holding at most
/// `max_keys` keys.
///
/// A key whose `tat` has passed is *idle*: its state is the same as a fresh key's, so forgetting
/// it loses nothing. When the table is full, idle keys are evicted; if none is idle, a request for
/// a new key is refused with `retry_after` = when the first key turns idle. So a flood of new keys
/// (governor#171's denial of service) can neither grow memory nor reset a busy key's limit.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::rate::RateLimiter;
/// use backflow::sched::VirtualTime;
///
/// let clock = VirtualTime::new();
/// let per_tenant = RateLimiter::builder(1, Duration::from_secs(1))
///     .scheduler(clock.clone())
///     .build_keyed::<&str>(2);
/// assert!(per_tenant.try_acquire(&"a", 1).is_ok());
/// assert!(per_tenant.try_acquire(&"b", 1).is_ok()); // tenants do not share a limit
/// assert!(per_tenant.try_acquire(&"a", 1).is_err());
/// // The table is full and both keys are busy: a third tenant waits for one to go idle.
/// assert_eq!(per_tenant.try_acquire(&"c", 1).unwrap_err().retry_after, Some(Duration::from_secs(1)));
/// clock.advance_by(Duration::from_secs(1));
/// assert!(per_tenant.try_acquire(&"c", 1).is_ok()); // idle keys were evicted
/// assert_eq!(per_tenant.len(), 1);
/// ```
pub struct KeyedRateLimiter<K> {
    inner: StdArc<KeyedInner<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("interval", &Duration::from_nanos(self.inner.rate.interval))
            .field("burst", &self.inner.rate.burst)
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}

struct KeyedInner<K> {
    rate: Rate,
    clock: Clock,
    /// `clock` is the default real clock: read it directly ([`now_nanos`]).
    real: bool,
    metrics: Option<StdArc<PrimitiveMetrics>>,
    max_keys: usize,
    /// One lock for the table: taken for a hash look-up and a few instructions, never while
    /// calling out.
    keys: Mutex<Keys<K>>,
}

struct Keys<K> {
    /// Each key's theoretical arrival time, in nanoseconds on the clock.
    tats: HashMap<K, u64>,
    /// No key turns idle before this instant (the minimum `tat` seen by the last full sweep):
    /// until then a sweep would evict nothing, so a full table refuses new keys without one.
    next_idle: u64,
}

impl<K: Hash + Eq + Clone + Send> KeyedRateLimiter<K> {
    /// Admits `n` cells for `key` now, or refuses with the exact wait (see
    /// [`RateLimiter::try_acquire`]); a new key that finds the table full and busy is refused
    /// until the first key turns idle.
    pub fn try_acquire(&self, key: &K, n: u64) -> Result<(), Rejected> {
        let inner = &*self.inner;
        let now = now_nanos(&inner.clock, inner.real);
        let (cost, tau) = (inner.rate.cost(n), inner.rate.tau());
        let result = {
            let mut keys = inner.keys.lock();
            let tat = match keys.tats.get(key) {
                Some(tat) => Some(*tat),
                None => {
                    if keys.tats.len() >= inner.max_keys && !keys.evict_idle(now) {
                        let wait = Duration::from_nanos(keys.next_idle.saturating_sub(now));
                        drop(keys);
                        if let Some(m) = &inner.metrics {
                            m.record_rejected(n);
                        }
                        return Err(Rejected::new((), Some(wait)));
                    }
                    None
                }
            };
            match gcra(tat.unwrap_or(now), now, cost, tau) {
                Ok(next) => {
                    keys.tats.insert(key.clone(), next);
                    if keys.next_idle != 0 {
                        keys.next_idle = keys.next_idle.min(next);
                    }
                    Ok(())
                }
                Err(retry_after) => Err(Rejected::new((), retry_after)),
            }
        };
        if let Some(m) = &inner.metrics {
            match result {
                Ok(()) => m.record_admitted(n),
                Err(_) => m.record_rejected(n),
            }
        }
        result
    }

    /// How many keys the table holds now.
    pub fn len(&self) -> usize {
        self.inner.keys.lock().tats.len()
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every idle key now; returns how many keys remain.
    pub fn evict_idle(&self) -> usize {
        let now = now_nanos(&self.inner.clock, self.inner.real);
        let mut keys = self.inner.keys.lock();
        keys.next_idle = 0;
        keys.evict_idle(now);
        keys.tats.len()
    }
}

impl<K: Hash + Eq> Keys<K> {
    /// Evicts the keys idle at `now`; returns whether any was. Skips the sweep while no key can
    /// have turned idle since the last one.
    fn evict_idle(&mut self, now: u64) -> bool {
        if now < self.next_idle {
            return false;
        }
        let before = self.tats.len();
        self.tats.retain(|_, tat| *tat > now);
        self.next_idle = self.tats.values().copied().min().unwrap_or(0);
        self.tats.len() < before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_arithmetic() {
        let tau = 30; // burst 3 of T = 10
        assert_eq!(gcra(0, 0, 10, tau), Ok(10));
        assert_eq!(gcra(30, 0, 10, tau), Err(Some(Duration::from_nanos(10))));
        assert_eq!(gcra(20, 0, 10, tau), Ok(30));
        assert_eq!(gcra(5, 100, 10, tau), Ok(110), "idle: counts from now");
        assert_eq!(gcra(0, 0, 40, tau), Err(None), "above the burst");
    }

    #[test]
    fn rate_rounds_the_interval_down_and_never_to_zero() {
        let r = Rate::new(3, Duration::from_secs(1), 3);
        assert_eq!(r.interval, 333_333_333);
        let r = Rate::new(10, Duration::from_nanos(5), 1);
        assert_eq!(r.interval, 1);
    }
}
