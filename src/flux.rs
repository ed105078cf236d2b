//! [`Flux`]: the fluent wrapper around any publisher, one method per operator.
//!
//! A chain of synchronous operators is a nest of generic types (`Filter<Map<Iter<..>, F>, G>`) that
//! the compiler fuses into one loop, the way `Iterator` adapters fuse: no allocation, no dynamic
//! call and no atomic read-modify-write per element. [`Flux::boxed`] erases the type where you need
//! to name it.

use std::fmt;

use crate::error::Error;
use crate::ops;
#[doc(inline)]
pub use crate::protocol::Flux;
use crate::protocol::{DynPublisher, Publisher, Subscriber};
use crate::sink::{Fold, Request};
use crate::sync::StdArc;

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

    /// Delivers this stream's signals on `scheduler`: an asynchronous boundary between the
    /// upstream's thread and the downstream's.
    ///
    /// Each subscription takes one [`Worker`](crate::sched::Worker) of the scheduler; `on_next`,
    /// `on_error` and `on_complete` run on it, in order, one at a time (`on_subscribe` runs where the
    /// upstream delivers it: the subscribing thread, for a synchronous source). Items cross in a
    /// lock-free ring of [`DEFAULT_PREFETCH`](ops::DEFAULT_PREFETCH) (256) slots, in batches: the
    /// drain runs as one scheduled task per batch and hands each run down in one call, so a
    /// synchronous chain below stays fused. A drain task keeps going while items and demand keep
    /// coming (like Reactor's), so on a pool it can delay other work pinned to the same thread. Reactor's `publishOn`, RxJava's `observeOn`, Akka's `async` boundary. Tune it with
    /// [`prefetch`](Flux::prefetch) / [`low_tide`](Flux::low_tide) (the one way to set a prefetch,
    /// on every prefetching stage), and [`error_mode`](Self::error_mode),
    /// [`metrics`](Self::metrics), [`on_drop`](Self::on_drop).
    ///
    /// # Demand
    ///
    /// Requests `prefetch` upstream up front, and tops up by at least `prefetch - prefetch/4` each time
    /// that many were handed down (Reactor's 75% rule; see [`low_tide`](Flux::low_tide)). Holds at
    /// most `prefetch` items; serves them as downstream demand allows. An upstream that sends more
    /// than requested is cancelled and the stream fails with
    /// [`ErrorKind::Overflow`](crate::ErrorKind::Overflow): memory never grows past the ring.
    ///
    /// # Drops
    ///
    /// Nothing while the stream runs. A terminal error waits behind the held items by default
    /// ([`ErrorMode::AfterDrain`](ops::ErrorMode::AfterDrain)); with
    /// [`ErrorMode::Immediate`](ops::ErrorMode::Immediate) it overtakes them and they are dropped with
    /// [`DropReason::Cancelled`](crate::DropReason::Cancelled). A cancel (from any thread) drops the
    /// held items with `Cancelled`, and so does a panic in the downstream, which also cancels upstream
    /// and comes back as [`ErrorKind::Panicked`](crate::ErrorKind::Panicked). An item that overflows
    /// the ring is dropped with [`DropReason::Overflow`](crate::DropReason::Overflow).
    ///
    /// ```
    /// use backflow::prelude::*;
    ///
    /// let consumer = backflow::sched::Single::with_name("consumer");
    /// let threads = backflow::range(0..1000u64)
    ///     .publish_on(consumer)
    ///     .map(|x| (x, std::thread::current().name().map(String::from)))
    ///     .collect()
    ///     .unwrap();
    /// assert!(threads.iter().enumerate().all(|(i, (x, name))| *x == i as u64 && name.as_deref() == Some("consumer")));
    /// ```
    #[doc(alias = "observeOn")]
    #[doc(alias = "publishOn")]
    #[doc(alias = "async boundary")]
    #[doc(alias = "async")]
    pub fn publish_on<Sc>(self, scheduler: Sc) -> Flux<ops::PublishOn<P, Sc>>
    where
        Sc: crate::sched::Scheduler,
        P::Item: Send + 'static,
    {
        Flux::new(ops::PublishOn::new(
            self.publisher,
            scheduler,
            ops::DEFAULT_PREFETCH,
        ))
    }

    /// Subscribes to this stream on `scheduler`, and sends it every `request` from there.
    ///
    /// The upstream's `subscribe` call runs as a task on one [`Worker`](crate::sched::Worker) of the
    /// scheduler, and so does each `request` (several requests made while one is on its way travel
    /// together). A synchronous source, whose items are produced inside `request`, therefore runs
    /// on the scheduler's thread. `cancel` is forwarded at once, from the calling thread, so it never
    /// waits behind the work it stops. Reactor's `subscribeOn` (with `requestOnSeparateThread =
    /// true`), RxJava's `subscribeOn`. `on_subscribe` reaches the downstream on the worker.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged, on the worker; it holds nothing.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// use backflow::prelude::*;
    ///
    /// let producer = backflow::sched::Single::with_name("producer");
    /// let names = backflow::range(0..3u8)
    ///     .map(|_| std::thread::current().name().map(String::from))
    ///     .subscribe_on(producer)
    ///     .collect()
    ///     .unwrap();
    /// assert!(names.iter().all(|n| n.as_deref() == Some("producer")));
    /// ```
    #[doc(alias = "subscribeOn")]
    pub fn subscribe_on<Sc>(self, scheduler: Sc) -> Flux<ops::SubscribeOn<P, Sc>>
    where
        Sc: crate::sched::Scheduler,
        P: Send + Sync + 'static,
    {
        Flux::new(ops::SubscribeOn::new(self.publisher, scheduler))
    }

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

    /// The bounded backpressure buffer — Reactor's `onBackpressureBuffer(n)`, Akka's
    /// `buffer(n, OverflowStrategy.backpressure)` — holds up to `capacity` items for a consumer that
    /// falls behind in bursts and slows the producer down when full; it never drops anything. It is
    /// **not** Reactor's or RxJava's `buffer(int)`, which collects items into lists: that is
    /// [`chunks`](Self::chunks).
    ///
    /// Towards its upstream it does what Reactor's `limitRate(n)` does: it requests in batches of
    /// at most `capacity`, however much the downstream asks for.
    ///
    /// The producer and the consumer may run on different threads (the producer calling `on_next`
    /// on one, the consumer requesting on another) or share one; either way the stage holds its
    /// items in a lock-free ring allocated once, so its memory is bounded by `capacity`. It does
    /// not start a thread of its own.
    ///
    /// # Demand
    ///
    /// Requests `capacity` upstream at subscription, then tops up in batches as the downstream
    /// drains it (each time 75% of `capacity` has been delivered, Reactor's rule), so at most
    /// `capacity` items are ever outstanding or held. Downstream demand is served from the held
    /// items in runs; re-entrant requests are trampolined.
    ///
    /// A publisher that ignores backpressure and sends more than was requested gets an
    /// [`ErrorKind::Overflow`](crate::ErrorKind::Overflow) error and is cancelled; the stage does
    /// not grow.
    ///
    /// # Drops
    ///
    /// Nothing while the upstream is compliant. Held items are dropped (through
    /// [`on_drop`](Self::on_drop), [`DropReason::Cancelled`](crate::DropReason::Cancelled)) when
    /// the downstream cancels; the item that broke the bound of a non-compliant publisher is
    /// dropped as [`DropReason::Overflow`](crate::DropReason::Overflow). A terminal signal waits
    /// for the held items to be delivered ([`ErrorMode::AfterDrain`](crate::ops::ErrorMode), the
    /// default); with [`error_mode`](Self::error_mode)`(ErrorMode::Immediate)` an error overtakes
    /// them and they are dropped as `Cancelled`.
    ///
    /// # Metrics
    ///
    /// With [`metrics`](Self::metrics): `received`, `emitted`, `dropped` by reason, `requested`,
    /// `buffered` (the ring's length after each drain pass) and a sampled queue wait (one arrival in
    /// 64 is time-stamped; the wait is recorded when the drain hands it downstream). Create the
    /// metrics with `capacity` as their capacity, so utilisation reads right.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    ///
    /// // The consumer asks for 8 at a time; the source is asked for at most 64 ahead of it.
    /// let out = backflow::range(0..1_000u32)
    ///     .buffer(64)
    ///     .collect_with(Request::Batch(8))
    ///     .unwrap();
    /// assert_eq!(out, (0..1_000).collect::<Vec<_>>());
    /// ```
    #[doc(alias = "onBackpressureBuffer")]
    #[doc(alias = "limitRate")]
    pub fn buffer(self, capacity: usize) -> Flux<ops::Buffer<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Buffer::new(
            self.publisher,
            capacity,
            ops::Overflow::Backpressure,
        ))
    }

    /// A buffer of `capacity` items with a choice of what happens when it is full.
    ///
    /// The general form: Akka's `buffer(n, overflowStrategy)`, Reactor's
    /// `onBackpressureBuffer(n, onOverflow, BufferOverflowStrategy)`, RxJava's
    /// `onBackpressureBuffer(n, onOverflow, BackpressureOverflowStrategy)`.
    ///
    /// | policy | same as | upstream demand | on overflow |
    /// |---|---|---|---|
    /// | [`Overflow::Backpressure`](ops::Overflow::Backpressure) | [`buffer`](Self::buffer) | `capacity`, topped up as drained | cannot overflow: the producer waits |
    /// | [`Overflow::DropOldest`](ops::Overflow::DropOldest) | [`drop_oldest`](Self::drop_oldest) | unbounded | the oldest held item is evicted (`Evicted`) |
    /// | [`Overflow::DropNewest`](ops::Overflow::DropNewest) | [`drop_newest`](Self::drop_newest) | unbounded | the incoming item is dropped (`Overflow`) |
    /// | [`Overflow::Error`](ops::Overflow::Error) | | unbounded | the incoming item is dropped (`Overflow`), upstream is cancelled at once, the held items are delivered, then an [`ErrorKind::Overflow`](crate::ErrorKind::Overflow) error |
    ///
    /// # Demand
    ///
    /// As in the table; downstream demand is served from the held items, in arrival order.
    ///
    /// # Drops
    ///
    /// As in the table, every dropped item by value through [`on_drop`](Self::on_drop), counted
    /// in [`metrics`](Self::metrics) by reason (the metrics are those of [`buffer`](Self::buffer)). Held items are dropped as
    /// [`DropReason::Cancelled`](crate::DropReason::Cancelled) when the downstream cancels, or when
    /// an error overtakes them under [`ErrorMode::Immediate`](crate::ops::ErrorMode) (by default a
    /// terminal signal waits for them). `on_drop` may run on the producer's thread (overflow) or
    /// on the thread that drains (cancel), never twice for one item.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::DropReason;
    /// use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Behind { seen: Arc<Mutex<Vec<u32>>>, handle: Arc<Mutex<Option<SharedSubscription>>> }
    /// # impl Subscriber<u32> for Behind {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(2); *self.handle.lock().unwrap() = Some(s); }
    /// #     fn on_next(&mut self, x: u32) { self.seen.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { assert_eq!(e.kind(), ErrorKind::Overflow); self.seen.lock().unwrap().push(u32::MAX) }
    /// #     fn on_complete(&mut self) {}
    /// # }
    ///
    /// // `Behind` asks for 2 items, then waits (see `drop_oldest` for its code); it records an
    /// // error as `u32::MAX`.
    /// let behind = Behind::default();
    /// let refused = Arc::new(Mutex::new(Vec::new()));
    /// let r = refused.clone();
    /// backflow::range(0..10u32)
    ///     .buffer_with(3, Overflow::Error)
    ///     .on_drop(move |x, reason| r.lock().unwrap().push((x, reason)))
    ///     .subscribe(behind.clone());
    /// // 2, 3, 4 filled the buffer; 5 overflowed it, and the stage cancelled the source.
    /// assert_eq!(*refused.lock().unwrap(), vec![(5, DropReason::Overflow)]);
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1]);
    /// // The error waits behind the held items.
    /// let handle = behind.handle.lock().unwrap().clone().unwrap();
    /// handle.request(10);
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1, 2, 3, 4, u32::MAX]);
    /// ```
    #[doc(alias = "onBackpressureBuffer")]
    #[doc(alias = "OverflowStrategy")]
    #[doc(alias = "BufferOverflowStrategy")]
    #[doc(alias = "BackpressureOverflowStrategy")]
    pub fn buffer_with(self, capacity: usize, overflow: ops::Overflow) -> Flux<ops::Buffer<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Buffer::new(self.publisher, capacity, overflow))
    }

    /// Holds up to `capacity` items for a slower downstream; when full, evicts the **oldest** held
    /// item to make room for the new one. The downstream always gets the freshest items.
    ///
    /// Akka's `buffer(n, OverflowStrategy.dropHead)`, Reactor's
    /// `onBackpressureBuffer(n, BufferOverflowStrategy.DROP_OLDEST)`. `drop_oldest(1)` is
    /// [`latest`](Self::latest) (Reactor's and RxJava's `onBackpressureLatest`).
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream: the stage absorbs overload by discarding, so it never slows
    /// the producer. Serves downstream demand from the held items in arrival order.
    ///
    /// # Drops
    ///
    /// On overflow the oldest held item, as [`DropReason::Evicted`](crate::DropReason::Evicted),
    /// on the producer's thread. Held items as [`DropReason::Cancelled`](crate::DropReason::Cancelled)
    /// when the downstream cancels or an error overtakes them
    /// ([`ErrorMode::Immediate`](crate::ops::ErrorMode)). Each through [`on_drop`](Self::on_drop),
    /// by value, exactly once, and counted in [`metrics`](Self::metrics). The eviction races the
    /// consumer's delivery without a lock; exactly one of them gets the oldest item.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::DropReason;
    /// use std::sync::{Arc, Mutex};
    ///
    /// // A consumer that fell behind: it asked for 2 items, and will ask again later.
    /// #[derive(Clone, Default)]
    /// struct Behind {
    ///     seen: Arc<Mutex<Vec<u32>>>,
    ///     handle: Arc<Mutex<Option<SharedSubscription>>>,
    /// }
    /// impl Subscriber<u32> for Behind {
    ///     fn on_subscribe(&mut self, s: SharedSubscription) {
    ///         s.request(2);
    ///         *self.handle.lock().unwrap() = Some(s);
    ///     }
    ///     fn on_next(&mut self, x: u32) { self.seen.lock().unwrap().push(x) }
    ///     fn on_error(&mut self, e: Error) { panic!("{e}") }
    ///     fn on_complete(&mut self) { self.seen.lock().unwrap().push(u32::MAX) }
    /// }
    ///
    /// let behind = Behind::default();
    /// let evicted = Arc::new(Mutex::new(Vec::new()));
    /// let e = evicted.clone();
    /// backflow::range(0..10u32)
    ///     .drop_oldest(3)
    ///     .on_drop(move |x, reason| {
    ///         assert_eq!(reason, DropReason::Evicted);
    ///         e.lock().unwrap().push(x)
    ///     })
    ///     .subscribe(behind.clone());
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1]);
    /// assert_eq!(*evicted.lock().unwrap(), vec![2, 3, 4, 5, 6]); // the oldest made room
    ///
    /// // The freshest 3 were held; the completion waited behind them.
    /// let handle = behind.handle.lock().unwrap().clone().unwrap();
    /// handle.request(10);
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1, 7, 8, 9, u32::MAX]);
    /// ```
    #[doc(alias = "dropHead")]
    #[doc(alias = "DROP_OLDEST")]
    #[doc(alias = "onBackpressureLatest")]
    pub fn drop_oldest(self, capacity: usize) -> Flux<ops::DropOldest<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::DropOldest::new(
            self.publisher,
            capacity,
            "drop_oldest",
        ))
    }

    /// Keeps only the latest item for a slower downstream: [`drop_oldest`](Self::drop_oldest)`(1)`.
    ///
    /// Reactor's and RxJava's `onBackpressureLatest`. Each new item replaces the one held, which
    /// is dropped as [`DropReason::Evicted`](crate::DropReason::Evicted); when the downstream asks,
    /// it gets the most recent item.
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream; holds at most one item.
    ///
    /// # Drops
    ///
    /// As [`drop_oldest`](Self::drop_oldest): every item replaced before the downstream asked for
    /// it (`Evicted`), and the held one on cancel (`Cancelled`).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Behind { seen: Arc<Mutex<Vec<u32>>>, handle: Arc<Mutex<Option<SharedSubscription>>> }
    /// # impl Subscriber<u32> for Behind {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(2); *self.handle.lock().unwrap() = Some(s); }
    /// #     fn on_next(&mut self, x: u32) { self.seen.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    ///
    /// // `Behind` asks for 2 items, then waits (see `drop_oldest` for its code).
    /// let behind = Behind::default();
    /// backflow::range(0..100u32).latest().subscribe(behind.clone());
    /// let handle = behind.handle.lock().unwrap().clone().unwrap();
    /// handle.request(1);
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1, 99]);
    /// ```
    #[doc(alias = "onBackpressureLatest")]
    #[doc(alias = "dropHead")]
    #[doc(alias = "DROP_OLDEST")]
    pub fn latest(self) -> Flux<ops::DropOldest<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::DropOldest::new(self.publisher, 1, "latest"))
    }

    /// Holds up to `capacity` items for a slower downstream; when full, drops the **incoming**
    /// item. The downstream gets the oldest items; what arrives while it is behind is lost.
    ///
    /// Reactor's `onBackpressureBuffer(n, BufferOverflowStrategy.DROP_LATEST)`, Akka's
    /// `buffer(n, OverflowStrategy.dropNew)`, RxJava's `onBackpressureDrop` with a buffer. **Not**
    /// RxJava's `BackpressureOverflowStrategy.DROP_LATEST`, which evicts the newest *held* item to
    /// make room for the incoming one; this operator keeps what it holds and refuses what arrives.
    /// Without a buffer, the same idea is [`drop_unrequested`](Self::drop_unrequested).
    ///
    /// # Demand
    ///
    /// Requests unbounded upstream: the stage absorbs overload by discarding, so it never slows
    /// the producer. Serves downstream demand from the held items in arrival order.
    ///
    /// # Drops
    ///
    /// Each item that arrives while `capacity` items are held, as
    /// [`DropReason::Overflow`](crate::DropReason::Overflow), on the producer's thread. Held items
    /// as [`DropReason::Cancelled`](crate::DropReason::Cancelled) when the downstream cancels or an
    /// error overtakes them ([`ErrorMode::Immediate`](crate::ops::ErrorMode)). Each through
    /// [`on_drop`](Self::on_drop), by value, exactly once, and counted in [`metrics`](Self::metrics).
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Behind { seen: Arc<Mutex<Vec<u32>>>, handle: Arc<Mutex<Option<SharedSubscription>>> }
    /// # impl Subscriber<u32> for Behind {
    /// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(2); *self.handle.lock().unwrap() = Some(s); }
    /// #     fn on_next(&mut self, x: u32) { self.seen.lock().unwrap().push(x) }
    /// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
    /// #     fn on_complete(&mut self) {}
    /// # }
    ///
    /// // `Behind` asks for 2 items, then waits (see `drop_oldest` for its code).
    /// let behind = Behind::default();
    /// let refused = Arc::new(Mutex::new(Vec::new()));
    /// let r = refused.clone();
    /// backflow::range(0..10u32)
    ///     .drop_newest(3)
    ///     .on_drop(move |x, _reason| r.lock().unwrap().push(x))
    ///     .subscribe(behind.clone());
    /// assert_eq!(*refused.lock().unwrap(), vec![5, 6, 7, 8, 9]);
    /// let handle = behind.handle.lock().unwrap().clone().unwrap();
    /// handle.request(3);
    /// assert_eq!(*behind.seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    #[doc(alias = "onBackpressureDrop")]
    #[doc(alias = "dropNew")]
    #[doc(alias = "DROP_LATEST")]
    pub fn drop_newest(self, capacity: usize) -> Flux<ops::DropNewest<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::DropNewest::new(
            self.publisher,
            capacity,
            "drop_newest",
        ))
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
    ///     .drop_unrequested()
    ///     .on_drop(move |x, _reason| d.lock().unwrap().push(x))
    ///     .subscribe(subscriber);
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// assert_eq!(*dropped.lock().unwrap(), vec![2, 3, 4]);
    /// ```
    ///
    /// Named for what it does: it was `drop()`, which read like `std::mem::drop`.
    #[doc(alias = "onBackpressureDrop")]
    #[doc(alias = "on_backpressure_drop")]
    #[doc(alias = "drop")]
    #[doc(alias = "drop_new")]
    pub fn drop_unrequested(self) -> Flux<ops::DropNoDemand<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::DropNoDemand::new(self.publisher))
    }

    // ---- graphs (issue 5) ----
    /// Shares this stream among many subscribers: one upstream subscription, every item handed to
    /// every subscriber (a hot, multicast hub). Subscribe, then [`connect`](Self::connect).
    ///
    /// Reactor's `publish()` (a `ConnectableFlux`), RxJava's `publish()`, Akka's `BroadcastHub`.
    /// The hub is cheap to clone; every clone is the same hub, and operators chained on a clone
    /// (`hub.clone().map(..)`) each become one subscriber. Items are cloned for each subscriber
    /// (share big payloads as `Arc<T>`).
    ///
    /// # Connecting
    ///
    /// Nothing is requested upstream until [`connect`](Self::connect) (Reactor's `connect()`),
    /// or, when configured, [`auto_connect(n)`](Self::auto_connect) (once, at the `n`-th
    /// subscriber) or [`ref_count(n)`](Self::ref_count) (see [`share`](Self::share)). With a
    /// synchronous source the whole stream may run inside `connect()`: subscribe everyone first.
    /// After the upstream terminated, `connect()` starts a fresh upstream subscription.
    ///
    /// # Demand
    ///
    /// At connect the hub requests `prefetch` items upstream ([`BROADCAST_PREFETCH`](ops::BROADCAST_PREFETCH)
    /// = 256; see [`broadcast_with`](Self::broadcast_with)) and keeps them in one shared window.
    /// Each subscriber takes from the window at its own pace, as its own demand allows (a fast one
    /// may run up to `prefetch` items ahead of a slow one); an item leaves the window when every
    /// lossless subscriber has taken it, and each time 75% of `prefetch` has left, as many are
    /// requested again. So the hub never holds more than `prefetch` items, and the **slowest
    /// subscriber sets the pace**: upstream receives at most what the slowest has taken plus
    /// `prefetch`. A subscriber that must not slow the others down subscribes on a lossy
    /// [`lane`](Self::lane) instead, which is left out of that minimum.
    ///
    /// Connected with no subscriber at all, the hub fills its window and waits: the first
    /// subscriber gets those items.
    ///
    /// # Subscribers
    ///
    /// - A late subscriber sees the items no subscriber has received yet and everything after them,
    ///   never the items already handed to someone (it is hot).
    /// - A subscriber that cancels is removed at once; items only it still needed are released.
    /// - Completion or an error reaches each subscriber after the items it still has in the
    ///   window (with [`ErrorMode::Immediate`](ops::ErrorMode) an error overtakes them; see
    ///   [`error_mode`](Self::error_mode)). A subscriber that arrives after the termination gets
    ///   the remaining unseen items, if any, and the terminal signal at once: the hub replays it
    ///   until the next `connect()`.
    /// - A subscriber that panics counts as cancelled (rule 2.13): it is removed, its panic
    ///   comes back to it as an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)),
    ///   or goes to the [error hook](crate::set_error_hook) if that panics too, and the others
    ///   carry on.
    /// - [`Connection::disconnect`](ops::Connection::disconnect) cancels upstream; its subscribers
    ///   get an [`ErrorKind::Closed`](crate::ErrorKind::Closed) error.
    ///
    /// # Drops
    ///
    /// Lossless subscribers lose nothing. Items the hub holds when it is disconnected are dropped
    /// with [`DropReason::Cancelled`](crate::DropReason::Cancelled) (and an upstream that sends
    /// more than requested fails the hub with an overflow error, the extra item dropped with
    /// `Overflow`): configure [`on_drop`](Self::on_drop) and [`metrics`](Self::metrics) on the
    /// hub right after creating it, before cloning it. Lossy lanes count their own drops.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let hub = backflow::range(0..5u32).broadcast();
    /// let (plain, tens) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    /// let (p, t) = (plain.clone(), tens.clone());
    /// hub.clone().subscribe_with(move |x| p.lock().unwrap().push(x), |e| panic!("{e}"), || {});
    /// hub.clone().map(|x| x * 10).subscribe_with(move |x| t.lock().unwrap().push(x), |e| panic!("{e}"), || {});
    /// hub.connect(); // the source runs once, for both
    /// assert_eq!(*plain.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    /// assert_eq!(*tens.lock().unwrap(), vec![0, 10, 20, 30, 40]);
    /// ```
    #[doc(alias = "publish")]
    #[doc(alias = "multicast")]
    #[doc(alias = "share")]
    #[doc(alias = "refCount")]
    #[doc(alias = "BroadcastHub")]
    #[doc(alias = "ConnectableFlux")]
    pub fn broadcast(self) -> Flux<ops::Broadcast<P>>
    where
        P: Send + Sync + 'static,
        P::Item: Clone + Send + 'static,
    {
        self.broadcast_with(ops::BROADCAST_PREFETCH)
    }

    /// [`broadcast`](Self::broadcast) with a window of `prefetch` items (Reactor's `publish(prefetch)`).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let hub = backflow::range(0..100u32).broadcast_with(8).auto_connect(2);
    /// let sums: Vec<_> = (0..2)
    ///     .map(|_| { let h = hub.clone(); std::thread::spawn(move || h.fold(0, |a, x| a + x).unwrap()) })
    ///     .collect();
    /// for sum in sums { assert_eq!(sum.join().unwrap(), 4950); }
    /// ```
    #[doc(alias = "publish")]
    pub fn broadcast_with(self, prefetch: usize) -> Flux<ops::Broadcast<P>>
    where
        P: Send + Sync + 'static,
        P::Item: Clone + Send + 'static,
    {
        Flux::new(ops::Broadcast::new(self.publisher, prefetch, false))
    }

    /// A [`broadcast`](Self::broadcast) that connects by itself when its first subscriber arrives
    /// and cancels upstream when its last one leaves (reference counting).
    ///
    /// Reactor's `share()` (= `publish().refCount()`), RxJava's `share()`. Everything in
    /// [`broadcast`](Self::broadcast) applies, except for what happens after the connection ends:
    ///
    /// - When the last subscriber cancels, upstream is cancelled; the next subscriber subscribes
    ///   upstream again (a fresh run of a cold source).
    /// - When upstream terminates, the subscribers still draining it finish with it, and the next
    ///   subscriber reconnects instead of getting the terminal signal replayed (Reactor resets a
    ///   ref-counted publish on termination).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let shared = backflow::range(0..3u8).share();
    /// // A synchronous source runs to its end for the first subscriber; the next one reconnects.
    /// assert_eq!(shared.clone().collect().unwrap(), vec![0, 1, 2]);
    /// assert_eq!(shared.collect().unwrap(), vec![0, 1, 2]);
    /// ```
    #[doc(alias = "refCount")]
    pub fn share(self) -> Flux<ops::Broadcast<P>>
    where
        P: Send + Sync + 'static,
        P::Item: Clone + Send + 'static,
    {
        Flux::new(ops::Broadcast::new(
            self.publisher,
            ops::BROADCAST_PREFETCH,
            true,
        ))
    }

    /// Subscribes a [`broadcast`](Self::broadcast) hub to its upstream now, unless it is
    /// connected already; returns the handle of the connection, which can
    /// [`disconnect`](ops::Connection::disconnect) it.
    ///
    /// After the upstream terminated or was disconnected, `connect()` starts a fresh upstream
    /// subscription; subscribers of the old one finish with it.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let hub = backflow::never::<u8>().broadcast();
    /// let connection = hub.connect();
    /// assert!(connection.is_connected());
    /// connection.disconnect();
    /// assert!(!connection.is_connected());
    /// ```
    pub fn connect(&self) -> ops::Connection
    where
        P: ops::Multicast,
    {
        self.publisher.connect()
    }

    /// Makes a [`broadcast`](Self::broadcast) hub connect by itself once `subscribers` subscribers
    /// have arrived (0: connect now). It does so once: it never disconnects by itself, and after
    /// a disconnect it waits for [`connect`](Self::connect). Reactor's `autoConnect(n)`.
    ///
    /// A subscriber has arrived when its `on_subscribe` has returned: the `n`th to get there
    /// connects, so all `n` see the stream from its first item, however long another's
    /// `on_subscribe` took on its own thread.
    ///
    /// # Panics
    ///
    /// If the hub was cloned already, or a lane taken from it: configure it first.
    pub fn auto_connect(mut self, subscribers: usize) -> Self
    where
        P: ops::Multicast,
    {
        self.publisher.set_auto_connect(subscribers);
        self
    }

    /// Makes a [`broadcast`](Self::broadcast) hub connect once `subscribers` subscribers are
    /// subscribed at the same time, and disconnect when none is left; [`share`](Self::share) is
    /// `ref_count(1)`. Reactor's `refCount(n)`. A subscriber still inside its `on_subscribe`
    /// does not count yet (see [`auto_connect`](Self::auto_connect)).
    ///
    /// # Panics
    ///
    /// If the hub was cloned already, or a lane taken from it: configure it first.
    #[doc(alias = "refCount")]
    pub fn ref_count(mut self, subscribers: usize) -> Self
    where
        P: ops::Multicast,
    {
        self.publisher.set_ref_count(subscribers);
        self
    }

    /// A publisher of the same hub whose subscribers are served by `lane`.
    ///
    /// [`Lane::Lossless`](ops::Lane::Lossless) is the default of the hub itself. A lossy lane
    /// ([`Lane::DropOldest(n)`](ops::Lane::DropOldest), [`Lane::Latest`](ops::Lane::Latest)) is
    /// for a subscriber that must not stall the others: each of its subscribers copies the items
    /// it has no demand for into its own queue of `n`, and is left out of the hub's
    /// slowest-subscriber minimum.
    ///
    /// # Demand
    ///
    /// A lossy subscriber takes its queued items first, then new ones, as its demand allows. It
    /// never holds the hub back, so with only lossy subscribers the hub requests as fast as the
    /// upstream delivers.
    ///
    /// # Drops
    ///
    /// When its queue is full, a newer item evicts the oldest queued one
    /// ([`DropReason::Evicted`](crate::DropReason::Evicted); `Latest` too, since it is
    /// `DropOldest(1)`); on cancel, the queued items go with
    /// [`DropReason::Cancelled`](crate::DropReason::Cancelled). Configure
    /// [`on_drop`](Self::on_drop) and [`metrics`](Self::metrics) on the lane (shared by all of its
    /// subscribers).
    ///
    /// # Panics
    ///
    /// For `Lane::DropOldest(0)`.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::ops::Lane;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let hub = backflow::range(0..10u32).broadcast_with(4);
    /// let fast = Arc::new(Mutex::new(Vec::new()));
    /// let f = fast.clone();
    /// hub.clone().subscribe_with(move |x| f.lock().unwrap().push(x), |_| {}, || {});
    /// // A subscriber that asks for nothing: on a lossy lane it cannot stall the fast one.
    /// struct Idle; // never requests anything
    /// impl Subscriber<u32> for Idle {
    ///     fn on_subscribe(&mut self, _: SharedSubscription) {}
    ///     fn on_next(&mut self, _: u32) {}
    ///     fn on_error(&mut self, _: Error) {}
    ///     fn on_complete(&mut self) {}
    /// }
    /// let dropped = Arc::new(Mutex::new(0));
    /// let d = dropped.clone();
    /// hub.lane(Lane::Latest).on_drop(move |_, _| *d.lock().unwrap() += 1).subscribe(Idle);
    /// hub.connect();
    /// assert_eq!(*fast.lock().unwrap(), (0..10).collect::<Vec<_>>());
    /// assert_eq!(*dropped.lock().unwrap(), 9); // the lane keeps the newest, 9, for when it asks
    /// ```
    ///
    /// A lossy lane that feeds a joining operator (`zip`, `combine_latest`) next to a lossless
    /// branch of the same hub should hold at least what that operator prefetches (e.g.
    /// [`ops::ZIP_PREFETCH`]): the lossless branch may run that far ahead, and a smaller lane evicts
    /// items the join still needs, so the graph stalls.
    pub fn lane(&self, lane: ops::Lane) -> Flux<P::Lane>
    where
        P: ops::Multicast,
    {
        Flux::new(self.publisher.lane(lane))
    }

    /// Interleaves this stream's items with `other`'s, as they arrive.
    ///
    /// The two-source form of [`merge`] for sources of different types (they are
    /// wrapped in [`ops::Either`]). Either source may signal from its own thread.
    ///
    /// # Demand
    ///
    /// Each source is asked for [`MERGE_PREFETCH`](ops::MERGE_PREFETCH) items up front and topped
    /// up by what was taken from its queue once 75% of that is used; downstream demand is served
    /// from the two queues in turn, so a busy source cannot starve the other. Nothing is requested
    /// beyond what the queues can hold.
    ///
    /// # Drops
    ///
    /// Nothing while the stream runs; it completes when both sources have completed and their
    /// queues are drained. The first error cancels the other source and is delivered after the
    /// queued items ([`error_mode`](Self::error_mode) `Immediate` drops them instead). Items queued
    /// at a cancel go to [`on_drop`](Self::on_drop) with [`DropReason::Cancelled`](crate::DropReason::Cancelled).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let evens = backflow::range(0..3u32).map(|x| x * 2);
    /// let odds = backflow::from_iter(vec![1u32, 3, 5]);
    /// let mut all = evens.merge_with(odds).collect().unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    /// ```
    #[doc(alias = "mergeWith")]
    #[doc(alias = "merge")]
    pub fn merge_with<Q>(self, other: Q) -> Flux<ops::Merge<ops::Either<P, Q>>>
    where
        P: Send + Sync + 'static,
        Q: Publisher<Item = P::Item> + Send + Sync + 'static,
        P::Item: Send + 'static,
    {
        Flux::new(ops::Merge::new([
            ops::Either::Left(self.publisher),
            ops::Either::Right(other),
        ]))
    }

    /// Pairs this stream's items with `other`'s: the first of each, then the second of each, and
    /// so on. The method form of [`zip`]; [`zip_with`](Self::zip_with) combines each
    /// pair with a function.
    ///
    /// # Demand
    ///
    /// Each source is asked for [`ZIP_PREFETCH`](ops::ZIP_PREFETCH) items up front; every emitted
    /// pair uses one item of each, and once 75% of the prefetch is used the same top-up is asked of
    /// both. A source is never asked for more than can be paired with the other's items plus the
    /// prefetch. Downstream demand counts pairs.
    ///
    /// # Drops
    ///
    /// Completes as soon as one source has completed and its queue is empty, cancelling the other
    /// and dropping the items it had sent (Reactor). An error cancels the other source and is
    /// delivered after the pairs that can still be made from the queued items.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let pairs = backflow::range(0..5u32).zip(backflow::from_iter(vec!["a", "b"])).collect().unwrap();
    /// assert_eq!(pairs, vec![(0, "a"), (1, "b")]);
    /// ```
    #[doc(alias = "zipWith")]
    pub fn zip<Q>(self, other: Q) -> Flux<ops::Zip<P, Q>>
    where
        P: Send + Sync + 'static,
        Q: Publisher + Send + Sync + 'static,
        P::Item: Send + 'static,
        Q::Item: Send + 'static,
    {
        crate::zip(self.publisher, other)
    }

    /// Pairs this stream's items with `other`'s and emits `f(mine, theirs)` for each pair.
    ///
    /// The method form of [`zip_with`]. A panic in `f` ends the stream with a
    /// [`Panicked`](crate::ErrorKind::Panicked) error and cancels both sources.
    ///
    /// # Demand
    ///
    /// As [`zip`](Self::zip): at most the prefetch outstanding per source, topped up as pairs are
    /// emitted; downstream demand counts combined items.
    ///
    /// # Drops
    ///
    /// As [`zip`](Self::zip): the longer source's unpaired items are dropped when the shorter ends.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let names = backflow::from_iter(vec!["ada", "bob"]);
    /// let ages = backflow::from_iter(vec![36u32, 41]);
    /// let rows = names.zip_with(ages, |n, a| format!("{n}:{a}")).collect().unwrap();
    /// assert_eq!(rows, vec!["ada:36", "bob:41"]);
    /// ```
    #[doc(alias = "zipWith")]
    pub fn zip_with<Q, F, O>(self, other: Q, f: F) -> Flux<ops::ZipWith<P, Q, F>>
    where
        P: Send + Sync + 'static,
        Q: Publisher + Send + Sync + 'static,
        P::Item: Send + 'static,
        Q::Item: Send + 'static,
        F: Fn(P::Item, Q::Item) -> O + Send + Sync + 'static,
    {
        crate::zip_with(self.publisher, other, f)
    }

    /// Emits `f(&latest_mine, &latest_theirs)` each time either stream emits, once both have.
    ///
    /// The method form of [`combine_latest`], which says precisely what is
    /// emitted: items are taken in arrival order, and every item that arrives after both streams
    /// have emitted yields exactly one output.
    ///
    /// # Demand
    ///
    /// Each source is asked for [`COMBINE_LATEST_PREFETCH`](ops::COMBINE_LATEST_PREFETCH) items up
    /// front and topped up as its queue is drained (75% rule). An item that yields an output is
    /// taken only against a downstream credit, so a slow downstream holds both sources back.
    ///
    /// # Drops
    ///
    /// Items of one stream that arrive before the other's first item only replace the latest
    /// value: all but the last of them are never combined. Nothing else is dropped while the
    /// stream runs; it completes when both sources have completed (or at once when one completes
    /// empty), and an error is delivered after the queued items are combined.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let temperature = backflow::from_iter(vec![20.5f64, 21.0]);
    /// let unit = backflow::just("C");
    /// let shown = temperature
    ///     .combine_latest_with(unit, |t, u| format!("{t}{u}"))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(shown, vec!["21C"]);
    /// ```
    #[doc(alias = "combineLatest")]
    #[doc(alias = "combine_latest")]
    pub fn combine_latest_with<Q, F, O>(self, other: Q, f: F) -> Flux<ops::CombineLatest<P, Q, F>>
    where
        P: Send + Sync + 'static,
        Q: Publisher + Send + Sync + 'static,
        P::Item: Send + 'static,
        Q::Item: Send + 'static,
        F: Fn(&P::Item, &Q::Item) -> O + Send + Sync + 'static,
    {
        crate::combine_latest(self.publisher, other, f)
    }

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

