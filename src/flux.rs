//! [`Flux`]: the fluent wrapper around any publisher, one method per operator.
//!
//! A chain of synchronous operators is a nest of generic types (`Filter<Map<Iter<..>, F>, G>`) that
//! the compiler fuses into one loop, the way `Iterator` adapters fuse: no allocation, no dynamic
//! call and no atomic read-modify-write per element. [`Flux::boxed`] erases the type where you need
//! to name it.

use std::fmt;

use crate::error::Error;
use crate::ops;
use crate::protocol::{DynPublisher, Publisher, Subscriber};
use crate::sink::{Fold, Request};
use crate::sync::StdArc;

/// A stream of items with backpressure: a [`Publisher`] plus the operators and sinks to use it.
///
/// Reactor's name, familiar to porters; it is RxJava's `Flowable` and Akka's `Source`. Build one
/// with a source function ([`range`](crate::range), [`from_iter`](crate::from_iter), ...) or
/// [`Flux::new`] around any publisher, chain operators, and end with a sink.
///
/// ```
/// use backflow::prelude::*;
///
/// let out = backflow::range(0..10u64)
///     .map(|x| x * 3)
///     .filter(|x| x % 2 == 0)
///     .collect()
///     .unwrap();
/// assert_eq!(out, vec![0, 6, 12, 18, 24]);
/// ```
#[derive(Clone, Copy, Default)]
#[must_use = "a Flux does nothing until it is subscribed"]
pub struct Flux<P> {
    publisher: P,
}

impl<P: fmt::Debug> fmt::Debug for Flux<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Flux").field(&self.publisher).finish()
    }
}

impl<P: Publisher> Publisher for Flux<P> {
    type Item = P::Item;

    #[inline]
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.publisher.subscribe(subscriber)
    }
}

/// A type-erased publisher of `T`, made by [`Flux::boxed`]. Cheap to clone.
pub struct Boxed<T> {
    inner: StdArc<dyn DynPublisher<T>>,
}

impl<T> Clone for Boxed<T> {
    fn clone(&self) -> Self {
        Boxed {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Boxed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Boxed")
    }
}

impl<T: 'static> Publisher for Boxed<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        self.inner.subscribe_boxed(Box::new(subscriber))
    }
}

impl<P> Flux<P> {
    /// Wraps any publisher.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let flux = Flux::new(backflow::range(0..3u8));
    /// assert_eq!(flux.collect().unwrap(), vec![0, 1, 2]);
    /// ```
    pub fn new(publisher: P) -> Self {
        Flux { publisher }
    }

    /// The wrapped publisher.
    pub fn into_inner(self) -> P {
        self.publisher
    }

    /// A reference to the wrapped publisher.
    pub fn get_ref(&self) -> &P {
        &self.publisher
    }
}

