//! Test doubles for the holding stages (`buffer`, `drop_oldest`, `drop_newest`, `buffer_with`):
//! a hot publisher the test drives by hand, a recording subscriber, and an item that counts its
//! own drops.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use backflow::prelude::*;

/// A subscriber that can also take a run of items through its `on_next_iter` (the fused path),
/// behind a `dyn`.
pub trait Driven<T>: Subscriber<T> {
    fn on_next_run(&mut self, items: &mut dyn Iterator<Item = T>) -> u64;
}

impl<T, S: Subscriber<T>> Driven<T> for S {
    fn on_next_run(&mut self, items: &mut dyn Iterator<Item = T>) -> u64 {
        self.on_next_iter(items)
    }
}

type Slot<T> = Arc<Mutex<Option<Box<dyn Driven<T>>>>>;

/// A publisher that hands its subscriber to the test, which then plays the upstream by hand.
pub struct Hot<T> {
    slot: Slot<T>,
}

impl<T: 'static> Publisher for Hot<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

/// What the stage did to its upstream.
#[derive(Default)]
pub struct UpstreamLog {
    pub requests: Mutex<Vec<u64>>,
    /// Total requested, saturating.
    pub requested: AtomicU64,
    pub cancelled: AtomicBool,
}

struct LogSubscription(Arc<UpstreamLog>);

impl Subscription for LogSubscription {
    fn request(&self, n: u64) {
        self.0.requests.lock().unwrap().push(n);
        let _ = self
            .0
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                Some(r.saturating_add(n))
            });
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The upstream, played by the test: it calls the stage's signals directly.
pub struct Upstream<T> {
    subscriber: Box<dyn Driven<T>>,
    pub log: Arc<UpstreamLog>,
    pub sent: u64,
}

impl<T> Upstream<T> {
    /// Sends an item whether or not it was requested.
    pub fn push(&mut self, item: T) {
        self.sent += 1;
        self.subscriber.on_next(item);
    }

    /// Sends a run through the stage's `on_next_iter`; returns how many it consumed.
    pub fn push_run(&mut self, items: impl IntoIterator<Item = T>) -> u64 {
        // Through the box to the stage's own `on_next_iter` (the box's would go item by item).
        let used = (*self.subscriber).on_next_run(&mut items.into_iter());
        self.sent += used;
        used
    }

    /// Sends an item only if the stage has demand for it; hands it back otherwise.
    pub fn push_if_requested(&mut self, item: T) -> Result<(), T> {
        if self.outstanding() == 0 {
            return Err(item);
        }
        self.push(item);
        Ok(())
    }

    /// Demand not yet served.
    pub fn outstanding(&self) -> u64 {
        let requested = self.log.requested.load(Ordering::SeqCst);
        if requested == u64::MAX {
            u64::MAX
        } else {
            requested - self.sent
        }
    }

    pub fn requests(&self) -> Vec<u64> {
        self.log.requests.lock().unwrap().clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.log.cancelled.load(Ordering::SeqCst)
    }

    pub fn complete(&mut self) {
        self.subscriber.on_complete()
    }

    pub fn error(&mut self, error: Error) {
        self.subscriber.on_error(error)
    }

    /// Subscribes the stage a second time (rule 2.05): returns whether it cancelled that one.
    pub fn subscribe_again(&mut self) -> bool {
        let log = Arc::new(UpstreamLog::default());
        self.subscriber
            .on_subscribe(Arc::new(LogSubscription(log.clone())));
        log.cancelled.load(Ordering::SeqCst)
    }
}

/// A hot publisher and the means to play it once something subscribed.
pub fn hot<T: 'static>() -> (Flux<Hot<T>>, Connector<T>) {
    let slot: Slot<T> = Arc::new(Mutex::new(None));
    (Flux::new(Hot { slot: slot.clone() }), Connector { slot })
}

pub struct Connector<T> {
    slot: Slot<T>,
}

impl<T> Connector<T> {
    /// Takes the subscribed stage and gives it its subscription (`on_subscribe`).
    pub fn connect(self) -> Upstream<T> {
        let mut subscriber = self.slot.lock().unwrap().take().expect("subscribed");
        let log = Arc::new(UpstreamLog::default());
        subscriber.on_subscribe(Arc::new(LogSubscription(log.clone())));
        Upstream {
            subscriber,
            log,
            sent: 0,
        }
    }
}

/// What a [`Recorder`] saw.
pub struct Seen<T> {
    pub values: Mutex<Vec<T>>,
    pub completes: AtomicUsize,
    pub errors: Mutex<Vec<Error>>,
    pub subscription: Mutex<Option<SharedSubscription>>,
    /// Signals that arrived while another signal was being handled (must stay 0: rule 1.03/3.3).
    pub overlapping: AtomicUsize,
    pub after_terminal: AtomicUsize,
    in_signal: AtomicBool,
    alive: Mutex<Option<Weak<()>>>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen {
            values: Mutex::new(Vec::new()),
            completes: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
            subscription: Mutex::new(None),
            overlapping: AtomicUsize::new(0),
            after_terminal: AtomicUsize::new(0),
            in_signal: AtomicBool::new(false),
            alive: Mutex::new(None),
        }
    }
}

/// The test's side of a [`Recorder`].
pub struct Probe<T> {
    pub seen: Arc<Seen<T>>,
}

impl<T: Clone> Probe<T> {
    pub fn values(&self) -> Vec<T> {
        self.seen.values.lock().unwrap().clone()
    }
}

impl<T> Probe<T> {
    fn subscription(&self) -> SharedSubscription {
        self.seen
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("on_subscribe")
    }

