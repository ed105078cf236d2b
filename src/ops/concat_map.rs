//! The publisher behind [`Flux::concat_map`](crate::Flux::concat_map).
//!
//! The outer stream's items wait in a small spsc ring (the outer prefetch); a trampoline behind a
//! [`DrainGate`] maps the next one and subscribes its inner only once the previous inner is
//! finished. Inner items go straight downstream, and the subscription [`Arbiter`] carries the
//! downstream's outstanding demand from each inner to the next, so nothing delivered is asked for
//! twice and a long run of inners that complete at once does not grow the stack.
//!
//! The downstream subscriber is touched either by the active inner (its items, its error) or, while
//! no inner is active, by the trampoline (completion, the outer's error, a panic in `f`), never by
//! both: `active` is set before an inner is subscribed and cleared, with Release, only by that
//! inner's last signal (or its drop), after which it touches nothing.

use crate::demand::{DrainGate, Replenish};
use crate::error::Error;
use crate::ops::arbiter::Arbiter;
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::queue::spsc;
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc, StdWeak, UnsafeCell};

/// Outer items asked for up front and held at most (RxJava's `concatMap` default).
const OUTER_PREFETCH: usize = 2;

/// Subscribes to the inner stream of each item in turn, emitting all of one before the next.
/// Built by [`Flux::concat_map`](crate::Flux::concat_map).
pub struct ConcatMap<P, F> {
    upstream: P,
    f: StdArc<F>,
}

impl<P: Clone, F> Clone for ConcatMap<P, F> {
    fn clone(&self) -> Self {
        ConcatMap {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: std::fmt::Debug, F> std::fmt::Debug for ConcatMap<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcatMap")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<P, F> ConcatMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        ConcatMap {
            upstream,
            f: StdArc::new(f),
        }
    }
}

impl<P, F, Q> Publisher for ConcatMap<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: 'static,
{
    type Item = Q::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<Q::Item> + 'static,
    {
        let control = StdArc::new(Control {
            arbiter: Arbiter::new(),
            outer: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            trampoline: Mutex::new(None),
        });
        if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(control.clone())) {
            control.cancel();
            deliver_error(&mut subscriber, panic);
            return;
        }
        let (producer, consumer) = spsc::channel(OUTER_PREFETCH);
        let state = StdArc::new(State {
            control,
            f: self.f.clone(),
            gate: DrainGate::new(),
            active: AtomicBool::new(false),
            outer_done: AtomicBool::new(false),
            outer_error: Mutex::new(None),
            trampoline: UnsafeCell::new(Trampoline {
                queue: consumer,
                replenish: Replenish::new(OUTER_PREFETCH as u64),
                fatal: None,
                finished: false,
            }),
            downstream: UnsafeCell::new(Downstream {
                subscriber: Some(subscriber),
                produced: 0,
            }),
        });
        let wake: StdWeak<dyn Wake> = StdArc::downgrade(&state) as StdWeak<State<P::Item, F, S>>;
        *state.control.trampoline.lock() = Some(wake);
        self.upstream.subscribe(OuterSubscriber {
            state,
            producer,
            subscribed: false,
            done: false,
        });
    }
}

/// The downstream's subscription: demand goes to the arbiter, cancel to both upstreams. It holds no
/// strong reference to the downstream, so the downstream holding it makes no cycle.
struct Control {
    arbiter: Arbiter,
    /// The outer subscription; taken out on cancel and at the end. A lock: touched on subscribe,
    /// once per outer top-up and on cancel, never held across a call out.
    outer: Mutex<Option<SharedSubscription>>,
    /// Set by `cancel` (AcqRel swap); read under `outer`'s lock by the outer's `on_subscribe`, and
    /// with Acquire by the trampoline.
    cancelled: AtomicBool,
    /// Set by `request(0)` (Release) before the trampoline is woken (Acquire there): between two
    /// inners nobody else would answer it.
    invalid: AtomicBool,
    /// Wakes the trampoline on `request(0)` and `cancel`. Weak: the state owns the downstream.
    trampoline: Mutex<Option<StdWeak<dyn Wake>>>,
}

