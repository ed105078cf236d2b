//! `flat_map` and `concat_map` with inners signalling from other threads.
//!
//! - flat_map: two inners push and finish on two threads while either may own the drain: every
//!   item arrives once, then exactly one completion; an inner that fails is never taken for one
//!   that completed (the failure is published before its ring hangs up).
//! - concat_map: the downstream passes between the active inner (on another thread) and the
//!   trampoline (on the outer's thread) through the `active` flag, without overlap, in order.
#![cfg(loom)]

use backflow::prelude::*;
use loom::sync::{Arc, Mutex};
use loom::thread;

type Parking = Arc<Mutex<Vec<Box<dyn Subscriber<u32>>>>>;

/// A publisher that parks each subscriber for the model to drive; requests are ignored (the
/// model sends no more than the stage asked for).
struct Parked {
    slot: Parking,
}

impl Publisher for Parked {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(backflow::NoopSubscription::shared());
        self.slot.lock().unwrap().push(Box::new(subscriber));
    }
}

#[derive(Default)]
struct Seen {
    items: Vec<u32>,
    completed: usize,
    errors: usize,
}

/// The downstream: asks for everything and checks that nothing follows a terminal signal.
struct Recorder {
    seen: Arc<Mutex<Seen>>,
}

impl Subscriber<u32> for Recorder {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        subscription.request(u64::MAX);
    }
    fn on_next(&mut self, item: u32) {
        let mut seen = self.seen.lock().unwrap();
        assert_eq!(
            seen.completed + seen.errors,
            0,
            "item after a terminal signal"
        );
        seen.items.push(item);
    }
    fn on_error(&mut self, _error: Error) {
        let mut seen = self.seen.lock().unwrap();
        assert_eq!(seen.completed + seen.errors, 0, "second terminal signal");
        seen.errors += 1;
    }
    fn on_complete(&mut self) {
        let mut seen = self.seen.lock().unwrap();
        assert_eq!(seen.completed + seen.errors, 0, "second terminal signal");
        seen.completed += 1;
    }
}

fn take_parked(slot: &Parking) -> Box<dyn Subscriber<u32>> {
    loop {
        if let Some(subscriber) = slot.lock().unwrap().pop() {
            return subscriber;
        }
        thread::yield_now();
    }
}

/// Two inners of flat_map, one finished from a spawned thread, one from the model's thread.
fn flat_map_two_inners(second_fails: bool) {
    loom::model(move || {
        let slot: Parking = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let parking = slot.clone();
        backflow::from_iter(vec![0u32, 1])
            .flat_map_with(
                move |_| {
                    Flux::new(Parked {
                        slot: parking.clone(),
                    })
                },
                2,
                1,
            )
            .subscribe(Recorder { seen: seen.clone() });
        let mut second = take_parked(&slot);
        let mut first = take_parked(&slot);
        let other = thread::spawn(move || {
            first.on_next(10);
            first.on_complete();
        });
        if second_fails {
            second.on_error(Error::msg("boom"));
        } else {
            second.on_next(20);
            second.on_complete();
        }
        other.join().unwrap();
        let seen = seen.lock().unwrap();
        let mut items = seen.items.clone();
        items.sort_unstable();
        if second_fails {
            assert_eq!((seen.completed, seen.errors), (0, 1));
            assert!(items.is_empty() || items == [10], "{items:?}");
        } else {
            assert_eq!((seen.completed, seen.errors), (1, 0));
            assert_eq!(items, [10, 20]);
        }
    });
}

#[test]
fn flat_map_inners_on_two_threads_complete_once() {
    flat_map_two_inners(false);
}

#[test]
fn flat_map_a_failed_inner_is_not_a_completed_one() {
    flat_map_two_inners(true);
}

#[test]
fn concat_map_hands_the_downstream_between_inner_and_trampoline() {
    loom::model(|| {
        let outer_slot: Parking = Arc::new(Mutex::new(Vec::new()));
        let inner_slot: Parking = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let parking = inner_slot.clone();
        Flux::new(Parked {
            slot: outer_slot.clone(),
        })
        .concat_map(move |_| {
            Flux::new(Parked {
                slot: parking.clone(),
            })
        })
        .subscribe(Recorder { seen: seen.clone() });
        let mut outer = take_parked(&outer_slot);
        let inners = thread::spawn(move || {
            for value in [100, 200] {
                let mut inner = take_parked(&inner_slot);
                inner.on_next(value);
                inner.on_complete();
            }
        });
        outer.on_next(0);
        outer.on_next(1);
        outer.on_complete();
        inners.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.items, [100, 200]);
        assert_eq!((seen.completed, seen.errors), (1, 0));
    });
}
