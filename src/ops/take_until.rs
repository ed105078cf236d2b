//! The publisher and subscribers behind [`Flux::take_until`](crate::Flux::take_until), and
//! [`Until`], the gate it shares with [`skip_until`](super::skip_until): two upstreams (the main one
//! and the trigger) whose signals come from different threads, and one downstream.
//!
//! Items pass straight through on the main upstream's thread; only the trigger's end (and a
//! cancel) come from elsewhere. A three-state flag serialises the two, as `timeout` does: the main
//! side holds `BUSY` while it signals the downstream, and whoever moves the flag from `IDLE` to
//! `DONE` owns the last signal and releases the downstream. Nobody waits: an end that finds `BUSY`
//! leaves its signal pending, and the main side delivers it when it lets go.

use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::demand::UNBOUNDED;
use crate::error::{report_undeliverable, Error};
use crate::protocol::{deliver_terminal, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, StdArc, UnsafeCell};

/// Passes items until another publisher emits, then completes. Built by
/// [`Flux::take_until`](crate::Flux::take_until).
#[derive(Debug)]
pub struct TakeUntil<P, Q> {
    upstream: P,
    other: StdArc<Q>,
}

impl<P: Clone, Q> Clone for TakeUntil<P, Q> {
    fn clone(&self) -> Self {
        TakeUntil {
            upstream: self.upstream.clone(),
            other: self.other.clone(),
        }
    }
}

impl<P, Q> TakeUntil<P, Q> {
    pub(crate) fn new(upstream: P, other: Q) -> Self {
        TakeUntil {
            upstream,
            other: StdArc::new(other),
        }
    }
}

/// Nobody signals the downstream.
const IDLE: usize = 0;
/// The main upstream's side is signalling the downstream.
const BUSY: usize = 1;
/// The stream is over; the downstream was (or is being) released by whoever set this.
const DONE: usize = 2;

/// How the stream ends: with a terminal signal (`Some`) or silently, after a cancel (`None`).
type End = Option<Result<(), Error>>;

/// One downstream of `T` shared by a main upstream and a trigger.
pub(crate) struct Until<T, S> {
    /// `IDLE`, `BUSY` or `DONE`. IDLE → BUSY → IDLE by the main side around each signal;
    /// IDLE → DONE once, by a CAS whose winner alone owns `downstream` from then on. SeqCst: an
    /// ending side stores `ending` then CASes the state; the main side stores IDLE then reads
    /// `ending`; in the single SeqCst order one of them sees the other, so the end is delivered.
    state: AtomicUsize,
    /// Set (SeqCst) once `end` holds the signal to deliver.
    ending: AtomicBool,
    /// The first end recorded wins (cold path: locked once or twice per subscription).
    end: Mutex<Option<End>>,
    /// Set in their `on_subscribe`s; cancelled at the end.
    main: OnceLock<SharedSubscription>,
    other: OnceLock<SharedSubscription>,
    /// `skip_until`: the trigger has emitted, items pass from now on. Release by the trigger's
    /// thread, Acquire by the main side (a late view only skips one more item).
    open: AtomicBool,
    /// Touched by the main side while it holds `BUSY`, and by whoever moved the state to `DONE`.
    downstream: UnsafeCell<Option<S>>,
    _item: PhantomData<fn(T)>,
}

// SAFETY: `downstream` is accessed only by the holder of `BUSY` or by the one winner of the CAS to
// `DONE`; those states exclude each other and their SeqCst transitions order the accesses. S is
// Send, and T only appears in `fn(T)`.
unsafe impl<T, S: Send> Sync for Until<T, S> {}
// SAFETY: every field is Send when S is.
unsafe impl<T, S: Send> Send for Until<T, S> {}

/// Puts the state back to `IDLE` when the main side is done signalling, even by a panic, and
/// delivers an end that came meanwhile.
struct Idle<'a, T, S: Subscriber<T>>(&'a Until<T, S>);

impl<T, S: Subscriber<T>> Drop for Idle<'_, T, S> {
    fn drop(&mut self) {
        self.0.state.store(IDLE, Ordering::SeqCst);
        if self.0.ending.load(Ordering::SeqCst) {
            self.0.finish();
        }
    }
}

impl<T, S: Subscriber<T>> Until<T, S> {
    pub(crate) fn new(downstream: S) -> Self {
        Until {
            state: AtomicUsize::new(IDLE),
            ending: AtomicBool::new(false),
            end: Mutex::new(None),
            main: OnceLock::new(),
            other: OnceLock::new(),
            open: AtomicBool::new(false),
            downstream: UnsafeCell::new(Some(downstream)),
            _item: PhantomData,
        }
    }

    /// Whether the stream is over (or about to be).
    pub(crate) fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    pub(crate) fn main(&self) -> Option<&SharedSubscription> {
        self.main.get()
    }

    /// Keeps the trigger's subscription (to cancel it at the end); cancels it at once if the
    /// stream is over already.
    pub(crate) fn set_other(&self, subscription: SharedSubscription) {
        let _ = self.other.set(subscription.clone());
        if self.is_ending() {
            subscription.cancel();
        }
    }