/// The trampoline, as the downstream's subscription sees it.
trait Wake: Send + Sync {
    fn wake(self: StdArc<Self>);
}

impl Control {
    fn cancel_outer(&self) {
        let outer = self.outer.lock().take();
        if let Some(outer) = outer {
            outer.cancel();
        }
    }

    fn request_outer(&self, n: u64) {
        let outer = self.outer.lock().clone();
        if let Some(outer) = outer {
            outer.request(n);
        }
    }
}

impl Control {
    fn wake_trampoline(&self) {
        let trampoline = self.trampoline.lock().as_ref().and_then(StdWeak::upgrade);
        if let Some(trampoline) = trampoline {
            trampoline.wake();
        }
    }
}

impl Subscription for Control {
    fn request(&self, n: u64) {
        if n == 0 {
            // The active inner answers with the rule 3.9 error; if there is none (or it has just
            // completed), the trampoline does.
            self.invalid.store(true, Ordering::Release);
            self.arbiter.request(0);
            self.wake_trampoline();
        } else {
            self.arbiter.request(n);
        }
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.arbiter.cancel();
            self.cancel_outer();
            // Releases the downstream now if no inner is active.
            self.wake_trampoline();
        }
    }
}

/// What the trampoline owner alone touches.
struct Trampoline<O> {
    /// Outer items not mapped yet.
    queue: spsc::Consumer<O>,
    replenish: Replenish,
    /// A panic in `f` (or in an inner's `subscribe`), delivered once no inner is active.
    fatal: Option<Error>,
    /// The stream ended (or was cancelled): only late outer items are dropped from now on.
    finished: bool,
}

/// The downstream and what the active inner delivered to it.
struct Downstream<S> {
    /// `None` once an inner's error was delivered, or the trampoline terminated or released it.
    subscriber: Option<S>,
    /// Credits used by the active inner, handed to the arbiter when it completes.
    produced: u64,
}

struct State<O, F, S> {
    control: StdArc<Control>,
    f: StdArc<F>,
    /// The trampoline gate: whoever enters it maps and subscribes the next inner.
    gate: DrainGate,
    /// An inner is subscribed and not finished. Set by the trampoline before subscribing; cleared
    /// with Release by that inner's `finish`, after its last touch of `downstream`; the
    /// trampoline's Acquire load pairs with it.
    active: AtomicBool,
    /// Set with Release by the outer's terminal signal after its last push (and after
    /// `outer_error`); the trampoline's Acquire load pairs with it.
    outer_done: AtomicBool,
    outer_error: Mutex<Option<Error>>,
    trampoline: UnsafeCell<Trampoline<O>>,
    downstream: UnsafeCell<Downstream<S>>,
}

// Soundness: `trampoline` is touched only by the owner of `gate` (AcqRel enter/leave order the
// owners). `downstream` is touched by the active inner while `active` is set, and by the gate
// owner only after an Acquire load of `active` read false, which pairs with the inner's Release
// store made after its last access. O, F and S are Send (F also Sync, shared by reference).
// SAFETY: every access follows the protocol just described.
unsafe impl<O: Send, F: Send + Sync, S: Send> Sync for State<O, F, S> {}
// (`Send` is automatic: every field is Send under these bounds.)