// ---- fan-in constructors (issue 8 §3: moved from ops/, so that ops/ never imports flux; the
// public paths `backflow::merge`, `backflow::zip`, ... are unchanged) ----

/// Merges `sources` into one stream: items are emitted as they arrive from any source.
///
/// Reactor's `Flux.merge`, RxJava's `Flowable.merge`, Akka's `Merge`. All sources have one type;
/// use [`Flux::merge_with`](crate::Flux::merge_with) for two different ones, or
/// [`Flux::boxed`](crate::Flux::boxed) to mix many. The sources may signal from different threads
/// at once.
///
/// # Demand
///
/// Each source is asked for [`MERGE_PREFETCH`](crate::ops::MERGE_PREFETCH) items up front (change it with [`Merge::prefetch`](crate::ops::Merge::prefetch))
/// and topped up by what was taken from its queue once 75% of that is used (Reactor's rule), so
/// each source's outstanding demand plus what it holds in the merge never exceeds the prefetch.
/// Downstream demand is served from the sources' queues in turn: each visit takes what one queue
/// holds (at most the prefetch), then moves to the next, so a busy source cannot starve the others.
/// A source that sends more than it was asked for ends the stream with an
/// [`Overflow`](crate::ErrorKind::Overflow) error.
///
/// # Drops
///
/// Nothing while the stream runs. The merge completes when every source has completed and its
/// queue is drained. The first error cancels the other sources; by default the items already
/// queued are delivered first ([`ErrorMode::AfterDrain`](crate::ops::ErrorMode::AfterDrain); `Immediate` drops them). Items queued at
/// a cancel or an immediate error go to [`on_drop`](crate::Flux::on_drop) with
/// [`DropReason::Cancelled`](crate::DropReason::Cancelled); an item refused for overflow with [`DropReason::Overflow`](crate::DropReason::Overflow).
///
/// # Metrics
///
/// With [`Flux::metrics`](crate::Flux::metrics): `received` counts the items the drain loop took
/// from the sources' queues (the sources' threads cannot share its single-writer counter),
/// `emitted` what went downstream, `requested` the prefetches and top-ups asked of the sources.
///
/// ```
/// use backflow::prelude::*;
/// let mut out = backflow::merge(vec![backflow::range(0..3u32), backflow::range(10..13)])
///     .collect()
///     .unwrap();
/// out.sort();
/// assert_eq!(out, vec![0, 1, 2, 10, 11, 12]);
/// ```
#[doc(alias = "mergeWith")]
#[doc(alias = "select_all")]
pub fn merge<I>(sources: I) -> Flux<crate::ops::Merge<I::Item>>
where
    I: IntoIterator,
    I::Item: Publisher + Send + Sync + 'static,
    <I::Item as Publisher>::Item: Send + 'static,
{
    Flux::new(crate::ops::Merge::new(sources))
}

