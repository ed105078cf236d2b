//! A hand-driven upstream ([`Manual`]) and a recording downstream ([`downstream`]) for models of
//! operators that sit between the two (issue 8: timeout, scan, concat, arbiter, timer,
//! subscribe_on).
//!
//! The upstream's `subscribe` parks its subscriber in a slot; a model thread takes it and signals
//! from its own stack, waiting (with `loom::thread::yield_now`) for the demand it needs. The
//! downstream records every signal in a loom `UnsafeCell`, so two signals that are not ordered by
//! happens-before (a broken rule 1.03) fail the model.

use std::sync::Weak;

use backflow::prelude::*;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// What the stage asked of one upstream.
#[derive(Default, Debug)]
pub struct Upstream {
    /// Total demand requested (each request capped at 2^32, so `u64::MAX` does not overflow).
    pub requested: AtomicU64,
    /// Number of `request` calls, `request(0)` included.
    pub request_calls: AtomicU64,
    /// `request(u64::MAX)` calls.
    pub unbounded_calls: AtomicU64,
    /// Whether `cancel` was called.
    pub cancelled: AtomicBool,
}

impl Upstream {
    /// Total demand requested so far.
    pub fn requested(&self) -> u64 {
        self.requested.load(Ordering::SeqCst)
    }

    /// Whether the stage cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Spins (yielding to loom) until at least `total` was requested, or the stage cancelled.
    /// Returns whether the demand came.
    pub fn await_demand(&self, total: u64) -> bool {
        loop {
            if self.requested() >= total {
                return true;
            }
            if self.is_cancelled() {
                return false;
            }
            thread::yield_now();
        }
    }
}

struct UpstreamSubscription(Arc<Upstream>);

impl Subscription for UpstreamSubscription {
    fn request(&self, n: u64) {
        let up = &self.0;
        up.request_calls.fetch_add(1, Ordering::SeqCst);
        if n == u64::MAX {
            up.unbounded_calls.fetch_add(1, Ordering::SeqCst);
        }
        up.requested.fetch_add(n.min(1 << 32), Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

type Slot = Arc<Mutex<Option<Box<dyn Subscriber<usize>>>>>;

/// An upstream that hands its subscriber to the model. Clones share the slot.
#[derive(Clone)]
pub struct Manual {
    slot: Slot,
    /// What the stage asked of it.
    pub upstream: Arc<Upstream>,
}

impl Default for Manual {
    fn default() -> Self {
        Self::new()
    }
}

impl Manual {
    /// A fresh upstream, not subscribed yet.
    pub fn new() -> Self {
        Manual {
            slot: Arc::new(Mutex::new(None)),
            upstream: Arc::new(Upstream::default()),
        }
    }

    /// Whether someone subscribed (and the subscriber was not taken yet).
    pub fn is_subscribed(&self) -> bool {
        self.slot.lock().unwrap().is_some()
    }

    /// Waits until subscribed, then takes the subscriber.
    pub fn take(&self) -> Box<dyn Subscriber<usize>> {
        loop {
            if let Some(subscriber) = self.slot.lock().unwrap().take() {
                return subscriber;
            }
            thread::yield_now();
        }
    }

    /// A thread that takes the subscriber and, for each item, waits for its credit (stopping at a
    /// cancel) and sends it; then completes if `complete`. Items are sent against demand only.
    pub fn spawn(&self, items: Vec<usize>, complete: bool) -> thread::JoinHandle<()> {
        let me = self.clone();
        thread::spawn(move || me.run(items, complete))
    }

    /// What [`spawn`](Self::spawn) runs, on the calling thread.
    pub fn run(&self, items: Vec<usize>, complete: bool) {
        let mut subscriber = self.take();
        for (sent, item) in items.into_iter().enumerate() {
            if !self.upstream.await_demand(sent as u64 + 1) {
                return;
            }
            subscriber.on_next(item);
        }
        if complete {
            subscriber.on_complete();
        }
    }
}

impl Publisher for Manual {
    type Item = usize;
    fn subscribe<S: Subscriber<usize> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(std::sync::Arc::new(UpstreamSubscription(
            self.upstream.clone(),
        )));
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

/// Everything the downstream saw, in order.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Items, in arrival order.
    pub items: Vec<usize>,
    /// `on_complete` calls.
    pub completed: usize,
    /// Kinds of the `on_error` calls.
    pub errors: Vec<ErrorKind>,
}

impl Record {
    /// Terminal signals seen (completions plus errors).
    pub fn terminals(&self) -> usize {
        self.completed + self.errors.len()
    }
}

struct Seen(UnsafeCell<Record>);

// SAFETY (test): the stage under test serialises its downstream's signals (rule 1.03); loom fails
// the model on any access to the cell that is not ordered by happens-before.
unsafe impl Sync for Seen {}
// SAFETY (test): Record is Send.
unsafe impl Send for Seen {}

impl Seen {
    fn record(&self, f: impl FnOnce(&mut Record)) {
        // SAFETY (test): see the Sync impl.
        self.0.with_mut(|r| f(unsafe { &mut *r }))
    }
}

/// The recording subscriber handed to the stage under test.
pub struct Downstream {
    seen: Arc<Seen>,
    up_front: u64,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: std::sync::Arc<()>,
}

impl Subscriber<usize> for Downstream {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(s.clone());
        if self.up_front > 0 {
            s.request(self.up_front);
        }
    }
    fn on_next(&mut self, item: usize) {
        self.seen.record(|r| r.items.push(item));
    }
    fn on_error(&mut self, error: Error) {
        self.seen.record(|r| r.errors.push(error.kind()));
    }
    fn on_complete(&mut self) {
        self.seen.record(|r| r.completed += 1);
    }
}

/// The test's side of a [`Downstream`].
pub struct Probe {
    seen: Arc<Seen>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

/// A recording downstream that requests `up_front` in `on_subscribe` (0: nothing).
pub fn downstream(up_front: u64) -> (Downstream, Probe) {
    let seen = Arc::new(Seen(UnsafeCell::new(Record::default())));
    let subscription = Arc::new(Mutex::new(None));
    let alive = std::sync::Arc::new(());
    let probe = Probe {
        seen: seen.clone(),
        subscription: subscription.clone(),
        alive: std::sync::Arc::downgrade(&alive),
    };
    let downstream = Downstream {
        seen,
        up_front,
        subscription,
        _alive: alive,
    };
    (downstream, probe)
}

impl Probe {
    /// The downstream's subscription.
    pub fn handle(&self) -> SharedSubscription {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed")
    }

    /// What the downstream saw. Call after joining every thread that signals.
    pub fn record(&self) -> Record {
        self.seen.0.with(|r| {
            // SAFETY (test): the signalling threads have been joined.
            unsafe { (*r).clone() }
        })
    }

    /// Drops the test's handle, then reports whether the stage released the downstream (3.13).
    pub fn released(&self) -> bool {
        self.subscription.lock().unwrap().take();
        self.alive.upgrade().is_none()
    }
}
