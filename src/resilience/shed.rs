//! Load shedding by priority: under load, refuse the least important work first, at once, never
//! by queueing it.
//!
//! Two primitives, for the two ways the seeds put it:
//!
//! - [`LoadShedder`]: a load signal (any `Fn() -> f64`, e.g. CPU, queue fill, a bulkhead's
//!   utilisation) and thresholds above which only classes of at least some priority pass. The
//!   seed-002 rule "over 70% load drop low, over 90% only critical" is
//!   `LoadShedder::new(load).above(0.70, Priority::Normal).above(0.90, Priority::Critical)`. Its
//!   operator is [`Flux::shed`](crate::Flux::shed).
//! - [`PriorityPool`]: a pool of concurrency slots where each class has a guaranteed share and
//!   may borrow spare capacity. A class borrows only what leaves the unused shares of every class
//!   at or above it free, so a higher class can always take its share, and may also take a lower
//!   class's unused share when the pool is short: the lowest class is shed first.
//!
//! Priorities are any `Ord` type; [`Priority`] is the usual four.

use std::fmt;
use std::time::Duration;

use crate::error::Rejected;
use crate::metrics::PrimitiveMetrics;
use crate::sync::{Mutex, StdArc};

/// The usual four priority classes, lowest first (so `Priority::Low < Priority::Critical`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Batch work, prefetching, analytics: shed first.
    Low,
    /// Ordinary requests.
    Normal,
    /// Requests a user is waiting on.
    High,
    /// Health checks, payments: shed last.
    Critical,
}

type LoadFn = StdArc<dyn Fn() -> f64 + Send + Sync>;

/// Admits work by priority according to a load signal and thresholds. Clones share.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use backflow::resilience::shed::{LoadShedder, Priority};
///
/// let load = Arc::new(AtomicU64::new(50)); // percent
/// let l = load.clone();
/// // Seed 002: over 70% load drop low, over 90% only critical.
/// let shedder = LoadShedder::new(move || l.load(Ordering::Relaxed) as f64 / 100.0)
///     .above(0.70, Priority::Normal)
///     .above(0.90, Priority::Critical);
/// assert!(shedder.admits(&Priority::Low));
/// load.store(80, Ordering::Relaxed);
/// assert!(!shedder.admits(&Priority::Low));
/// assert!(shedder.admits(&Priority::Normal));
/// load.store(95, Ordering::Relaxed);
/// assert!(!shedder.admits(&Priority::High));
/// assert!(shedder.admits(&Priority::Critical));
/// assert_eq!(shedder.try_admit("report", &Priority::Low).unwrap_err().into_inner(), "report");
/// ```
pub struct LoadShedder<P> {
    inner: StdArc<ShedInner<P>>,
}