/// Pairs the items of `a` and `b`: the first of each, then the second of each, and so on.
///
/// Reactor's `Flux.zip`, RxJava's `Flowable.zip`, Akka's `zip`. See [`zip_with`] to combine each
/// pair with a function, [`zip_all`] for any number of sources of one type.
///
/// # Demand
///
/// Each source is asked for [`ZIP_PREFETCH`](crate::ops::ZIP_PREFETCH) items up front (change it with
/// [`ZipWith::prefetch`](crate::ops::ZipWith::prefetch)); when a pair is emitted, one item of each source has been used, and
/// once 75% of the prefetch has been used the same top-up is requested from every source. So a
/// source is never asked for more than what can be paired with what the other sends, plus the
/// prefetch. Downstream demand counts pairs.
///
/// # Drops
///
/// The zip completes as soon as one source has completed and its queue is empty (no more pair
/// can be made); the other source is cancelled and the items it had sent are dropped, as in
/// Reactor. An error from a source cancels the other; the pairs that can still be made from the
/// queued items are emitted first, then the error. On cancel, queued items are dropped.
///
/// ```
/// let pairs = backflow::zip(backflow::range(0..3u32), backflow::from_iter(vec!['a', 'b', 'c', 'd']))
///     .collect()
///     .unwrap();
/// assert_eq!(pairs, vec![(0, 'a'), (1, 'b'), (2, 'c')]);
/// ```
#[doc(alias = "zipWith")]
pub fn zip<A, B>(a: A, b: B) -> Flux<crate::ops::Zip<A, B>>
where
    A: Publisher + Send + Sync + 'static,
    B: Publisher + Send + Sync + 'static,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
{
    Flux::new(crate::ops::Zip::pairs(a, b))
}

/// Pairs the items of `a` and `b` and emits `f(a_item, b_item)` for each pair.
///
/// Reactor's `Flux.zip(a, b, combinator)`, RxJava's `Flowable.zip(a, b, zipper)`, Akka's
/// `zipWith`. A panic in `f` ends the stream with a [`Panicked`](crate::ErrorKind::Panicked) error.
///
/// # Demand
///
/// As [`zip`]: at most the prefetch outstanding per source, topped up as pairs are emitted;
/// downstream demand counts combined items.
///
/// # Drops
///
/// As [`zip`]: the unpaired items of the longer source are dropped when the shorter one ends.
///
/// ```
/// let sums = backflow::zip_with(backflow::range(1..4u32), backflow::range(10..20u32), |a, b| a + b)
///     .collect()
///     .unwrap();
/// assert_eq!(sums, vec![11, 13, 15]);
/// ```
#[doc(alias = "zipWith")]
pub fn zip_with<A, B, F, O>(a: A, b: B, f: F) -> Flux<crate::ops::ZipWith<A, B, F>>
where
    A: Publisher + Send + Sync + 'static,
    B: Publisher + Send + Sync + 'static,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    F: Fn(A::Item, B::Item) -> O + Send + Sync + 'static,
{
    Flux::new(crate::ops::ZipWith::new(a, b, f))
}

/// Zips `sources` into `Vec`s: the first item of every source, then the second of every source,
/// and so on. No sources: completes at once.
///
/// # Demand
///
/// As [`zip`], for every source: at most the prefetch outstanding per source, topped up as rows
/// are emitted; downstream demand counts rows.
///
/// # Drops
///
/// As [`zip`]: completes when one source has completed and its queue is empty, dropping what the
/// others had sent.
///
/// ```
/// let sources = vec![backflow::range(0..3u8), backflow::range(10..12), backflow::range(20..25)];
/// let rows = backflow::zip_all(sources).collect().unwrap();
/// assert_eq!(rows, vec![vec![0, 10, 20], vec![1, 11, 21]]);
/// ```
pub fn zip_all<I>(sources: I) -> Flux<crate::ops::ZipAll<I::Item>>
where
    I: IntoIterator,
    I::Item: Publisher + Send + Sync + 'static,
    <I::Item as Publisher>::Item: Send + 'static,
{
    Flux::new(crate::ops::ZipAll::new(sources))
}

/// Emits `f(&latest_a, &latest_b)` each time `a` or `b` emits, once both have emitted.
///
/// Reactor's `Flux.combineLatest`, RxJava's `Flowable.combineLatest`. `f` gets references, so the
/// items need not be `Clone`; clone what you keep. A panic in `f` ends the stream with a
/// [`Panicked`](crate::ErrorKind::Panicked) error.
///
/// What is emitted, precisely: the items of both sources are taken in the order they arrived
/// (items that arrive concurrently on two threads are ordered either way). Each item replaces its
/// source's latest value; if the other source has a value by then, `f` is applied to the two
/// latest values and the result emitted. So every item that arrives after both sources have
/// emitted yields exactly one output, in arrival order, however late downstream asks for it.
///
/// # Demand
///
/// Each source is asked for [`COMBINE_LATEST_PREFETCH`](crate::ops::COMBINE_LATEST_PREFETCH) items up front (change it with
/// [`CombineLatest::prefetch`](crate::ops::CombineLatest::prefetch)) and topped up by what was taken from its queue once 75% of that is
/// used. An item that yields an output is taken only against a downstream credit, so a slow
/// downstream holds the sources back (their queues fill, and they are not asked for more); an
/// item that yields none (before the other source's first item) is taken without one.
///
/// # Drops
///
/// Items of one source that arrive before the other source's first item are never combined,
/// except the last of them: each only replaces the latest value (Reactor and RxJava do the same).
/// Nothing else is dropped while the stream runs. The stream completes when both sources have
/// completed and their queues are drained (the last value of a completed source keeps being
/// combined with the other's new items), or at once when a source completes without having
/// emitted anything, cancelling the other. An error cancels the other source; the items already
/// queued are combined and emitted first, then the error. On cancel, queued items are dropped.
///
/// ```
/// // `b` is subscribed after `a` has run to its end, so `a`'s last value pairs with each of `b`'s.
/// let out = backflow::combine_latest(
///     backflow::range(1..4u32),
///     backflow::from_iter(vec![10u32, 20]),
///     |a, b| a + b,
/// )
/// .collect()
/// .unwrap();
/// assert_eq!(out, vec![13, 23]);
/// ```
#[doc(alias = "combineLatest")]
pub fn combine_latest<A, B, F, O>(a: A, b: B, f: F) -> Flux<crate::ops::CombineLatest<A, B, F>>
where
    A: Publisher + Send + Sync + 'static,
    B: Publisher + Send + Sync + 'static,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    F: Fn(&A::Item, &B::Item) -> O + Send + Sync + 'static,
{
    Flux::new(crate::ops::CombineLatest::new(a, b, f))
}

