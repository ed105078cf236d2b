//! The machinery shared by [`Flux::reduce`](crate::Flux::reduce) and
//! [`Flux::count`](crate::Flux::count): fold the whole upstream, then hold the one result until the
//! downstream asks for it.
//!
//! The upstream side ([`AggregateSubscriber`]) folds items on the upstream's thread with no
//! synchronisation at all. Everything that touches the downstream goes through one [`GateCell`]:
//! the upstream's terminal signal, and the downstream's `request` / `cancel`, which may come from any
//! thread. Whoever finds the result ready *and* requested emits it, exactly once, never concurrently.

use crate::demand::{GateCell, UNBOUNDED};
use crate::error::{report_undeliverable, Error};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::protocol::{
    cancel_quietly, catch, deliver_error, panicked, SharedSubscription, Subscriber, Subscription,
};
use crate::stage::start;
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// How an aggregating stage folds items and what it emits at the end.
pub(crate) trait Aggregate<T>: Send + 'static {
    /// The single item emitted on completion.
    type Output: Send + 'static;
    /// Folds one item in.
    fn push(&mut self, item: T);
    /// Folds a run of items in; returns how many there were.
    #[inline]
    fn push_iter<I: Iterator<Item = T>>(&mut self, items: I) -> u64 {
        items.fold(0, |n, item| {
            self.push(item);
            n + 1
        })
    }
    /// The result after upstream completed; `None` completes the stream empty.
    fn finish(self) -> Option<Self::Output>;
}

/// The upstream-facing subscriber of an aggregating stage.
pub(crate) struct AggregateSubscriber<S, A, R> {
    /// The downstream until `on_subscribe` moves it into `held`.
    downstream: Option<S>,
    /// The fold so far; `None` after a terminal signal.
    state: Option<A>,
    /// Shared with the downstream's subscription handle; `None` after a terminal signal.
    held: Option<StdArc<Held<S, R>>>,
}

impl<S, A, R> AggregateSubscriber<S, A, R> {
    pub(crate) fn new(downstream: S, state: A) -> Self {
        AggregateSubscriber {
            downstream: Some(downstream),
            state: Some(state),
            held: None,
        }
    }
}

/// The result, the downstream and the flags that decide when the one may go to the other.
pub(crate) struct Held<S, R> {
    /// The downstream asked for at least one item (Release in `request`, Acquire in the drain).
    requested: AtomicBool,
    /// The downstream called `request(0)` (Release / Acquire like `requested`).
    invalid: AtomicBool,
    /// The downstream cancelled, or the stage failed it (swap AcqRel in `cancel`, Acquire in the drain).
    cancelled: AtomicBool,
    /// Set once (Release) by the upstream side right after it wrote `outcome`; the drain owner reads
    /// `outcome` only after seeing it (Acquire).
    ready: AtomicBool,
    /// The upstream's terminal: `Ok(Some(result))`, `Ok(None)` (empty) or its error. Written once by
    /// the upstream side before `ready`, taken once by the drain owner: a lock taken twice per
    /// stream, never contended on the item path.
    outcome: Mutex<Option<Result<Option<R>, Error>>>,
    /// `Some` until the stage terminates or is cancelled (then dropped, rule 3.13).
    downstream: GateCell<Option<S>>,
    upstream: SharedSubscription,
}

impl<S: Subscriber<R> + Send, R: Send> Subscription for Held<S, R> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.requested.store(true, Ordering::Release);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.upstream.cancel();
            self.drain();
        }
    }
}

impl<S: Subscriber<R>, R> Held<S, R> {
    fn drain(&self) {
        self.downstream.drain(|slot| self.pass(slot));
    }

    fn pass(&self, slot: &mut Option<S>) {
        if slot.is_none() {
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            *slot = None;
            return;
        }
        if self.invalid.load(Ordering::Acquire) {
            self.cancelled.store(true, Ordering::Release);
            self.upstream.cancel();
            let mut downstream = slot.take().expect("checked above");
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let outcome = {
            let mut outcome = self.outcome.lock();
            let waiting = matches!(*outcome, Some(Ok(Some(_))));
            if waiting && !self.requested.load(Ordering::Acquire) {
                None
            } else {
                outcome.take()
            }
        };
        let Some(outcome) = outcome else { return };
        let mut downstream = slot.take().expect("checked above");
        match outcome {
            Err(error) => deliver_error(&mut downstream, error),
            Ok(None) => crate::protocol::deliver_complete::<R, _>(&mut downstream),
            Ok(Some(result)) => match catch("on_next", || downstream.on_next(result)) {
                // A downstream that cancelled while handling the result gets no `on_complete`.
                Ok(()) if self.cancelled.load(Ordering::Acquire) => {}
                Ok(()) => crate::protocol::deliver_complete::<R, _>(&mut downstream),
                // Rule 2.13: the panicking subscriber counts as cancelled; it hears of the panic.
                Err(panic) => deliver_error(&mut downstream, panic),
            },
        }
    }
}

impl<S: Subscriber<R>, A, R> AggregateSubscriber<S, A, R> {
    /// The fold panicked: cancel upstream, and the panic is the stream's outcome.
    #[cold]
    #[inline(never)]
    fn panicked(&mut self, payload: Box<dyn std::any::Any + Send>) {
        let error = panicked("reduce", payload);
        if let Some(held) = &self.held {
            cancel_quietly(&held.upstream);
        }
        self.terminate(Err(error))
    }

    fn terminate(&mut self, outcome: Result<Option<R>, Error>) {
        self.state = None;
        let Some(held) = self.held.take() else {
            if let Err(error) = outcome {
                report_undeliverable(&error);
            }
            return;
        };
        *held.outcome.lock() = Some(outcome);
        held.ready.store(true, Ordering::Release);
        held.drain();
    }
}

impl<T, S, A, R> Subscriber<T> for AggregateSubscriber<S, A, R>
where
    S: Subscriber<R> + Send + 'static,
    A: Aggregate<T, Output = R>,
    R: Send + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(downstream) = self.downstream.take() else {
            // Rule 2.05: already subscribed.
            return subscription.cancel();
        };
        let held = StdArc::new(Held {
            requested: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            outcome: Mutex::new(None),
            downstream: GateCell::new(Some(downstream)),
            upstream: subscription.clone(),
        });
        self.held = Some(held.clone());
        let handle: SharedSubscription = held.clone();
        start(
            &held.downstream,
            handle,
            |slot| slot.as_mut(),
            |slot, panic| {
                held.cancelled.store(true, Ordering::Release);
                held.upstream.cancel();
                if let Some(mut downstream) = slot.take() {
                    deliver_error(&mut downstream, panic);
                }
            },
            |slot| held.pass(slot),
        );
        if !held.cancelled.load(Ordering::Acquire) {
            // The result depends on every item: ask for all of them (Reactor's reduce / count).
            subscription.request(UNBOUNDED);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(state) = &mut self.state {
            // The fold is user code (`reduce`'s `f`): a panic ends the stage here, whatever the
            // upstream is.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| state.push(item))) {
                self.panicked(panic)
            }
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let Some(state) = &mut self.state else {
            return 0;
        };
        match catch_unwind(AssertUnwindSafe(|| state.push_iter(items))) {
            Ok(n) => n,
            Err(panic) => {
                self.panicked(panic);
                0
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.terminate(Err(error))
    }

    fn on_complete(&mut self) {
        let result = self.state.take().and_then(Aggregate::<T>::finish);
        self.terminate(Ok(result))
    }
}
