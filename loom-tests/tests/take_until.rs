//! The three-state gate of `take_until` / `skip_until` (the real operator, built with
//! `--cfg loom`): the main upstream signals items on one thread while the trigger fires on
//! another (and, in one model, the downstream cancels from a third).
//!
//! After every thread has returned: the downstream's signals never overlapped (its record is a
//! loom `UnsafeCell`), exactly one terminal signal arrived (or none after a cancel), no item was
//! lost or duplicated (each dropped exactly once), and the downstream was released (rule 3.13).
#![cfg(loom)]

use std::sync::Weak;

use backflow::prelude::*;
use backflow_loom_tests::{DropLog, Tracked};
use loom::cell::UnsafeCell;
use loom::sync::{Arc, Mutex};
use loom::thread;

struct NoopUpstream;

impl Subscription for NoopUpstream {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

type Slot = Arc<Mutex<Option<Box<dyn Subscriber<Tracked>>>>>;

/// A publisher that hands its subscriber over to a producer thread.
#[derive(Clone)]
struct Handoff {
    slot: Slot,
}

impl Handoff {
    fn new() -> Self {
        Handoff {
            slot: Arc::new(Mutex::new(None)),
        }
    }

    fn produce(&self, item: Tracked, complete: bool) -> thread::JoinHandle<()> {
        let slot = self.slot.clone();
        thread::spawn(move || {
            let taken = slot.lock().unwrap().take();
            if let Some(mut subscriber) = taken {
                subscriber.on_next(item);
                if complete {
                    subscriber.on_complete();
                }
            }
        })
    }
}

impl Publisher for Handoff {
    type Item = Tracked;
    fn subscribe<S: Subscriber<Tracked> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(std::sync::Arc::new(NoopUpstream));
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

#[derive(Default)]
struct Record {
    items: usize,
    terminals: usize,
}

struct Seen(UnsafeCell<Record>);

// SAFETY (test): the stage serialises its downstream's signals (rule 1.03); loom checks it.
unsafe impl Sync for Seen {}
// SAFETY (test): Record is Send.
unsafe impl Send for Seen {}

impl Seen {
    fn record(&self, f: impl FnOnce(&mut Record)) {
        // SAFETY (test): see the Sync impl; loom fails the model on an unserialised access.
        self.0.with_mut(|r| f(unsafe { &mut *r }))
    }
    fn read(&self) -> (usize, usize) {
        // SAFETY (test): every thread has been joined.
        self.0.with(|r| unsafe { ((*r).items, (*r).terminals) })
    }
}

struct Downstream {
    seen: Arc<Seen>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: std::sync::Arc<()>,
}

impl Subscriber<Tracked> for Downstream {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, _item: Tracked) {
        self.seen.record(|r| r.items += 1);
    }
    fn on_error(&mut self, _: Error) {
        self.seen.record(|r| r.terminals += 1);
    }
    fn on_complete(&mut self) {
        self.seen.record(|r| r.terminals += 1);
    }
}

fn run(skip: bool, cancel: bool) {
    loom::model(move || {
        let log = DropLog::new(2);
        let (main, trigger) = (Handoff::new(), Handoff::new());
        let seen = Arc::new(Seen(UnsafeCell::new(Record::default())));
        let subscription = Arc::new(Mutex::new(None));
        let alive = std::sync::Arc::new(());
        let weak: Weak<()> = std::sync::Arc::downgrade(&alive);
        let downstream = Downstream {
            seen: seen.clone(),
            subscription: subscription.clone(),
            _alive: alive,
        };
        if skip {
            Flux::new(main.clone())
                .skip_until(trigger.clone())
                .subscribe(downstream);
        } else {
            Flux::new(main.clone())
                .take_until(trigger.clone())
                .subscribe(downstream);
        }
        let producers = [
            main.produce(log.item(0), true),
            trigger.produce(log.item(1), false),
        ];
        if cancel {
            let handle = subscription.lock().unwrap().clone().expect("subscribed");
            handle.cancel();
        }
        for p in producers {
            p.join().unwrap();
        }
        let (items, terminals) = seen.read();
        assert!(items <= 1);
        if cancel {
            assert!(terminals <= 1);
        } else {
            assert_eq!(terminals, 1, "exactly one end");
        }
        subscription.lock().unwrap().take();
        drop((main, trigger));
        assert!(weak.upgrade().is_none(), "downstream released (3.13)");
        log.assert_each_dropped_once();
    });
}

#[test]
fn take_until_trigger_races_with_an_item_and_completion() {
    run(false, false);
}

#[test]
fn take_until_cancel_races_with_both() {
    run(false, true);
}

#[test]
fn skip_until_trigger_races_with_an_item_and_completion() {
    run(true, false);
}