// ---- timed stages' setters (issue 8 §3: moved from ops/timed.rs and ops/throttle.rs) ----

/// The scheduler of the last stage of a chain, for timed stages.
impl<P: crate::ops::Timed> Flux<P> {
    /// Runs this stage's clock and timers on `scheduler` instead of the shared default (a
    /// process-wide pool, one thread per core, started on first use).
    ///
    /// Pass a [`VirtualTime`](crate::sched::VirtualTime) to test timed behaviour exactly, without
    /// sleeping: nothing happens until the test advances the clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let ticks = backflow::interval(Duration::from_secs(1)).scheduler(clock.clone());
    /// # let _ = ticks;
    /// ```
    pub fn scheduler<S: crate::sched::Scheduler + 'static>(self, scheduler: S) -> Self {
        let mut stage = self.into_inner();
        stage.set_scheduler(StdArc::new(scheduler));
        Flux::new(stage)
    }
}

/// The options of a [`throttle`](Flux::throttle) stage.
impl<P: Publisher> Flux<crate::ops::Throttle<P>> {
    /// Sets the bucket's capacity: the most items that may pass back to back after a quiet spell,
    /// and the most requested upstream at once. Defaults to the `elements` of
    /// `throttle(elements, per)`; `burst(1)` spaces items evenly, `per / elements` apart.
    ///
    /// # Panics
    ///
    /// If `burst` is 0.
    #[doc(alias = "maximumBurst")]
    pub fn burst(self, burst: u64) -> Self {
        assert!(burst > 0, "throttle burst(0): the bucket must hold a token");
        let mut stage = self.into_inner();
        stage.set_burst(burst);
        Flux::new(stage)
    }

    /// Chooses what happens to an item that finds no token (see [`ThrottleMode`](crate::ops::ThrottleMode)).
    pub fn mode(self, mode: crate::ops::ThrottleMode) -> Self {
        let mut stage = self.into_inner();
        stage.set_mode(mode);
        Flux::new(stage)
    }

    /// Delays items until a token comes: `mode(ThrottleMode::Shaping)`, the default.
    pub fn shaping(self) -> Self {
        self.mode(crate::ops::ThrottleMode::Shaping)
    }

    /// Fails the stream when an item finds no token: `mode(ThrottleMode::Enforcing)`.
    pub fn enforcing(self) -> Self {
        self.mode(crate::ops::ThrottleMode::Enforcing)
    }
}

// ---- porter parity (issue 10): error recovery ----
impl<P: Publisher> Flux<P> {
    /// Continues with the publisher `f` returns when the upstream fails: the downstream sees the
    /// upstream's items, then the fallback's, and never the error.
    ///
    /// To recover from some errors only, return a failing publisher for the others (box both
    /// branches to give them one type: `backflow::error(e).boxed()`).
    ///
    /// # Demand
    ///
    /// Downstream requests pass to the upstream; at the error, the demand still outstanding
    /// (requested and not delivered) is asked of the fallback in one request, and later requests go
    /// to it. Nothing is held. A downstream that cancelled before the error gets no fallback.
    ///
    /// # Drops
    ///
    /// Nothing. The error is handed to `f` by value. A panic in `f` ends the stream with an
    /// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error (the upstream has already ended).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(0..3u32)
    ///     .concat_with(backflow::error(Error::msg("disk gone")))
    ///     .on_error_resume(|_e| backflow::range(100..102u32))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 100, 101]);
    /// ```
    #[doc(alias = "onErrorResume")]
    #[doc(alias = "onErrorResumeNext")]
    #[doc(alias = "recoverWith")]
    #[doc(alias = "recoverWithRetries")]
    pub fn on_error_resume<Q, F>(self, f: F) -> Flux<ops::OnErrorResume<P, F>>
    where
        P::Item: 'static,
        F: Fn(Error) -> Q + Send + Sync + 'static,
        Q: Publisher<Item = P::Item> + 'static,
    {
        Flux::new(ops::OnErrorResume::new(self.publisher, f))
    }

    /// Replaces an upstream error with one last item, `f(error)`, then completes.
    ///
    /// # Demand
    ///
    /// Downstream requests pass to the upstream; the replacement item waits for demand (if all
    /// requested items were delivered before the error, it goes at the next `request`), and
    /// completion follows it.
    ///
    /// # Drops
    ///
    /// The error (handed to `f`). If the downstream cancels before requesting it, the replacement
    /// item is dropped. A panic in `f` ends the stream with an
    /// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(1..4i32)
    ///     .concat_with(backflow::error(Error::msg("bad row")))
    ///     .on_error_return(|_e| -1)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3, -1]);
    /// ```
    #[doc(alias = "onErrorReturn")]
    #[doc(alias = "onErrorReturnItem")]
    #[doc(alias = "recover")]
    pub fn on_error_return<F>(self, f: F) -> Flux<ops::OnErrorReturn<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(Error) -> P::Item + Send + Sync + 'static,
    {
        Flux::new(ops::OnErrorReturn::new(self.publisher, f))
    }

    /// Transforms the upstream's error with `f`; items and completion pass unchanged.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` is delivered instead of the error, as an
    /// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let err = backflow::error::<u8>(Error::msg("connection reset"))
    ///     .on_error_map(|e| Error::with_source(ErrorKind::Closed, "upstream service down", e))
    ///     .collect()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Closed);
    /// ```
    #[doc(alias = "onErrorMap")]
    #[doc(alias = "mapError")]
    pub fn on_error_map<F>(self, f: F) -> Flux<ops::OnErrorMap<P, F>>
    where
        P::Item: 'static,
        F: Fn(Error) -> Error + Send + Sync + 'static,
    {
        Flux::new(ops::OnErrorMap::new(self.publisher, f))
    }

    /// Turns an upstream error into completion: the items before it pass, then `on_complete`.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// The error, silently (that is the point; log it first with
    /// [`on_error_map`](Self::on_error_map) if you need to).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let out = backflow::range(0..2u8)
    ///     .concat_with(backflow::error(Error::msg("eof in the middle")))
    ///     .on_error_complete()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1]);
    /// ```
    #[doc(alias = "onErrorComplete")]
    #[doc(alias = "onErrorResumeWith")]
    pub fn on_error_complete(self) -> Flux<ops::OnErrorComplete<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::OnErrorComplete::new(self.publisher))
    }
}

// ---- porter parity (issue 10): time ----
impl<P: Publisher> Flux<P> {
    /// Collects items into `Vec`s of at most `size`, emitting each chunk when it is full or
    /// `timeout` after its first item, whichever comes first: the batching stage every database or
    /// broker sink needs. Reactor's `bufferTimeout(n, d)`, RxJava's `buffer(d, unit, n)`, Akka's
    /// `groupedWithin(n, d)`.
    ///
    /// The clock and the timer are the stage's [`scheduler`](Self::scheduler) (test it on
    /// [`VirtualTime`](crate::sched::VirtualTime)). A chunk is never empty; the last one, on
    /// completion, may be shorter.
    ///
    /// # Demand
    ///
    /// Downstream demand counts chunks. The stage requests `size` items upstream at subscription
    /// and asks for more only as chunks leave, so what it holds plus what it is owed never exceeds
    /// `size` items: **a full chunk with no downstream demand is held and the upstream is not asked
    /// for more** until it leaves. Reactor's `bufferTimeout` signals an overflow error in that case;
    /// ours backpressures instead. A chunk whose time is up while there is no demand stays open,
    /// taking items up to `size`, and goes at the next request; so once there is demand no item
    /// waits more than `timeout`.
    ///
    /// # Drops
    ///
    /// Nothing while the upstream is compliant. On cancel, the open chunk is dropped (through
    /// [`on_drop`](Self::on_drop), as one `Vec`, with [`DropReason::Cancelled`](crate::DropReason::Cancelled)).
    /// On completion the open chunk goes first (as demand allows). On error too, by default
    /// ([`ErrorMode::AfterDrain`](crate::ops::ErrorMode)) — Reactor discards it — and with
    /// [`error_mode`](Self::error_mode)`(ErrorMode::Immediate)` it is dropped as `Cancelled`. An
    /// upstream that sends more than requested fails the stage with an overflow error, the extra
    /// item dropped (as a one-item `Vec`) with `Overflow`.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let batches = Arc::new(Mutex::new(Vec::new()));
    /// let b = batches.clone();
    /// // A tick every 10 ms; batches of up to 3, or whatever came within 25 ms.
    /// backflow::interval_with(ms(10), clock.clone())
    ///     .take(5)
    ///     .chunks_timeout(3, ms(25))
    ///     .scheduler(clock.clone())
    ///     .subscribe_with(move |batch| b.lock().unwrap().push(batch), |e| panic!("{e}"), || {});
    /// clock.advance_by(ms(100));
    /// assert_eq!(*batches.lock().unwrap(), vec![vec![0, 1, 2], vec![3, 4]]);
    /// ```
    #[doc(alias = "bufferTimeout")]
    #[doc(alias = "buffer_timeout")]
    #[doc(alias = "groupedWithin")]
    #[doc(alias = "grouped_within")]
    pub fn chunks_timeout(
        self,
        size: usize,
        timeout: std::time::Duration,
    ) -> Flux<ops::ChunksTimeout<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::ChunksTimeout::new(self.publisher, size, timeout))
    }

    /// Shifts each item later by `by`, keeping their order and spacing: an item that arrives at
    /// `t` goes at `t + by` (or later, when the downstream asks later). Akka's `delay(d)`; Reactor's
    /// `delayElements(d)` instead spaces items `d` apart after one another.
    ///
    /// Runs on the stage's [`scheduler`](Self::scheduler). Completion and errors are not delayed
    /// beyond the items held before them.
    ///
    /// # Demand
    ///
    /// Holds at most [`DELAY_CAPACITY`](ops::DELAY_CAPACITY) (32) items: requests that many
    /// upstream at subscription and tops up in batches of a quarter as held items leave, so a
    /// slow downstream slows the upstream. Due items wait for downstream demand.
    ///
    /// # Drops
    ///
    /// Nothing while the upstream is compliant. Held items are dropped (through
    /// [`on_drop`](Self::on_drop), [`DropReason::Cancelled`](crate::DropReason::Cancelled)) on
    /// cancel, and on an error with [`error_mode`](Self::error_mode)`(ErrorMode::Immediate)`; by
    /// default the error waits for them. An item beyond what was requested fails the stage with an
    /// overflow error (dropped as `Overflow`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use backflow::sched::{Scheduler, VirtualTime};
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let (s, c) = (seen.clone(), clock.clone());
    /// backflow::range(0..3u32)
    ///     .delay(ms(50))
    ///     .scheduler(clock.clone())
    ///     .subscribe_with(move |x| s.lock().unwrap().push((x, c.now())), |e| panic!("{e}"), || {});
    /// clock.advance_by(ms(49));
    /// assert!(seen.lock().unwrap().is_empty());
    /// clock.advance_by(ms(1));
    /// assert_eq!(seen.lock().unwrap().len(), 3); // all three arrived at 0, all due at 50 ms
    /// ```
    #[doc(alias = "delayElements")]
    #[doc(alias = "delay_elements")]
    pub fn delay(self, by: std::time::Duration) -> Flux<ops::Delay<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Delay::new(self.publisher, by, ops::DELAY_CAPACITY))
    }

    /// Subscribes to the upstream only `by` after the downstream subscribed.
    ///
    /// The downstream gets its subscription at once; runs its timer on the stage's
    /// [`scheduler`](Self::scheduler).
    ///
    /// # Demand
    ///
    /// What the downstream requests before the upstream is subscribed is kept and asked of the
    /// upstream in one request when it is; later requests pass straight through.
    ///
    /// # Drops
    ///
    /// Nothing. A cancel before the delay is over cancels the pending subscription: the upstream
    /// is never subscribed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let (subscriber, probe) = TestSubscriber::new(10);
    /// backflow::range(0..3u32)
    ///     .delay_subscription(Duration::from_secs(1))
    ///     .scheduler(clock.clone())
    ///     .subscribe(subscriber);
    /// assert!(probe.values().is_empty());
    /// clock.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![0, 1, 2]);
    /// ```
    #[doc(alias = "delaySubscription")]
    #[doc(alias = "initialDelay")]
    pub fn delay_subscription(self, by: std::time::Duration) -> Flux<ops::DelaySubscription<P>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
    {
        Flux::new(ops::DelaySubscription::new(self.publisher, by))
    }

    /// Pairs each item with the [`Instant`](crate::sched::Instant) it passed, on the stage's
    /// [`scheduler`](Self::scheduler)'s clock (the real clock by default; no thread is started).
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::sched::VirtualTime;
    /// let clock = VirtualTime::new();
    /// clock.advance_by(Duration::from_secs(5));
    /// let out = backflow::range(0..2u8).timestamp().scheduler(clock).collect().unwrap();
    /// assert_eq!(out[1].0.since_epoch(), Duration::from_secs(5));
    /// ```
    #[doc(alias = "timestamped")]
    pub fn timestamp(self) -> Flux<ops::Timestamp<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::Timestamp::new(self.publisher))
    }

    /// Pairs each item with the time since the previous item (the first: since the
    /// subscription), on the stage's [`scheduler`](Self::scheduler)'s clock.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::sched::VirtualTime;
    /// let clock = VirtualTime::new();
    /// let out = backflow::range(0..2u8).elapsed().scheduler(clock).collect().unwrap();
    /// assert_eq!(out, vec![(Duration::ZERO, 0), (Duration::ZERO, 1)]);
    /// ```
    #[doc(alias = "timeInterval")]
    pub fn elapsed(self) -> Flux<ops::Elapsed<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::Elapsed::new(self.publisher))
    }

    /// Like [`timeout`](Self::timeout), but when no item comes within `limit` it switches to
    /// `fallback` instead of failing. Other upstream errors pass unchanged.
    ///
    /// # Demand
    ///
    /// 1:1 until the timeout; then the demand still outstanding is asked of `fallback`, and later
    /// requests go to it. Nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing: upstream items still in flight after the timeout are discarded with the cancelled
    /// upstream. An upstream error of kind [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// (from a `timeout` further up) switches to the fallback too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let (subscriber, probe) = TestSubscriber::new(10);
    /// backflow::never::<u32>()
    ///     .timeout_with(Duration::from_secs(1), backflow::range(7..9u32))
    ///     .scheduler(clock.clone())
    ///     .subscribe(subscriber);
    /// clock.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![7, 8]);
    /// assert!(probe.is_complete());
    /// ```
    #[doc(alias = "timeout")]
    #[doc(alias = "completionTimeout")]
    pub fn timeout_with<Q>(
        self,
        limit: std::time::Duration,
        fallback: Q,
    ) -> Flux<ops::TimeoutWith<P, Q>>
    where
        P::Item: Send + 'static,
        Q: Publisher<Item = P::Item> + Send + Sync + 'static,
    {
        Flux::new(ops::TimeoutWith::new(self.publisher, limit, fallback))
    }
}

