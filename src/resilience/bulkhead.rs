//! Bulkheads: a concurrency pool per class of work, so that one class exhausting its pool never
//! blocks another (the seeds' `pools = {critical: 50, standard: 30, batch: 20}`).
//!
//! [`Bulkhead`] is one pool: [`try_enter`](Bulkhead::try_enter) takes a slot as an RAII
//! [`BulkheadPermit`] or refuses at once with [`Rejected`] (SEMANTICS: the default wait is 0);
//! [`enter_timeout`](Bulkhead::enter_timeout) waits a bounded time for a slot. The refusal's
//! `retry_after` is the expected time until a slot frees: the mean time a permit has been held
//! lately (one permit in 16 per thread is timed) divided by the pool size (`None` until a timed
//! permit has been released). [`Bulkheads`] holds
//! one pool per class.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crate::error::Rejected;
use crate::metrics::PrimitiveMetrics;
use crate::resilience::{nanos, real_clock, Clock};
use crate::sched::{Scheduler, Task};
use crate::sync::{AtomicBool, AtomicU64, Condvar, Mutex, Ordering, StdArc};

/// Builds a [`Bulkhead`].
#[derive(Clone)]
pub struct BulkheadBuilder {
    max_concurrent: u64,
    clock: Option<Clock>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl fmt::Debug for BulkheadBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadBuilder")
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl BulkheadBuilder {
    /// Reads time from `scheduler` (hold times, the deadline of `enter_timeout`).
    pub fn scheduler<S: Scheduler + 'static>(mut self, scheduler: S) -> Self {
        self.clock = Some(StdArc::new(scheduler));
        self
    }

    /// Reports admissions, rejections, the limit and the permits held to `metrics`.
    pub fn metrics(mut self, metrics: StdArc<PrimitiveMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The pool.
    ///
    /// # Panics
    ///
    /// If `max_concurrent` is 0.
    pub fn build(self) -> Bulkhead {
        assert!(self.max_concurrent > 0, "a bulkhead of 0 admits nothing");
        assert!(
            self.max_concurrent <= SLOTS,
            "a bulkhead holds at most {SLOTS} slots"
        );
        if let Some(m) = &self.metrics {
            m.set_limit(self.max_concurrent);
        }
        Bulkhead {
            inner: StdArc::new(Inner {
                state: AtomicU64::new(0),
                max: self.max_concurrent,
                lock: Mutex::new(()),
                freed: Condvar::new(),
                hold_ewma: AtomicU64::new(0),
                clock: self.clock.unwrap_or_else(real_clock),
                metrics: self.metrics,
            }),
        }
    }
}

/// A pool of `max_concurrent` slots shared by its clones.
///
/// ```
/// use backflow::resilience::bulkhead::Bulkhead;
///
/// let pool = Bulkhead::new(2);
/// let a = pool.try_enter().unwrap();
/// let _b = pool.try_enter().unwrap();
/// assert!(pool.try_enter().is_err()); // full: refused at once
/// drop(a);                            // the slot comes back with the permit
/// assert!(pool.try_enter().is_ok());
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: StdArc<Inner>,
}

