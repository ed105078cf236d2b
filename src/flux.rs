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