// ---- porter parity (issue 10): lifecycle hooks ----
impl<P: Publisher> Flux<P> {
    /// Calls `f` with the upstream subscription when the stream is subscribed, before the
    /// downstream's `on_subscribe`.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` cancels the upstream and rejects the downstream (`on_subscribe`
    /// then `on_error` with [`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let subscribed = Arc::new(AtomicUsize::new(0));
    /// let s = subscribed.clone();
    /// let out = backflow::range(0..3u8)
    ///     .do_on_subscribe(move |_| { s.fetch_add(1, Ordering::SeqCst); })
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!((out.len(), subscribed.load(Ordering::SeqCst)), (3, 1));
    /// ```
    #[doc(alias = "doOnSubscribe")]
    #[doc(alias = "doFirst")]
    pub fn do_on_subscribe<F>(self, f: F) -> Flux<ops::DoOnSubscribe<P, F>>
    where
        P::Item: 'static,
        F: Fn(&crate::SharedSubscription) + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::OnSubscribe(f)))
    }

    /// Calls `f` with each downstream `request(n)`, on the requesting thread, before it goes
    /// upstream.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged (`request(0)` too: the upstream answers rule 3.9).
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` cancels the upstream and goes to the
    /// [error hook](crate::set_error_hook): a `request` may come from any thread and must not
    /// signal the downstream itself.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use backflow::prelude::*;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// backflow::range(0..10u32)
    ///     .do_on_request(move |n| s.lock().unwrap().push(n))
    ///     .collect_with(Request::Batch(4))
    ///     .unwrap();
    /// assert_eq!(seen.lock().unwrap()[0], 4);
    /// ```
    #[doc(alias = "doOnRequest")]
    pub fn do_on_request<F>(self, f: F) -> Flux<ops::DoOnRequest<P, F>>
    where
        P::Item: 'static,
        F: Fn(u64) + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::OnRequest(f)))
    }

    /// Calls `f` once when the downstream cancels, before the cancel goes upstream.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` goes to the [error hook](crate::set_error_hook) (the downstream
    /// has left); the upstream is cancelled anyway.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use backflow::prelude::*;
    /// let cancelled = Arc::new(AtomicBool::new(false));
    /// let c = cancelled.clone();
    /// let (subscriber, probe) = TestSubscriber::new(1);
    /// backflow::range(0..10u32)
    ///     .do_on_cancel(move || c.store(true, Ordering::SeqCst))
    ///     .subscribe(subscriber);
    /// probe.cancel();
    /// assert!(cancelled.load(Ordering::SeqCst));
    /// ```
    #[doc(alias = "doOnCancel")]
    #[doc(alias = "doOnDispose")]
    pub fn do_on_cancel<F>(self, f: F) -> Flux<ops::DoOnCancel<P, F>>
    where
        P::Item: 'static,
        F: Fn() + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::OnCancel(f)))
    }

    /// Calls `f` with the upstream's error before passing the error on.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` is delivered instead of the error, as an
    /// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use backflow::prelude::*;
    /// let logged = Arc::new(Mutex::new(String::new()));
    /// let l = logged.clone();
    /// let result = backflow::error::<u8>(Error::msg("disk full"))
    ///     .do_on_error(move |e| *l.lock().unwrap() = e.to_string())
    ///     .collect();
    /// assert!(result.is_err());
    /// assert_eq!(*logged.lock().unwrap(), "disk full");
    /// ```
    #[doc(alias = "doOnError")]
    pub fn do_on_error<F>(self, f: F) -> Flux<ops::DoOnError<P, F>>
    where
        P::Item: 'static,
        F: Fn(&Error) + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::OnError(f)))
    }

    /// Calls `f` when the upstream completes, before passing completion on.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` fails the stream instead (an
    /// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error, as Reactor does).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let done = Arc::new(AtomicBool::new(false));
    /// let d = done.clone();
    /// backflow::range(0..3u8)
    ///     .do_on_complete(move || d.store(true, Ordering::SeqCst))
    ///     .collect()
    ///     .unwrap();
    /// assert!(done.load(Ordering::SeqCst));
    /// ```
    #[doc(alias = "doOnComplete")]
    pub fn do_on_complete<F>(self, f: F) -> Flux<ops::DoOnComplete<P, F>>
    where
        P::Item: 'static,
        F: Fn() + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::OnComplete(f)))
    }

    /// Calls `f` exactly once when the stream ends, whichever way: after `on_complete` or
    /// `on_error` went downstream, or after a cancel went upstream. It says which
    /// ([`SignalType`](ops::SignalType)). When a cancel races with the upstream's end on another
    /// thread, the first of the two is reported and `f` still runs once.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. A panic in `f` goes to the [error hook](crate::set_error_hook): the stream has
    /// ended, nobody is left to tell.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use backflow::ops::SignalType;
    /// let ended = Arc::new(Mutex::new(Vec::new()));
    /// let e = ended.clone();
    /// backflow::range(0..3u8)
    ///     .do_finally(move |signal| e.lock().unwrap().push(signal))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(*ended.lock().unwrap(), [SignalType::Complete]);
    /// ```
    #[doc(alias = "doFinally")]
    #[doc(alias = "doAfterTerminate")]
    #[doc(alias = "watchTermination")]
    pub fn do_finally<F>(self, f: F) -> Flux<ops::DoFinally<P, F>>
    where
        P::Item: 'static,
        F: Fn(ops::SignalType) + Send + Sync + 'static,
    {
        Flux::new(ops::Hooked::new(self.publisher, ops::Finally(f)))
    }
}

// ---- porter parity (issue 10): picking, filtering, aggregating ----
impl<P: Publisher> Flux<P> {
    /// Passes items until `other` emits its first item, then completes (cancelling both). An
    /// error from `other` fails the stream; `other` completing empty changes nothing.
    ///
    /// # Demand
    ///
    /// 1:1: downstream requests go to the upstream unchanged. `other` is asked for everything
    /// (only its first item matters, and it is cancelled then). Nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. Items still in flight from the upstream after the end are discarded with the
    /// cancelled subscription.
    ///
    /// ```
    /// let out = backflow::range(0..5u32).take_until(backflow::never::<()>()).collect().unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 3, 4]); // the trigger never fired
    /// let out = backflow::range(0..5u32).take_until(backflow::just(())).collect().unwrap();
    /// assert!(out.is_empty()); // it fired at once
    /// ```
    #[doc(alias = "takeUntilOther")]
    #[doc(alias = "takeUntil")]
    pub fn take_until<Q>(self, other: Q) -> Flux<ops::TakeUntil<P, Q>>
    where
        P::Item: 'static,
        Q: Publisher + Send + Sync + 'static,
    {
        Flux::new(ops::TakeUntil::new(self.publisher, other))
    }

    /// Discards items until `other` emits its first item, then passes the rest. An error from
    /// `other` fails the stream; if `other` completes empty, every item is discarded.
    ///
    /// # Demand
    ///
    /// Downstream requests go to the upstream; each item discarded before the trigger is
    /// replenished with `request(1)` (as `filter` does). `other` is asked for everything and
    /// cancelled at its first item.
    ///
    /// # Drops
    ///
    /// The items before the trigger (that is the point); nothing is held.
    ///
    /// ```
    /// let out = backflow::range(0..5u32).skip_until(backflow::just(())).collect().unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 3, 4]); // open from the start
    /// let out = backflow::range(0..5u32).skip_until(backflow::empty::<()>()).collect().unwrap();
    /// assert!(out.is_empty()); // never opened
    /// ```
    #[doc(alias = "skipUntilOther")]
    #[doc(alias = "skipUntil")]
    pub fn skip_until<Q>(self, other: Q) -> Flux<ops::SkipUntil<P, Q>>
    where
        P::Item: 'static,
        Q: Publisher + Send + Sync + 'static,
    {
        Flux::new(ops::SkipUntil::new(self.publisher, other))
    }

    /// Emits the last `n` items once the upstream completes.
    ///
    /// # Demand
    ///
    /// Requests everything upstream (which items are last is known only at the end) and holds at
    /// most `n`; after completion they go as the downstream asks, then `on_complete`.
    ///
    /// # Drops
    ///
    /// Items pushed out of the window of the last `n` are simply not emitted. On cancel, or on an
    /// upstream error (which goes downstream at once, as in Reactor), the held items are dropped
    /// through [`on_drop`](Self::on_drop) with [`DropReason::Cancelled`](crate::DropReason::Cancelled).
    ///
    /// ```
    /// let out = backflow::range(0..10u32).take_last(3).collect().unwrap();
    /// assert_eq!(out, vec![7, 8, 9]);
    /// ```
    #[doc(alias = "takeLast")]
    pub fn take_last(self, n: usize) -> Flux<ops::TakeLast<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::TakeLast::new(self.publisher, n))
    }

    /// Emits the last item, if any, once the upstream completes: [`take_last(1)`](Self::take_last).
    /// An empty upstream completes empty (Reactor's `last()` errors there; add
    /// [`switch_if_empty`](Self::switch_if_empty)`(backflow::error(..))` for that).
    ///
    /// # Demand
    ///
    /// As [`take_last`](Self::take_last): everything upstream, one item held.
    ///
    /// # Drops
    ///
    /// Every item but the last; the held one on cancel or error (`Cancelled`).
    ///
    /// ```
    /// assert_eq!(backflow::range(0..10u32).last().collect().unwrap(), vec![9]);
    /// ```
    #[doc(alias = "lastElement")]
    #[doc(alias = "takeLast")]
    pub fn last(self) -> Flux<ops::TakeLast<P>>
    where
        P::Item: Send + 'static,
    {
        self.take_last(1)
    }

    /// Passes every item except the last `n`.
    ///
    /// # Demand
    ///
    /// Downstream requests pass upstream, plus `n` once at subscription to fill the window; from
    /// then on each arriving item pushes the oldest held one downstream, one for one.
    ///
    /// # Drops
    ///
    /// The last `n` items (that is the point); on cancel or error the held window is freed with
    /// the subscription.
    ///
    /// ```
    /// let out = backflow::range(0..6u32).skip_last(2).collect().unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 3]);
    /// ```
    #[doc(alias = "skipLast")]
    pub fn skip_last(self, n: usize) -> Flux<ops::SkipLast<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::SkipLast::new(self.publisher, n))
    }

    /// Emits the first item, if any, then completes and cancels upstream: [`take(1)`](Self::take).
    /// An empty upstream completes empty (RxJava's `firstOrError` errors there; add
    /// [`switch_if_empty`](Self::switch_if_empty) for that).
    ///
    /// # Demand
    ///
    /// At most 1 is ever requested upstream.
    ///
    /// # Drops
    ///
    /// Nothing; the upstream is cancelled after the first item.
    ///
    /// ```
    /// assert_eq!(backflow::range(5..10u32).first().collect().unwrap(), vec![5]);
    /// ```
    #[doc(alias = "firstElement")]
    #[doc(alias = "next")]
    #[doc(alias = "head")]
    pub fn first(self) -> Flux<ops::Take<P>>
    where
        P::Item: 'static,
    {
        self.take(1)
    }

    /// Emits the item at `index` (0-based), if the upstream has that many, then completes:
    /// [`skip(index)`](Self::skip) then [`take(1)`](Self::take). A shorter upstream completes
    /// empty (Reactor's `elementAt` errors with `IndexOutOfBoundsException`; add
    /// [`switch_if_empty`](Self::switch_if_empty) for that).
    ///
    /// # Demand
    ///
    /// At most `index + 1` upstream, in one request.
    ///
    /// # Drops
    ///
    /// The items before `index`; the upstream is cancelled after the one it emits.
    ///
    /// ```
    /// assert_eq!(backflow::range(0..10u32).element_at(3).collect().unwrap(), vec![3]);
    /// assert!(backflow::range(0..2u32).element_at(3).collect().unwrap().is_empty());
    /// ```
    #[doc(alias = "elementAt")]
    pub fn element_at(self, index: u64) -> Flux<ops::Take<ops::Skip<P>>>
    where
        P::Item: 'static,
    {
        self.skip(index).take(1)
    }

    /// Emits `item` if the upstream completes without any item.
    ///
    /// # Demand
    ///
    /// Downstream requests pass to the upstream; after an empty completion the default item waits
    /// for demand, then completion follows.
    ///
    /// # Drops
    ///
    /// Nothing (each subscriber gets a clone of `item`).
    ///
    /// ```
    /// let out = backflow::empty::<u32>().default_if_empty(7).collect().unwrap();
    /// assert_eq!(out, vec![7]);
    /// let out = backflow::range(0..2u32).default_if_empty(7).collect().unwrap();
    /// assert_eq!(out, vec![0, 1]);
    /// ```
    #[doc(alias = "defaultIfEmpty")]
    #[doc(alias = "orElse")]
    pub fn default_if_empty(self, item: P::Item) -> Flux<ops::DefaultIfEmpty<P, P::Item>>
    where
        P::Item: Clone + Send + Sync + 'static,
    {
        Flux::new(ops::DefaultIfEmpty::new(self.publisher, item))
    }

    /// Continues with `alternative` if the upstream completes without any item.
    ///
    /// # Demand
    ///
    /// Downstream requests pass to the upstream; at an empty completion the whole outstanding
    /// demand is asked of `alternative`, and later requests go to it.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// let out = backflow::empty::<u32>()
    ///     .switch_if_empty(backflow::range(10..12u32))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![10, 11]);
    /// ```
    #[doc(alias = "switchIfEmpty")]
    #[doc(alias = "orElse")]
    pub fn switch_if_empty<Q>(self, alternative: Q) -> Flux<ops::SwitchIfEmpty<P, Q>>
    where
        P::Item: 'static,
        Q: Publisher<Item = P::Item> + Send + Sync + 'static,
    {
        Flux::new(ops::SwitchIfEmpty::new(self.publisher, alternative))
    }

    /// Passes each item the first time it is seen (Reactor's and RxJava's `distinct()`);
    /// remembers every distinct item (unbounded memory, as they do). For long or endless streams use
    /// [`distinct_within`](Self::distinct_within).
    ///
    /// # Demand
    ///
    /// Downstream requests pass upstream; each repeat discarded is replenished with `request(1)`
    /// (or, fused, not counted), as `filter` does.
    ///
    /// # Drops
    ///
    /// Repeats (that is the point). Holds a clone of each distinct item.
    ///
    /// ```
    /// let out = backflow::from_iter(vec![1, 2, 1, 3, 2, 4]).distinct().collect().unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4]);
    /// ```
    pub fn distinct(self) -> Flux<ops::Distinct<P>>
    where
        P::Item: std::hash::Hash + Eq + Clone + Send + 'static,
    {
        Flux::new(ops::Distinct::new(self.publisher, None))
    }

    /// [`distinct`](Self::distinct) with bounded memory: remembers only the last `memory`
    /// distinct items, forgetting the oldest first, so an item may pass again once it has been
    /// forgotten.
    ///
    /// # Demand
    ///
    /// As [`distinct`](Self::distinct).
    ///
    /// # Drops
    ///
    /// Repeats of remembered items. Holds at most `memory` items.
    ///
    /// # Panics
    ///
    /// If `memory` is 0.
    ///
    /// ```
    /// let out = backflow::from_iter(vec![1, 2, 3, 1, 3]).distinct_within(2).collect().unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 1]); // 1 was forgotten when 3 came; 3 still remembered
    /// ```
    #[doc(alias = "distinct")]
    pub fn distinct_within(self, memory: usize) -> Flux<ops::Distinct<P>>
    where
        P::Item: std::hash::Hash + Eq + Clone + Send + 'static,
    {
        Flux::new(ops::Distinct::new(self.publisher, Some(memory)))
    }

    /// Discards every item and passes only the upstream's completion or error.
    ///
    /// # Demand
    ///
    /// Requests everything upstream (its items are never delivered, so downstream demand does
    /// not apply); holds nothing.
    ///
    /// # Drops
    ///
    /// Every item.
    ///
    /// ```
    /// assert!(backflow::range(0..100u32).ignore_elements().collect().unwrap().is_empty());
    /// ```
    #[doc(alias = "ignoreElements")]
    pub fn ignore_elements(self) -> Flux<ops::IgnoreElements<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::IgnoreElements::new(self.publisher))
    }

    /// Runs the upstream to completion, discarding its items, then continues with `next`; an
    /// upstream error goes downstream instead.
    ///
    /// # Demand
    ///
    /// Requests everything from the upstream (its items are discarded); downstream demand is
    /// kept for `next`, which is asked for all of it at once when it is subscribed.
    ///
    /// # Drops
    ///
    /// Every upstream item.
    ///
    /// ```
    /// let out = backflow::range(0..3u32).then(backflow::just("done")).collect().unwrap();
    /// assert_eq!(out, vec!["done"]);
    /// ```
    #[doc(alias = "thenMany")]
    #[doc(alias = "andThen")]
    pub fn then<Q>(self, next: Q) -> Flux<ops::Then<P, Q>>
    where
        P::Item: 'static,
        Q: Publisher + Send + Sync + 'static,
        Q::Item: 'static,
    {
        Flux::new(ops::Then::new(self.publisher, next))
    }

    /// Emits whether every item matches `predicate`: `false` at the first that does not (the
    /// upstream is cancelled then), `true` on completion (also for an empty upstream).
    ///
    /// # Demand
    ///
    /// Requests everything upstream; the one result waits for downstream demand.
    ///
    /// # Drops
    ///
    /// The items (only the answer is emitted).
    ///
    /// ```
    /// assert_eq!(backflow::range(0..10u32).all(|x| *x < 10).collect().unwrap(), vec![true]);
    /// assert_eq!(backflow::range(0..u32::MAX).all(|x| *x < 10).collect().unwrap(), vec![false]);
    /// ```
    #[doc(alias = "forall")]
    #[doc(alias = "allMatch")]
    pub fn all<F>(self, predicate: F) -> Flux<ops::All<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
    {
        Flux::new(ops::All::new(self.publisher, predicate, false))
    }

    /// Emits whether some item matches `predicate`: `true` at the first that does (the upstream
    /// is cancelled then), `false` on completion.
    ///
    /// # Demand
    ///
    /// Requests everything upstream; the one result waits for downstream demand.
    ///
    /// # Drops
    ///
    /// The items (only the answer is emitted).
    ///
    /// ```
    /// assert_eq!(backflow::range(0..u64::MAX).any(|x| *x == 5).collect().unwrap(), vec![true]);
    /// assert_eq!(backflow::empty::<u8>().any(|_| true).collect().unwrap(), vec![false]);
    /// ```
    #[doc(alias = "exists")]
    #[doc(alias = "anyMatch")]
    #[doc(alias = "hasElement")]
    pub fn any<F>(self, predicate: F) -> Flux<ops::Any<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
    {
        Flux::new(ops::All::new(self.publisher, predicate, true))
    }

    /// Collects the items into one `HashMap`, keyed by `key(&item)` with `value(item)`, emitted
    /// on completion; a later item with the same key replaces the earlier one.
    ///
    /// # Demand
    ///
    /// Requests everything upstream; the map waits for downstream demand.
    ///
    /// # Drops
    ///
    /// Values replaced by a later one with the same key.
    ///
    /// ```
    /// let by_len = backflow::from_iter(vec!["a", "bb", "cc"])
    ///     .collect_map(|s| s.len(), |s| s.to_string())
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(by_len[0].get(&2).map(String::as_str), Some("cc"));
    /// ```
    #[doc(alias = "collectMap")]
    #[doc(alias = "toMap")]
    pub fn collect_map<K, V, Key, Val>(self, key: K, value: V) -> Flux<ops::CollectMap<P, K, V>>
    where
        P::Item: Send + 'static,
        K: Fn(&P::Item) -> Key + Send + Sync + 'static,
        V: Fn(P::Item) -> Val + Send + Sync + 'static,
        Key: std::hash::Hash + Eq + Send + 'static,
        Val: Send + 'static,
    {
        Flux::new(ops::CollectMap::new(self.publisher, key, value))
    }
}