struct Inner {
    /// The slots taken (low 32 bits, in `0..=max`) and the threads blocked in `enter_timeout`
    /// (high 32 bits), in one word so that a release and a waiter's registration are ordered by
    /// the word's modification order alone: a releaser's `fetch_sub` either comes before a
    /// waiter's CAS (which then sees the free slot) or after it (and then sees the waiter and
    /// wakes it under `lock`, which the waiter holds until it sleeps). AcqRel RMWs; no SeqCst.
    state: AtomicU64,
    max: u64,
    /// Guards nothing but the sleep of waiters (cold path).
    lock: Mutex<()>,
    freed: Condvar,
    /// Mean hold time of recent permits in nanoseconds (an EWMA, weight 1/8); 0 = no sample.
    /// Relaxed: an estimate.
    hold_ewma: AtomicU64,
    clock: Clock,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

/// One waiter in [`Inner::state`].
const WAITER: u64 = 1 << 32;
/// The slots-taken half of [`Inner::state`].
const SLOTS: u64 = WAITER - 1;

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.inner.max)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Bulkhead {
    /// A pool of `max_concurrent` slots on the real clock.
    ///
    /// # Panics
    ///
    /// If `max_concurrent` is 0.
    pub fn new(max_concurrent: u64) -> Self {
        Self::builder(max_concurrent).build()
    }

    /// A builder for a pool of `max_concurrent` slots.
    pub fn builder(max_concurrent: u64) -> BulkheadBuilder {
        BulkheadBuilder {
            max_concurrent,
            clock: None,
            metrics: None,
        }
    }

    /// Slots taken now.
    pub fn in_flight(&self) -> u64 {
        self.inner.state.load(Ordering::Relaxed) & SLOTS
    }

    /// The pool size.
    pub fn max_concurrent(&self) -> u64 {
        self.inner.max
    }

    /// Whether `self` and `other` are handles to the same pool.
    pub fn same_as(&self, other: &Bulkhead) -> bool {
        StdArc::ptr_eq(&self.inner, &other.inner)
    }

    /// Takes a slot if one is free; `registered` = the caller is counted as a waiter, and stops
    /// being one if it takes the slot.
    fn try_take(&self, registered: bool) -> bool {
        let inner = &*self.inner;
        let mut current = inner.state.load(Ordering::Acquire);
        loop {
            if current & SLOTS >= inner.max {
                return false;
            }
            let next = current + 1 - if registered { WAITER } else { 0 };
            match inner.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes a slot, or (the pool being full) registers the caller as a waiter, in one step.
    fn take_or_register(&self) -> bool {
        let inner = &*self.inner;
        let mut current = inner.state.load(Ordering::Acquire);
        loop {
            let (next, took) = if current & SLOTS < inner.max {
                (current + 1, true)
            } else {
                (current + WAITER, false)
            };
            match inner.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return took,
                Err(actual) => current = actual,
            }
        }
    }

    fn permit(&self) -> BulkheadPermit {
        let inner = &*self.inner;
        if let Some(m) = &inner.metrics {
            m.record_admitted(1);
            m.set_in_flight(inner.state.load(Ordering::Relaxed) & SLOTS);
        }
        BulkheadPermit {
            bulkhead: self.clone(),
            start: sampled_start(&inner.clock),
        }
    }

    fn refuse(&self) -> Rejected {
        if let Some(m) = &self.inner.metrics {
            m.record_rejected(1);
        }
        let hold = self.inner.hold_ewma.load(Ordering::Relaxed);
        let retry_after = (hold > 0).then(|| Duration::from_nanos(hold / self.inner.max));
        Rejected::new((), retry_after)
    }

    /// Takes a slot now, or refuses at once.
    #[doc(alias = "tryAcquirePermission")]
    #[doc(alias = "tryAcquire")]
    pub fn try_enter(&self) -> Result<BulkheadPermit, Rejected> {
        if self.try_take(false) {
            Ok(self.permit())
        } else {
            Err(self.refuse())
        }
    }

    /// Takes a slot, waiting at most `timeout` (on the pool's clock) for one to free.
    #[doc(alias = "maxWaitDuration")]
    pub fn enter_timeout(&self, timeout: Duration) -> Result<BulkheadPermit, Rejected> {
        if self.try_take(false) {
            return Ok(self.permit());
        }
        if timeout.is_zero() {
            return Err(self.refuse());
        }
        let inner = &*self.inner;
        let expired = StdArc::new(AtomicBool::new(false));
        let wake = {
            let (expired, me) = (expired.clone(), self.clone());
            inner.clock.schedule_task_after(
                timeout,
                Task::new(move || {
                    expired.store(true, Ordering::Release);
                    let _guard = me.inner.lock.lock();
                    me.inner.freed.notify_all();
                }),
            )
        };
        let mut guard = inner.lock.lock();
        let taken = if self.take_or_register() {
            true
        } else {
            loop {
                // Registered: a release from now on sees us and wakes us under the lock we hold.
                if expired.load(Ordering::Acquire) {
                    inner.state.fetch_sub(WAITER, Ordering::AcqRel);
                    break false;
                }
                guard = inner.freed.wait(guard);
                if self.try_take(true) {
                    break true;
                }
            }
        };
        drop(guard);
        wake.cancel();
        if taken {
            Ok(self.permit())
        } else {
            Err(self.refuse())
        }
    }

    fn release(&self, start: Option<u64>) {
        let inner = &*self.inner;
        if let Some(start) = start {
            let held = nanos(inner.clock.now()).saturating_sub(start).max(1);
            let old = inner.hold_ewma.load(Ordering::Relaxed);
            let new = if old == 0 {
                held
            } else {
                (old - old / 8).saturating_add(held / 8)
            };
            inner.hold_ewma.store(new, Ordering::Relaxed);
        }
        let before = inner.state.fetch_sub(1, Ordering::AcqRel);
        if let Some(m) = &inner.metrics {
            m.set_in_flight((before & SLOTS) - 1);
        }
        if before >= WAITER {
            // All of them: one may leave on its deadline instead of taking the slot.
            let _guard = inner.lock.lock();
            inner.freed.notify_all();
        }
    }
}

/// One permit in this many, per thread, is timed for the hold-time estimate: two clock reads per
/// permit would cost more than the rest of `try_enter` and its release together. The first
/// permit a thread takes is always timed, so the estimate starts at once.
#[cfg(not(loom))]
const TIME_ONE_IN: u32 = 16;

/// When a permit taken now started, if this one is timed. Under loom every permit is timed: a
/// thread-local count would outlive one model execution and make the next differ.
#[cfg(loom)]
fn sampled_start(clock: &Clock) -> Option<u64> {
    Some(nanos(clock.now()))
}

/// When a permit taken now started, if this one is timed.
#[cfg(not(loom))]
fn sampled_start(clock: &Clock) -> Option<u64> {
    thread_local! {
        static PERMITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let timed = PERMITS.with(|n| {
        let k = n.get();
        n.set(k.wrapping_add(1));
        k % TIME_ONE_IN == 0
    });
    timed.then(|| nanos(clock.now()))
}

/// A slot of a [`Bulkhead`], given back when dropped.
pub struct BulkheadPermit {
    bulkhead: Bulkhead,
    /// When it was taken, in nanoseconds on the pool's clock, if it is timed.
    start: Option<u64>,
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit").finish_non_exhaustive()
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.bulkhead.release(self.start);
    }
}

/// One [`Bulkhead`] per class of work, optionally with a fallback class for unknown ones.
///
/// ```
/// use backflow::resilience::bulkhead::Bulkheads;
///
/// let pools = Bulkheads::new()
///     .class("critical", 50)
///     .class("standard", 30)
///     .class("batch", 20)
///     .fallback("standard");
/// let batch: Vec<_> = (0..20).map(|_| pools.try_enter(&"batch").unwrap()).collect();
/// assert!(pools.try_enter(&"batch").is_err());       // batch is full...
/// assert!(pools.try_enter(&"critical").is_ok());     // ...critical is not touched
/// assert!(pools.try_enter(&"reports").is_ok());      // unknown: the standard pool
/// # drop(batch);
/// ```
pub struct Bulkheads<K> {
    pools: HashMap<K, Bulkhead>,
    fallback: Option<K>,
    clock: Option<Clock>,
}

impl<K: Clone> Clone for Bulkheads<K> {
    fn clone(&self) -> Self {
        Bulkheads {
            pools: self.pools.clone(),
            fallback: self.fallback.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for Bulkheads<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkheads")
            .field("pools", &self.pools)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Default for Bulkheads<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone> Bulkheads<K> {
    /// No classes yet.
    pub fn new() -> Self {
        Bulkheads {
            pools: HashMap::new(),
            fallback: None,
            clock: None,
        }
    }

    /// Runs every pool added afterwards on `scheduler`'s clock.
    pub fn scheduler<S: Scheduler + 'static>(mut self, scheduler: S) -> Self {
        self.clock = Some(StdArc::new(scheduler));
        self
    }

    /// Adds a class with a pool of `max_concurrent`.
    pub fn class(self, class: K, max_concurrent: u64) -> Self {
        let mut builder = Bulkhead::builder(max_concurrent);
        builder.clock = self.clock.clone();
        self.pool(class, builder.build())
    }

    /// Adds a class served by `pool` (built with its own metrics, say).
    pub fn pool(mut self, class: K, pool: Bulkhead) -> Self {
        self.pools.insert(class, pool);
        self
    }

    /// Serves unknown classes from `class`'s pool (without one they are refused).
    pub fn fallback(mut self, class: K) -> Self {
        self.fallback = Some(class);
        self
    }

    /// The pool that serves `class`.
    pub fn get(&self, class: &K) -> Option<&Bulkhead> {
        self.pools
            .get(class)
            .or_else(|| self.fallback.as_ref().and_then(|k| self.pools.get(k)))
    }

    /// Takes a slot of `class`'s pool now, or refuses at once (an unknown class without a
    /// fallback is refused with `retry_after: None`).
    pub fn try_enter(&self, class: &K) -> Result<BulkheadPermit, Rejected> {
        match self.get(class) {
            Some(pool) => pool.try_enter(),
            None => Err(Rejected::new((), None)),
        }
    }
}