struct ShedInner<P> {
    load: LoadFn,
    /// `(threshold, least priority admitted above it)`, by threshold ascending.
    rules: Vec<(f64, P)>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl<P> Clone for LoadShedder<P> {
    fn clone(&self) -> Self {
        LoadShedder {
            inner: self.inner.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for LoadShedder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedder")
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}

impl<P: Ord + Clone + Send + Sync + 'static> LoadShedder<P> {
    /// A shedder reading the load from `load` (by convention in `0.0..=1.0`), admitting
    /// everything until thresholds are added.
    pub fn new(load: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        LoadShedder {
            inner: StdArc::new(ShedInner {
                load: StdArc::new(load),
                rules: Vec::new(),
                metrics: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut ShedInner<P>)) -> Self {
        let inner =
            StdArc::get_mut(&mut self.inner).expect("configure a shedder before cloning it");
        f(inner);
        self
    }

    /// When the load is strictly above `threshold`, admit only priorities `>= least`. The rule
    /// with the highest threshold below the load applies.
    ///
    /// # Panics
    ///
    /// If called on a shedder that has been cloned.
    pub fn above(self, threshold: f64, least: P) -> Self {
        self.edit(|inner| {
            inner.rules.push((threshold, least));
            inner.rules.sort_by(|a, b| a.0.total_cmp(&b.0));
        })
    }

    /// Counts admissions and rejections in `metrics`.
    ///
    /// # Panics
    ///
    /// If called on a shedder that has been cloned.
    pub fn metrics(self, metrics: StdArc<PrimitiveMetrics>) -> Self {
        self.edit(|inner| inner.metrics = Some(metrics))
    }

    /// The load now.
    pub fn load(&self) -> f64 {
        (self.inner.load)()
    }

    /// The least priority admitted now (`None`: all).
    pub fn least_admitted(&self) -> Option<P> {
        let load = self.load();
        self.inner
            .rules
            .iter()
            .rev()
            .find(|(threshold, _)| load > *threshold)
            .map(|(_, least)| least.clone())
    }

    /// Whether work of `priority` is admitted now (counted in the metrics).
    pub fn admits(&self, priority: &P) -> bool {
        let admitted = self.least_admitted().is_none_or_le(priority);
        if let Some(m) = &self.inner.metrics {
            if admitted {
                m.record_admitted(1);
            } else {
                m.record_rejected(1);
            }
        }
        admitted
    }

    /// `Ok(item)` if work of `priority` is admitted now, else the item back in a [`Rejected`]
    /// (no `retry_after`: the load decides).
    pub fn try_admit<T>(&self, item: T, priority: &P) -> Result<T, Rejected<T>> {
        if self.admits(priority) {
            Ok(item)
        } else {
            Err(Rejected::new(item, None))
        }
    }
}

/// `Option::is_none_or` for the rust-version this crate supports.
trait NoneOrLe<P> {
    fn is_none_or_le(self, p: &P) -> bool;
}

impl<P: Ord> NoneOrLe<P> for Option<P> {
    fn is_none_or_le(self, p: &P) -> bool {
        match self {
            None => true,
            Some(least) => *p >= least,
        }
    }
}

/// A pool of concurrency slots shared by priority classes, each with a guaranteed share that it
/// may exceed by borrowing spare capacity. Clones share.
///
/// Class `c` (at index `i` of the classes, lowest first) gets a slot when
/// `in_use + Σ unused share of the classes at or above c, other than c ≤ capacity − 1`, that is,
/// when taking it leaves every class of at least its priority room for its share. A slot within
/// `c`'s own share is always granted against lower classes. Refusals are immediate, never queued.
///
/// ```
/// use backflow::resilience::shed::{Priority, PriorityPool};
///
/// let pool = PriorityPool::new(10)
///     .class(Priority::Low, 3)
///     .class(Priority::Normal, 3)
///     .class(Priority::Critical, 4);
/// // Low may only use its own share while the others are idle: their shares are kept free.
/// let low: Vec<_> = (0..3).map(|_| pool.try_enter(Priority::Low).unwrap()).collect();
/// assert!(pool.try_enter(Priority::Low).is_err());
/// // Critical may borrow everything that is left.
/// let critical: Vec<_> = (0..7).map(|_| pool.try_enter(Priority::Critical).unwrap()).collect();
/// assert!(pool.try_enter(Priority::Normal).is_err()); // its share was borrowed by a higher class
/// # drop((low, critical));
/// ```
pub struct PriorityPool<P> {
    inner: StdArc<PoolInner<P>>,
}

struct PoolInner<P> {
    capacity: u64,
    /// Classes lowest first: `(priority, share)`.
    classes: Vec<(P, u64)>,
    /// Slots held per class (index into `classes`); one short lock per enter and release.
    in_use: Mutex<Vec<u64>>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl<P> Clone for PriorityPool<P> {
    fn clone(&self) -> Self {
        PriorityPool {
            inner: self.inner.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for PriorityPool<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityPool")
            .field("capacity", &self.inner.capacity)
            .field("classes", &self.inner.classes)
            .field("in_use", &*self.inner.in_use.lock())
            .finish_non_exhaustive()
    }
}

impl<P: Ord + Clone + Send + Sync + 'static> PriorityPool<P> {
    /// A pool of `capacity` slots with no classes yet.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn new(capacity: u64) -> Self {
        assert!(capacity > 0, "a pool of 0 admits nothing");
        PriorityPool {
            inner: StdArc::new(PoolInner {
                capacity,
                classes: Vec::new(),
                in_use: Mutex::new(Vec::new()),
                metrics: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut PoolInner<P>)) -> Self {
        let inner = StdArc::get_mut(&mut self.inner).expect("configure a pool before cloning it");
        f(inner);
        self
    }

    /// Adds a class with a guaranteed `share` of the slots.
    ///
    /// # Panics
    ///
    /// If the shares add up to more than the capacity, the class exists, or the pool was cloned.
    pub fn class(self, priority: P, share: u64) -> Self {
        self.edit(|inner| {
            assert!(
                inner.classes.iter().all(|(p, _)| *p != priority),
                "a class was added twice"
            );
            inner.classes.push((priority, share));
            inner.classes.sort_by(|a, b| a.0.cmp(&b.0));
            let total: u64 = inner.classes.iter().map(|(_, s)| s).sum();
            assert!(
                total <= inner.capacity,
                "shares {total} exceed the capacity {}",
                inner.capacity
            );
            inner.in_use.lock().push(0);
        })
    }

    /// Counts admissions and rejections (limit = capacity, in flight = slots held).
    pub fn metrics(self, metrics: StdArc<PrimitiveMetrics>) -> Self {
        metrics.set_limit(self.inner.capacity);
        self.edit(|inner| inner.metrics = Some(metrics))
    }

    /// Takes a slot for `priority` now, or refuses at once (an unknown class is refused).
    pub fn try_enter(&self, priority: P) -> Result<PoolPermit<P>, Rejected> {
        let inner = &*self.inner;
        let index = inner.classes.iter().position(|(p, _)| *p == priority);
        let granted = index.and_then(|i| {
            let mut in_use = inner.in_use.lock();
            let total: u64 = in_use.iter().sum();
            let reserved: u64 = (i + 1..inner.classes.len())
                .map(|j| inner.classes[j].1.saturating_sub(in_use[j]))
                .sum();
            let own_unused = inner.classes[i].1.saturating_sub(in_use[i]);
            let ok = if own_unused > 0 {
                // Within its share: free slots exist unless higher classes borrowed them.
                total < inner.capacity
            } else {
                total + reserved < inner.capacity
            };
            if ok {
                in_use[i] += 1;
                Some((i, total + 1))
            } else {
                None
            }
        });
        match granted {
            Some((index, held)) => {
                if let Some(m) = &inner.metrics {
                    m.record_admitted(1);
                    m.set_in_flight(held);
                }
                Ok(PoolPermit {
                    pool: self.clone(),
                    index,
                })
            }
            None => {
                if let Some(m) = &inner.metrics {
                    m.record_rejected(1);
                }
                Err(Rejected::new((), None::<Duration>))
            }
        }
    }

    /// Slots held now by `priority`'s class.
    pub fn in_use(&self, priority: &P) -> u64 {
        let inner = &*self.inner;
        match inner.classes.iter().position(|(p, _)| p == priority) {
            Some(i) => inner.in_use.lock()[i],
            None => 0,
        }
    }

    /// `in use / capacity`: a load signal for a [`LoadShedder`].
    pub fn utilisation(&self) -> f64 {
        let held: u64 = self.inner.in_use.lock().iter().sum();
        held as f64 / self.inner.capacity as f64
    }
}

/// A slot of a [`PriorityPool`], given back when dropped.
pub struct PoolPermit<P> {
    pool: PriorityPool<P>,
    index: usize,
}

impl<P> fmt::Debug for PoolPermit<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolPermit").finish_non_exhaustive()
    }
}

impl<P> Drop for PoolPermit<P> {
    fn drop(&mut self) {
        let inner = &*self.pool.inner;
        let held = {
            let mut in_use = inner.in_use.lock();
            in_use[self.index] -= 1;
            in_use.iter().sum::<u64>()
        };
        if let Some(m) = &inner.metrics {
            m.set_in_flight(held);
        }
    }
}