// ---- porter parity (issue 10): grouping ----
impl<P: Publisher> Flux<P> {
    /// Splits the stream into one [`GroupedFlux`](ops::GroupedFlux) per key: each group is a
    /// unicast stream of the items with that key (in their order), with its
    /// [`key`](Flux::key). Subscribe to every group you receive, typically with
    /// [`flat_map`](Self::flat_map). Reactor's `groupBy`, RxJava's `groupBy`, Akka's `groupBy`
    /// (sub-streams).
    ///
    /// With the defaults at most [`GROUP_BY_MAX_GROUPS`](ops::GROUP_BY_MAX_GROUPS) (256) groups
    /// are open at once and the groups hold at most [`GROUP_BY_PREFETCH`](ops::GROUP_BY_PREFETCH)
    /// (256) items together; [`group_by_with`](Self::group_by_with) sets both.
    ///
    /// # Demand
    ///
    /// Downstream demand counts groups: a new key's group is handed over when the downstream has
    /// asked for one, and waits (holding its items) until then. Towards the upstream the stage
    /// requests `prefetch` items and tops up (75%, Reactor's rule) as group subscribers take
    /// items, so all groups together never hold more than `prefetch`. A group whose subscriber
    /// does not request holds the others back (the slowest group sets the pace).
    ///
    /// # Errors instead of a hang
    ///
    /// Reactor's `groupBy` hangs silently when more groups are open than the downstream
    /// subscribes to (a `flatMap` whose concurrency is below the number of keys): their items
    /// fill the buffers and the source stalls. Here both causes end the stream with an
    /// [`ErrorKind::Overflow`](crate::ErrorKind::Overflow) error whose message names the limit:
    /// - a new key while `max_groups` groups are open;
    /// - the stall itself: the upstream owes nothing, no budget is left, and every held item
    ///   belongs to a group nobody has subscribed to.
    ///
    /// The upstream ending completes every group (after what it holds) and the downstream of
    /// groups; an error goes to every group and to the downstream of groups.
    ///
    /// # Drops
    ///
    /// Nothing while groups are consumed. A group whose subscriber cancels drops what it holds
    /// (through [`on_drop`](Self::on_drop), [`DropReason::Cancelled`](crate::DropReason::Cancelled));
    /// a later item with its key opens a new group. When the downstream of groups cancels, groups
    /// it has not taken are dropped the same way, new keys' items are dropped, and groups it took
    /// carry on; the upstream is cancelled when none is left. A group handed downstream and
    /// dropped unsubscribed after the upstream ended drops what it holds the same way. The item
    /// that meets a limit is dropped as `Overflow`.
    ///
    /// A panic in `key` fails the stream ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked))
    /// and cancels the upstream.
    ///
    /// ```
    /// use backflow::prelude::*;
    ///
    /// let mut sums = backflow::range(1..11u32)
    ///     .group_by(|x| x % 3)
    ///     .flat_map(|group| {
    ///         let key = *group.key();
    ///         group.reduce(|a, b| a + b).map(move |sum| (key, sum))
    ///     })
    ///     .collect()
    ///     .unwrap();
    /// sums.sort();
    /// assert_eq!(sums, vec![(0, 3 + 6 + 9), (1, 1 + 4 + 7 + 10), (2, 2 + 5 + 8)]);
    /// ```
    #[doc(alias = "groupBy")]
    #[doc(alias = "group_by_key")]
    pub fn group_by<K, F>(self, key: F) -> Flux<ops::GroupBy<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(&P::Item) -> K + Send + Sync + 'static,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.group_by_with(key, ops::GROUP_BY_MAX_GROUPS, ops::GROUP_BY_PREFETCH)
    }

    /// [`group_by`](Self::group_by) with at most `max_groups` groups open at once and at most
    /// `prefetch` items held by all groups together (also what is asked of the upstream ahead).
    ///
    /// A `flat_map` after it must subscribe to every group: give it a concurrency of at least
    /// `max_groups` ([`flat_map_with`](Self::flat_map_with)), or the stage reports the stall
    /// described on [`group_by`](Self::group_by).
    ///
    /// # Demand
    ///
    /// As [`group_by`](Self::group_by), with this `prefetch`.
    ///
    /// # Drops
    ///
    /// As [`group_by`](Self::group_by).
    ///
    /// # Panics
    ///
    /// If `max_groups` or `prefetch` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// // Three keys, but room for two groups: an error that names the limit, not a hang.
    /// let err = backflow::range(0..9u32)
    ///     .group_by_with(|x| x % 3, 2, 16)
    ///     .flat_map(|g| g)
    ///     .collect()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Overflow);
    /// assert!(err.to_string().contains("max_groups = 2"));
    /// ```
    #[doc(alias = "groupBy")]
    pub fn group_by_with<K, F>(
        self,
        key: F,
        max_groups: usize,
        prefetch: usize,
    ) -> Flux<ops::GroupBy<P, F>>
    where
        P::Item: Send + 'static,
        F: Fn(&P::Item) -> K + Send + Sync + 'static,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        Flux::new(ops::GroupBy::new(self.publisher, key, max_groups, prefetch))
    }
}

impl<K, T> Flux<ops::Grouped<K, T>> {
    /// The key of this group's items (a group from [`group_by`](Flux::group_by)).
    pub fn key(&self) -> &K {
        self.get_ref().key()
    }
}

// ---- porter parity (issue 10): windows ----
impl<P: Publisher> Flux<P> {
    /// Splits the stream into consecutive windows of `size` items (the last may be shorter),
    /// each a stream of its own: a [`GroupedFlux`](ops::GroupedFlux) whose
    /// [`key`](Flux::key) is the window's number, from 0. Reactor's and RxJava's `window(n)`;
    /// the lists-of-items variant is [`chunks`](Self::chunks).
    ///
    /// Windows are unicast and backpressured: subscribe to each one you receive (typically in
    /// [`flat_map`](Self::flat_map) or [`concat_map`](Self::concat_map)). A window dropped
    /// without being subscribed drops its items (and frees their room); a window kept and never
    /// subscribed holds its items, and once they fill the stage's room the stream waits for it,
    /// as in Reactor, which documents an unsubscribed window as the caller's problem. (Unlike
    /// [`group_by`](Self::group_by), no stall error: a downstream that takes windows late still
    /// makes progress, because windows complete by size.)
    ///
    /// # Demand
    ///
    /// Downstream demand counts windows; a window's items go as its subscriber asks. The stage
    /// holds at most [`GROUP_BY_PREFETCH`](ops::GROUP_BY_PREFETCH) (256) items across windows:
    /// it requests that many upstream and tops up (75%) as window subscribers take items.
    /// (Reactor requests `n` items per window requested instead.)
    ///
    /// # Drops
    ///
    /// As [`group_by`](Self::group_by): a window whose subscriber cancels drops what it holds
    /// ([`DropReason::Cancelled`](crate::DropReason::Cancelled)), and a later item starts a
    /// fresh window with the same number; windows not yet taken when the downstream cancels are
    /// dropped the same way.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let sums = backflow::range(0..7u32)
    ///     .window(3)
    ///     .concat_map(|w| w.reduce(|a, b| a + b))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(sums, vec![0 + 1 + 2, 3 + 4 + 5, 6]);
    /// ```
    #[doc(alias = "window_count")]
    #[doc(alias = "windowCount")]
    pub fn window(self, size: usize) -> Flux<ops::Window<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::Window::new(
            self.publisher,
            size,
            ops::GROUP_BY_PREFETCH,
        ))
    }

    /// Splits the stream into windows of at most `size` items, each closed `timeout` after its
    /// first item (or when full), each a stream of its own ([`TimedWindow`](ops::TimedWindow)).
    /// Reactor's `windowTimeout(n, d)`, RxJava's `window(d, unit, n)`.
    ///
    /// ⚠ A window is handed downstream when it **closes**, with all its items: these are the
    /// chunks of [`chunks_timeout`](Self::chunks_timeout) as streams. Reactor opens the window at
    /// its first item and streams items into it as they come. Timing and the bound are
    /// `chunks_timeout`'s (set the clock with [`scheduler`](Self::scheduler)); each subscriber of
    /// a window gets clones of its items.
    ///
    /// # Demand
    ///
    /// As [`chunks_timeout`](Self::chunks_timeout): demand counts windows; the stage holds at
    /// most `size` items and a full window without demand pauses the upstream. Each window serves
    /// its subscriber as it asks.
    ///
    /// # Drops
    ///
    /// As [`chunks_timeout`](Self::chunks_timeout) (the open window is dropped as one `Vec` on
    /// cancel). A window dropped without being subscribed drops its items.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::sched::VirtualTime;
    /// let out = backflow::range(0..5u32)
    ///     .window_timeout(2, Duration::from_millis(10))
    ///     .scheduler(VirtualTime::new())
    ///     .concat_map(|w| w.reduce(|a, b| a + b))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 5, 4]);
    /// ```
    #[doc(alias = "windowTimeout")]
    pub fn window_timeout(
        self,
        size: usize,
        timeout: std::time::Duration,
    ) -> Flux<ops::WindowTimeout<P>>
    where
        P::Item: Clone + Send + Sync + 'static,
    {
        Flux::new(ops::WindowTimeout::new(self.publisher, size, timeout))
    }
}

// ---- porter parity (issue 10): replay ----
impl<P: Publisher> Flux<P> {
    /// Shares one upstream subscription among all subscribers and replays the last `history`
    /// items to each new one: Reactor's `replay(n).autoConnect()` / `cache(n)`, RxJava's
    /// `replay(n).autoConnect()`. The upstream is subscribed at the first subscriber; a
    /// subscriber that comes later gets the items still held, then the live ones; after the
    /// upstream ended it gets the held items and the terminal signal.
    ///
    /// There is no unbounded `cache()`: memory is bounded by `history` (pass a large one
    /// knowingly if you need everything).
    ///
    /// # Demand
    ///
    /// Each subscriber is served at its own pace, from the history. The upstream is asked for
    /// items only so far that no live subscriber falls more than `history` behind, so nothing is
    /// lost and the slowest subscriber sets the pace (Reactor requests unbounded and lets a slow
    /// subscriber keep old items alive instead). With no subscriber left the upstream is paused
    /// with the history full.
    ///
    /// # Drops
    ///
    /// Items leave the history as newer ones push them out (a late subscriber does not see
    /// them). A subscriber that joins while items owed to the others are still arriving may
    /// start at a later item than the oldest it saw at subscription. Nothing is dropped for a
    /// live subscriber.
    ///
    /// # Panics
    ///
    /// If `history` is 0.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let shared = backflow::range(0..5u32).replay(2);
    /// assert_eq!(shared.clone().collect().unwrap(), vec![0, 1, 2, 3, 4]); // the first runs it
    /// assert_eq!(shared.collect().unwrap(), vec![3, 4]); // a late one gets the last two
    /// ```
    #[doc(alias = "cache")]
    #[doc(alias = "replayLast")]
    pub fn replay(self, history: usize) -> Flux<ops::Replay<P>>
    where
        P: Send + Sync + 'static,
        P::Item: Clone + Send + 'static,
    {
        Flux::new(ops::Replay::new(self.publisher, history))
    }
}

