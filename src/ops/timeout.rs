//! The publisher and subscriber behind [`Flux::timeout`](crate::Flux::timeout).
//!
//! Items pass straight through on the upstream's thread; only the error comes from the timer. A
//! three-state flag serialises the two: the upstream side holds `BUSY` while it signals the
//! downstream, and whoever moves the flag from `IDLE` to `DONE` (the timer, the upstream's end, a
//! cancel) owns the last signal and releases the downstream. Nobody waits: a timer that finds
//! `BUSY` knows an item is passing and re-arms.

use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::Error;
use crate::ops::timed::{scheduler_or_default, SharedScheduler, Timed, TimerSlot};
use crate::protocol::Subscription;
use crate::protocol::{deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sched::{Instant, Scheduler, Worker};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, StdArc, UnsafeCell};

/// Fails the stream if no item comes within a limit. Built by
/// [`Flux::timeout`](crate::Flux::timeout).
#[derive(Clone)]
pub struct Timeout<P> {
    upstream: P,
    limit: Duration,
    scheduler: Option<SharedScheduler>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("upstream", &self.upstream)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<P> Timeout<P> {
    pub(crate) fn new(upstream: P, limit: Duration) -> Self {
        Timeout {
            upstream,
            limit,
            scheduler: None,
        }
    }
}

impl<P> Timed for Timeout<P> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

impl<P> Publisher for Timeout<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let worker = scheduler_or_default(&self.scheduler).worker();
        self.upstream.subscribe(TimeoutSubscriber {
            shared: StdArc::new(Shared {
                state: AtomicUsize::new(IDLE),
                cancel_requested: AtomicBool::new(false),
                last: AtomicU64::new(0),
                limit: self.limit,
                worker,
                timer: TimerSlot::new(),
                upstream: OnceLock::new(),
                downstream: UnsafeCell::new(Some(subscriber)),
                _item: PhantomData,
            }),
            subscribed: false,
        })
    }
}

/// Nobody signals the downstream.
const IDLE: usize = 0;
/// The upstream side is signalling the downstream.
const BUSY: usize = 1;
/// The stream is over; the downstream was (or is being) released by whoever set this.
const DONE: usize = 2;

struct Shared<T, S> {
    /// `IDLE`, `BUSY` or `DONE`. IDLE → BUSY → IDLE by the upstream side around each signal;
    /// IDLE → DONE once, by a CAS whose winner alone owns `downstream` from then on. SeqCst: the
    /// upstream side stores IDLE then reads `cancel_requested`, a cancel stores that flag then
    /// CASes the state; in the single SeqCst order one of them sees the other, so the downstream
    /// is always released.
    state: AtomicUsize,
    /// Set by `cancel` (SeqCst, see `state`).
    cancel_requested: AtomicBool,
    /// When the last item (or the subscription) came, in nanoseconds on the worker's clock.
    /// Relaxed: the timer only needs an eventually fresh value; a stale one just re-arms it.
    last: AtomicU64,
    limit: Duration,
    worker: Worker,
    timer: TimerSlot,
    /// Set once in `on_subscribe`, before the downstream gets a handle that reads it.
    upstream: OnceLock<SharedSubscription>,
    /// Touched by the upstream side while it holds `BUSY`, and by whoever moved the state to `DONE`.
    downstream: UnsafeCell<Option<S>>,
    _item: PhantomData<fn(T)>,
}

// SAFETY: `downstream` is accessed only by the holder of `BUSY` or by the one winner of the CAS to
// `DONE`; those states exclude each other and their SeqCst transitions order the accesses. S is
// Send, and T only appears in `fn(T)`.
unsafe impl<T, S: Send> Sync for Shared<T, S> {}
// (`Send` is automatic: every field is Send under these bounds.)

fn nanos(instant: Instant) -> u64 {
    u64::try_from(instant.since_epoch().as_nanos()).unwrap_or(u64::MAX)
}

/// Puts the state back to `IDLE` when the upstream side is done signalling, even by a panic, and
/// finishes a cancel that came meanwhile.
struct Idle<'a, T, S: Send>(&'a Shared<T, S>);

impl<T, S: Send> Drop for Idle<'_, T, S> {
    fn drop(&mut self) {
        self.0.state.store(IDLE, Ordering::SeqCst);
        if self.0.cancel_requested.load(Ordering::SeqCst) {
            self.0.release();
        }
    }
}