impl<P: Publisher> Flux<P> {
    /// Erases the publisher's type, so differently built streams can share one type.
    ///
    /// Costs one allocation per subscription and one dynamic call per signal.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let streams: Vec<Flux<Boxed<u32>>> = vec![
    ///     backflow::range(0..2u32).boxed(),
    ///     backflow::range(5..7u32).map(|x| x * 10).boxed(),
    /// ];
    /// let all: Vec<Vec<u32>> = streams.into_iter().map(|f| f.collect().unwrap()).collect();
    /// assert_eq!(all, vec![vec![0, 1], vec![50, 60]]);
    /// ```
    pub fn boxed(self) -> Flux<Boxed<P::Item>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(Boxed {
            inner: StdArc::new(self.publisher),
        })
    }

    // ---- synchronous operators ----

    /// Applies `f` to each item.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; the operator holds nothing.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` becomes an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked))
    /// downstream and a cancel upstream.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(1..4u32).map(|x| x * 10).collect().unwrap();
    /// assert_eq!(out, vec![10, 20, 30]);
    /// ```
    pub fn map<U, F>(self, f: F) -> Flux<ops::Map<P, F>>
    where
        F: Fn(P::Item) -> U + Send + Sync + 'static,
        U: 'static,
    {
        Flux::new(ops::Map::new(self.publisher, f))
    }

    /// Keeps the items for which `predicate` returns `true`.
    ///
    /// # Demand
    ///
    /// Downstream requests pass upstream unchanged; each discarded item's credit is replenished
    /// upstream (`request(1)`), or, when the upstream supports it, simply not counted
    /// ([`Subscriber::try_on_next`]), so a filter never stalls a stream.
    ///
    /// # Drops
    ///
    /// The items the predicate rejects: that is its job, so they are not counted as drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let odd = backflow::range(0..10u32).filter(|x| x % 2 == 1).collect().unwrap();
    /// assert_eq!(odd, vec![1, 3, 5, 7, 9]);
    /// ```
    pub fn filter<F>(self, predicate: F) -> Flux<ops::Filter<P, F>>
    where
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::Filter::new(self.publisher, predicate))
    }
    // ---- more synchronous operators (issue 2) ----
    /// Applies a fallible `f` to each item; the first `Err` ends the stream with that error.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; the operator holds nothing.
    ///
    /// # Drops
    ///
    /// Nothing while `f` succeeds. On the first `Err` it cancels upstream and signals the error
    /// downstream; anything upstream still delivers afterwards (items in flight, rule 1.08) is
    /// ignored, and a late upstream error goes to the [error hook](crate::set_error_hook). A panic in
    /// `f` becomes an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let parsed = backflow::from_iter(vec!["1", "2", "x", "4"])
    ///     .try_map(|s| s.parse::<u32>().map_err(Error::custom))
    ///     .collect();
    /// assert_eq!(parsed.unwrap_err().kind(), ErrorKind::Custom);
    ///
    /// let ok = backflow::from_iter(vec!["1", "2"]).try_map(|s| s.parse::<u32>().map_err(Error::custom));
    /// assert_eq!(ok.collect().unwrap(), vec![1, 2]);
    /// ```
    #[doc(alias = "handle")]
    pub fn try_map<U, F>(self, f: F) -> Flux<ops::TryMap<P, F>>
    where
        F: Fn(P::Item) -> Result<U, Error> + Send + Sync + 'static,
        U: 'static,
    {
        Flux::new(ops::TryMap::new(self.publisher, f))
    }

    /// Maps each item to an `Option` and passes on the `Some` values.
    ///
    /// # Demand
    ///
    /// Like [`filter`](Self::filter): downstream requests pass upstream unchanged, and the credit of
    /// each item mapped to `None` is replenished upstream (`request(1)`) or, when the upstream
    /// supports it, not counted ([`Subscriber::try_on_next`]).
    ///
    /// # Drops
    ///
    /// The items mapped to `None`: that is its job, so they are not counted as drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let numbers = backflow::from_iter(vec!["1", "two", "3"])
    ///     .filter_map(|s| s.parse::<u32>().ok())
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(numbers, vec![1, 3]);
    /// ```
    #[doc(alias = "mapNotNull")]
    pub fn filter_map<U, F>(self, f: F) -> Flux<ops::FilterMap<P, F>>
    where
        F: Fn(P::Item) -> Option<U> + Send + Sync + 'static,
        U: 'static,
    {
        Flux::new(ops::FilterMap::new(self.publisher, f))
    }

    /// Calls `f` with a reference to each item before passing it on (logging, metrics, debugging).
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; the operator holds nothing.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` becomes an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let s = seen.clone();
    /// let out = backflow::range(0..4u32)
    ///     .inspect(move |_| { s.fetch_add(1, Ordering::Relaxed); })
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 3]);
    /// assert_eq!(seen.load(Ordering::Relaxed), 4);
    /// ```
    #[doc(alias = "doOnNext", alias = "tap", alias = "peek")]
    pub fn inspect<F>(self, f: F) -> Flux<ops::Inspect<P, F>>
    where
        F: Fn(&P::Item) + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::Inspect::new(self.publisher, f))
    }

    /// Passes the first `n` items, then completes and cancels upstream.
    ///
    /// `take(0)` cancels upstream and completes at once, without any request.
    ///
    /// # Demand
    ///
    /// Downstream requests pass upstream capped at what may still be taken: upstream is never asked
    /// for more than `n` items in total, even if the downstream requests unbounded (Reactor's
    /// `take(n, limitRequest = true)`, RxJava's `take` since 3.0). Upstream is cancelled before the
    /// `n`-th item goes down.
    ///
    /// # Drops
    ///
    /// Nothing it requested: after the `n`-th item it ignores whatever upstream still delivers
    /// (items in flight, rule 1.08). A downstream that cancels while handling the `n`-th item gets no
    /// `on_complete`.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let first = backflow::range(0..1_000_000u64).take(3).collect().unwrap();
    /// assert_eq!(first, vec![0, 1, 2]);
    /// assert!(backflow::range(0..10u8).take(0).collect().unwrap().is_empty());
    /// ```
    #[doc(alias = "limitRequest", alias = "limit")]
    pub fn take(self, n: u64) -> Flux<ops::Take<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::Take::new(self.publisher, n))
    }

    /// Discards the first `n` items, then passes everything.
    ///
    /// # Demand
    ///
    /// Downstream requests pass upstream unchanged. `skip` asks for nothing of its own up front
    /// (unlike Reactor, which requests `n` extra at subscribe time): each skipped item's credit is
    /// replenished upstream when it is skipped (`request(1)`), or, when the upstream supports it,
    /// not counted ([`Subscriber::try_on_next`]). So the skipping is driven by the first downstream
    /// request, and upstream is never asked for more than the downstream wants plus what was skipped.
    ///
    /// # Drops
    ///
    /// The first `n` items: that is its job, so they are not counted as drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// assert_eq!(backflow::range(0..6u8).skip(4).collect().unwrap(), vec![4, 5]);
    /// ```
    pub fn skip(self, n: u64) -> Flux<ops::Skip<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::Skip::new(self.publisher, n))
    }

    /// Passes items while `predicate` holds; at the first item that fails it, cancels upstream and
    /// completes. That item is not emitted.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; the operator holds nothing.
    ///
    /// # Drops
    ///
    /// The first item that fails the predicate, and whatever upstream still delivers after it
    /// (items in flight, rule 1.08).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let small = backflow::range(0..100u32).take_while(|x| x * x < 20).collect().unwrap();
    /// assert_eq!(small, vec![0, 1, 2, 3, 4]);
    /// ```
    #[doc(alias = "takeWhile")]
    pub fn take_while<F>(self, predicate: F) -> Flux<ops::TakeWhile<P, F>>
    where
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::TakeWhile::new(self.publisher, predicate))
    }

    /// Discards items while `predicate` holds; from the first item that fails it on, passes
    /// everything (the predicate is not called again).
    ///
    /// # Demand
    ///
    /// Like [`filter`](Self::filter): requests pass upstream unchanged, and each skipped item's
    /// credit is replenished upstream or not counted ([`Subscriber::try_on_next`]).
    ///
    /// # Drops
    ///
    /// The leading items that satisfy the predicate: that is its job, so they are not counted as drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let rest = backflow::from_iter(vec![1, 2, 5, 1, 2]).skip_while(|x| *x < 3).collect().unwrap();
    /// assert_eq!(rest, vec![5, 1, 2]);
    /// ```
    #[doc(alias = "skipWhile", alias = "dropWhile")]
    pub fn skip_while<F>(self, predicate: F) -> Flux<ops::SkipWhile<P, F>>
    where
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::SkipWhile::new(self.publisher, predicate))
    }

    /// Emits `seed`, then the running accumulator `f(acc, item)` after each item.
    ///
    /// Reactor's `scan(initial, accumulator)`, RxJava's `scan(seed, f)` and Akka's `scan(zero)(f)`:
    /// the seed is emitted first, so `n` items give `n + 1` outputs. Unlike Rust's
    /// [`Iterator::scan`]; add [`skip(1)`](Self::skip) to get the accumulators without the seed.
    ///
    /// # Demand
    ///
    /// The seed uses the first downstream credit: nothing is requested upstream until the seed went
    /// down, then what the downstream requested beyond it passes upstream, and from there on requests
    /// pass unchanged (1:1). A terminal signal that arrives before the seed went down waits for it:
    /// an empty upstream gives the seed, then `on_complete`, once the downstream requests one item.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` becomes an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let sums = backflow::range(1..5u32).scan(0, |acc, x| acc + x).collect().unwrap();
    /// assert_eq!(sums, vec![0, 1, 3, 6, 10]);
    /// let without_seed = backflow::range(1..5u32).scan(0, |acc, x| acc + x).skip(1).collect().unwrap();
    /// assert_eq!(without_seed, vec![1, 3, 6, 10]);
    /// ```
    pub fn scan<A, F>(self, seed: A, f: F) -> Flux<ops::Scan<P, A, F>>
    where
        A: Clone + Send + 'static,
        F: Fn(A, P::Item) -> A + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::Scan::new(self.publisher, seed, f))
    }

    /// Folds all items with `f` (the first item is the initial accumulator) and emits the result
    /// when upstream completes; an empty upstream completes empty.
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream at subscribe time (the result needs every item). The result is
    /// held until the downstream has requested at least one item, then emitted with `on_complete`
    /// right after it. An upstream error is forwarded at once, whatever the demand; an empty
    /// upstream completes at once.
    ///
    /// # Drops
    ///
    /// The partial accumulator, if upstream fails or the downstream cancels. A panic in `f` becomes
    /// an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let max = backflow::from_iter(vec![3, 9, 4]).reduce(|a, b| a.max(b)).collect().unwrap();
    /// assert_eq!(max, vec![9]);
    /// assert!(backflow::empty::<u8>().reduce(|a, b| a + b).collect().unwrap().is_empty());
    /// ```
    pub fn reduce<F>(self, f: F) -> Flux<ops::Reduce<P, F>>
    where
        F: Fn(P::Item, P::Item) -> P::Item + Send + Sync + 'static,
        P::Item: Send + 'static,
    {
        Flux::new(ops::Reduce::new(self.publisher, f))
    }

    /// Counts the items and emits the count (a `u64`, `0` for an empty upstream) when upstream
    /// completes.
    ///
    /// # Demand
    ///
    /// As [`reduce`](Self::reduce): unbounded upstream, and the count is held until the downstream
    /// has requested at least one item. An upstream error is forwarded at once.
    ///
    /// # Drops
    ///
    /// Every item, by design: only their number goes on.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let n = backflow::range(0..1000u32).filter(|x| x % 7 == 0).count().collect().unwrap();
    /// assert_eq!(n, vec![143]);
    /// ```
    pub fn count(self) -> Flux<ops::Count<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Count::new(self.publisher))
    }

    /// Discards each item equal to the item passed on just before it.
    ///
    /// # Demand
    ///
    /// Like [`filter`](Self::filter): requests pass upstream unchanged, and each discarded repeat's
    /// credit is replenished upstream or not counted ([`Subscriber::try_on_next`]). It holds a clone
    /// of the last item passed on, to compare the next one with.
    ///
    /// # Drops
    ///
    /// Consecutive repeats: that is its job, so they are not counted as drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let runs = backflow::from_iter(vec![1, 1, 2, 2, 2, 1, 3, 3]).distinct_until_changed();
    /// assert_eq!(runs.collect().unwrap(), vec![1, 2, 1, 3]);
    /// ```
    #[doc(alias = "distinctUntilChanged")]
    pub fn distinct_until_changed(self) -> Flux<ops::DistinctUntilChanged<P>>
    where
        P::Item: PartialEq + Clone + Send + 'static,
    {
        Flux::new(ops::DistinctUntilChanged::new(self.publisher))
    }

    // ---- thread boundary (issue 3) ----

    // ---- backpressure operators (issue 4) ----

    /// Paces items to at most `elements` per `per` with a token bucket: Akka's `throttle`.
    ///
    /// The bucket holds up to [`burst`](Flux::burst) tokens, starts full, and gains `elements`
    /// tokens per `per`; each item takes one. In the default [`Shaping`](ops::ThrottleMode::Shaping)
    /// mode an item that finds no token waits for one. With [`enforcing`](Flux::enforcing) the
    /// stream fails instead, with [`ErrorKind::RateExceeded`](crate::ErrorKind::RateExceeded) whose
    /// [`retry_after`](Error::retry_after) is the time until the next token (the token deficit
    /// over the refill rate).
    ///
    /// The burst defaults to `elements`: after a quiet `per`, `elements` items may pass back to
    /// back. `.burst(1)` spaces items evenly, `per / elements` apart. (Akka's two-argument
    /// `throttle` picks a burst of about a tenth of the per-second rate instead; pass it
    /// explicitly when porting.) Rx users looking for a throttle that *drops* what comes too fast
    /// want [`throttle_first`](Self::throttle_first).
    ///
    /// Timers run on the shared default scheduler; set another (a
    /// [`VirtualTime`](crate::sched::VirtualTime) in tests) with [`scheduler`](Flux::scheduler).
    ///
    /// # Demand
    ///
    /// At most `min(downstream demand, burst)` items are requested upstream and not yet emitted,
    /// so the stage holds at most `burst` items: while items wait for tokens, upstream is not asked
    /// for more. Backpressure, not buffering. An upstream that sends more than it was asked for
    /// fails the stream with [`ErrorKind::Overflow`](crate::ErrorKind::Overflow).
    ///
    /// # Drops
    ///
    /// Shaping drops nothing while the stream runs: it delays. Enforcing drops the item that found
    /// no token ([`DropReason::Throttled`](crate::DropReason::Throttled)) and fails. On cancel the
    /// waiting items are dropped as [`Cancelled`](crate::DropReason::Cancelled). An upstream error
    /// lets the waiting items out first, still paced ([`ErrorMode::AfterDrain`](ops::ErrorMode)),
    /// or drops them and fails at once (`ErrorMode::Immediate`). Items beyond the demand given go
    /// to `on_drop` as [`Overflow`](crate::DropReason::Overflow). The `throttled` metric counts the
    /// items delayed (shaping) or refused (enforcing).
    ///
    /// # Panics
    ///
    /// If `elements` or `per` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    /// # use std::sync::{Arc, Mutex};
    /// # struct Record<T>(Arc<Mutex<Vec<T>>>);
    /// # impl<T: Send> Subscriber<T> for Record<T> {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
    /// #     fn on_next(&mut self, x: T) { self.0.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # fn record<P: Publisher>(p: P) -> Arc<Mutex<Vec<P::Item>>> where P::Item: Send + 'static {
    /// #     let seen = Arc::new(Mutex::new(Vec::new()));
    /// #     p.subscribe(Record(seen.clone()));
    /// #     seen
    /// # }
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let seen = record(
    ///     backflow::range(0..5u32)
    ///         .throttle(1, ms(10))
    ///         .burst(1)
    ///         .scheduler(clock.clone()),
    /// );
    /// assert_eq!(*seen.lock().unwrap(), [0]); // the full bucket lets one through at once
    /// clock.advance_by(ms(25));
    /// assert_eq!(*seen.lock().unwrap(), [0, 1, 2]); // then one every 10 ms
    /// clock.advance_by(ms(20));
    /// assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);
    ///
    /// // Enforcing: the second item comes at once, 10 ms before its token.
    /// let failed = backflow::range(0..5u32)
    ///     .throttle(1, ms(10))
    ///     .enforcing()
    ///     .scheduler(clock.clone())
    ///     .collect()
    ///     .unwrap_err();
    /// assert_eq!(failed.kind(), ErrorKind::RateExceeded);
    /// assert_eq!(failed.retry_after(), Some(ms(10)));
    /// ```
    #[doc(alias = "rate_limit")]
    #[doc(alias = "shaping")]
    pub fn throttle(self, elements: u64, per: std::time::Duration) -> Flux<ops::Throttle<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Throttle::new(self.publisher, elements, per))
    }

    /// Emits an item, then drops every item that comes within `window` of it: RxJava's
    /// `throttleFirst`, the lossy throttle.
    ///
    /// The window opens when an item is emitted and lasts `window` (an item exactly `window` later
    /// passes). It reads the clock of its scheduler and runs no timer: the default is the real
    /// clock; set a [`VirtualTime`](crate::sched::VirtualTime) with [`scheduler`](Flux::scheduler).
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream (lossy stages absorb overload by discarding); holds nothing.
    ///
    /// # Drops
    ///
    /// Items inside the window, as [`DropReason::Throttled`](crate::DropReason::Throttled) (also
    /// counted in the `throttled` metric). An item outside the window that finds no downstream
    /// demand is dropped as [`NoDemand`](crate::DropReason::NoDemand) and opens no window —
    /// RxJava fails with `MissingBackpressureException` there; we drop. Errors and completion pass
    /// at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    /// # use std::sync::{Arc, Mutex};
    /// # struct Record<T>(Arc<Mutex<Vec<T>>>);
    /// # impl<T: Send> Subscriber<T> for Record<T> {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
    /// #     fn on_next(&mut self, x: T) { self.0.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # fn record<P: Publisher>(p: P) -> Arc<Mutex<Vec<P::Item>>> where P::Item: Send + 'static {
    /// #     let seen = Arc::new(Mutex::new(Vec::new()));
    /// #     p.subscribe(Record(seen.clone()));
    /// #     seen
    /// # }
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let dropped = Arc::new(Mutex::new(Vec::new()));
    /// let d = dropped.clone();
    /// // 0, 1, 2, ... every 10 ms; keep the first of every 25 ms.
    /// let seen = record(
    ///     backflow::interval_with(ms(10), clock.clone())
    ///         .throttle_first(ms(25))
    ///         .scheduler(clock.clone())
    ///         .on_drop(move |x, _reason| d.lock().unwrap().push(x)),
    /// );
    /// clock.advance_by(ms(100));
    /// assert_eq!(*seen.lock().unwrap(), [0, 3, 6, 9]);
    /// assert_eq!(*dropped.lock().unwrap(), [1, 2, 4, 5, 7, 8]);
    /// ```
    #[doc(alias = "throttleFirst")]
    pub fn throttle_first(self, window: std::time::Duration) -> Flux<ops::ThrottleFirst<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::ThrottleFirst::new(self.publisher, window))
    }

    /// Emits, once per `period`, the latest item that came since the previous emission: RxJava's
    /// `sample` / `throttleLast`, Reactor's `sample(Duration)`.
    ///
    /// Ticks come every `period` from subscription, on the stage's scheduler (the shared default,
    /// or the one set with [`scheduler`](Flux::scheduler)). A tick with nothing new emits nothing.
    /// When the upstream completes, the item held is emitted before completion (Reactor's choice);
    /// without demand for it, completion waits until demand comes.
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream (lossy stages absorb overload by discarding); holds at most one
    /// item. A tick that finds no downstream demand **keeps** the latest item for a later tick:
    /// Reactor and RxJava fail there, we do not.
    ///
    /// # Drops
    ///
    /// An item replaced by a newer one before a tick could emit it, as
    /// [`DropReason::Overwritten`](crate::DropReason::Overwritten). On cancel the held item, as
    /// [`Cancelled`](crate::DropReason::Cancelled). On an upstream error the held item is emitted
    /// first when demand allows ([`ErrorMode::AfterDrain`](ops::ErrorMode), the default), or dropped
    /// as `Cancelled` with `ErrorMode::Immediate`. Nothing is lost silently.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    /// # use std::sync::{Arc, Mutex};
    /// # struct Record<T>(Arc<Mutex<Vec<T>>>);
    /// # impl<T: Send> Subscriber<T> for Record<T> {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
    /// #     fn on_next(&mut self, x: T) { self.0.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # fn record<P: Publisher>(p: P) -> Arc<Mutex<Vec<P::Item>>> where P::Item: Send + 'static {
    /// #     let seen = Arc::new(Mutex::new(Vec::new()));
    /// #     p.subscribe(Record(seen.clone()));
    /// #     seen
    /// # }
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// // 0, 1, 2, ... every 10 ms, sampled every 33 ms.
    /// let seen = record(
    ///     backflow::interval_with(ms(10), clock.clone())
    ///         .sample(ms(33))
    ///         .scheduler(clock.clone()),
    /// );
    /// clock.advance_by(ms(100));
    /// assert_eq!(*seen.lock().unwrap(), [2, 5, 8]); // at 33, 66 and 99 ms
    /// ```
    #[doc(alias = "throttleLast")]
    #[doc(alias = "throttle_last")]
    pub fn sample(self, period: std::time::Duration) -> Flux<ops::Sample<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Sample::new(self.publisher, period))
    }

    /// Emits an item only once `quiet` has passed without a newer one: Reactor's and RxJava's
    /// `debounce`, Rx's `throttleWithTimeout`.
    ///
    /// Each item restarts the quiet period; when it ends, the item waiting goes downstream. When
    /// the upstream completes, the item waiting is emitted at once, then completion (without
    /// demand for it, completion waits until demand comes). Timers run on the stage's scheduler
    /// (see [`scheduler`](Flux::scheduler)), one at a time however fast items come.
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream (lossy stages absorb overload by discarding); holds at most one
    /// item. An item whose quiet period ended with no downstream demand waits for demand (Reactor
    /// fails there) unless a newer item replaces it.
    ///
    /// # Drops
    ///
    /// An item replaced by a newer one, as
    /// [`DropReason::Overwritten`](crate::DropReason::Overwritten). On cancel the waiting item, as
    /// [`Cancelled`](crate::DropReason::Cancelled). On an upstream error as in
    /// [`sample`](Self::sample): the waiting item first ([`ErrorMode::AfterDrain`](ops::ErrorMode))
    /// or dropped (`ErrorMode::Immediate`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    /// # use std::sync::{Arc, Mutex};
    /// # struct Record<T>(Arc<Mutex<Vec<T>>>);
    /// # impl<T: Send> Subscriber<T> for Record<T> {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
    /// #     fn on_next(&mut self, x: T) { self.0.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # fn record<P: Publisher>(p: P) -> Arc<Mutex<Vec<P::Item>>> where P::Item: Send + 'static {
    /// #     let seen = Arc::new(Mutex::new(Vec::new()));
    /// #     p.subscribe(Record(seen.clone()));
    /// #     seen
    /// # }
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// // Bursts: 0, 1, 2 at 10, 20, 30 ms; 5, 6, 7 at 60, 70, 80 ms; ...
    /// let seen = record(
    ///     backflow::interval_with(ms(10), clock.clone())
    ///         .filter(|x| x % 5 < 3)
    ///         .debounce(ms(15))
    ///         .scheduler(clock.clone()),
    /// );
    /// clock.advance_by(ms(100));
    /// assert_eq!(*seen.lock().unwrap(), [2, 7]); // at 45 and 95 ms
    /// ```
    #[doc(alias = "throttleWithTimeout")]
    #[doc(alias = "sampleTimeout")]
    pub fn debounce(self, quiet: std::time::Duration) -> Flux<ops::Debounce<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Debounce::new(self.publisher, quiet))
    }

    /// Fails the stream with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) if no item comes
    /// within `limit` of the subscription or of the previous item, and cancels upstream.
    ///
    /// Items pass straight through, on the upstream's thread. The error comes from the timer, on
    /// the stage's scheduler (see [`scheduler`](Flux::scheduler)); one timer per subscription,
    /// however fast items come. The limit runs from each item's arrival; if the deadline comes
    /// while an item is being delivered downstream, it moves to `limit` after that moment.
    /// Completion and errors pass through at once.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; the operator holds nothing. The clock
    /// runs whether or not downstream has requested: a consumer slower than `limit` times out.
    ///
    /// # Drops
    ///
    /// Nothing: items still in flight after the timeout are discarded with the cancelled upstream.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    /// # use std::sync::{Arc, Mutex};
    /// # struct Record(Arc<Mutex<Vec<Result<u64, ErrorKind>>>>);
    /// # impl Subscriber<u64> for Record {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
    /// #     fn on_next(&mut self, x: u64) { self.0.lock().unwrap().push(Ok(x)) }
    /// #     fn on_error(&mut self, e: Error) { self.0.lock().unwrap().push(Err(e.kind())) }
    /// #     fn on_complete(&mut self) {}
    /// # }
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// // Items at 10, 20 and 30 ms, then silence.
    /// backflow::interval_with(ms(10), clock.clone())
    ///     .filter(|x| *x < 3)
    ///     .timeout(ms(15))
    ///     .scheduler(clock.clone())
    ///     .subscribe(Record(seen.clone()));
    /// clock.advance_by(ms(100));
    /// assert_eq!(*seen.lock().unwrap(), [Ok(0), Ok(1), Ok(2), Err(ErrorKind::Timeout)]); // at 45 ms
    /// ```
    pub fn timeout(self, limit: std::time::Duration) -> Flux<ops::Timeout<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Timeout::new(self.publisher, limit))
    }

    /// Collects items into `Vec`s of `size` items; the last one may be shorter.
    ///
    /// This is Reactor's and RxJava's `buffer(int)` — **not** our [`buffer`](Self::buffer), which is
    /// the bounded backpressure buffer (Reactor's `onBackpressureBuffer`).
    ///
    /// # Demand
    ///
    /// A request for `k` chunks becomes a request for `k * size` items upstream (saturating).
    ///
    /// # Drops
    ///
    /// Nothing on completion (the partial chunk is emitted). On error the partial chunk is discarded
    /// and the error forwarded at once, as Reactor does.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let chunks = backflow::range(0..7u32).chunks(3).collect().unwrap();
    /// assert_eq!(chunks, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    /// ```
    #[doc(alias = "buffer_count")]
    #[doc(alias = "window")]
    #[doc(alias = "grouped")]
    pub fn chunks(self, size: usize) -> Flux<ops::Chunks<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Chunks::new(self.publisher, size))
    }

    /// Forwards items only while downstream has demand; drops the rest.
    ///
    /// The simplest load shedder: a producer that cannot be slowed down meets a consumer that
    /// takes what it can. Configure [`on_drop`](Self::on_drop) and [`metrics`](Self::metrics) on it.
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream (lossy stages absorb overload by discarding); holds nothing.
    ///
    /// # Drops
    ///
    /// Every item that arrives while downstream demand is zero, with [`DropReason::NoDemand`](crate::DropReason::NoDemand).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let dropped = Arc::new(Mutex::new(Vec::new()));
    /// let d = dropped.clone();
    /// let (subscriber, probe) = TestSubscriber::new(2);
    /// backflow::range(0..5u32)
    ///     .drop()
    ///     .on_drop(move |x, _reason| d.lock().unwrap().push(x))
    ///     .subscribe(subscriber);
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// assert_eq!(*dropped.lock().unwrap(), vec![2, 3, 4]);
    /// ```
    #[doc(alias = "onBackpressureDrop")]
    #[doc(alias = "drop_new")]
    #[allow(clippy::should_implement_trait)]
    pub fn drop(self) -> Flux<ops::DropNoDemand<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::DropNoDemand::new(self.publisher))
    }

    // ---- graphs (issue 5) ----

    /// Maps each item to an inner stream and merges the inner streams, emitting their items as
    /// they arrive.
    ///
    /// Up to [`FLAT_MAP_CONCURRENCY`](ops::FLAT_MAP_CONCURRENCY) (256) inner streams are subscribed
    /// at once, each with a prefetch of [`FLAT_MAP_PREFETCH`](ops::FLAT_MAP_PREFETCH) (32): Reactor's
    /// defaults. [`flat_map_with`](Self::flat_map_with) chooses both. Items of different inners
    /// interleave; each inner's own order is kept. Inners may signal from different threads: one
    /// drain loop serialises what reaches the downstream.
    ///
    /// # Demand
    ///
    /// The outer stream is asked for `concurrency` items up front, then for one more each time an
    /// inner completes, so at most `concurrency` inners are live. Each inner is asked for
    /// `prefetch` items into its own bounded ring and topped up by what the drain took once 75% of
    /// it is consumed (SEMANTICS §2). Downstream demand is served round-robin from the rings. The
    /// stage holds at most `concurrency × prefetch` items.
    ///
    /// # Drops
    ///
    /// Nothing while the stream runs. An error from the outer stream, from an inner or from `f` (a
    /// panic becomes [`ErrorKind::Panicked`](crate::ErrorKind::Panicked)) cancels the outer and every
    /// inner; the error follows the items already queued by default, or overtakes them with
    /// [`error_mode(ErrorMode::Immediate)`](Self::error_mode) (Reactor's `flatMap` behaviour), which
    /// drops them. Cancel drops the queued items. Dropped items go to [`on_drop`](Self::on_drop) with
    /// [`DropReason::Cancelled`](crate::DropReason::Cancelled). An inner that sends more than it was
    /// asked for fails the stream with an [`Overflow`](crate::ErrorKind::Overflow) error.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let mut out = backflow::range(1..4u32)
    ///     .flat_map(|n| backflow::range(0..n).map(move |i| n * 10 + i))
    ///     .collect()
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![10, 20, 21, 30, 31, 32]);
    /// ```
    #[doc(alias = "flatMap")]
    #[doc(alias = "mergeMap")]
    #[doc(alias = "flatMapMerge")]
    pub fn flat_map<Q, F>(self, f: F) -> Flux<ops::FlatMap<P, F, Q::Item>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
        Q::Item: Send + 'static,
    {
        self.flat_map_with(f, ops::FLAT_MAP_CONCURRENCY, ops::FLAT_MAP_PREFETCH)
    }

    /// [`flat_map`](Self::flat_map) with at most `concurrency` live inner streams, each asked for
    /// `prefetch` items at a time.
    ///
    /// `concurrency == usize::MAX` asks the outer stream for everything at once.
    ///
    /// # Demand
    ///
    /// As [`flat_map`](Self::flat_map): `concurrency` outer items up front and one per completed
    /// inner; `prefetch` per inner, topped up at 75% consumed.
    ///
    /// # Drops
    ///
    /// As [`flat_map`](Self::flat_map).
    ///
    /// # Panics
    ///
    /// If `concurrency` or `prefetch` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// // Two inners at a time, 4 items prefetched from each.
    /// let total = backflow::range(0..10u64)
    ///     .flat_map_with(|i| backflow::range(0..i), 2, 4)
    ///     .fold(0u64, |n, _| n + 1)
    ///     .unwrap();
    /// assert_eq!(total, 45);
    /// ```
    #[doc(alias = "flatMap")]
    #[doc(alias = "mergeMap")]
    #[doc(alias = "flatMapMerge")]
    pub fn flat_map_with<Q, F>(
        self,
        f: F,
        concurrency: usize,
        prefetch: usize,
    ) -> Flux<ops::FlatMap<P, F, Q::Item>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
        Q::Item: Send + 'static,
    {
        Flux::new(ops::FlatMap::new(self.publisher, f, concurrency, prefetch))
    }

    /// Maps each item to an inner stream and emits the inner streams one after another, in the
    /// order of the items.
    ///
    /// The next inner is subscribed only when the previous one has completed. A long run of
    /// inners that complete at once does not grow the stack.
    ///
    /// # Demand
    ///
    /// The outer stream is asked for 2 items up front and topped up as they are mapped (RxJava's
    /// prefetch); at most 2 outer items wait. Downstream demand goes straight to the active inner,
    /// and when it completes, whatever it still owed is asked of the next one (nothing delivered
    /// is asked for twice). Inner items are not queued.
    ///
    /// # Drops
    ///
    /// Nothing. An error from an inner, or a panic in `f`, ends the stream at once (the outer is
    /// cancelled, waiting outer items are dropped). An error from the outer stream comes after the
    /// inners of the items already received (Reactor's `concatMapDelayError`; Reactor's and RxJava's
    /// plain `concatMap` cancel the active inner instead).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(1..4u32)
    ///     .concat_map(|n| backflow::range(0..n))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 0, 1, 0, 1, 2]);
    /// ```
    #[doc(alias = "concatMap")]
    #[doc(alias = "flatMapConcat")]
    pub fn concat_map<Q, F>(self, f: F) -> Flux<ops::ConcatMap<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
        Q::Item: 'static,
    {
        Flux::new(ops::ConcatMap::new(self.publisher, f))
    }

    /// Maps each item to an inner stream and follows only the latest: a new item cancels the
    /// previous inner stream and switches to its own.
    ///
    /// Completes when the outer stream and the last inner have completed.
    ///
    /// # Demand
    ///
    /// The outer stream is asked for everything at once (Reactor, RxJava): an item must be seen
    /// as soon as it exists to switch to it. Each inner is asked for
    /// [`FLAT_MAP_PREFETCH`](ops::FLAT_MAP_PREFETCH) (32) items into a bounded ring, topped up at
    /// 75% consumed (RxJava's queued `switchMap`). Downstream demand is kept by the stage, so what
    /// it did not get from the old inner is served by the new one.
    ///
    /// # Drops
    ///
    /// The items the previous inner queued and not yet emitted when it is switched away
    /// ([`DropReason::Cancelled`](crate::DropReason::Cancelled), to [`on_drop`](Self::on_drop)).
    /// Errors and cancel as [`flat_map`](Self::flat_map).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// // Synchronous inners finish before the next item arrives, so nothing is switched away.
    /// let out = backflow::range(1..4u32)
    ///     .switch_map(|n| backflow::range(0..n))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 0, 1, 0, 1, 2]);
    /// ```
    #[doc(alias = "switchMap")]
    #[doc(alias = "flatMapLatest")]
    pub fn switch_map<Q, F>(self, f: F) -> Flux<ops::SwitchMap<P, F, Q::Item>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
        Q::Item: Send + 'static,
    {
        Flux::new(ops::SwitchMap::new(
            self.publisher,
            f,
            ops::FLAT_MAP_PREFETCH,
        ))
    }

    /// Emits this stream's items, then `other`'s.
    ///
    /// # Demand
    ///
    /// Downstream demand goes to the active source; when it completes, whatever it still owed is
    /// requested from the next one. `other` is subscribed only after this stream completes.
    ///
    /// # Drops
    ///
    /// Nothing. An error ends the whole stream at once (later sources are never subscribed).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(0..3u8).concat_with(backflow::from_iter(vec![7u8, 8])).collect().unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 7, 8]);
    /// ```
    #[doc(alias = "concatWith")]
    #[doc(alias = "chain")]
    pub fn concat_with<Q>(self, other: Q) -> Flux<ops::Concat<ops::Either<P, Q>>>
    where
        P: Send + Sync + 'static,
        Q: Publisher<Item = P::Item> + Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::Concat::new([
            ops::Either::Left(self.publisher),
            ops::Either::Right(other),
        ]))
    }

    /// Emits `items` first, then this stream's items.
    ///
    /// # Demand
    ///
    /// As [`concat_with`](Self::concat_with): `items` are served against demand first.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(3..5u32).start_with(vec![1, 2]).collect().unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4]);
    /// ```
    #[doc(alias = "startWith")]
    #[doc(alias = "prepend")]
    pub fn start_with<I>(
        self,
        items: I,
    ) -> Flux<ops::Concat<ops::Either<crate::source::Iter<I>, P>>>
    where
        I: IntoIterator<Item = P::Item> + Clone + Send + Sync + 'static,
        I::IntoIter: Send + 'static,
        P: Send + Sync + 'static,
        P::Item: Send + 'static,
    {
        let first = crate::source::from_iter(items).into_inner();
        Flux::new(ops::Concat::new([
            ops::Either::Left(first),
            ops::Either::Right(self.publisher),
        ]))
    }

    // ---- sinks ----

    /// Runs the stream to its end on this thread, folding items into an accumulator.
    ///
    /// Blocks until the stream terminates (a synchronous source runs inside this call). Requests in
    /// batches of [`DEFAULT_BATCH`](crate::sink::DEFAULT_BATCH); see [`fold_with`](Self::fold_with).
    ///
    /// # Errors
    ///
    /// The stream's error, including a panic in `f` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let sum = backflow::range(1..101u64).fold(0u64, |a, x| a + x).unwrap();
    /// assert_eq!(sum, 5050);
    /// ```
    pub fn fold<A, F>(self, init: A, f: F) -> Result<A, Error>
    where
        A: Send + 'static,
        F: FnMut(A, P::Item) -> A + Send + 'static,
    {
        self.fold_with(Request::default(), init, f)
    }

    /// [`fold`](Self::fold) with an explicit request policy.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let n = backflow::range(0..1000u32).fold_with(Request::Unbounded, 0usize, |n, _| n + 1).unwrap();
    /// assert_eq!(n, 1000);
    /// ```
    pub fn fold_with<A, F>(self, request: Request, init: A, f: F) -> Result<A, Error>
    where
        A: Send + 'static,
        F: FnMut(A, P::Item) -> A + Send + 'static,
    {
        let latch = crate::sink::block::Latch::new();
        self.publisher
            .subscribe(Fold::new(init, f, request.replenish(), latch.clone()));
        latch.wait()
    }

    /// Runs `f` on every item, blocking until the stream ends.
    ///
    /// # Errors
    ///
    /// The stream's error, including a panic in `f`.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// backflow::range(0..3u8).for_each(move |x| s.lock().unwrap().push(x)).unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
    /// ```
    pub fn for_each<F>(self, f: F) -> Result<(), Error>
    where
        F: FnMut(P::Item) + Send + 'static,
    {
        self.for_each_with(Request::default(), f)
    }

    /// [`for_each`](Self::for_each) with an explicit request policy.
    pub fn for_each_with<F>(self, request: Request, mut f: F) -> Result<(), Error>
    where
        F: FnMut(P::Item) + Send + 'static,
    {
        self.fold_with(request, (), move |(), x| f(x))
    }

    /// Collects every item into a `Vec`, blocking until the stream ends.
    ///
    /// # Errors
    ///
    /// The stream's error; the items received before it are dropped.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// assert_eq!(backflow::range(0..4i32).collect().unwrap(), vec![0, 1, 2, 3]);
    /// let failed = backflow::range(0..4i32).map(|x| if x == 2 { panic!("two") } else { x }).collect();
    /// assert_eq!(failed.unwrap_err().kind(), ErrorKind::Panicked);
    /// ```
    pub fn collect(self) -> Result<Vec<P::Item>, Error>
    where
        P::Item: Send + 'static,
    {
        self.collect_with(Request::default())
    }

    /// [`collect`](Self::collect) with an explicit request policy.
    pub fn collect_with(self, request: Request) -> Result<Vec<P::Item>, Error>
    where
        P::Item: Send + 'static,
    {
        self.fold_with(request, Vec::new(), |mut v, x| {
            v.push(x);
            v
        })
    }
    // ---- more sinks ----
    /// Subscribes with three callbacks and returns a handle that can cancel the subscription.
    ///
    /// Does not block: a synchronous source runs inside this call (and has finished when it
    /// returns, unless the handle was cancelled from a callback); an asynchronous one calls back on
    /// its own threads. Requests in batches of [`DEFAULT_BATCH`](crate::sink::DEFAULT_BATCH); see
    /// [`subscribe_with_request`](Self::subscribe_with_request) to choose. Reactor's
    /// `subscribe(consumer, errorConsumer, completeConsumer)`, RxJava's `subscribe(onNext, onError,
    /// onComplete)`.
    ///
    /// # Signals
    ///
    /// Exactly one of `on_error` / `on_complete` runs, unless the handle cancels first; after
    /// [`Disposable::cancel`](crate::sink::Disposable::cancel), no callback starts (an item in flight is dropped, an error goes to
    /// the [error hook](crate::set_error_hook)). A panic in `on_next` cancels upstream and comes
    /// back as an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let (s, done) = (seen.clone(), seen.clone());
    /// let handle = backflow::range(0..3u32).subscribe_with(
    ///     move |x| s.lock().unwrap().push(x),
    ///     |e| panic!("{e}"),
    ///     move || done.lock().unwrap().push(99),
    /// );
    /// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 99]);
    /// assert!(handle.is_disposed()); // the stream is over
    /// ```
    pub fn subscribe_with<N, E, C>(
        self,
        on_next: N,
        on_error: E,
        on_complete: C,
    ) -> crate::sink::Disposable
    where
        N: FnMut(P::Item) + Send + 'static,
        E: FnOnce(Error) + Send + 'static,
        C: FnOnce() + Send + 'static,
    {
        self.subscribe_with_request(Request::default(), on_next, on_error, on_complete)
    }

    /// [`subscribe_with`](Self::subscribe_with) with an explicit request policy:
    /// [`Request::Batch(n)`](Request::Batch) requests `n` up front and tops up by `n - n/4` each time
    /// that many items were handled; [`Request::Unbounded`] requests everything at once.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// backflow::range(0..5u8).subscribe_with_request(Request::Batch(2), move |x| s.lock().unwrap().push(x), |_| {}, || {});
    /// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    ///
    /// // A stream that never ends on its own, cancelled through the handle.
    /// let handle = backflow::never::<u8>().subscribe_with_request(Request::Unbounded, |_| {}, |_| {}, || {});
    /// assert!(!handle.is_disposed());
    /// handle.cancel();
    /// assert!(handle.is_disposed());
    /// ```
    pub fn subscribe_with_request<N, E, C>(
        self,
        request: Request,
        on_next: N,
        on_error: E,
        on_complete: C,
    ) -> crate::sink::Disposable
    where
        N: FnMut(P::Item) + Send + 'static,
        E: FnOnce(Error) + Send + 'static,
        C: FnOnce() + Send + 'static,
    {
        let (lambda, disposable) =
            crate::sink::lambda::Lambda::new(on_next, on_error, on_complete, request.replenish());
        self.publisher.subscribe(lambda);
        disposable
    }

    /// Consumes the stream as a blocking iterator with a prefetch of
    /// [`DEFAULT_BATCH`](crate::sink::DEFAULT_BATCH) items; same as `for item in flux`.
    ///
    /// See [`into_blocking_iter_with`](Self::into_blocking_iter_with).
    pub fn into_blocking_iter(self) -> crate::sink::BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        self.into_blocking_iter_with(crate::sink::DEFAULT_BATCH as usize)
    }

    /// Consumes the stream as a blocking iterator that yields `Ok(item)`, then `Err(error)` once if
    /// the stream fails. Reactor's `toIterable`, RxJava's `blockingIterable`.
    ///
    /// # Demand
    ///
    /// Requests `prefetch` up front and tops up by 75% of it as the iterator consumes; at most
    /// `prefetch` items wait in between. `next` blocks (parks the thread) while none is ready.
    /// Dropping the iterator cancels the subscription.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let mut total = 0;
    /// for item in backflow::range(0..10u32).into_blocking_iter_with(4) {
    ///     total += item?;
    /// }
    /// assert_eq!(total, 45);
    /// # Ok::<(), Error>(())
    /// ```
    #[doc(alias = "toIterable")]
    #[doc(alias = "blockingIterable")]
    pub fn into_blocking_iter_with(self, prefetch: usize) -> crate::sink::BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        crate::sink::BlockingIter::new(&self.publisher, prefetch)
    }

    /// Consumes the stream as a `futures_core::Stream` with a prefetch of
    /// [`DEFAULT_BATCH`](crate::sink::DEFAULT_BATCH) items.
    pub fn into_stream(self) -> crate::sink::FluxStream<P::Item>
    where
        P::Item: Send + 'static,
    {
        self.into_stream_with(crate::sink::DEFAULT_BATCH as usize)
    }

    /// Consumes the stream as a `futures_core::Stream` that yields `Ok(item)`, then `Err(error)` once
    /// if the flux fails. Works on any executor (or `block_on`).
    ///
    /// # Demand
    ///
    /// Requests `prefetch` up front and tops up by 75% of it as the stream is polled. The task is
    /// woken only when an item or the end arrives. Dropping the stream cancels the subscription.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use futures::StreamExt;
    /// let stream = backflow::range(0..5u32).map(|x| x * x).into_stream_with(2);
    /// let squares: Vec<u32> = futures::executor::block_on(stream.map(|r| r.unwrap()).collect());
    /// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
    /// ```
    #[doc(alias = "toStream")]
    #[doc(alias = "asFlow")]
    pub fn into_stream_with(self, prefetch: usize) -> crate::sink::FluxStream<P::Item>
    where
        P::Item: Send + 'static,
    {
        crate::sink::FluxStream::new(&self.publisher, prefetch)
    }
}

