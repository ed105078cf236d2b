//! Bulkheads: a concurrency pool per class of work, so that one class exhausting its pool never
//! blocks another (the seeds' `pools = {critical: 50, standard: 30, batch: 20}`).
//!
//! [`Bulkhead`] is one pool: [`try_enter`](Bulkhead::try_enter) takes a slot as an RAII
//! [`BulkheadPermit`] or refuses at once with [`Rejected`] (SEMANTICS: the default wait is 0);
//! [`enter_timeout`](Bulkhead::enter_timeout) waits a bounded time for a slot. The refusal's
//! `retry_after` is the expected time until a slot frees: the mean time a permit has been held
//! lately divided by the pool size (`None` until a permit has been released). [`Bulkheads`] holds
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
        if let Some(m) = &self.metrics {
            m.set_limit(self.max_concurrent);
        }
        Bulkhead {
            inner: StdArc::new(Inner {
                in_flight: AtomicU64::new(0),
                max: self.max_concurrent,
                waiting: AtomicU64::new(0),
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
    /// Slots taken, in `0..=max`. SeqCst with `waiting`: a releaser decrements this and then
    /// reads `waiting`, a waiter increments `waiting` and then tries this; in the single SeqCst
    /// order one of them sees the other, so a waiter is never left asleep beside a free slot.
    in_flight: AtomicU64,
    max: u64,
    /// Threads blocked in `enter_timeout` (SeqCst, see `in_flight`).
    waiting: AtomicU64,
    /// Guards nothing but the sleep of waiters (cold path).
    lock: Mutex<()>,
    freed: Condvar,
    /// Mean hold time of recent permits in nanoseconds (an EWMA, weight 1/8); 0 = no sample.
    /// Relaxed: an estimate.
    hold_ewma: AtomicU64,
    clock: Clock,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

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
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// The pool size.
    pub fn max_concurrent(&self) -> u64 {
        self.inner.max
    }

    /// Whether `self` and `other` are handles to the same pool.
    pub fn same_as(&self, other: &Bulkhead) -> bool {
        StdArc::ptr_eq(&self.inner, &other.inner)
    }

    fn try_take(&self) -> bool {
        let inner = &*self.inner;
        let mut current = inner.in_flight.load(Ordering::SeqCst);
        loop {
            if current >= inner.max {
                return false;
            }
            match inner.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    fn permit(&self) -> BulkheadPermit {
        let inner = &*self.inner;
        if let Some(m) = &inner.metrics {
            m.record_admitted(1);
            m.set_in_flight(inner.in_flight.load(Ordering::Relaxed));
        }
        BulkheadPermit {
            bulkhead: self.clone(),
            start: nanos(inner.clock.now()),
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
        if self.try_take() {
            Ok(self.permit())
        } else {
            Err(self.refuse())
        }
    }

    /// Takes a slot, waiting at most `timeout` (on the pool's clock) for one to free.
    #[doc(alias = "maxWaitDuration")]
    pub fn enter_timeout(&self, timeout: Duration) -> Result<BulkheadPermit, Rejected> {
        if self.try_take() {
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
                    expired.store(true, Ordering::SeqCst);
                    let _guard = me.inner.lock.lock();
                    me.inner.freed.notify_all();
                }),
            )
        };
        let mut guard = inner.lock.lock();
        inner.waiting.fetch_add(1, Ordering::SeqCst);
        let taken = loop {
            if self.try_take() {
                break true;
            }
            if expired.load(Ordering::SeqCst) {
                break false;
            }
            guard = inner.freed.wait(guard);
        };
        inner.waiting.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        wake.cancel();
        if taken {
            Ok(self.permit())
        } else {
            Err(self.refuse())
        }
    }

    fn release(&self, start: u64) {
        let inner = &*self.inner;
        let held = nanos(inner.clock.now()).saturating_sub(start).max(1);
        let old = inner.hold_ewma.load(Ordering::Relaxed);
        let new = if old == 0 {
            held
        } else {
            (old - old / 8).saturating_add(held / 8)
        };
        inner.hold_ewma.store(new, Ordering::Relaxed);
        let left = inner.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        if let Some(m) = &inner.metrics {
            m.set_in_flight(left);
        }
        if inner.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = inner.lock.lock();
            inner.freed.notify_one();
        }
    }
}

/// A slot of a [`Bulkhead`], given back when dropped.
pub struct BulkheadPermit {
    bulkhead: Bulkhead,
    /// When it was taken, in nanoseconds on the pool's clock.
    start: u64,
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
