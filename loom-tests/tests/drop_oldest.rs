//! `drop_oldest` at the operator level: the upstream's `on_next` (which evicts the oldest held item
//! when the ring is full) on one thread races the downstream's `request` / `cancel` (which drains
//! the ring into the subscriber) on another.
//!
//! No item may wait in the ring while the downstream has unserved demand (the push / request
//! hand-off of `SeqCst` fences).
//! The last model runs the same race through the spsc ring of `drop_newest` (the incoming item
//! refused instead of the oldest evicted), which shares the hand-off.
//!
//! Every item must end up in exactly one place — delivered once, or handed to `on_drop` once
//! (`Evicted`, or `Cancelled` after a cancel) — deliveries keep arrival order, the terminal signal
//! comes once and last, and every item is dropped exactly once.
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use backflow::prelude::*;
use backflow::DropReason;
use backflow_loom_tests::{DropLog, Tracked};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// A publisher that hands the subscribed stage back to the model, which then plays the upstream.
struct Handoff {
    slot: Arc<Mutex<Option<Box<dyn Subscriber<Tracked>>>>>,
}

impl Publisher for Handoff {
    type Item = Tracked;
    fn subscribe<S: Subscriber<Tracked> + 'static>(&self, subscriber: S) {
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

#[derive(Default)]
struct UpstreamState {
    cancelled: AtomicBool,
}

struct UpstreamSubscription(Arc<UpstreamState>);

impl Subscription for UpstreamSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq)]
enum Signal {
    Next(usize),
    Complete,
}

/// Records ids (and drops the items right away). The std mutexes are bookkeeping: never held
/// across a loom operation.
struct Recorder {
    signals: Arc<Mutex<Vec<Signal>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
}

impl Subscriber<Tracked> for Recorder {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, item: Tracked) {
        self.signals.lock().unwrap().push(Signal::Next(item.id));
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {
        self.signals.lock().unwrap().push(Signal::Complete);
    }
}

struct Run {
    upstream_side: Box<dyn Subscriber<Tracked>>,
    upstream: Arc<UpstreamState>,
    downstream: SharedSubscription,
    signals: Arc<Mutex<Vec<Signal>>>,
    dropped: Arc<Mutex<Vec<(usize, DropReason)>>>,
}

fn start(capacity: usize) -> Run {
    start_with(capacity, Overflow::DropOldest)
}

/// `buffer_with(capacity, overflow)`: `DropOldest` is `drop_oldest(capacity)` itself.
fn start_with(capacity: usize, overflow: Overflow) -> Run {
    let slot = Arc::new(Mutex::new(None));
    let signals = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let log = dropped.clone();
    Flux::new(Handoff { slot: slot.clone() })
        .buffer_with(capacity, overflow)
        .on_drop(move |item: Tracked, reason| log.lock().unwrap().push((item.id, reason)))
        .subscribe(Recorder {
            signals: signals.clone(),
            subscription: subscription.clone(),
        });
    let mut upstream_side = slot.lock().unwrap().take().expect("subscribed");
    let upstream = Arc::new(UpstreamState::default());
    upstream_side.on_subscribe(Arc::new(UpstreamSubscription(upstream.clone())));
    let downstream = subscription.lock().unwrap().clone().expect("on_subscribe");
    Run {
        upstream_side,
        upstream,
        downstream,
        signals,
        dropped,
    }
}

/// Where every item went: checks exactly-once placement and order; returns (delivered, dropped).
fn placements(run: &Run, items: usize) -> (Vec<usize>, Vec<(usize, DropReason)>) {
    let signals = run.signals.lock().unwrap();
    let delivered: Vec<usize> = signals
        .iter()
        .filter_map(|s| match s {
            Signal::Next(id) => Some(*id),
            Signal::Complete => None,
        })
        .collect();
    let completes = signals.iter().filter(|s| **s == Signal::Complete).count();
    assert!(completes <= 1, "{signals:?}");
    if completes == 1 {
        assert_eq!(signals.last(), Some(&Signal::Complete), "terminal last");
    }
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "delivered out of order or twice: {delivered:?}"
    );
    let dropped = run.dropped.lock().unwrap().clone();
    let mut all: Vec<usize> = delivered
        .iter()
        .copied()
        .chain(dropped.iter().map(|&(id, _)| id))
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..items).collect::<Vec<_>>(),
        "delivered {delivered:?} dropped {dropped:?}"
    );
    (delivered, dropped)
}

