//! The publisher and subscribers behind [`Flux::take_last`](crate::Flux::take_last) (and
//! [`Flux::last`](crate::Flux::last)): keep the last `n` items, deliver them after completion as
//! the downstream asks.

use std::collections::VecDeque;

use crate::demand::{Demand, UNBOUNDED};
use crate::error::{report_undeliverable, Error};
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::Serial;
use crate::protocol::Subscription;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// Emits the last `n` items once the upstream completes. Built by
/// [`Flux::take_last`](crate::Flux::take_last).
pub struct TakeLast<P: Publisher> {
    upstream: P,
    n: usize,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for TakeLast<P> {
    fn clone(&self) -> Self {
        TakeLast {
            upstream: self.upstream.clone(),
            n: self.n,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for TakeLast<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TakeLast")
            .field("upstream", &self.upstream)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> TakeLast<P> {
    pub(crate) fn new(upstream: P, n: usize) -> Self {
        TakeLast {
            upstream,
            n,
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher> Configurable for TakeLast<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for TakeLast<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(TakeLastSubscriber {
            downstream: Some(subscriber),
            n: self.n,
            window: VecDeque::new(),
            options: Some(self.options.clone()),
            shared: None,
        })
    }
}

/// What the downstream's subscription and the drain share once subscribed.
struct Shared<T, S> {
    serial: Serial<S>,
    upstream: SharedSubscription,
    options: StageOptions<T>,
    demand: Demand,
    /// The last items, handed over at the upstream's end; drained by the gate owner.
    held: Mutex<VecDeque<T>>,
    /// Set (Release) once the upstream ended and `held` / `end` are final; read with Acquire.
    done: AtomicBool,
    end: Mutex<Option<Result<(), Error>>>,
    /// Set by `cancel` (Release); the drain owner (Acquire) drops what is held.
    cancelled: AtomicBool,
    /// Set by `request(0)`.
    invalid: AtomicBool,
}

struct TakeLastSubscriber<T, S> {
    /// Until `on_subscribe` moves it behind the drain gate.
    downstream: Option<S>,
    n: usize,
    /// The upstream side's window of the last `n` items (touched only by upstream signals).
    window: VecDeque<T>,
    options: Option<StageOptions<T>>,
    shared: Option<StdArc<Shared<T, S>>>,
}

impl<T: Send, S: Subscriber<T>> Shared<T, S> {
    fn drain(&self) {
        self.serial.drain(|slot| self.pass(slot));
    }

    fn discard_held(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        for item in held {
            self.options.discard(item, DropReason::Cancelled);
        }
    }

    fn pass(&self, slot: &mut Option<S>) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.cancelled.load(Ordering::Acquire) {
            *slot = None;
            return self.discard_held();
        }
        if self.invalid.load(Ordering::Acquire) {
            self.cancelled.store(true, Ordering::Release);
            self.upstream.cancel();
            self.discard_held();
            let mut downstream = slot.take().expect("checked above");
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        if !self.done.load(Ordering::Acquire) {
            return;
        }
        if let Some(Err(error)) = self.end.lock().take() {
            // Reactor's takeLast: an error discards the window.
            self.discard_held();
            let mut downstream = slot.take().expect("checked above");
            return deliver_error(&mut downstream, error);
        }
        let stopped =
            || self.cancelled.load(Ordering::Acquire) || self.invalid.load(Ordering::Acquire);
        while self.demand.get() > 0 && !stopped() {
            let Some(item) = self.held.lock().pop_front() else {
                break;
            };
            if let Err(panic) = catch("take_last's downstream", || downstream.on_next(item)) {
                self.cancelled.store(true, Ordering::Release);
                self.discard_held();
                let mut downstream = slot.take().expect("checked above");
                return deliver_error(&mut downstream, panic);
            }
            self.demand.produced(1);
        }
        if stopped() {
            // Cancelled or `request(0)` from inside on_next: the next pass (the gate brings the
            // owner back) handles it.
            return;
        }
        if self.held.lock().is_empty() {
            let mut downstream = slot.take().expect("checked above");
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}

impl<T: Send, S: Subscriber<T>> Subscription for Shared<T, S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.upstream.cancel();
        }
        self.drain();
    }
}

impl<T, S> TakeLastSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn end(&mut self, end: Result<(), Error>) {
        let Some(shared) = self.shared.take() else {
            if let Err(error) = end {
                report_undeliverable(&error);
            }
            return;
        };
        *shared.held.lock() = std::mem::take(&mut self.window);
        *shared.end.lock() = Some(end);
        shared.done.store(true, Ordering::Release);
        shared.drain();
    }
}

impl<T, S> Subscriber<T> for TakeLastSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let (Some(downstream), Some(options)) = (self.downstream.take(), self.options.take())
        else {
            return subscription.cancel();
        };
        let shared = StdArc::new(Shared {
            serial: Serial::new(downstream),
            upstream: subscription.clone(),
            options,
            demand: Demand::new(),
            held: Mutex::new(VecDeque::new()),
            done: AtomicBool::new(false),
            end: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        self.shared = Some(shared.clone());
        let handle: SharedSubscription = shared.clone();
        let started = shared.serial.start(
            handle,
            || {
                shared.cancelled.store(true, Ordering::Release);
                subscription.cancel();
            },
            |slot| shared.pass(slot),
        );
        if started && !shared.cancelled.load(Ordering::Acquire) {
            // Which items are last is known only at the end: ask for everything.
            subscription.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.shared.is_none() {
            return;
        }
        if self.n == 0 {
            return;
        }
        if self.window.capacity() == 0 {
            self.window.reserve_exact(self.n.min(1024));
        }
        if self.window.len() == self.n {
            // Not among the last n after all: it was never going to be delivered.
            self.window.pop_front();
        }
        self.window.push_back(item);
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error))
    }

    fn on_complete(&mut self) {
        self.end(Ok(()))
    }
}
