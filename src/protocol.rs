//! The Reactive Streams protocol: [`Publisher`], [`Subscriber`], [`Subscription`], [`Processor`].
//!
//! These are the Reactive Streams 1.0.4 interfaces adapted to Rust. Every source, operator and sink in
//! the crate is built from them, and users can implement each one themselves; the
//! conformance verifier (`backflow::tck`, feature `tck`) checks that an implementation keeps the rules.
//! [`Flux`], the publisher wrapper every source returns, is declared here too, so that sources and
//! operators can name it without importing the [`flux`](crate::flux) module built on top of them.
//!
//! # Signals
//!
//! A subscriber sees exactly: `on_subscribe` once, then `on_next` zero or more times, then at most one
//! of `on_error` / `on_complete` (rules 1.03, 1.06, 1.07, 1.09). Signals never overlap and each
//! happens-before the next, even when they arrive on different threads.
//!
//! # Demand
//!
//! Demand is counted in `u64` credits added by [`Subscription::request`]. A publisher delivers at most
//! as many items as were requested in total (rule 1.01). The total saturates at `u64::MAX`, which
//! means "unbounded" and never wraps or errors (rules 3.8, 3.17). `request(0)` is a protocol error
//! answered with an `on_error` whose message names rule 3.9.
//!
//! ```
//! use backflow::prelude::*;
//!
//! // A hand-written subscriber: request 2 at a time, from inside the handler (rule 3.3 allows it).
//! struct Two { sub: Option<SharedSubscription>, seen: Vec<u32>, left: u32 }
//! impl Subscriber<u32> for Two {
//!     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(2); self.left = 2; self.sub = Some(s); }
//!     fn on_next(&mut self, x: u32) {
//!         self.seen.push(x);
//!         self.left -= 1;
//!         if self.left == 0 { self.left = 2; self.sub.as_ref().unwrap().request(2); }
//!     }
//!     fn on_error(&mut self, e: Error) { panic!("{e}") }
//!     fn on_complete(&mut self) { assert_eq!(self.seen, vec![1, 2, 3, 4, 5]); }
//! }
//! backflow::range(1..6u32).subscribe(Two { sub: None, seen: vec![], left: 0 });
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// A shared handle to a [`Subscription`], as handed to [`Subscriber::on_subscribe`].
///
/// Cheap to clone and to send to other threads; `request` and `cancel` may be called from anywhere.
pub type SharedSubscription = Arc<dyn Subscription>;

/// The link between one publisher and one subscriber, through which the subscriber asks for items.
///
/// # Demand
///
/// - 3.08: `request(n)` adds `n` to the outstanding demand, saturating at `u64::MAX` (unbounded).
/// - 3.09: `request(0)` makes the publisher signal `on_error` with [`ErrorKind::InvalidDemand`](crate::ErrorKind::InvalidDemand).
/// - 3.17: any number of requests may accumulate up to `u64::MAX` without error.
/// - 3.02 / 3.03: `request` may be called synchronously from `on_subscribe` and `on_next`; the
///   publisher must not recurse into `on_next` from inside `request` (a drain loop trampolines it).
///
/// # Signals
///
/// - 3.05 – 3.07: `cancel` is prompt, idempotent and thread-safe; afterwards `request` and `cancel`
///   are no-ops.
/// - 3.12 / 3.13: after `cancel` the publisher stops signalling (items already in flight may still
///   arrive, rule 1.08) and eventually drops every reference it holds to the subscriber.
pub trait Subscription: Send + Sync {
    /// Adds `n` credits of demand. `n == 0` is a protocol error (rule 3.9).
    fn request(&self, n: u64);
    /// Asks the publisher to stop sending and release the subscriber.
    fn cancel(&self);

    /// Pull fusion, between the crate's own stages: a consumer that runs on a thread of its own
    /// (a blocking iterator, a stream) offers to run the publisher's drain itself whenever it
    /// looks for items, and hands over a [`PullWaker`] to be woken when items arrive while it
    /// waits. A publisher that accepts returns the [`Pull`] handle the consumer drains through;
    /// from then on its producers only publish and wake, they never run the drain for an item.
    /// Every signal keeps its meaning: `pull` is a drain pass on the consumer's thread, exactly as
    /// a `request` from that thread would run. The default declines.
    #[doc(hidden)]
    fn fuse_pull(&self, waker: Arc<dyn PullWaker>) -> Option<Arc<dyn Pull>> {
        let _ = waker;
        None
    }
}

