//! `broadcast`: the min-demand computation under concurrent requests from two subscribers.
//!
//! The model drives the real hub through its public API: under `--cfg loom` every atomic, mutex
//! and cell inside it (drain gate, demand counters, control mutex, the spsc ring, the `range`
//! source's own drain loop) is loom's. Two subscribers request from two threads while the drain
//! loop serves them and tops up the upstream; the hub's window is 2 items.
//!
//! Checked in every interleaving:
//! - no over-request: upstream never gets more than the slowest subscriber took plus the window;
//! - no lost drain: once every thread has returned, each subscriber holds exactly the items its
//!   demand (and the window) allow, in order, whichever thread ran the drain loop;
//! - cancel racing a request releases the cancelled subscriber's hold on the window.
//!
//! Bookkeeping (requests seen upstream, items seen downstream) uses std types: loom runs one
//! thread at a time and switches only at its own operations, and no std lock is held across one.
#![cfg(loom)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use backflow::prelude::*;
use loom::thread;

const WINDOW: usize = 2;

/// Upstream requests, summed.
#[derive(Default)]
struct Requested(AtomicU64);

struct Spy<P> {
    inner: P,
    requested: Arc<Requested>,
}

struct SpySubscriber<S> {
    down: S,
    requested: Arc<Requested>,
}

struct SpySubscription {
    up: SharedSubscription,
    requested: Arc<Requested>,
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        self.requested.0.fetch_add(n, Ordering::SeqCst);
        self.up.request(n)
    }
    fn cancel(&self) {
        self.up.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SpySubscriber<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.down.on_subscribe(Arc::new(SpySubscription {
            up: s,
            requested: self.requested.clone(),
        }))
    }
    fn on_next(&mut self, x: T) {
        self.down.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl<P: Publisher> Publisher for Spy<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.inner.subscribe(SpySubscriber {
            down: subscriber,
            requested: self.requested.clone(),
        })
    }
}

/// A subscriber that requests nothing by itself; the model requests through its handle.
struct Probe {
    seen: Arc<Mutex<Vec<u64>>>,
    completed: Arc<AtomicU64>,
    handle: Arc<Mutex<Option<SharedSubscription>>>,
}

#[derive(Clone)]
struct Handle {
    seen: Arc<Mutex<Vec<u64>>>,
    completed: Arc<AtomicU64>,
    handle: Arc<Mutex<Option<SharedSubscription>>>,
}

fn probe() -> (Probe, Handle) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let completed = Arc::new(AtomicU64::new(0));
    let handle = Arc::new(Mutex::new(None));
    (
        Probe {
            seen: seen.clone(),
            completed: completed.clone(),
            handle: handle.clone(),
        },
        Handle {
            seen,
            completed,
            handle,
        },
    )
}

impl Subscriber<u64> for Probe {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.handle.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: u64) {
        self.seen.lock().unwrap().push(x);
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error: {e}")
    }
    fn on_complete(&mut self) {
        self.completed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handle {
    fn subscription(&self) -> SharedSubscription {
        let s = self.handle.lock().unwrap().clone();
        s.expect("subscribed")
    }
    fn request(&self, n: u64) {
        self.subscription().request(n)
    }
    fn cancel(&self) {
        self.subscription().cancel()
    }
    fn seen(&self) -> Vec<u64> {
        self.seen.lock().unwrap().clone()
    }
    fn completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst) == 1
    }
}

/// A hub of window 2 over `0..len`, two subscribers, connected; nothing requested downstream yet.
fn hub(len: u64) -> (Arc<Requested>, Handle, Handle) {
    let requested = Arc::new(Requested::default());
    let hub = Flux::new(Spy {
        inner: backflow::range(0..len),
        requested: requested.clone(),
    })
    .broadcast_with(WINDOW);
    let (a, a_handle) = probe();
    let (b, b_handle) = probe();
    hub.subscribe(a);
    hub.subscribe(b);
    hub.connect();
    (requested, a_handle, b_handle)
}

fn assert_paced(requested: &Requested, a: &Handle, b: &Handle) {
    let slowest = a.seen().len().min(b.seen().len()) as u64;
    let asked = requested.0.load(Ordering::SeqCst);
    assert!(
        asked <= slowest + WINDOW as u64,
        "upstream asked for {asked} with the slowest subscriber at {slowest}"
    );
}

