//! The machinery shared by [`Flux::reduce`](crate::Flux::reduce) and
//! [`Flux::count`](crate::Flux::count): fold the whole upstream, then hold the one result until the
//! downstream asks for it.
//!
//! The upstream side ([`AggregateSubscriber`]) folds items on the upstream's thread with no
//! synchronisation at all. Everything that touches the downstream goes through one [`DrainGate`]:
//! the upstream's terminal signal, and the downstream's `request` / `cancel`, which may come from any
//! thread. Whoever finds the result ready *and* requested emits it, exactly once, never concurrently.

use crate::demand::{DrainGate, UNBOUNDED};
use crate::error::{report_undeliverable, Error};
use crate::protocol::{catch, deliver_error, SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, Ordering, StdArc, UnsafeCell};

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
    /// Whether the result is known already (`any` saw a match): the stage then cancels the
    /// upstream and finishes without waiting for the rest.
    #[inline]
    fn decided(&self) -> bool {
        false
    }
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
    gate: DrainGate,
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
    /// the upstream side before `ready`; afterwards touched only by the drain owner.
    outcome: UnsafeCell<Option<Result<Option<R>, Error>>>,
    /// `Some` until the stage terminates or is cancelled (then dropped, rule 3.13). Only the owner of
    /// `gate` touches it.
    downstream: UnsafeCell<Option<S>>,
    upstream: SharedSubscription,
}

// Soundness: the non-Sync fields are `downstream`, touched only by the thread that owns `gate` (the
// gate's AcqRel RMWs order successive owners), and `outcome`, written once by the upstream side
// before the Release store of `ready` and touched afterwards only by a gate owner that has seen
// `ready` with Acquire. S and R are Send, so handing them between threads that way is sound.
// SAFETY: every access follows the protocol just described.
unsafe impl<S: Send, R: Send> Sync for Held<S, R> {}
// SAFETY: every field is Send when S and R are.
unsafe impl<S: Send, R: Send> Send for Held<S, R> {}

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
        if self.gate.enter() {
            self.drain_owned();
        }
    }

    /// Runs passes until the gate is released. The caller owns the gate.
    fn drain_owned(&self) {
        self.gate.run_owned(|| {
            self.downstream.with_mut(|slot| {
                // SAFETY: the caller owns the gate, so no other thread touches `downstream`.
                self.pass(unsafe { &mut *slot })
            });
        });
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
        let outcome = self.outcome.with_mut(|outcome| {
            // SAFETY: `ready` was seen with Acquire, so the upstream side is done with `outcome`,
            // and we own the gate.
            let outcome = unsafe { &mut *outcome };
            let waiting = matches!(outcome, Some(Ok(Some(_))));
            if waiting && !self.requested.load(Ordering::Acquire) {
                None
            } else {
                outcome.take()
            }
        });
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
    fn terminate(&mut self, outcome: Result<Option<R>, Error>) {
        self.state = None;
        let Some(held) = self.held.take() else {
            if let Err(error) = outcome {
                report_undeliverable(&error);
            }
            return;
        };
        held.outcome.with_mut(|slot| {
            // SAFETY: `ready` is not set yet, so no drain owner reads `outcome`; `held` was taken
            // above, so this is the only write.
            unsafe { *slot = Some(outcome) }
        });
        held.ready.store(true, Ordering::Release);
        held.drain();
    }
}

impl<S: Subscriber<R>, A, R> AggregateSubscriber<S, A, R> {
    /// The result is known before the upstream ended: cancel it and finish now.
    #[cold]
    fn decide<T>(&mut self)
    where
        A: Aggregate<T, Output = R>,
    {
        if let Some(held) = &self.held {
            held.upstream.cancel();
        }
        let result = self.state.take().and_then(Aggregate::<T>::finish);
        self.terminate(Ok(result))
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
            gate: DrainGate::new(),
            requested: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            outcome: UnsafeCell::new(None),
            downstream: UnsafeCell::new(Some(downstream)),
            upstream: subscription.clone(),
        });
        self.held = Some(held.clone());
        // Own the gate while the downstream's on_subscribe runs, so what it requests or cancels
        // there is only recorded, and served after it returns (rule 1.03).
        let owned = held.gate.enter();
        debug_assert!(owned);
        let handle: SharedSubscription = held.clone();
        held.downstream.with_mut(|slot| {
            // SAFETY: we own the gate (entered above, not yet left).
            let slot = unsafe { &mut *slot };
            let downstream = slot.as_mut().expect("fresh stage");
            if let Err(panic) = catch("on_subscribe", || downstream.on_subscribe(handle)) {
                held.cancelled.store(true, Ordering::Release);
                held.upstream.cancel();
                let mut downstream = slot.take().expect("fresh stage");
                deliver_error(&mut downstream, panic);
            }
        });
        held.drain_owned();
        if !held.cancelled.load(Ordering::Acquire) {
            // The result depends on every item: ask for all of them (Reactor's reduce / count).
            subscription.request(UNBOUNDED);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(state) = &mut self.state {
            state.push(item);
            if state.decided() {
                self.decide();
            }
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let used = match &mut self.state {
            Some(state) => state.push_iter(items),
            None => return 0,
        };
        if self.state.as_ref().is_some_and(A::decided) {
            self.decide();
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        self.terminate(Err(error))
    }

    fn on_complete(&mut self) {
        let result = self.state.take().and_then(Aggregate::<T>::finish);
        self.terminate(Ok(result))
    }
}