/// The consumer's side of pull fusion ([`Subscription::fuse_pull`]): how a publisher wakes it.
#[doc(hidden)]
pub trait PullWaker: Send + Sync {
    /// Called by a producer right after it published an item with a SeqCst read-modify-write (a
    /// ring's claim): wakes the consumer if it announced that it parks. Reads the announcement
    /// with a SeqCst load, which the claim orders (see `crate::wait`).
    fn wake(&self);

    /// Called by a producer right after it published an item with a plain store (the claim of
    /// a [`SingleEmitter`](crate::SingleEmitter), no read-modify-write): wakes the consumer if
    /// it announced that it parks, reading the announcement behind a SeqCst fence of its own
    /// (`crate::wait::Parker::notify`). The default puts in the fence and calls
    /// [`wake`](Self::wake).
    fn wake_after_store(&self) {
        crate::sync::fence(crate::sync::Ordering::SeqCst);
        self.wake();
    }
}

/// The publisher's side of pull fusion ([`Subscription::fuse_pull`]).
#[doc(hidden)]
pub trait Pull: Send + Sync {
    /// Runs a drain pass on this thread: delivers what is held, as far as demand allows.
    fn pull(&self);
    /// Whether a pull would deliver something now: items are held and demand is outstanding. The
    /// consumer asks after its SeqCst fence, before it parks.
    fn has_work(&self) -> bool;
    /// A cheap guess at [`has_work`](Self::has_work) for a consumer that spins: whether about
    /// `depth` items (fewer if demand allows fewer) look ready to pull. It may miss an item that
    /// is still being written or answer from a stale view, but it reads no line that every push
    /// writes, so polling it does not slow the producers down. Decide to park on `has_work`
    /// only. The default is `has_work`.
    fn looks_ready(&self, depth: usize) -> bool {
        let _ = depth;
        self.has_work()
    }
}

/// A consumer of a stream of `T`, driven by a [`Publisher`].
///
/// # Signals
///
/// The publisher calls `on_subscribe` exactly once, then `on_next` at most as many times as
/// requested, then at most one of `on_error` / `on_complete`. Calls never overlap.
///
/// - 2.01: items arrive only after `request(n)`; request at the end of a handler, in batches.
/// - 2.03: `on_complete` / `on_error` must not call back into the subscription.
/// - 2.05: a subscriber that is already subscribed answers a second `on_subscribe` by cancelling the
///   new subscription.
/// - 2.08 – 2.10: accept `on_next` after your own `cancel` (items in flight), and terminal signals
///   with or without a prior request.
/// - 2.13: handlers return normally. If one panics, the stage that called it treats the subscriber as
///   cancelled and reports the panic (downstream `on_error`, or the [error hook](crate::set_error_hook)).
///
/// # Demand
///
/// A subscriber owns its demand: it calls [`Subscription::request`] on the handle it got in
/// `on_subscribe`. [`Subscriber::try_on_next`] lets an operator hand a credit back unused.
pub trait Subscriber<T>: Send {
    /// The first signal: the handle through which demand is requested.
    fn on_subscribe(&mut self, subscription: SharedSubscription);

    /// One item, delivered against one credit of demand.
    fn on_next(&mut self, item: T);

    /// Delivers an item and says whether it used a credit of demand.
    ///
    /// `false` means the item was consumed without using a credit (a `filter` discarded it): the
    /// caller must not count it against demand. This is Reactor's `ConditionalSubscriber` fusion: it
    /// lets a filtering stage skip a `request(1)` round trip per discarded element. The default calls
    /// [`on_next`](Subscriber::on_next) and returns `true`; publishers that do not care may always call
    /// `on_next`.
    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.on_next(item);
        true
    }

    /// Delivers a run of items in one call and returns how many credits of demand they used.
    ///
    /// This is operator fusion for synchronous chains: a source hands a whole batch down as an
    /// `Iterator`, each 1:1 or filtering operator wraps it in the matching iterator adapter, and the
    /// sink folds it, so the chain compiles to one loop, as an `Iterator` chain does. The caller
    /// guarantees `items` yields at most as many items as there is outstanding demand; items the
    /// chain discards use no credit (as with [`try_on_next`](Subscriber::try_on_next)).
    ///
    /// The default delivers item by item through `try_on_next`; overriding it is an optimisation
    /// only, and must be observably identical. An operator that stops early (`take`) consumes only
    /// what it needs from `items`.
    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
        Self: Sized,
    {
        items.fold(0, |used, item| used + self.try_on_next(item) as u64)
    }

    /// Delivers a run of items under unbounded demand, where nobody counts credits.
    ///
    /// [`on_next_iter`](Subscriber::on_next_iter) for a caller whose demand is unbounded: it would
    /// throw the count away, and counting the items that pass a filter costs a register and an add
    /// per item in the fused loop (a third of a `map` / `filter` / `fold` chain). The caller
    /// guarantees the demand it serves is unbounded (`u64::MAX` requested).
    ///
    /// The default delivers the run with `on_next_iter` and drops the count, which is always
    /// correct. A stage may forward the run with `on_next_unbounded` only if its downstream's
    /// demand is then unbounded too: a stage that passes its downstream's requests straight
    /// through (`map`, `filter`); any other stage keeps the default. Overriding it is an
    /// optimisation only, and must be observably identical.
    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
        Self: Sized,
    {
        self.on_next_iter(items);
    }

    /// The failure terminal signal. Nothing follows it.
    fn on_error(&mut self, error: Error);

    /// The success terminal signal. Nothing follows it.
    fn on_complete(&mut self);
}