impl<O, F, Q, S> State<O, F, S>
where
    O: Send + 'static,
    F: Fn(O) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: 'static,
    S: Subscriber<Q::Item> + 'static,
{
    fn drain(self: &StdArc<Self>) {
        if !self.gate.enter() {
            return;
        }
        self.gate.run_owned(|| {
            self.trampoline.with_mut(|trampoline| {
                // SAFETY: we own the gate.
                self.pass(unsafe { &mut *trampoline })
            });
        });
    }

    fn pass(self: &StdArc<Self>, trampoline: &mut Trampoline<O>) {
        loop {
            if trampoline.finished {
                while trampoline.queue.pop().is_some() {}
                return;
            }
            if self.active.load(Ordering::Acquire) {
                return;
            }
            // No inner is active: the downstream is ours until we subscribe the next one.
            let ended = self.downstream.with_mut(|downstream| {
                // SAFETY: `active` read false (Acquire) and only we set it again.
                let downstream = unsafe { &mut *downstream };
                self.end_if_due(trampoline, downstream)
            });
            if ended {
                trampoline.finished = true;
                self.control.cancel_outer();
                continue;
            }
            let Some(item) = trampoline.queue.pop() else {
                return;
            };
            let top_up = trampoline.replenish.consumed(1);
            if top_up > 0 {
                self.control.request_outer(top_up);
            }
            let inner = match catch("concat_map", || (self.f)(item)) {
                Ok(inner) => inner,
                Err(panic) => {
                    trampoline.fatal = Some(panic);
                    continue;
                }
            };
            self.active.store(true, Ordering::Relaxed);
            let subscriber = Inner {
                state: self.clone(),
                drain: Self::drain,
                subscribed: false,
                finished: false,
            };
            if let Err(panic) = catch("subscribe", || inner.subscribe(subscriber)) {
                // The inner may live on; it stops touching the downstream once cancelled and
                // finished (or dropped), and the error is delivered then.
                trampoline.fatal = Some(panic);
                self.control.arbiter.cancel();
            }
        }
    }

    /// Delivers the terminal signal that is due while no inner is active; `true` if the stream
    /// ended (or the downstream is gone).
    fn end_if_due(&self, trampoline: &mut Trampoline<O>, downstream: &mut Downstream<S>) -> bool {
        let Some(subscriber) = downstream.subscriber.as_mut() else {
            return true; // an inner delivered its error
        };
        if self.control.cancelled.load(Ordering::Acquire) {
            downstream.subscriber = None; // rule 3.13
            return true;
        }
        if self.control.invalid.load(Ordering::Acquire) {
            self.control.arbiter.cancel();
            deliver_error(subscriber, Error::invalid_demand());
            downstream.subscriber = None;
            return true;
        }
        if let Some(error) = trampoline.fatal.take() {
            deliver_error(subscriber, error);
            downstream.subscriber = None;
            return true;
        }
        // Done first, emptiness second: the outer's last push happens-before its done flag.
        if !self.outer_done.load(Ordering::Acquire) || !trampoline.queue.is_empty() {
            return false;
        }
        let error = self.outer_error.lock().take();
        let mut subscriber = downstream.subscriber.take().expect("checked above");
        match error {
            Some(error) => deliver_error(&mut subscriber, error),
            None => {
                crate::protocol::deliver_complete(&mut subscriber);
            }
        }
        true
    }
}

impl<O, F, Q, S> Wake for State<O, F, S>
where
    O: Send + 'static,
    F: Fn(O) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: 'static,
    S: Subscriber<Q::Item> + 'static,
{
    fn wake(self: StdArc<Self>) {
        self.drain();
    }
}

/// Queues the outer stream's items for the trampoline.
struct OuterSubscriber<O, F, S> {
    state: StdArc<State<O, F, S>>,
    producer: spsc::Producer<O>,
    subscribed: bool,
    done: bool,
}