impl<T, S: Send> Shared<T, S> {
    /// Runs `f` on the downstream as the upstream side (`IDLE` → `BUSY` → `IDLE`); `None` if the
    /// stream is over. A panic in `f` unwinds to the upstream (as in `map`), leaving `IDLE`.
    fn with_downstream<R>(&self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        let _idle = Idle(self);
        self.downstream.with_mut(|slot| {
            // SAFETY: we hold BUSY, so nobody else touches `downstream`.
            unsafe { &mut *slot }.as_mut().map(f)
        })
    }

    /// Takes the last signal (`IDLE` → `DONE`) and with it the downstream, to signal and drop.
    /// `None` if an item is passing or the stream is over.
    fn take_downstream(&self) -> Option<S> {
        self.state
            .compare_exchange(IDLE, DONE, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        self.timer.stop();
        self.downstream.with_mut(|slot| {
            // SAFETY: we won the CAS to DONE, so we alone own `downstream` now.
            unsafe { &mut *slot }.take()
        })
    }

    /// Drops the downstream after a cancel (rule 3.13), unless an item is passing: that side
    /// releases it when it is done.
    fn release(&self) {
        drop(self.take_downstream());
    }

    fn upstream_cancel(&self) {
        if let Some(upstream) = self.upstream.get() {
            upstream.cancel();
        }
    }
}

impl<T: 'static, S: Subscriber<T> + 'static> Shared<T, S> {
    fn arm(self: &StdArc<Self>, deadline: Instant) {
        let Some(generation) = self.timer.arm() else {
            return;
        };
        // The pending task keeps the stage alive until it runs or `TimerSlot::stop` cancels it,
        // which every way out of the stage does.
        let me = self.clone();
        let handle = self
            .worker
            .schedule_at(deadline, move || me.on_timer(generation));
        self.timer.set(generation, handle);
    }

    /// One timer per subscription, not per item: it re-arms for `last + limit` until that passes
    /// with no item.
    fn on_timer(self: StdArc<Self>, generation: u64) {
        self.timer.fired(generation);
        let now = self.worker.now();
        let last = Instant::from_epoch(Duration::from_nanos(self.last.load(Ordering::Relaxed)));
        let due = last + self.limit;
        if now < due {
            return self.arm(due);
        }
        match self.take_downstream() {
            Some(mut downstream) => {
                self.upstream_cancel();
                let error = Error::timeout(format!(
                    "timeout: no item within {:?} (since {:?} on the scheduler's clock)",
                    self.limit,
                    last.since_epoch()
                ));
                deliver_error(&mut downstream, error);
            }
            // An item is passing right now: the deadline moves on from here.
            None if self.state.load(Ordering::SeqCst) == BUSY => self.arm(now + self.limit),
            None => {}
        }
    }
}

impl<T, S: Send> Subscription for Shared<T, S> {
    fn request(&self, n: u64) {
        // 1:1: the demand passes through (request(0) too: the upstream answers rule 3.9).
        if let Some(upstream) = self.upstream.get() {
            upstream.request(n);
        }
    }

    fn cancel(&self) {
        if !self.cancel_requested.swap(true, Ordering::SeqCst) {
            self.upstream_cancel();
            self.timer.stop();
        }
        self.release();
    }
}

struct TimeoutSubscriber<T, S> {
    shared: StdArc<Shared<T, S>>,
    subscribed: bool,
}

impl<T, S> Subscriber<T> for TimeoutSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            // Rule 2.05: already subscribed.
            subscription.cancel();
            return;
        }
        let shared = &self.shared;
        let _ = shared.upstream.set(subscription);
        let now = shared.worker.now();
        shared.last.store(nanos(now), Ordering::Relaxed);
        let handle: SharedSubscription = shared.clone();
        shared.with_downstream(|downstream| downstream.on_subscribe(handle));
        // The first item too must come within the limit (Reactor's `timeout(Duration)`).
        shared.arm(now + shared.limit);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        shared
            .last
            .store(nanos(shared.worker.now()), Ordering::Relaxed);
        // After the end (timed out, cancelled) an item still in flight is dropped here.
        shared.with_downstream(|downstream| downstream.on_next(item));
    }

    fn try_on_next(&mut self, item: T) -> bool {
        let shared = &self.shared;
        shared
            .last
            .store(nanos(shared.worker.now()), Ordering::Relaxed);
        shared
            .with_downstream(|downstream| downstream.try_on_next(item))
            .unwrap_or(true)
    }

    fn on_error(&mut self, error: Error) {
        match self.shared.take_downstream() {
            Some(mut downstream) => deliver_error(&mut downstream, error),
            // Timed out or cancelled already: nobody takes it.
            None => crate::error::report_undeliverable(&error),
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.shared.take_downstream() {
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}