/// Forwards the signals of a boxed subscriber; `on_next_iter` as the given expression of
/// `(this, items)`, so each box hands runs on the way its contents allow.
macro_rules! forward_boxed {
    ($(#[$doc:meta])* [$($generics:tt)*] $boxed:ty, |$this:ident, $items:ident| $runs:expr
        $(, unbounded |$uthis:ident, $uitems:ident| $unbounded:expr)?) => {
        $(#[$doc])*
        impl<$($generics)*> Subscriber<T> for $boxed {
            #[inline]
            fn on_subscribe(&mut self, subscription: SharedSubscription) {
                (**self).on_subscribe(subscription)
            }
            #[inline]
            fn on_next(&mut self, item: T) {
                (**self).on_next(item)
            }
            #[inline]
            fn try_on_next(&mut self, item: T) -> bool {
                (**self).try_on_next(item)
            }
            #[inline]
            #[allow(unused_mut)]
            fn on_next_iter<I>(&mut self, mut $items: I) -> u64
            where
                I: Iterator<Item = T>,
            {
                let $this = self;
                $runs
            }
            $(
            #[inline]
            #[allow(unused_mut)]
            fn on_next_unbounded<I>(&mut self, mut $uitems: I)
            where
                I: Iterator<Item = T>,
            {
                let $uthis = self;
                $unbounded
            }
            )?
            #[inline]
            fn on_error(&mut self, error: Error) {
                (**self).on_error(error)
            }
            #[inline]
            fn on_complete(&mut self) {
                (**self).on_complete()
            }
        }
    };
}

forward_boxed!(
    /// Forwards every signal, runs included.
    [T, S: Subscriber<T>] Box<S>,
    |this, items| (**this).on_next_iter(items),
    unbounded |this, items| (**this).on_next_unbounded(items)
);

forward_boxed!(
    /// Forwards every signal. Runs go item by item: a `dyn Subscriber` has no generic
    /// [`on_next_iter`](Subscriber::on_next_iter); box a [`DynSubscriber`] to keep fusion.
    ['a, T] Box<dyn Subscriber<T> + 'a>,
    |this, items| items.fold(0, |used, item| used + (**this).try_on_next(item) as u64)
);

/// The object-safe face of [`Subscriber`], for type erasure that keeps fusion: a run of items
/// crosses the box as one `&mut dyn Iterator`, and the subscriber behind it folds it with its own
/// [`on_next_iter`](Subscriber::on_next_iter). Implemented for every subscriber.
pub trait DynSubscriber<T>: Subscriber<T> {
    /// [`Subscriber::on_next_iter`] over a type-erased run.
    fn on_next_dyn(&mut self, items: &mut dyn Iterator<Item = T>) -> u64;

    /// [`Subscriber::on_next_unbounded`] over a type-erased run.
    fn on_next_unbounded_dyn(&mut self, items: &mut dyn Iterator<Item = T>);
}

impl<T, S: Subscriber<T>> DynSubscriber<T> for S {
    #[inline]
    fn on_next_dyn(&mut self, items: &mut dyn Iterator<Item = T>) -> u64 {
        self.on_next_iter(items)
    }

    #[inline]
    fn on_next_unbounded_dyn(&mut self, items: &mut dyn Iterator<Item = T>) {
        self.on_next_unbounded(items)
    }
}

forward_boxed!(
    /// Forwards every signal; a run crosses the box as one `&mut dyn Iterator`.
    ['a, T] Box<dyn DynSubscriber<T> + 'a>,
    |this, items| (**this).on_next_dyn(&mut items),
    unbounded |this, items| (**this).on_next_unbounded_dyn(&mut items)
);

/// A source of a stream of items, delivered to each subscriber on demand.
///
/// # Signals
///
/// - 1.09: `subscribe` always calls `on_subscribe` first and returns normally. To reject a
///   subscriber, call `on_subscribe` (with any subscription) and then `on_error`; no request needed.
/// - 1.04 / 1.05: a failing source signals `on_error`; a finite one signals `on_complete`, an empty
///   one without waiting for a request.
/// - 1.10 / 1.11: `subscribe` may be called many times; each source documents whether subscribers
///   share one upstream (multicast) or each get their own run (unicast, "cold"). Every source in this
///   crate is cold unless its doc says otherwise.
///
/// # Demand
///
/// - 1.01: never more `on_next` than the total requested; 1.02: fewer is fine if the stream ends.
pub trait Publisher {
    /// The type of the items.
    type Item;

    /// Starts a new subscription that delivers to `subscriber`.
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + 'static;
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    type Item = P::Item;
    #[inline]
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + 'static,
    {
        (**self).subscribe(subscriber)
    }
}

impl<P: Publisher + ?Sized> Publisher for &P {
    type Item = P::Item;
    #[inline]
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + 'static,
    {
        (**self).subscribe(subscriber)
    }
}

/// A stage that is both a subscriber (upstream side) and a publisher (downstream side).
///
/// Rule 4.01: it obeys both rule sets. 4.02: it either recovers from an upstream error or forwards it
/// at once. Implemented automatically for every type that is both.
pub trait Processor<T>: Subscriber<T> + Publisher {}

impl<T, X: Subscriber<T> + Publisher> Processor<T> for X {}

/// The object-safe face of [`Publisher`], for type erasure (`Flux::boxed`).
pub trait DynPublisher<T>: Send + Sync {
    /// [`Publisher::subscribe`] with a boxed subscriber (runs of items still reach it in one
    /// call, through [`DynSubscriber::on_next_dyn`]).
    fn subscribe_boxed(&self, subscriber: Box<dyn DynSubscriber<T>>);
}

impl<P> DynPublisher<P::Item> for P
where
    P: Publisher + Send + Sync,
    P::Item: 'static,
{
    fn subscribe_boxed(&self, subscriber: Box<dyn DynSubscriber<P::Item>>) {
        self.subscribe(subscriber)
    }
}

/// A subscription that ignores everything: for publishers that terminate at once, or reject.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopSubscription;

impl Subscription for NoopSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

impl NoopSubscription {
    /// A shared handle to a no-op subscription.
    pub fn shared() -> SharedSubscription {
        Arc::new(NoopSubscription)
    }
}

/// Runs a user signal handler, turning a panic into an `Err` (rule 2.13: never unwind through a
/// drain loop that belongs to someone else).
#[inline]
pub(crate) fn catch<R>(place: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panicked(place, p))
}

/// The error for a caught panic. Reading the payload drops it, and a payload's destructor may
/// panic in turn: that second payload is leaked (dropping it could panic again), never unwound.
#[cold]
#[inline(never)]
pub(crate) fn panicked(place: &str, payload: Box<dyn std::any::Any + Send>) -> Error {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Error::panicked(place, payload)
    })) {
        Ok(error) => error,
        Err(second) => {
            std::mem::forget(second);
            Error::panicked(place, Box::new("a panic payload whose destructor panicked"))
        }
    }
}

