//! The fan-in hand-off of `merge` (the real operator, built with `--cfg loom`): two producers push
//! into their inputs' rings and signal the merge's drain gate while the drain runs, driven by
//! whichever thread enters the gate.
//!
//! Each model runs two producer threads (one item each, then `on_complete`) against the main
//! thread, which requests or cancels. After every thread has returned: no lost wake-up (every
//! item delivered and the completion signalled, when nothing cancelled), no item lost or
//! duplicated (each dropped exactly once), no overlapping downstream signals (the downstream's
//! record is a loom `UnsafeCell`, so loom fails any unserialised access), and the downstream is
//! released (rule 3.13).
#![cfg(loom)]

use std::sync::Weak;

use backflow::prelude::*;
use backflow_loom_tests::{DropLog, Tracked};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The upstream side of one input: what the merge asked of it.
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

type Slot = Arc<Mutex<Option<Box<dyn Subscriber<Tracked>>>>>;

/// An input that hands its subscriber over to a producer thread.
#[derive(Clone)]
struct Handoff {
    slot: Slot,
    upstream: Arc<Upstream>,
}

impl Handoff {
    fn new() -> Self {
        Handoff {
            slot: Arc::new(Mutex::new(None)),
            upstream: Arc::new(Upstream::default()),
        }
    }

    /// A producer thread: one item, then (if `complete`) completion, from the thread's own
    /// stack.
    fn produce(&self, item: Tracked, complete: bool) -> thread::JoinHandle<()> {
        let slot = self.slot.clone();
        thread::spawn(move || {
            let mut subscriber = slot.lock().unwrap().take().expect("subscribed");
            subscriber.on_next(item);
            if complete {
                subscriber.on_complete();
            }
        })
    }
}

impl Publisher for Handoff {
    type Item = Tracked;
    fn subscribe<S: Subscriber<Tracked> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(std::sync::Arc::new(UpstreamSubscription(
            self.upstream.clone(),
        )));
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

#[derive(Default)]
struct Record {
    items: Vec<usize>,
    completed: usize,
    errors: usize,
}

/// What the downstream saw. Only the merge's drain owner touches it.
struct Seen(UnsafeCell<Record>);

// SAFETY (test): the merge serialises its downstream's signals (rule 1.03); loom checks it.
unsafe impl Sync for Seen {}
// SAFETY (test): Record is Send.
unsafe impl Send for Seen {}

impl Seen {
    fn record(&self, f: impl FnOnce(&mut Record)) {
        // SAFETY (test): see the Sync impl; loom fails the model on an unserialised access.
        self.0.with_mut(|r| f(unsafe { &mut *r }))
    }

    fn read(&self) -> (Vec<usize>, usize, usize) {
        self.0.with(|r| {
            // SAFETY (test): every thread has been joined.
            let r = unsafe { &*r };
            let mut items = r.items.clone();
            items.sort_unstable();
            (items, r.completed, r.errors)
        })
    }
}

struct Downstream {
    seen: Arc<Seen>,
    up_front: u64,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: std::sync::Arc<()>,
}

impl Subscriber<Tracked> for Downstream {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        if self.up_front > 0 {
            s.request(self.up_front);
        }
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, item: Tracked) {
        self.seen.record(|r| r.items.push(item.id));
    }
    fn on_error(&mut self, _: Error) {
        self.seen.record(|r| r.errors += 1);
    }
    fn on_complete(&mut self) {
        self.seen.record(|r| r.completed += 1);
    }
}

struct Model {
    log: DropLog,
    inputs: [Handoff; 2],
    seen: Arc<Seen>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

/// Subscribes a merge of two hand-off inputs (prefetch 2) to a recording downstream.
fn setup(up_front: u64) -> Model {
    let inputs = [Handoff::new(), Handoff::new()];
    let seen = Arc::new(Seen(UnsafeCell::new(Record::default())));
    let subscription = Arc::new(Mutex::new(None));
    let alive = std::sync::Arc::new(());
    let weak = std::sync::Arc::downgrade(&alive);
    backflow::merge(inputs.clone())
        .prefetch(2)
        .subscribe(Downstream {
            seen: seen.clone(),
            up_front,
            subscription: subscription.clone(),
            _alive: alive,
        });
    Model {
        log: DropLog::new(2),
        inputs,
        seen,
        subscription,
        alive: weak,
    }
}

impl Model {
    fn spawn_producers(&self, complete: bool) -> [thread::JoinHandle<()>; 2] {
        [
            self.inputs[0].produce(self.log.item(0), complete),
            self.inputs[1].produce(self.log.item(1), complete),
        ]
    }

    fn handle(&self) -> SharedSubscription {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed")
    }

    /// Drops the test's own references, then checks that every item was dropped exactly once.
    fn finish(self) {
        self.subscription.lock().unwrap().take();
        assert!(self.alive.upgrade().is_none(), "downstream released (3.13)");
        let Model { log, inputs, .. } = self;
        drop(inputs);
        log.assert_each_dropped_once();
    }
}

#[test]
fn producers_race_each_other_and_the_drain() {
    loom::model(|| {
        let model = setup(u64::MAX);
        let producers = model.spawn_producers(true);
        for p in producers {
            p.join().unwrap();
        }
        // Whoever drained last saw both items and both completions: nothing left behind.
        assert_eq!(model.seen.read(), (vec![0, 1], 1, 0));
        for input in &model.inputs {
            assert_eq!(input.upstream.requested.load(Ordering::SeqCst), 2);
        }
        model.finish();
    });
}

#[test]
fn pushes_alone_wake_the_drain() {
    loom::model(|| {
        let model = setup(u64::MAX);
        let producers = model.spawn_producers(false);
        for p in producers {
            p.join().unwrap();
        }
        // No completion follows the items, so only the pushes' own signals can deliver them.
        assert_eq!(model.seen.read(), (vec![0, 1], 0, 0));
        model.handle().cancel();
        model.finish();
    });
}

#[test]
fn requests_race_the_producers() {
    loom::model(|| {
        let model = setup(0);
        let producers = model.spawn_producers(true);
        let handle = model.handle();
        handle.request(1);
        handle.request(1);
        drop(handle);
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(model.seen.read(), (vec![0, 1], 1, 0));
        model.finish();
    });
}

#[test]
fn cancel_races_the_producers() {
    loom::model(|| {
        let model = setup(1);
        let producers = model.spawn_producers(true);
        model.handle().cancel();
        for p in producers {
            p.join().unwrap();
        }
        let (items, completed, errors) = model.seen.read();
        assert!(items.len() <= 1, "one credit: {items:?}");
        assert_eq!((completed, errors), (0, 0), "no terminal after cancel");
        for input in &model.inputs {
            assert!(input.upstream.cancelled.load(Ordering::SeqCst));
        }
        model.finish();
    });
}