    pub fn request(&self, n: u64) {
        let s = self.subscription();
        s.request(n)
    }

    pub fn cancel(&self) {
        let s = self.subscription();
        s.cancel()
    }

    /// Forgets the subscription handle (so the stage can be released).
    pub fn forget_subscription(&self) {
        self.seen.subscription.lock().unwrap().take();
    }

    pub fn count(&self) -> usize {
        self.seen.values.lock().unwrap().len()
    }

    pub fn completed(&self) -> bool {
        self.seen.completes.load(Ordering::SeqCst) > 0
    }

    pub fn error(&self) -> Option<Error> {
        self.seen.errors.lock().unwrap().first().cloned()
    }

    pub fn terminals(&self) -> usize {
        self.seen.completes.load(Ordering::SeqCst) + self.seen.errors.lock().unwrap().len()
    }

    /// Whether the stage dropped the recorder (rule 3.13).
    pub fn released(&self) -> bool {
        self.seen
            .alive
            .lock()
            .unwrap()
            .as_ref()
            .expect("subscribed")
            .upgrade()
            .is_none()
    }

    pub fn assert_clean(&self) {
        assert_eq!(
            self.seen.overlapping.load(Ordering::SeqCst),
            0,
            "signals overlapped"
        );
        assert_eq!(
            self.seen.after_terminal.load(Ordering::SeqCst),
            0,
            "signals after a terminal"
        );
        assert!(self.terminals() <= 1, "more than one terminal");
    }
}

/// A subscriber that records everything; how it requests is configurable.
pub struct Recorder<T> {
    seen: Arc<Seen<T>>,
    subscription: Option<SharedSubscription>,
    initial: u64,
    /// Requested from inside each `on_next` (re-entrant, rule 3.3).
    each: u64,
    panic_at: Option<usize>,
    cancel_at: Option<usize>,
    received: usize,
    terminated: bool,
    _alive: Arc<()>,
}

impl<T> Recorder<T> {
    /// Requests `initial` in `on_subscribe` and nothing more by itself.
    pub fn new(initial: u64) -> (Self, Probe<T>) {
        let seen = Arc::new(Seen::default());
        let alive = Arc::new(());
        *seen.alive.lock().unwrap() = Some(Arc::downgrade(&alive));
        (
            Recorder {
                seen: seen.clone(),
                subscription: None,
                initial,
                each: 0,
                panic_at: None,
                cancel_at: None,
                received: 0,
                terminated: false,
                _alive: alive,
            },
            Probe { seen },
        )
    }

    /// Also requests `n` from inside each `on_next`.
    pub fn request_each(mut self, n: u64) -> Self {
        self.each = n;
        self
    }

    /// Panics on the `k`-th item (1-based).
    pub fn panic_at(mut self, k: usize) -> Self {
        self.panic_at = Some(k);
        self
    }

    /// Cancels from inside the `k`-th item (1-based).
    pub fn cancel_at(mut self, k: usize) -> Self {
        self.cancel_at = Some(k);
        self
    }

    fn enter(&self) -> Entered<T> {
        if self.seen.in_signal.swap(true, Ordering::SeqCst) {
            self.seen.overlapping.fetch_add(1, Ordering::SeqCst);
        }
        if self.terminated {
            self.seen.after_terminal.fetch_add(1, Ordering::SeqCst);
        }
        Entered(self.seen.clone())
    }
}

struct Entered<T>(Arc<Seen<T>>);

impl<T> Drop for Entered<T> {
    fn drop(&mut self) {
        self.0.in_signal.store(false, Ordering::SeqCst);
    }
}

impl<T: Send> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.seen.subscription.lock().unwrap() = Some(s.clone());
        self.subscription = Some(s.clone());
        if self.initial > 0 {
            s.request(self.initial);
        }
    }

    fn on_next(&mut self, item: T) {
        let guard = self.enter();
        self.received += 1;
        self.seen.values.lock().unwrap().push(item);
        if self.panic_at == Some(self.received) {
            drop(guard);
            panic!("recorder panics on item {}", self.received);
        }
        let subscription = self.subscription.clone().expect("subscribed");
        if self.cancel_at == Some(self.received) {
            subscription.cancel();
        }
        // Leave the signal before re-entering: a nested on_next would show as overlapping.
        drop(guard);
        if self.each > 0 {
            subscription.request(self.each);
        }
    }

    fn on_error(&mut self, error: Error) {
        let _guard = self.enter();
        self.terminated = true;
        self.seen.errors.lock().unwrap().push(error);
    }

    fn on_complete(&mut self) {
        let _guard = self.enter();
        self.terminated = true;
        self.seen.completes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Per-item drop counts: items made by [`DropCounts::item`] count their own `Drop`.
#[derive(Clone)]
pub struct DropCounts(Arc<Vec<AtomicU32>>);

impl DropCounts {
    pub fn new(items: usize) -> Self {
        DropCounts(Arc::new((0..items).map(|_| AtomicU32::new(0)).collect()))
    }

    pub fn item(&self, id: usize) -> Counted {
        Counted {
            id,
            drops: self.clone(),
        }
    }

    pub fn get(&self, id: usize) -> u32 {
        self.0[id].load(Ordering::SeqCst)
    }
}

/// An item that counts its drops.
#[derive(Debug)]
pub struct Counted {
    pub id: usize,
    drops: DropCounts,
}

impl std::fmt::Debug for DropCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropCounts")
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.0[self.id].fetch_add(1, Ordering::SeqCst);
    }
}