/// Cancels `upstream`, reporting a panic in its `cancel` (someone else's code) to the error hook.
pub(crate) fn cancel_quietly(upstream: &SharedSubscription) {
    if let Err(panic) = catch("cancel", || upstream.cancel()) {
        crate::error::report_undeliverable(&panic);
    }
}

/// Delivers a terminal error to a subscriber that may itself panic; a second panic goes to the hook.
pub(crate) fn deliver_error<T, S: Subscriber<T> + ?Sized>(subscriber: &mut S, error: Error) {
    let shown = error.clone();
    if let Err(second) = catch("on_error", || subscriber.on_error(error)) {
        crate::error::report_undeliverable(&shown);
        crate::error::report_undeliverable(&second);
    }
}

/// Delivers `on_complete`; a panic in it has no one left to signal, so it goes to the error hook.
pub(crate) fn deliver_complete<T, S: Subscriber<T> + ?Sized>(subscriber: &mut S) {
    if let Err(panic) = catch("on_complete", || subscriber.on_complete()) {
        crate::error::report_undeliverable(&panic);
    }
}

/// Delivers the terminal signal `end` (`on_complete` or `on_error`), reporting a panic in either.
pub(crate) fn deliver_terminal<T, S: Subscriber<T> + ?Sized>(
    subscriber: &mut S,
    end: Result<(), Error>,
) {
    match end {
        Ok(()) => deliver_complete(subscriber),
        Err(error) => deliver_error(subscriber, error),
    }
}