// ---- porter parity (issue 10): one way to set prefetch ----
// Every prefetching stage takes `.prefetch(n)` on the `Flux` right after it, as `publish_on`
// does: `backflow::merge(v).prefetch(32)`, `a.zip(b).prefetch(8)`.
impl<P: Publisher> Flux<ops::Merge<P>> {
    /// Sets how many items each source is asked for ahead
    /// ([`MERGE_PREFETCH`](ops::MERGE_PREFETCH) by default); each source's queue holds exactly
    /// that many. The same `.prefetch(n)` sets every prefetching stage (`publish_on`, `zip`,
    /// `combine_latest`).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    ///
    /// ```
    /// let merged = backflow::merge(vec![backflow::range(0..3u8), backflow::range(3..5u8)]).prefetch(1);
    /// assert_eq!(merged.collect().unwrap().len(), 5);
    /// ```
    pub fn prefetch(self, prefetch: usize) -> Self {
        Flux::new(self.into_inner().prefetch(prefetch))
    }
}

impl<A, B, F> Flux<ops::ZipWith<A, B, F>> {
    /// Sets how many items each source is asked for ahead
    /// ([`ZIP_PREFETCH`](ops::ZIP_PREFETCH) by default), as `.prefetch(n)` does on every
    /// prefetching stage.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    ///
    /// ```
    /// let zipped = backflow::range(0..3u8).zip(backflow::range(5..8u8)).prefetch(1);
    /// assert_eq!(zipped.collect().unwrap(), vec![(0, 5), (1, 6), (2, 7)]);
    /// ```
    pub fn prefetch(self, prefetch: usize) -> Self {
        Flux::new(self.into_inner().prefetch(prefetch))
    }
}

impl<P> Flux<ops::ZipAll<P>> {
    /// Sets how many items each source is asked for ahead
    /// ([`ZIP_PREFETCH`](ops::ZIP_PREFETCH) by default), as `.prefetch(n)` does on every
    /// prefetching stage.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(self, prefetch: usize) -> Self {
        Flux::new(self.into_inner().prefetch(prefetch))
    }
}

impl<A, B, F> Flux<ops::CombineLatest<A, B, F>> {
    /// Sets how many items each source is asked for ahead
    /// ([`COMBINE_LATEST_PREFETCH`](ops::COMBINE_LATEST_PREFETCH) by default), as `.prefetch(n)`
    /// does on every prefetching stage.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(self, prefetch: usize) -> Self {
        Flux::new(self.into_inner().prefetch(prefetch))
    }
}

// ---- resilience (issue 9): shared limits, retries, breakers, shedding, watermarks ----
impl<P: Publisher> Flux<P> {
    /// Paces the stream by a [`RateLimiter`](crate::resilience::rate::RateLimiter) that other
    /// streams and plain callers may share: each item waits for one permit of the limiter.
    ///
    /// Unlike [`throttle`](Self::throttle), whose token bucket belongs to one subscription, the
    /// limit here is the limiter's: four streams rate-limited by clones of one 100/s limiter pass
    /// 100 items per second between them. The stage reads its clock from, and waits on the timer
    /// of, the limiter's scheduler. When a permit was taken by another sharer first, the stage
    /// asks again after the limiter's new `retry_after`.
    ///
    /// # Demand
    ///
    /// Requests at most `min(downstream demand, burst)` upstream, less what it holds or still
    /// awaits; so a paused downstream pauses the source, and at most `burst` items are held.
    ///
    /// # Drops
    ///
    /// Nothing while the stream runs: it delays. Items held at cancel go to `on_drop` as
    /// [`Cancelled`](crate::DropReason::Cancelled); items beyond the demand given (a
    /// non-compliant upstream) as [`Overflow`](crate::DropReason::Overflow), failing the stream.
    /// An upstream error lets the held items out first, still paced
    /// ([`ErrorMode::AfterDrain`](ops::ErrorMode)). The limiter's own metrics count every refused
    /// try (a waiting item may be refused more than once when sharers race).
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::resilience::rate::RateLimiter;
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
    /// // One permit every 10 ms, shared by two streams.
    /// let limiter = RateLimiter::builder(1, ms(10)).scheduler(clock.clone()).build();
    /// let a = record(backflow::range(0..3u32).rate_limit(&limiter));
    /// let b = record(backflow::range(10..13u32).rate_limit(&limiter));
    /// clock.advance_by(ms(25));
    /// // Three permits in 25 ms (at 0, 10 and 20 ms) between both streams, not three each.
    /// assert_eq!(a.lock().unwrap().len() + b.lock().unwrap().len(), 3);
    /// clock.advance_by(ms(100));
    /// assert_eq!(*a.lock().unwrap(), [0, 1, 2]);
    /// assert_eq!(*b.lock().unwrap(), [10, 11, 12]);
    /// ```
    #[doc(alias = "RateLimiterOperator")]
    #[doc(alias = "limitRate")]
    #[doc(alias = "governor")]
    pub fn rate_limit(
        self,
        limiter: &crate::resilience::rate::RateLimiter,
    ) -> Flux<ops::RateLimit<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::RateLimit::new(self.publisher, limiter))
    }

    /// Resubscribes to the source after an error, at once, up to `n` times; then fails with
    /// [`ErrorKind::RetryExhausted`](crate::ErrorKind::RetryExhausted), whose
    /// [`last`](Error::last) is the last attempt's error. Completion passes through.
    ///
    /// Items already delivered downstream are **not delivered again**: each new attempt skips as
    /// many items as were delivered before (it assumes a cold source that replays the same
    /// sequence from the start, as every source in this crate does). Reactor's and RxJava's
    /// `retry` deliver them again instead; [`replay`](Flux::replay) asks for that. `retry(n)`
    /// waits for nothing, not even a `retry_after` hint (that is [`retry_when`](Self::retry_when)'s
    /// job): use it for errors that a second try fixes at once.
    ///
    /// # Demand
    ///
    /// Downstream demand passes to the current upstream; a new attempt is asked for what the
    /// previous one still owed, plus the items it will skip. Nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. The items an attempt skips were already delivered.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use backflow::prelude::*;
    ///
    /// // A source that fails after each new item, twice, then completes.
    /// let runs = Arc::new(AtomicU32::new(0));
    /// let r = runs.clone();
    /// let flaky = backflow::range(0..4u32).try_map(move |x| {
    ///     if x >= 1 + r.load(Ordering::SeqCst) && r.fetch_add(1, Ordering::SeqCst) < 2 {
    ///         return Err(Error::msg("flaky"));
    ///     }
    ///     Ok(x)
    /// });
    /// assert_eq!(flaky.retry(3).collect().unwrap(), [0, 1, 2, 3]); // no item twice
    ///
    /// let always = backflow::error::<u32>(Error::msg("down")).retry(2).collect().unwrap_err();
    /// assert_eq!(always.kind(), ErrorKind::RetryExhausted);
    /// assert_eq!(always.last().unwrap().to_string(), "down");
    /// ```
    #[doc(alias = "RetryOperator")]
    #[doc(alias = "RestartSource")]
    pub fn retry(
        self,
        n: u64,
    ) -> Flux<ops::Retry<P, std::iter::Take<std::iter::Repeat<std::time::Duration>>>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
    {
        let immediately = std::iter::repeat(std::time::Duration::ZERO).take(n as usize);
        Flux::new(ops::Retry::new(self.publisher, immediately, false))
    }

    /// Resubscribes to the source after an error, waiting the next delay of `backoff` each time,
    /// and fails with [`ErrorKind::RetryExhausted`](crate::ErrorKind::RetryExhausted) when the
    /// backoff runs out: Reactor's `retryWhen(Retry.backoff(..))`, Akka's
    /// `RestartSource.onFailuresWithBackoff`, resilience4j's `Retry`.
    ///
    /// `backoff` is any cloneable `IntoIterator<Item = Duration>` (see
    /// [`Backoff`](crate::resilience::retry::Backoff)); each subscription draws a fresh run. The
    /// default choice is [`ExponentialBackoff`](crate::resilience::retry::ExponentialBackoff)
    /// (×2, full jitter). A `retry_after` hint on the error (a rate limiter's deficit, a breaker's
    /// open time, a server's `Retry-After`) is honoured: the wait is
    /// `min(max_delay, max(delay, retry_after))`, with [`max_delay`](Flux::max_delay) 60 s by
    /// default. Delays run on the stage's [`scheduler`](Flux::scheduler) (a
    /// [`VirtualTime`](crate::sched::VirtualTime) in tests). A shared
    /// [`RetryBudget`](crate::resilience::retry::RetryBudget) ([`budget`](Flux::budget)) stops
    /// retrying while most calls fail; [`retry_if`](Flux::retry_if) retries only some errors.
    ///
    /// Like [`retry`](Self::retry), it does not deliver an item twice: each attempt skips what
    /// earlier ones delivered.
    ///
    /// # Demand
    ///
    /// Downstream demand passes to the current upstream; while waiting, demand accumulates and
    /// goes to the next attempt. Nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing. Cancelling while waiting cancels the pending resubscription.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let ms = Duration::from_millis;
    /// let overloaded = Error::with_retry_after(ErrorKind::Rejected, "busy", Some(ms(300)));
    /// let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    /// backflow::error::<u32>(overloaded)
    ///     .retry_when(vec![ms(10), ms(20)])
    ///     .scheduler(clock.clone())
    ///     .subscribe(sub);
    /// clock.advance_by(ms(299));
    /// assert!(probe.terminal().is_none()); // the first retry waits for the hint, 300 ms
    /// clock.advance_by(ms(301));
    /// assert_eq!(probe.error().unwrap().kind(), ErrorKind::RetryExhausted); // at 600 ms
    /// ```
    #[doc(alias = "retryWhen")]
    #[doc(alias = "retryBackoff")]
    #[doc(alias = "RestartSource")]
    #[doc(alias = "onFailuresWithBackoff")]
    pub fn retry_when<B>(self, backoff: B) -> Flux<ops::Retry<P, B>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
        B: crate::resilience::retry::Backoff,
    {
        Flux::new(ops::Retry::new(self.publisher, backoff, true))
    }

    /// Subscribes to the source again each time it completes, `n` more times (`n + 1` runs in
    /// all): Reactor's `repeat(n)`. An error ends the stream at once.
    ///
    /// # Demand
    ///
    /// Downstream demand passes to the current run; a new run is asked for what the previous
    /// one still owed. Nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// assert_eq!(backflow::range(0..2u32).repeat(2).collect().unwrap(), [0, 1, 0, 1, 0, 1]);
    /// ```
    #[doc(alias = "RepeatOperator")]
    pub fn repeat(
        self,
        n: u64,
    ) -> Flux<ops::Repeat<P, std::iter::Take<std::iter::Repeat<std::time::Duration>>>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
    {
        let immediately = std::iter::repeat(std::time::Duration::ZERO).take(n as usize);
        Flux::new(ops::Repeat::new(self.publisher, immediately))
    }

    /// Subscribes to the source again each time it completes, after the next delay of `delays`
    /// (any cloneable `IntoIterator<Item = Duration>`), until the delays run out: Reactor's
    /// `repeatWhen`, a polling loop. Delays run on the stage's [`scheduler`](Flux::scheduler).
    ///
    /// # Demand
    ///
    /// As [`repeat`](Self::repeat); while waiting, demand accumulates for the next run.
    ///
    /// # Drops
    ///
    /// Nothing. Cancelling while waiting cancels the pending run.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    /// // Poll every second, three more times.
    /// backflow::just(7u32)
    ///     .repeat_when(std::iter::repeat(Duration::from_secs(1)).take(3))
    ///     .scheduler(clock.clone())
    ///     .subscribe(sub);
    /// assert_eq!(probe.values(), [7]);
    /// clock.advance_by(Duration::from_secs(2));
    /// assert_eq!(probe.values(), [7, 7, 7]);
    /// clock.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), [7, 7, 7, 7]);
    /// assert!(probe.is_complete());
    /// ```
    #[doc(alias = "repeatWhen")]
    #[doc(alias = "repeatWithDelay")]
    pub fn repeat_when<B>(self, delays: B) -> Flux<ops::Repeat<P, B>>
    where
        P: Send + Sync + 'static,
        P::Item: 'static,
        B: crate::resilience::retry::Backoff,
    {
        Flux::new(ops::Repeat::new(self.publisher, delays))
    }

    /// Guards the subscription with a [`CircuitBreaker`](crate::resilience::breaker::CircuitBreaker):
    /// resilience4j-reactor's `CircuitBreakerOperator`.
    ///
    /// Each subscription is one call. While the breaker is open (or half-open with every trial
    /// taken) the subscription is **refused**: `on_subscribe`, then `on_error` with an
    /// [`ErrorKind::Rejected`](crate::ErrorKind::Rejected) error whose
    /// [`retry_after`](Error::retry_after) is the time left open, so a
    /// [`retry_when`](Self::retry_when) placed after it waits just that long; the source is not
    /// subscribed. Otherwise the call's outcome is recorded once: `on_error` as a failure,
    /// `on_complete` as a success, a cancel as a success if items went through and as no call at
    /// all before any (resilience4j-reactor's rule). Its duration, subscription to end, decides
    /// whether it was slow. For one call per item, see [`circuit_breaker_map`](Self::circuit_breaker_map).
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; nothing is held.
    ///
    /// # Drops
    ///
    /// Nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::prelude::*;
    /// use backflow::resilience::breaker::{BreakerState, CircuitBreaker, SlidingWindow};
    /// use backflow::sched::VirtualTime;
    ///
    /// let clock = VirtualTime::new();
    /// let breaker = CircuitBreaker::builder()
    ///     .window(SlidingWindow::Count(2))
    ///     .open_duration(Duration::from_secs(30))
    ///     .scheduler(clock.clone())
    ///     .build();
    /// let call = || backflow::error::<u32>(Error::msg("502")).circuit_breaker(&breaker);
    /// assert_eq!(call().collect().unwrap_err().to_string(), "502");
    /// assert_eq!(call().collect().unwrap_err().to_string(), "502");
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// let refused = call().collect().unwrap_err(); // the source is not even subscribed
    /// assert_eq!(refused.kind(), ErrorKind::Rejected);
    /// assert_eq!(refused.retry_after(), Some(Duration::from_secs(30)));
    /// ```
    #[doc(alias = "CircuitBreakerOperator")]
    #[doc(alias = "transformDeferred")]
    pub fn circuit_breaker(
        self,
        breaker: &crate::resilience::breaker::CircuitBreaker,
    ) -> Flux<ops::CircuitBreakerStage<P>>
    where
        P::Item: 'static,
    {
        Flux::new(ops::CircuitBreakerStage::new(self.publisher, breaker))
    }

    /// Calls `f` on each item through a [`CircuitBreaker`](crate::resilience::breaker::CircuitBreaker):
    /// the item-level form, for request/response streams where each item is one call.
    ///
    /// Each item becomes `Ok(f(item)?)`, or `Err(CallError::Failed(e))` when `f` fails (recorded
    /// as a failure), or `Err(CallError::Rejected(rejected))` when the breaker refuses: `f` is not
    /// called and the item comes back in `rejected.item` with the breaker's `retry_after`. The
    /// stream itself never fails for a call.
    ///
    /// # Demand
    ///
    /// 1:1: requests pass upstream unchanged; every item gives one output.
    ///
    /// # Drops
    ///
    /// Nothing: refused items are handed back downstream inside the `Rejected`.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::resilience::breaker::{CallError, CircuitBreaker, SlidingWindow};
    ///
    /// let breaker = CircuitBreaker::builder().window(SlidingWindow::Count(3)).build();
    /// let out = backflow::range(0..5u32)
    ///     .circuit_breaker_map(&breaker, |x| if x < 3 { Err("down") } else { Ok(x) })
    ///     .collect()
    ///     .unwrap();
    /// assert!(matches!(out[2], Err(CallError::Failed("down")))); // the third failure opens it
    /// assert!(matches!(&out[3], Err(CallError::Rejected(r)) if r.item == 3));
    /// assert!(matches!(&out[4], Err(CallError::Rejected(r)) if r.item == 4));
    /// ```
    #[doc(alias = "CircuitBreakerOperator")]
    #[doc(alias = "decorateFunction")]
    pub fn circuit_breaker_map<F, U, E>(
        self,
        breaker: &crate::resilience::breaker::CircuitBreaker,
        f: F,
    ) -> Flux<ops::CircuitBreakerMap<P, F>>
    where
        P::Item: 'static,
        F: Fn(P::Item) -> Result<U, E> + Send + Sync + 'static,
    {
        Flux::new(ops::CircuitBreakerMap::new(self.publisher, breaker, f))
    }

    /// Drops the items whose priority the current load does not admit: load shedding by
    /// priority, at once, never queued (the seeds' "it's better to reject some requests than to
    /// degrade all of them").
    ///
    /// `shedder` holds the load signal and the thresholds (see
    /// [`LoadShedder`](crate::resilience::shed::LoadShedder); the seed-002 rule "over 70% load
    /// drop low, over 90% only critical" is two `above` calls); `priority_of` gives each item's
    /// class. The load is read once per item.
    ///
    /// # Demand
    ///
    /// 1:1 for admitted items; each shed item's credit is given back upstream (as `filter`
    /// does), so downstream demand is met by admitted items only. Nothing is held.
    ///
    /// # Drops
    ///
    /// Every shed item goes to [`on_drop`](Self::on_drop) with
    /// [`DropReason::Shed`](crate::DropReason::Shed) and is counted under `dropped{reason="shed"}`
    /// in the stage's [`metrics`](Self::metrics) (and as rejected in the shedder's).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::{Arc, Mutex};
    /// use backflow::prelude::*;
    /// use backflow::resilience::shed::{LoadShedder, Priority};
    /// use backflow::DropReason;
    ///
    /// let load = Arc::new(AtomicU64::new(95)); // percent
    /// let l = load.clone();
    /// let shedder = LoadShedder::new(move || l.load(Ordering::Relaxed) as f64 / 100.0)
    ///     .above(0.70, Priority::Normal)
    ///     .above(0.90, Priority::Critical);
    /// let shed = Arc::new(Mutex::new(Vec::new()));
    /// let s = shed.clone();
    /// let priority = |x: &u32| if x % 3 == 0 { Priority::Critical } else { Priority::Low };
    /// let kept = backflow::range(0..7u32)
    ///     .shed(&shedder, priority)
    ///     .on_drop(move |x, reason| s.lock().unwrap().push((x, reason)))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(kept, [0, 3, 6]); // 95% load: only critical
    /// assert_eq!(shed.lock().unwrap()[0], (1, DropReason::Shed));
    /// ```
    #[doc(alias = "loadShedding")]
    #[doc(alias = "LoadShed")]
    #[doc(alias = "onBackpressureDrop")]
    pub fn shed<Q, F>(
        self,
        shedder: &crate::resilience::shed::LoadShedder<Q>,
        priority_of: F,
    ) -> Flux<ops::Shed<P, Q, F>>
    where
        P::Item: 'static,
        Q: Ord + Clone + Send + Sync + 'static,
        F: Fn(&P::Item) -> Q + Send + Sync + 'static,
    {
        Flux::new(ops::Shed::new(self.publisher, shedder, priority_of))
    }

    /// Holds up to `high` items for a slower downstream and requests upstream like a consumer
    /// that polls: it **pauses** (stops requesting) once `high` items are held and **resumes**
    /// once the downstream has drained it to `low` — the Kafka consumer's `pause()` / `resume()`
    /// with watermarks (seed 002: "pause when processing slow, resume below half").
    ///
    /// Compared with [`buffer(n)`](Self::buffer), which tops up in batches whenever 75% of what it
    /// asked for has been consumed, `pause_at` tops up while it is running and stays paused
    /// between the watermarks, so the upstream sees long quiet spells instead of a trickle of
    /// small requests. [`on_pause`](Flux::on_pause) and [`on_resume`](Flux::on_resume) run at each
    /// transition (outside any lock, on the thread that caused it), and the stage's
    /// [`metrics`](Self::metrics) show it as the `paused` gauge and `buffered`.
    ///
    /// # Demand
    ///
    /// Requests `high` at subscription, whatever the downstream asked for; while running, tops up
    /// to `high` held-or-outstanding after each drain pass; while paused, requests nothing. Serves
    /// downstream demand from what it holds.
    ///
    /// # Drops
    ///
    /// Nothing while the upstream is compliant. Held items go to `on_drop` as
    /// [`Cancelled`](crate::DropReason::Cancelled) on cancel; an item beyond what was requested as
    /// [`Overflow`](crate::DropReason::Overflow), failing the stream. An upstream error waits for
    /// the held items ([`ErrorMode::AfterDrain`](ops::ErrorMode)) unless `ErrorMode::Immediate`.
    ///
    /// # Panics
    ///
    /// If `high` is 0 or `low >= high`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use backflow::prelude::*;
    ///
    /// let (pauses, resumes) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    /// let (p, r) = (pauses.clone(), resumes.clone());
    /// let (sub, probe) = TestSubscriber::<u32>::new(0);
    /// backflow::range(0..100u32)
    ///     .pause_at(10, 5)
    ///     .on_pause(move || { p.fetch_add(1, Ordering::SeqCst); })
    ///     .on_resume(move || { r.fetch_add(1, Ordering::SeqCst); })
    ///     .subscribe(sub);
    /// assert_eq!(pauses.load(Ordering::SeqCst), 1); // 10 held, nobody has asked yet
    /// probe.request(4);
    /// assert_eq!(resumes.load(Ordering::SeqCst), 0); // 6 held: still above the low mark
    /// probe.request(1);
    /// assert_eq!(resumes.load(Ordering::SeqCst), 1); // 5 held: resumed, refilled to 10
    /// assert_eq!(pauses.load(Ordering::SeqCst), 2);
    /// assert_eq!(probe.values(), [0, 1, 2, 3, 4]);
    /// ```
    #[doc(alias = "pause")]
    #[doc(alias = "resume")]
    #[doc(alias = "watermark")]
    #[doc(alias = "highWaterMark")]
    #[doc(alias = "lowWaterMark")]
    pub fn pause_at(self, high: u64, low: u64) -> Flux<ops::PauseAt<P>>
    where
        P::Item: Send + 'static,
    {
        Flux::new(ops::PauseAt::new(self.publisher, high, low))
    }
}

