//! Model checks of the stages that hold a value until the downstream asks for it: `reduce`/`count`
//! (the result waits behind a drain gate) and `scan` (the seed waits, and an early upstream terminal
//! waits behind it, before the stage hands its downstream over to the upstream's thread).
//!
//! Each model races the upstream's signals on one thread against the downstream's `request` or
//! `cancel` on another, and checks that the downstream sees exactly the right signals, once, and is
//! released after a cancel (rule 3.13).
#![cfg(loom)]

use std::sync::{Arc, Weak};

use backflow::prelude::*;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Mutex;
use loom::thread;

/// The upstream's side of the link: records what the stage asked for.
#[derive(Default)]
struct Upstream {
    requested: AtomicU64,
    cancelled: AtomicBool,
}

struct UpstreamSubscription(Arc<Upstream>);

impl Subscription for UpstreamSubscription {
    fn request(&self, n: u64) {
        self.0.requested.fetch_add(n.min(1 << 32), Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

/// A publisher that hands the subscribed stage back to the model, which then plays the upstream.
struct Handoff<T> {
    slot: Arc<std::sync::Mutex<Option<Box<dyn Subscriber<T>>>>>,
}

impl<T: 'static> Publisher for Handoff<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Signal {
    Next(u32),
    Complete,
    Error,
}

struct Recorder {
    log: Arc<Mutex<Vec<Signal>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: Arc<()>,
}

impl Subscriber<u32> for Recorder {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: u32) {
        self.log.lock().unwrap().push(Signal::Next(x));
    }
    fn on_error(&mut self, _: Error) {
        self.log.lock().unwrap().push(Signal::Error);
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().push(Signal::Complete);
    }
}

struct Run {
    upstream_side: Box<dyn Subscriber<u32>>,
    upstream: Arc<Upstream>,
    log: Arc<Mutex<Vec<Signal>>>,
    downstream: SharedSubscription,
    alive: Weak<()>,
}

/// Subscribes a recorder through `stage` to a hand-played upstream.
fn start<P>(stage: impl FnOnce(Flux<Handoff<u32>>) -> Flux<P>) -> Run
where
    P: Publisher<Item = u32>,
{
    let slot = Arc::new(std::sync::Mutex::new(None));
    let log = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    stage(Flux::new(Handoff { slot: slot.clone() })).subscribe(Recorder {
        log: log.clone(),
        subscription: subscription.clone(),
        _alive: alive,
    });
    let mut upstream_side = slot.lock().unwrap().take().expect("subscribed");
    let upstream = Arc::new(Upstream::default());
    upstream_side.on_subscribe(Arc::new(UpstreamSubscription(upstream.clone())));
    let downstream = subscription.lock().unwrap().clone().expect("on_subscribe");
    Run {
        upstream_side,
        upstream,
        log,
        downstream,
        alive: weak,
    }
}

#[test]
fn reduce_result_meets_its_request() {
    loom::model(|| {
        let mut run = start(|f| f.reduce(|a, b| a + b));
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(1));
        run.upstream_side.on_next(1);
        run.upstream_side.on_next(2);
        run.upstream_side.on_complete();
        requester.join().unwrap();
        assert_eq!(
            *run.log.lock().unwrap(),
            vec![Signal::Next(3), Signal::Complete]
        );
    });
}

#[test]
fn reduce_cancel_races_the_result() {
    loom::model(|| {
        let mut run = start(|f| f.count().map(|n| n as u32));
        let downstream = run.downstream.clone();
        let canceller = thread::spawn(move || downstream.cancel());
        run.downstream.request(1);
        run.upstream_side.on_next(7);
        run.upstream_side.on_complete();
        canceller.join().unwrap();
        let log = run.log.lock().unwrap().clone();
        assert!(
            log.is_empty()
                || log == vec![Signal::Next(1)]
                || log == vec![Signal::Next(1), Signal::Complete],
            "{log:?}"
        );
        drop(run.upstream_side);
        drop(run.downstream);
        assert!(run.alive.upgrade().is_none(), "released after cancel");
    });
}

#[test]
fn scan_seed_meets_an_early_terminal() {
    loom::model(|| {
        let mut run = start(|f| f.scan(5u32, |a, x| a + x));
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(2));
        run.upstream_side.on_complete();
        requester.join().unwrap();
        assert_eq!(
            *run.log.lock().unwrap(),
            vec![Signal::Next(5), Signal::Complete]
        );
    });
}

#[test]
fn scan_hands_the_downstream_to_the_upstream_thread() {
    loom::model(|| {
        let mut run = start(|f| f.scan(0u32, |a, x| a + x));
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(3));
        // The upstream may only send what was forwarded to it: wait for it like a real source.
        while run.upstream.requested.load(Ordering::SeqCst) < 2 {
            thread::yield_now();
        }
        run.upstream_side.on_next(4);
        run.upstream_side.on_next(6);
        run.upstream_side.on_complete();
        requester.join().unwrap();
        assert_eq!(
            *run.log.lock().unwrap(),
            vec![
                Signal::Next(0),
                Signal::Next(4),
                Signal::Next(10),
                Signal::Complete
            ]
        );
    });
}

#[test]
fn scan_cancel_races_the_seed_and_releases_the_downstream() {
    loom::model(|| {
        let run = start(|f| f.scan(9u32, |a, x| a + x));
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(1));
        run.downstream.cancel();
        requester.join().unwrap();
        let log = run.log.lock().unwrap().clone();
        assert!(log.is_empty() || log == vec![Signal::Next(9)], "{log:?}");
        assert!(run.upstream.cancelled.load(Ordering::SeqCst));
        // A compliant upstream lets go of the stage after the cancel.
        drop(run.upstream_side);
        drop(run.downstream);
        assert!(run.alive.upgrade().is_none(), "released after cancel");
    });
}