/// Rejects a subscriber per rule 1.09: `on_subscribe` with a no-op subscription, then `on_error`.
/// A panicking `on_subscribe` gets its panic as the error instead (as every stage answers it).
pub(crate) fn reject<T, S: Subscriber<T> + ?Sized>(subscriber: &mut S, error: Error) {
    match catch("on_subscribe", || {
        subscriber.on_subscribe(NoopSubscription::shared())
    }) {
        Ok(()) => deliver_error(subscriber, error),
        Err(panic) => {
            crate::error::report_undeliverable(&error);
            deliver_error(subscriber, panic)
        }
    }
}

/// Completes a subscriber at once (empty source): `on_subscribe` then `on_complete`. A panicking
/// `on_subscribe` gets its panic as `on_error` instead (as every stage answers it).
pub(crate) fn complete_now<T, S: Subscriber<T> + ?Sized>(subscriber: &mut S) {
    match catch("on_subscribe", || {
        subscriber.on_subscribe(NoopSubscription::shared())
    }) {
        Ok(()) => deliver_complete(subscriber),
        Err(panic) => deliver_error(subscriber, panic),
    }
}

/// A stage's downstream behind a panic guard: how every operator that runs user code catches a
/// panic at the stage that ran it (rule 2.13), whatever its upstream is.
///
/// A closure-taking operator keeps its downstream in a `Guarded` and runs each signal through it:
/// [`run`](Self::run) wraps the user call *and* the call downstream in one `catch_unwind` (around a
/// whole `on_next_iter` run, so the happy path pays a landing pad, not a check per item). On a
/// panic the stage stops: the upstream is cancelled, the downstream gets `on_error(Panicked)` once,
/// and every later upstream signal is ignored (a late item is dropped; a late end goes nowhere).
/// Nothing unwinds into the upstream, even a hand-written `Publisher` calling `on_next` from its
/// own loop. Terminal signals go through [`on_error`](Self::on_error) /
/// [`on_complete`](Self::on_complete), which deliver at most one and catch the downstream's
/// panic (reported to the error hook).
///
/// A new operator uses it like `map` does:
///
/// ```ignore
/// struct MapSubscriber<S, F> { guarded: Guarded<S>, f: Arc<F> }
/// impl<T, U, S: Subscriber<U>, F: Fn(T) -> U> Subscriber<T> for MapSubscriber<S, F> {
///     fn on_subscribe(&mut self, s: SharedSubscription) { self.guarded.on_subscribe(s.clone(), s) }
///     fn on_next(&mut self, item: T) { let f = &*self.f; self.guarded.run(|d| d.on_next(f(item))) }
///     fn on_next_iter<I: Iterator<Item = T>>(&mut self, items: I) -> u64 {
///         let f = &*self.f;
///         self.guarded.run(|d| d.on_next_iter(items.map(f)))
///     }
///     fn on_error(&mut self, e: Error) { self.guarded.on_error(e) }
///     fn on_complete(&mut self) { self.guarded.on_complete() }
/// }
/// ```
pub(crate) struct Guarded<S> {
    /// `None` once a panic or a terminal signal ended the stage: upstream signals are ignored from
    /// then on, and the downstream is released (rule 3.13).
    downstream: Option<S>,
    /// The upstream's handle, kept to cancel it on a panic; `None` before `on_subscribe` and
    /// once the stage has stopped.
    upstream: Option<SharedSubscription>,
    /// Names the stage in the panic's error message.
    stage: &'static str,
}

impl<S> Guarded<S> {
    /// Guards `downstream` for the stage named `stage` (`"map"`).
    pub(crate) fn new(downstream: S, stage: &'static str) -> Self {
        Guarded {
            downstream: Some(downstream),
            upstream: None,
            stage,
        }
    }