/// `for item in flux { let x = item?; .. }`: a blocking iteration (see [`Flux::into_blocking_iter`]).
impl<P> IntoIterator for Flux<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Result<P::Item, Error>;
    type IntoIter = crate::sink::BlockingIter<P::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_blocking_iter()
    }
}

/// Options of the last stage of a chain, for stages that buffer or drop.
impl<P: ops::Configurable> Flux<P> {
    /// Sets the callback that receives every item this stage discards, by value, with the reason.
    ///
    /// Dropped items are also counted in the stage's [`metrics`](Self::metrics). A panic in the
    /// callback is reported to the [error hook](crate::set_error_hook) and does not stop the stream.
    pub fn on_drop<F>(mut self, on_drop: F) -> Self
    where
        F: Fn(P::Dropped, crate::DropReason) + Send + Sync + 'static,
    {
        self.publisher.options_mut().on_drop = Some(StdArc::new(on_drop));
        self
    }

    /// Counts this stage's traffic in `metrics` (see [`metrics::Registry`](crate::metrics::Registry)).
    pub fn metrics(mut self, metrics: StdArc<crate::metrics::StageMetrics>) -> Self {
        self.publisher.options_mut().metrics = Some(metrics);
        self
    }

    /// Chooses whether a terminal error waits for the held items ([`ErrorMode::AfterDrain`](ops::ErrorMode),
    /// the default) or overtakes them ([`ErrorMode::Immediate`](ops::ErrorMode)).
    pub fn error_mode(mut self, mode: ops::ErrorMode) -> Self {
        self.publisher.options_mut().error_mode = mode;
        self
    }
}