#[test]
fn requests_race_requests() {
    loom::model(|| {
        let (requested, a, b) = hub(4);
        assert_eq!(requested.0.load(Ordering::SeqCst), WINDOW as u64);
        let other = a.clone();
        let t = thread::spawn(move || other.request(2));
        b.request(2);
        t.join().unwrap();
        // Both took the whole window, whoever drained: it was released and topped up.
        assert_eq!(a.seen(), vec![0, 1]);
        assert_eq!(b.seen(), vec![0, 1]);
        assert_eq!(requested.0.load(Ordering::SeqCst), 4);
        assert_paced(&requested, &a, &b);
        a.request(2);
        b.request(2);
        assert_eq!(a.seen(), vec![0, 1, 2, 3]);
        assert_eq!(b.seen(), vec![0, 1, 2, 3]);
        assert!(a.completed() && b.completed());
    });
}

#[test]
fn the_slowest_holds_the_window_whichever_thread_drains() {
    loom::model(|| {
        let (requested, a, b) = hub(4);
        let other = a.clone();
        let t = thread::spawn(move || other.request(3));
        b.request(1);
        t.join().unwrap();
        // a ran ahead to the window's end; b took one: one item released, not enough to top up.
        assert_eq!(a.seen(), vec![0, 1]);
        assert_eq!(b.seen(), vec![0]);
        assert_eq!(requested.0.load(Ordering::SeqCst), 2);
        assert_paced(&requested, &a, &b);
        // b catches up: the window is released and refilled, and a's pending credit is served.
        b.request(1);
        assert_eq!(requested.0.load(Ordering::SeqCst), 4);
        assert_eq!(a.seen(), vec![0, 1, 2]);
        assert_paced(&requested, &a, &b);
        // Run the stream to its end: a live connection holds its upstream (and loom's leak check
        // would see it).
        a.request(1);
        b.request(2);
        assert!(a.completed() && b.completed());
    });
}

#[test]
fn cancel_races_request() {
    loom::model(|| {
        let (requested, a, b) = hub(4);
        let other = a.clone();
        let t = thread::spawn(move || other.cancel());
        b.request(4);
        t.join().unwrap();
        // Once a is gone only b counts: it gets everything, and a got nothing (it never asked).
        assert!(a.seen().is_empty());
        assert_eq!(b.seen(), vec![0, 1, 2, 3]);
        assert!(b.completed());
        assert!(requested.0.load(Ordering::SeqCst) <= 4 + WINDOW as u64);
    });
}

/// An upstream that hands its subscriber to the model, which signals it from another thread.
struct Remote {
    subscriber: Arc<Mutex<Option<Box<dyn Subscriber<u64>>>>>,
}

struct Ignore;

impl Subscription for Ignore {
    fn request(&self, _: u64) {}
    fn cancel(&self) {}
}

impl Publisher for Remote {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let mut boxed: Box<dyn Subscriber<u64>> = Box::new(subscriber);
        boxed.on_subscribe(Arc::new(Ignore));
        *self.subscriber.lock().unwrap() = Some(boxed);
    }
}

#[test]
fn items_and_completion_from_another_thread() {
    loom::model(|| {
        let slot = Arc::new(Mutex::new(None));
        let hub = Flux::new(Remote {
            subscriber: slot.clone(),
        })
        .broadcast_with(WINDOW);
        let (a, a_handle) = probe();
        let (b, b_handle) = probe();
        hub.subscribe(a);
        hub.subscribe(b);
        hub.connect(); // requests the window: the remote may send 2 items
        let mut upstream = slot.lock().unwrap().take().expect("subscribed");
        let producer = thread::spawn(move || {
            upstream.on_next(0);
            upstream.on_next(1);
            upstream.on_complete();
        });
        let other = a_handle.clone();
        let requester = thread::spawn(move || other.request(2));
        b_handle.request(1);
        producer.join().unwrap();
        requester.join().unwrap();
        // Every item pushed before the completion is delivered before it, whoever drained.
        assert_eq!(a_handle.seen(), vec![0, 1]);
        assert!(a_handle.completed());
        assert_eq!(b_handle.seen(), vec![0]);
        assert!(!b_handle.completed(), "its last item is still held for it");
        b_handle.request(1);
        assert_eq!(b_handle.seen(), vec![0, 1]);
        assert!(b_handle.completed());
    });
}