    /// The upstream's handle (for operators that replenish what they discard).
    #[inline]
    pub(crate) fn upstream(&self) -> Option<&SharedSubscription> {
        self.upstream.as_ref()
    }

    /// Whether a panic or a terminal signal ended the stage.
    #[inline]
    pub(crate) fn is_stopped(&self) -> bool {
        self.downstream.is_none()
    }

    /// Keeps `upstream` (to cancel on a panic), then hands `handle` to the downstream's
    /// `on_subscribe` (caught). A second subscription is cancelled (rule 2.05).
    pub(crate) fn on_subscribe<T>(
        &mut self,
        upstream: SharedSubscription,
        handle: SharedSubscription,
    ) where
        S: Subscriber<T>,
    {
        if self.upstream.is_some() || self.is_stopped() {
            return upstream.cancel();
        }
        self.upstream = Some(upstream);
        self.run(|downstream| downstream.on_subscribe(handle));
    }

    /// Runs `f` on the downstream: the stage's user code and its call downstream, under one
    /// catch. Returns what `f` returned, or `R::default()` (no credit used, nothing delivered)
    /// when the stage has stopped or `f` panicked. Whatever `f` captured (the item) is dropped
    /// either way, once.
    #[inline]
    pub(crate) fn run<T, R: Default>(&mut self, f: impl FnOnce(&mut S) -> R) -> R
    where
        S: Subscriber<T>,
    {
        let Some(downstream) = &mut self.downstream else {
            return R::default();
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(downstream))) {
            Ok(r) => r,
            Err(payload) => {
                self.fail(payload);
                R::default()
            }
        }
    }

    /// Ends the stage with `error` from its own logic (not a panic): cancels upstream, delivers
    /// the error once, releases the downstream.
    pub(crate) fn fail_with<T>(&mut self, error: Error)
    where
        S: Subscriber<T>,
    {
        self.finish(Err(error));
    }

    #[cold]
    #[inline(never)]
    fn fail<T>(&mut self, payload: Box<dyn std::any::Any + Send>)
    where
        S: Subscriber<T>,
    {
        let error = panicked(self.stage, payload);
        self.finish(Err(error));
    }

    /// Forwards the upstream's error, unless the stage has stopped (then it is reported to the
    /// error hook: not swallowed silently).
    pub(crate) fn on_error<T>(&mut self, error: Error)
    where
        S: Subscriber<T>,
    {
        self.upstream = None;
        match self.downstream.take() {
            Some(downstream) => release(downstream, Err(error)),
            None => crate::error::report_undeliverable(&error),
        }
    }

    /// Forwards the upstream's completion, unless the stage has stopped.
    pub(crate) fn on_complete<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        self.upstream = None;
        if let Some(downstream) = self.downstream.take() {
            release(downstream, Ok(()));
        }
    }

    /// Ends the stage before its upstream does (a panic, `take_while`'s first miss, a `try_map`
    /// error): cancels upstream, then delivers `end` once and releases the downstream.
    pub(crate) fn finish<T>(&mut self, end: Result<(), Error>)
    where
        S: Subscriber<T>,
    {
        let Some(downstream) = self.downstream.take() else {
            return;
        };
        if let Some(upstream) = self.upstream.take() {
            cancel_quietly(&upstream);
        }
        release(downstream, end);
    }
}

/// Delivers `end` to `downstream`, then drops it; a panic in either goes to the error hook.
fn release<T, S: Subscriber<T>>(mut downstream: S, end: Result<(), Error>) {
    deliver_terminal(&mut downstream, end);
    if let Err(panic) = catch("a subscriber's drop", || drop(downstream)) {
        crate::error::report_undeliverable(&panic);
    }
}

/// A stream of items with backpressure: a [`Publisher`] plus the operators and sinks to use it.
///
/// Reactor's name, familiar to porters; it is RxJava's `Flowable` and Akka's `Source`. Build one
/// with a source function ([`range`](crate::range), [`from_iter`](crate::from_iter), ...) or
/// [`Flux::new`] around any publisher, chain operators, and end with a sink.
///
/// The type lives here, on the ground floor, because sources and operators return it (a source
/// function gives a `Flux`, `group_by` emits one per group); its operator and sink methods live in
/// [`flux`](crate::flux), above everything they build on.
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
    /// Read by the operator methods in `flux.rs`.
    pub(crate) publisher: P,
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