    /// `skip_until`: the trigger emitted; let items through and stop listening to it.
    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::Release);
        if let Some(other) = self.other.get() {
            other.cancel();
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn cancel_both(&self) {
        if let Some(main) = self.main.get() {
            main.cancel();
        }
        if let Some(other) = self.other.get() {
            other.cancel();
        }
    }

    /// Runs `f` on the downstream as the main side (`IDLE` → `BUSY` → `IDLE`); `None` if the
    /// stream is over. A panic in `f` unwinds to the main upstream (as in `map`), leaving `IDLE`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        let _idle = Idle(self);
        self.downstream.with_mut(|slot| {
            // SAFETY: we hold BUSY, so nobody else touches `downstream`.
            unsafe { &mut *slot }.as_mut().map(f)
        })
    }

    /// Records how the stream ends (the first end recorded wins) and delivers it, now or when the
    /// main side lets go of the downstream.
    pub(crate) fn end(&self, end: End) {
        {
            let mut slot = self.end.lock();
            if slot.is_none() {
                *slot = Some(end);
            } else if let Some(Err(error)) = end {
                drop(slot);
                // Another end won: nobody takes this error.
                report_undeliverable(&error);
            }
        }
        self.ending.store(true, Ordering::SeqCst);
        self.finish();
    }

    /// Takes the last signal (`IDLE` → `DONE`), cancels both upstreams, delivers the end and
    /// releases the downstream. Does nothing if the main side is signalling or it is over.
    fn finish(&self) {
        if self
            .state
            .compare_exchange(IDLE, DONE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        self.cancel_both();
        let downstream = self.downstream.with_mut(|slot| {
            // SAFETY: we won the CAS to DONE, so we alone own `downstream` now.
            unsafe { &mut *slot }.take()
        });
        let end = self.end.lock().take().flatten();
        if let (Some(mut downstream), Some(end)) = (downstream, end) {
            deliver_terminal(&mut downstream, end);
        }
    }
}

impl<T, S> Until<T, S>
where
    T: 'static,
    S: Subscriber<T> + 'static,
{
    /// The main upstream's `on_subscribe`: hand the downstream its handle (as the main side),
    /// then subscribe the trigger, before the main upstream's first item.
    pub(crate) fn start<Q, O>(
        self: &StdArc<Self>,
        subscription: SharedSubscription,
        other: &Q,
        trigger: O,
    ) where
        Q: Publisher,
        O: Subscriber<Q::Item> + 'static,
    {
        let _ = self.main.set(subscription);
        let handle: SharedSubscription = StdArc::new(UntilSubscription {
            until: self.clone(),
        });
        self.with(|downstream| downstream.on_subscribe(handle));
        if !self.is_ending() {
            other.subscribe(trigger);
        }
    }
}

/// The downstream's handle: demand goes to the main upstream; cancel ends both.
struct UntilSubscription<T, S> {
    until: StdArc<Until<T, S>>,
}

impl<T, S: Subscriber<T>> Subscription for UntilSubscription<T, S> {
    fn request(&self, n: u64) {
        if let Some(main) = self.until.main() {
            main.request(n);
        }
    }

    fn cancel(&self) {
        self.until.end(None);
    }
}

impl<P, Q> Publisher for TakeUntil<P, Q>
where
    P: Publisher,
    P::Item: 'static,
    Q: Publisher + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(MainSubscriber {
            until: StdArc::new(Until::new(subscriber)),
            other: self.other.clone(),
            subscribed: false,
        })
    }
}

struct MainSubscriber<T, S, Q> {
    until: StdArc<Until<T, S>>,
    other: StdArc<Q>,
    subscribed: bool,
}

impl<T, S, Q> Subscriber<T> for MainSubscriber<T, S, Q>
where
    T: 'static,
    S: Subscriber<T> + 'static,
    Q: Publisher + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        let trigger = Trigger {
            until: self.until.clone(),
            skip: false,
        };
        self.until.start(subscription, &*self.other, trigger);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // After the end, an item still in flight is dropped here.
        self.until.with(|downstream| downstream.on_next(item));
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.until
            .with(|downstream| downstream.try_on_next(item))
            .unwrap_or(true)
    }

    fn on_error(&mut self, error: Error) {
        self.until.end(Some(Err(error)));
    }

    fn on_complete(&mut self) {
        self.until.end(Some(Ok(())));
    }
}

/// The trigger's subscriber: its first item ends `take_until` (and opens `skip_until`); its
/// error fails the stream; its empty completion changes nothing.
pub(crate) struct Trigger<T, S> {
    pub(crate) until: StdArc<Until<T, S>>,
    /// `skip_until`: the first item opens the gate instead of ending the stream.
    pub(crate) skip: bool,
}

impl<T, S, U> Subscriber<U> for Trigger<T, S>
where
    S: Subscriber<T>,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.until.set_other(subscription.clone());
        if !self.until.is_ending() {
            // Only its first item matters; unbounded as in Reactor, which never lets it pile up.
            subscription.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, _item: U) {
        if self.skip {
            self.until.open();
        } else {
            self.until.end(Some(Ok(())));
        }
    }

    fn on_error(&mut self, error: Error) {
        self.until.end(Some(Err(error)));
    }

    fn on_complete(&mut self) {}
}
