//! Test doubles for the timed operators: a hot publisher the test drives by hand, and a probe
//! subscriber that records every signal with its virtual time.

#![allow(dead_code, unused_imports)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use backflow::metrics::DropReason;
use backflow::prelude::*;
use backflow::sched::{Scheduler, VirtualTime};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The virtual time now, in whole milliseconds.
pub fn now_ms(clock: &VirtualTime) -> u64 {
    clock.now().since_epoch().as_millis() as u64
}

/// Advances `clock` to `t` milliseconds (absolute).
pub fn at(clock: &VirtualTime, t: u64) {
    clock.advance_to(backflow::sched::Instant::EPOCH + ms(t));
}

// ---- the hot publisher ----

/// A publisher that emits what the test tells it, when it tells it: one subscriber, signals on the
/// test's thread. Records every request and the cancel. It does not check demand (so tests can
/// break the protocol on purpose); tests check the recorded requests instead.
pub struct Hot<T> {
    inner: Arc<HotInner<T>>,
}

impl<T> Clone for Hot<T> {
    fn clone(&self) -> Self {
        Hot {
            inner: self.inner.clone(),
        }
    }
}

struct HotInner<T> {
    subscriber: Mutex<Option<Box<dyn Subscriber<T>>>>,
    requests: Mutex<Vec<u64>>,
    cancelled: AtomicBool,
}

struct HotSubscription<T> {
    inner: Weak<HotInner<T>>,
}

impl<T> Subscription for HotSubscription<T> {
    fn request(&self, n: u64) {
        if let Some(inner) = self.inner.upgrade() {
            inner.requests.lock().unwrap().push(n);
        }
    }

    fn cancel(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.cancelled.store(true, Ordering::SeqCst);
            // Rule 3.13: let go of the subscriber (unless it is out signalling: then `emit` does).
            let subscriber = inner.subscriber.lock().unwrap().take();
            drop(subscriber);
        }
    }
}

impl<T: Send + 'static> Hot<T> {
    pub fn new() -> Self {
        Hot {
            inner: Arc::new(HotInner {
                subscriber: Mutex::new(None),
                requests: Mutex::new(Vec::new()),
                cancelled: AtomicBool::new(false),
            }),
        }
    }

    pub fn flux(&self) -> Flux<Hot<T>> {
        Flux::new(self.clone())
    }

    fn with_subscriber(&self, f: impl FnOnce(&mut dyn Subscriber<T>), terminal: bool) {
        // Not under the lock: the subscriber may call back (request, cancel).
        let taken = self.inner.subscriber.lock().unwrap().take();
        if let Some(mut subscriber) = taken {
            f(&mut *subscriber);
            if !terminal && !self.is_cancelled() {
                *self.inner.subscriber.lock().unwrap() = Some(subscriber);
            }
        }
    }

    /// `on_next(item)` now, if subscribed and not cancelled (then the item is just dropped).
    pub fn emit(&self, item: T) {
        self.with_subscriber(|s| s.on_next(item), false);
    }

    pub fn complete(&self) {
        self.with_subscriber(|s| s.on_complete(), true);
    }

    pub fn error(&self, error: Error) {
        self.with_subscriber(|s| s.on_error(error), true);
    }

    pub fn requests(&self) -> Vec<u64> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn total_requested(&self) -> u64 {
        self.requests()
            .iter()
            .fold(0u64, |total, n| total.saturating_add(*n))
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub fn is_subscribed(&self) -> bool {
        self.inner.subscriber.lock().unwrap().is_some()
    }
}

impl<T: Send + 'static> Publisher for Hot<T> {
    type Item = T;

    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        let mut subscriber: Box<dyn Subscriber<T>> = Box::new(subscriber);
        subscriber.on_subscribe(Arc::new(HotSubscription {
            inner: Arc::downgrade(&self.inner),
        }));
        if !self.is_cancelled() {
            *self.inner.subscriber.lock().unwrap() = Some(subscriber);
        }
    }
}

// ---- the probe ----

/// One signal as the probe saw it, at a virtual time in milliseconds.
#[derive(Clone, PartialEq, Eq)]
pub enum Ev<T> {
    Next(u64, T),
    Error(u64, ErrorKind),
    Complete(u64),
}

impl<T: fmt::Debug> fmt::Debug for Ev<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ev::Next(t, x) => write!(f, "{x:?}@{t}"),
            Ev::Error(t, k) => write!(f, "{k:?}!@{t}"),
            Ev::Complete(t) => write!(f, "|@{t}"),
        }
    }
}