/// The upstream pushes `items` into a ring of `capacity` while another thread requests `demand`;
/// once both are done (and before anything else could wake the drain) nothing may be stranded;
/// then the upstream completes and the rest is drained.
fn eviction_races_delivery(capacity: usize, items: usize, demand: u64) {
    loom::model(move || {
        let log = DropLog::new(items);
        let mut run = start(capacity);
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(demand));
        for id in 0..items {
            run.upstream_side.on_next(log.item(id));
        }
        requester.join().unwrap();
        // Liveness of the push / request hand-off: with no further signal, no item may wait in
        // the ring while the downstream still has unserved demand.
        let delivered_now = run
            .signals
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Signal::Next(_)))
            .count();
        let held = items - delivered_now - run.dropped.lock().unwrap().len();
        assert!(
            held == 0 || delivered_now as u64 == demand,
            "stranded: {held} held, {delivered_now} of {demand} delivered"
        );
        // Whatever is still held is delivered before the completion.
        run.upstream_side.on_complete();
        run.downstream.request(u64::MAX);
        let (delivered, dropped) = placements(&run, items);
        assert!(dropped.iter().all(|&(_, r)| r == DropReason::Evicted));
        assert!(delivered.len() as u64 >= demand.min(items as u64));
        assert_eq!(run.signals.lock().unwrap().last(), Some(&Signal::Complete));
        // The newest `capacity` items are never evicted: they are delivered.
        for id in items.saturating_sub(capacity)..items {
            assert!(delivered.contains(&id), "{id} lost: {delivered:?}");
        }
        drop(run);
        log.assert_each_dropped_once();
    });
}

#[test]
fn capacity_1_three_items_one_request() {
    eviction_races_delivery(1, 3, 1);
}

#[test]
fn capacity_2_three_items_two_requests() {
    eviction_races_delivery(2, 3, 2);
}

#[test]
fn cancel_races_eviction() {
    loom::model(|| {
        let items = 3;
        let log = DropLog::new(items);
        let mut run = start(1);
        run.downstream.request(1);
        let downstream = run.downstream.clone();
        let canceller = thread::spawn(move || downstream.cancel());
        for id in 0..items {
            run.upstream_side.on_next(log.item(id));
        }
        canceller.join().unwrap();
        assert!(run.upstream.cancelled.load(Ordering::SeqCst));
        let (delivered, dropped) = placements(&run, items);
        assert!(delivered.len() <= 1);
        assert!(dropped
            .iter()
            .all(|&(_, r)| matches!(r, DropReason::Evicted | DropReason::Cancelled)));
        assert!(!run.signals.lock().unwrap().contains(&Signal::Complete));
        drop(run);
        log.assert_each_dropped_once();
    });
}

/// `drop_newest` on the spsc ring: the refusal happens on the upstream's thread while the other
/// thread's request drains; the same hand-off, the same exactly-once placement, the oldest kept.
#[test]
fn drop_newest_refusal_races_delivery() {
    loom::model(|| {
        let items = 3;
        let log = DropLog::new(items);
        let mut run = start_with(1, Overflow::DropNewest);
        let downstream = run.downstream.clone();
        let requester = thread::spawn(move || downstream.request(1));
        for id in 0..items {
            run.upstream_side.on_next(log.item(id));
        }
        requester.join().unwrap();
        let delivered_now = run
            .signals
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Signal::Next(_)))
            .count();
        let held = items - delivered_now - run.dropped.lock().unwrap().len();
        assert!(held == 0 || delivered_now == 1, "stranded: {held} held");
        run.upstream_side.on_complete();
        run.downstream.request(u64::MAX);
        let (delivered, dropped) = placements(&run, items);
        assert!(dropped.iter().all(|&(_, r)| r == DropReason::Overflow));
        assert_eq!(delivered[0], 0, "the oldest is never refused");
        drop(run);
        log.assert_each_dropped_once();
    });
}