impl<O, F, Q, S> Subscriber<O> for OuterSubscriber<O, F, S>
where
    O: Send + 'static,
    F: Fn(O) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: 'static,
    S: Subscriber<Q::Item> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            subscription.cancel(); // rule 2.05
            return;
        }
        let control = &self.state.control;
        {
            let mut outer = control.outer.lock();
            if !control.cancelled.load(Ordering::Acquire) {
                *outer = Some(subscription.clone());
            }
        }
        if control.cancelled.load(Ordering::Acquire) {
            subscription.cancel();
        } else {
            subscription.request(OUTER_PREFETCH as u64);
        }
    }

    fn on_next(&mut self, item: O) {
        if self.done {
            return;
        }
        if self.producer.push(item).is_err() {
            // More than requested: never grow; the error follows the inners already queued.
            self.done = true;
            self.state.control.cancel_outer();
            *self.state.outer_error.lock() = Some(Error::overflow("concat_map"));
            self.state.outer_done.store(true, Ordering::Release);
        }
        self.state.drain();
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            *self.state.outer_error.lock() = Some(error);
            self.state.outer_done.store(true, Ordering::Release);
            self.state.drain();
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.state.outer_done.store(true, Ordering::Release);
            self.state.drain();
        }
    }
}

/// Subscribes to one inner stream and passes its items straight down.
struct Inner<O, F, S> {
    state: StdArc<State<O, F, S>>,
    /// The trampoline's drain, instantiated where the mapping's bounds are known, so `Drop` (which
    /// cannot name them) can run it.
    drain: fn(&StdArc<State<O, F, S>>),
    subscribed: bool,
    /// Set by the terminal signal (or drop): from then on this inner touches nothing.
    finished: bool,
}

impl<O, F, S> Inner<O, F, S> {
    /// Hands the downstream back to the trampoline. Called once, after the last touch of it.
    fn finish(&mut self) {
        if !std::mem::replace(&mut self.finished, true) {
            self.state.active.store(false, Ordering::Release);
            (self.drain)(&self.state);
        }
    }

    /// Runs `f` on the downstream, unless this inner has finished.
    #[inline]
    fn downstream<R>(&mut self, f: impl FnOnce(&mut Downstream<S>) -> R) -> Option<R> {
        if self.finished {
            return None;
        }
        Some(self.state.downstream.with_mut(|downstream| {
            // SAFETY: this inner is the active one (`active` stays set until `finish`), so the
            // trampoline does not touch the downstream, and our signals never overlap (rule 1.03).
            f(unsafe { &mut *downstream })
        }))
    }
}

impl<O, F, S> Drop for Inner<O, F, S> {
    fn drop(&mut self) {
        // Released without a terminal signal (cancelled, or a broken publisher): it signals no more.
        self.finish();
    }
}

impl<O, F, Q, S> Subscriber<Q::Item> for Inner<O, F, S>
where
    O: Send + 'static,
    F: Fn(O) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: 'static,
    S: Subscriber<Q::Item> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) || self.finished {
            subscription.cancel(); // rule 2.05
            return;
        }
        self.state.control.arbiter.switch_to(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: Q::Item) {
        self.try_on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: Q::Item) -> bool {
        self.downstream(|downstream| match downstream.subscriber.as_mut() {
            Some(subscriber) => {
                let used = subscriber.try_on_next(item);
                downstream.produced += used as u64;
                used
            }
            None => true,
        })
        .unwrap_or(true)
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = Q::Item>,
    {
        self.downstream(|downstream| match downstream.subscriber.as_mut() {
            Some(subscriber) => {
                let used = subscriber.on_next_iter(items);
                downstream.produced += used;
                used
            }
            None => 0,
        })
        .unwrap_or(0)
    }

    fn on_error(&mut self, error: Error) {
        let cancelled = self.state.control.cancelled.load(Ordering::Acquire);
        let delivered = self.downstream(|downstream| match downstream.subscriber.take() {
            // No signal after the downstream's cancel: the error goes to the hook.
            Some(_) | None if cancelled => crate::error::report_undeliverable(&error),
            Some(mut subscriber) => deliver_error(&mut subscriber, error),
            None => {}
        });
        if delivered.is_some() {
            self.state.control.cancel_outer();
            self.finish();
        }
    }

    fn on_complete(&mut self) {
        if let Some(produced) =
            self.downstream(|downstream| std::mem::take(&mut downstream.produced))
        {
            self.state.control.arbiter.produced(produced);
            self.finish();
        }
    }
}