pub use Ev::{Complete, Error as Err, Next};

/// The test's side of a probe: demand, cancel, what was seen, whether the stage released it.
pub struct Probe<T> {
    events: Arc<Mutex<Vec<Ev<T>>>>,
    errors: Arc<Mutex<Vec<Error>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

type PanicWhen<T> = Box<dyn Fn(&T) -> bool + Send>;

/// The subscriber half, handed to the stream.
pub struct ProbeSubscriber<T> {
    events: Arc<Mutex<Vec<Ev<T>>>>,
    errors: Arc<Mutex<Vec<Error>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    clock: VirtualTime,
    initial: u64,
    panic_on: Option<PanicWhen<T>>,
    _alive: Arc<()>,
}

/// A probe that requests `initial` in `on_subscribe` (0: nothing).
pub fn probe<T>(clock: &VirtualTime, initial: u64) -> (ProbeSubscriber<T>, Probe<T>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let alive = Arc::new(());
    let probe = Probe {
        events: events.clone(),
        errors: errors.clone(),
        subscription: subscription.clone(),
        alive: Arc::downgrade(&alive),
    };
    (
        ProbeSubscriber {
            events,
            errors,
            subscription,
            clock: clock.clone(),
            initial,
            panic_on: None,
            _alive: alive,
        },
        probe,
    )
}

impl<T> ProbeSubscriber<T> {
    /// Panics in `on_next` for the items `when` picks.
    pub fn panicking(mut self, when: impl Fn(&T) -> bool + Send + 'static) -> Self {
        self.panic_on = Some(Box::new(when));
        self
    }
}

impl<T: Send> Subscriber<T> for ProbeSubscriber<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(subscription.clone());
        if self.initial > 0 {
            subscription.request(self.initial);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.panic_on.as_ref().is_some_and(|p| p(&item)) {
            panic!("probe told to panic");
        }
        let t = now_ms(&self.clock);
        self.events.lock().unwrap().push(Ev::Next(t, item));
    }

    fn on_error(&mut self, error: Error) {
        let t = now_ms(&self.clock);
        self.events.lock().unwrap().push(Ev::Error(t, error.kind()));
        self.errors.lock().unwrap().push(error);
    }

    fn on_complete(&mut self) {
        let t = now_ms(&self.clock);
        self.events.lock().unwrap().push(Ev::Complete(t));
    }
}

impl<T: Clone> Probe<T> {
    pub fn events(&self) -> Vec<Ev<T>> {
        self.events.lock().unwrap().clone()
    }

    pub fn values(&self) -> Vec<T> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Ev::Next(_, x) => Some(x.clone()),
                _ => None,
            })
            .collect()
    }
}

impl<T> Probe<T> {
    /// Takes the items seen so far (for item types that are not `Clone`).
    pub fn take_values(&self) -> Vec<T> {
        let mut events = self.events.lock().unwrap();
        let mut values = Vec::new();
        let mut rest = Vec::new();
        for e in events.drain(..) {
            match e {
                Ev::Next(_, x) => values.push(x),
                other => rest.push(other),
            }
        }
        *events = rest;
        values
    }

    /// The items seen so far with their times, as `f` shows them (no clone needed).
    pub fn nexts_by<K>(&self, f: impl Fn(&T) -> K) -> Vec<(u64, K)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Ev::Next(t, x) => Some((*t, f(x))),
                _ => None,
            })
            .collect()
    }

    pub fn terminal_count(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| !matches!(e, Ev::Next(..)))
            .count()
    }

    pub fn last_error(&self) -> Option<Error> {
        self.errors.lock().unwrap().last().cloned()
    }

    pub fn request(&self, n: u64) {
        let subscription = self.subscription.lock().unwrap().clone();
        subscription.expect("subscribed").request(n);
    }

    pub fn cancel(&self) {
        let subscription = self.subscription.lock().unwrap().clone();
        subscription.expect("subscribed").cancel();
    }

    /// Whether the stream dropped the subscriber (rule 3.13).
    pub fn is_released(&self) -> bool {
        self.alive.upgrade().is_none()
    }
}

// ---- drops ----

/// Everything a stage handed to `on_drop`, in order.
pub type Drops<T> = Arc<Mutex<Vec<(T, DropReason)>>>;

pub fn drops<T>() -> (Drops<T>, impl Fn(T, DropReason) + Send + Sync + 'static)
where
    T: Send + 'static,
{
    let log: Drops<T> = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    (log, move |x, reason| sink.lock().unwrap().push((x, reason)))
}