/// The hooks of a [`pause_at`](Flux::pause_at) stage.
impl<P: Publisher> Flux<ops::PauseAt<P>> {
    /// Runs `hook` each time the stage pauses (`high` items held). A panic in it goes to the
    /// error hook.
    #[doc(alias = "doOnPause")]
    pub fn on_pause<F: Fn() + Send + Sync + 'static>(mut self, hook: F) -> Self {
        self.publisher.set_on_pause(StdArc::new(hook));
        self
    }

    /// Runs `hook` each time the stage resumes (drained to `low`), just before it requests again.
    #[doc(alias = "doOnResume")]
    pub fn on_resume<F: Fn() + Send + Sync + 'static>(mut self, hook: F) -> Self {
        self.publisher.set_on_resume(StdArc::new(hook));
        self
    }
}

/// The options of a [`retry`](Flux::retry) / [`retry_when`](Flux::retry_when) stage.
impl<P, B> Flux<ops::Retry<P, B>> {
    /// Caps every wait, whatever the backoff or the error's hint says (default 60 s).
    pub fn max_delay(mut self, cap: std::time::Duration) -> Self {
        self.publisher.set_max_delay(cap);
        self
    }

    /// Retries only while the shared `budget` allows (gRPC's retry throttling): each error takes a
    /// token, each completed attempt gives some back. When it refuses, the stream fails with
    /// `RetryExhausted`.
    pub fn budget(mut self, budget: &crate::resilience::retry::RetryBudget) -> Self {
        self.publisher.set_budget(budget.clone());
        self
    }

    /// Retries only errors for which `predicate` is true; others end the stream as they are.
    #[doc(alias = "retryOnException")]
    #[doc(alias = "filter")]
    pub fn retry_if<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Error) -> bool + Send + Sync + 'static,
    {
        self.publisher.set_retry_if(StdArc::new(predicate));
        self
    }

    /// Delivers the items of every attempt, including those earlier attempts delivered already
    /// (Reactor's and RxJava's `retry`), instead of skipping them. (Not [`Flux::replay`], which
    /// shares a stream and replays its history to late subscribers.)
    #[doc(alias = "replay")]
    pub fn redeliver(mut self) -> Self {
        self.publisher.set_replay();
        self
    }

    /// Whether a `retry_after` hint on the error lengthens the wait (`retry_when`: yes; `retry`:
    /// no).
    pub fn honour_retry_after(mut self, honour: bool) -> Self {
        self.publisher.set_honour_hint(honour);
        self
    }

    /// Counts resubscriptions (`admitted`) and give-ups (`rejected`) in `metrics`.
    pub fn metrics(mut self, metrics: StdArc<crate::metrics::PrimitiveMetrics>) -> Self {
        self.publisher.set_metrics(metrics);
        self
    }
}

/// Adaptive concurrency: calls under a shared [`Limiter`](crate::resilience::limit::Limiter).
impl<P: Publisher> Flux<P> {
    /// Maps each item to a call — a publisher of `Result`s, usually one — and runs up to the
    /// limiter's `limit` calls at once, emitting results as they complete.
    ///
    /// The limit is discovered, not configured: each call's permit is released when its publisher
    /// completes, as a success if it emitted no `Err` and as a drop if it did, and the
    /// [`Limit`](crate::resilience::limit::Limit) algorithm (AIMD, Gradient2, Vegas, ...) moves the limit
    /// from those round-trip times and outcomes. The limiter may be shared by several streams and
    /// request handlers: the limit is per service, not per stream. A stream with no call in flight
    /// always starts one, even at the limit, so it cannot starve.
    ///
    /// An `Err` result is an item like any other (one failed call does not end the stream); an
    /// `on_error` from a call's publisher, or a panic in `f`, ends it.
    ///
    /// # Demand
    ///
    /// Asks upstream for `limit − (calls in flight + items waiting for a permit + requested)`:
    /// demand follows the discovered capacity. Each call's publisher is asked for one item at a
    /// time, and results wait for downstream demand, at most one per call: the stage holds at most
    /// `limit` results.
    ///
    /// # Drops
    ///
    /// Nothing while the stream runs. On cancel, results held for downstream go to
    /// [`on_drop`](Self::on_drop) with [`DropReason::Cancelled`](crate::DropReason); a call that
    /// emits a second item before it was asked fails the stream with an overflow error
    /// ([`DropReason::Overflow`](crate::DropReason)). On an error, held results are delivered first
    /// ([`ErrorMode::AfterDrain`](ops::ErrorMode)).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::resilience::limit::{Aimd, Limiter};
    ///
    /// let limiter = Limiter::new(Aimd::new(4).min_limit(1));
    /// let mut out: Vec<u64> = backflow::range(0..100u64)
    ///     // each call: a publisher of one Result (here immediate; usually a remote call)
    ///     .concurrent_map(limiter.clone(), |x| backflow::just(Ok::<_, String>(x * 2)))
    ///     .map(|r| r.unwrap())
    ///     .collect()
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    /// assert_eq!(limiter.inflight(), 0);
    /// ```
    #[doc(alias = "flatMap")]
    #[doc(alias = "mapAsyncUnordered")]
    #[doc(alias = "flatMapMerge")]
    pub fn concurrent_map<F, Q, U, E>(
        self,
        limiter: crate::resilience::limit::Limiter,
        f: F,
    ) -> Flux<ops::ConcurrentMap<P, F, Result<U, E>>>
    where
        P::Item: Send + 'static,
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher<Item = Result<U, E>>,
        U: Send + 'static,
        E: Send + 'static,
    {
        Flux::new(ops::ConcurrentMap::new(self.publisher, limiter, f, false))
    }

    /// [`concurrent_map`](Self::concurrent_map) emitting results in the order of the items that
    /// started them (Akka's `mapAsync`, Reactor's `flatMapSequential`): a slow call holds back the
    /// results of later ones, which wait — at most one per call — for their turn.
    ///
    /// # Demand
    ///
    /// As [`concurrent_map`](Self::concurrent_map).
    ///
    /// # Drops
    ///
    /// As [`concurrent_map`](Self::concurrent_map).
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::resilience::limit::{Fixed, Limiter};
    ///
    /// let out: Vec<u64> = backflow::range(0..50u64)
    ///     .concurrent_map_ordered(Limiter::new(Fixed::new(8)), |x| backflow::just(Ok::<_, ()>(x)))
    ///     .map(|r| r.unwrap())
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, (0..50).collect::<Vec<_>>());
    /// ```
    #[doc(alias = "mapAsync")]
    #[doc(alias = "flatMapSequential")]
    #[doc(alias = "concatMapEager")]
    pub fn concurrent_map_ordered<F, Q, U, E>(
        self,
        limiter: crate::resilience::limit::Limiter,
        f: F,
    ) -> Flux<ops::ConcurrentMap<P, F, Result<U, E>>>
    where
        P::Item: Send + 'static,
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher<Item = Result<U, E>>,
        U: Send + 'static,
        E: Send + 'static,
    {
        Flux::new(ops::ConcurrentMap::new(self.publisher, limiter, f, true))
    }
}

// ---- publish_on's tuning (issue 8 §3: moved from ops/publish_on.rs, so ops/ never names Flux) ----
/// Tuning of a [`publish_on`](Flux::publish_on) stage (the last stage of the chain).
impl<P: Publisher, Sc> Flux<ops::PublishOn<P, Sc>> {
    /// Sets how many items the stage requests up front and can hold (its ring's capacity).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0, or not above a [`low_tide`](Self::low_tide) set before.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let sum = backflow::range(0..1000u64)
    ///     .publish_on(backflow::sched::single())
    ///     .prefetch(32)
    ///     .fold(0, |a, x| a + x)
    ///     .unwrap();
    /// assert_eq!(sum, 499_500);
    /// ```
    pub fn prefetch(self, prefetch: usize) -> Self {
        let mut stage = self.into_inner();
        stage.set_prefetch(prefetch);
        Flux::new(stage)
    }

    /// Tops up upstream demand when only `low_tide` requested items are outstanding (held or still
    /// to come), instead of at 25% of the prefetch. `low_tide(0)` waits until the ring is empty
    /// (fewer, larger requests); a high low tide keeps the ring fuller (more, smaller requests).
    ///
    /// # Panics
    ///
    /// If `low_tide` is not below the prefetch.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let n = backflow::range(0..100u32)
    ///     .publish_on(backflow::sched::single())
    ///     .prefetch(8)
    ///     .low_tide(6) // ask for 2 more each time 2 were taken
    ///     .count()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(n, vec![100]);
    /// ```
    pub fn low_tide(self, low_tide: usize) -> Self {
        let mut stage = self.into_inner();
        stage.set_low_tide(low_tide);
        Flux::new(stage)
    }
}
