//! Model check of the emitter's blocking path: a producer parked on a full emitter is always woken
//! when the consumer frees a slot or cancels (a lost wake-up shows up as a loom deadlock), and
//! every item is delivered or dropped exactly once, including under `DropOldest`, where producers
//! evict from the buffer the drain reads.
//!
//! Tiny models: capacity 1, one producer thread plus the test thread (the consumer), two items.
#![cfg(loom)]

use std::sync::Arc;

use backflow::ops::Overflow;
use backflow::prelude::*;
use backflow::source::Emitter;
use backflow::DropReason;
use backflow_loom_tests::{DropLog, Tracked};
use loom::sync::Mutex;
use loom::thread;

/// What the consumer saw.
#[derive(Default)]
struct Seen {
    ids: Vec<usize>,
    completed: bool,
}

/// A subscriber that requests nothing by itself: the model requests through `subscription`.
struct Consumer {
    seen: Arc<Mutex<Seen>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
}

impl Subscriber<Tracked> for Consumer {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, item: Tracked) {
        self.seen.lock().unwrap().ids.push(item.id);
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().completed = true;
    }
}

/// Subscribes a [`Consumer`] and returns what it sees and its subscription.
fn consume(flux: impl Publisher<Item = Tracked>) -> (Arc<Mutex<Seen>>, SharedSubscription) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let slot = Arc::new(Mutex::new(None));
    flux.subscribe(Consumer {
        seen: seen.clone(),
        subscription: slot.clone(),
    });
    let subscription = slot.lock().unwrap().take().expect("subscribed");
    (seen, subscription)
}

#[test]
fn a_producer_blocked_on_a_full_emitter_is_woken_by_demand() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (emitter, flux) = backflow::emitter::<Tracked>(1);
        let (seen, subscription) = consume(flux);
        emitter.emit(log.item(0)).unwrap();
        let producer = {
            let emitter = emitter.clone();
            let item = log.item(1);
            thread::spawn(move || emitter.emit(item).is_ok())
        };
        // Frees the only slot: the producer either finds it free or is woken to take it.
        subscription.request(1);
        assert!(producer.join().unwrap());
        subscription.request(1);
        drop(emitter);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.ids, [0, 1]);
        assert!(seen.completed);
        drop(seen);
        drop(subscription);
        log.assert_each_dropped_once();
    });
}

#[test]
fn a_producer_blocked_on_a_full_emitter_is_woken_by_cancel() {
    loom::model(|| {
        let log = DropLog::new(2);
        let cancelled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = cancelled.clone();
        let (emitter, flux) = Emitter::<Tracked>::builder(1)
            .on_drop(move |item, reason| {
                assert_eq!(reason, DropReason::Cancelled);
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                drop(item);
            })
            .build();
        let (seen, subscription) = consume(flux);
        emitter.emit(log.item(0)).unwrap();
        let producer = {
            let emitter = emitter.clone();
            let item = log.item(1);
            thread::spawn(move || match emitter.emit(item) {
                Ok(()) => true,
                Err(refused) => {
                    assert!(refused.is_closed());
                    false
                }
            })
        };
        subscription.cancel();
        let taken = producer.join().unwrap();
        assert!(emitter.is_closed());
        // Taken after the cancel (its push raced the close): then dropped as Cancelled too.
        let expected = if taken { 2 } else { 1 };
        assert_eq!(
            cancelled.load(std::sync::atomic::Ordering::Relaxed),
            expected
        );
        assert!(seen.lock().unwrap().ids.is_empty());
        drop((emitter, subscription));
        log.assert_each_dropped_once();
    });
}

#[test]
fn drop_oldest_evicts_while_the_drain_delivers_each_item_once() {
    loom::model(|| {
        let log = DropLog::new(2);
        let evicted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = evicted.clone();
        let (emitter, flux) = Emitter::<Tracked>::builder(1)
            .overflow(Overflow::DropOldest)
            .on_drop(move |item, reason| {
                assert_eq!(reason, DropReason::Evicted);
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                drop(item);
            })
            .build();
        let (seen, subscription) = consume(flux);
        emitter.emit(log.item(0)).unwrap();
        let producer = {
            let emitter = emitter.clone();
            let item = log.item(1);
            // Full (unless the drain took item 0 first): evicts item 0, racing the drain for it.
            thread::spawn(move || emitter.emit(item).unwrap())
        };
        subscription.request(2);
        producer.join().unwrap();
        drop(emitter);
        let seen = seen.lock().unwrap();
        assert!(seen.completed);
        assert_eq!(
            seen.ids.len() + evicted.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        assert_eq!(
            seen.ids.last(),
            Some(&1),
            "the newest item is never evicted"
        );
        drop(seen);
        drop(subscription);
        log.assert_each_dropped_once();
    });
}

#[test]
fn completion_from_a_producer_follows_its_items() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (emitter, flux) = backflow::emitter::<Tracked>(1);
        let (seen, subscription) = consume(flux);
        let producer = {
            let item = log.item(0);
            thread::spawn(move || {
                emitter.emit(item).unwrap();
                emitter.complete();
            })
        };
        subscription.request(1);
        producer.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.ids, [0]);
        assert!(seen.completed);
        drop(seen);
        drop(subscription);
        log.assert_each_dropped_once();
    });
}

/// The producer-side hand-off without a read-modify-write: two producers offer one item each to
/// a subscriber with demand. Whichever finds the gate idle drains; the other may find it busy and
/// leave its item in the ring, relying on the drain's look at the tail after it left (SeqCst
/// fence) — or find it idle and drain itself. Either way both items are delivered once, with no
/// later signal to rescue a lost hand-off.
#[test]
fn an_item_left_to_a_running_drain_is_never_lost() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (emitter, flux) = backflow::emitter::<Tracked>(2);
        let (seen, subscription) = consume(flux);
        subscription.request(2);
        let other = {
            let emitter = emitter.clone();
            let log = log.clone();
            thread::spawn(move || {
                assert!(emitter.try_emit(log.item(1)).is_ok());
            })
        };
        assert!(emitter.try_emit(log.item(0)).is_ok());
        other.join().unwrap();
        let mut ids = seen.lock().unwrap().ids.clone();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [0, 1],
            "an item was left in the ring with demand outstanding"
        );
        assert_eq!(emitter.len(), 0);
        drop(subscription);
        drop(emitter);
        for id in 0..2 {
            assert_eq!(log.drops(id), 1);
        }
    });
}

/// Capacity counts outstanding demand: capacity 1 and 2 credits requested while two producers
/// offer. Each offer is taken (straight through, into the slot, or into the spill) or, finding
/// the slot full before the demand arrived, dropped by the policy (`DropNewest`, which reads no
/// clock, so the model stays deterministic). Whatever the interleaving, every taken item is
/// delivered (none is stranded with demand outstanding) and every item is dropped once.
#[test]
fn offers_against_outstanding_demand_are_taken_while_a_request_races() {
    loom::model(|| {
        let log = DropLog::new(2);
        let overflowed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = overflowed.clone();
        let (emitter, flux) = Emitter::<Tracked>::builder(1)
            .overflow(Overflow::DropNewest)
            .on_drop(move |item, reason| {
                assert_eq!(reason, DropReason::Overflow);
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                drop(item);
            })
            .build();
        let (seen, subscription) = consume(flux);
        let producer = {
            let emitter = emitter.clone();
            let log = log.clone();
            thread::spawn(move || emitter.try_emit(log.item(1)).unwrap())
        };
        emitter.try_emit(log.item(0)).unwrap();
        subscription.request(2);
        producer.join().unwrap();
        let dropped = overflowed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(dropped <= 1, "the free slot takes one of them");
        assert_eq!(
            seen.lock().unwrap().ids.len(),
            2 - dropped,
            "a taken item is stranded"
        );
        assert_eq!(emitter.len(), 0);
        drop(subscription);
        drop(emitter);
        log.assert_each_dropped_once();
    });
}

/// Pull fusion: the blocking iterator runs the emitter's drain itself, and the producer only
/// pushes and wakes it, with no fence (the claim's SeqCst read-modify-write orders the SeqCst
/// load of the consumer's announcement). A consumer that parks while the producer pushes is always
/// woken (a lost wake-up is a loom deadlock); the items arrive once, in order, then the end.
#[test]
fn a_fused_blocking_iterator_is_woken_by_every_push() {
    loom::model(|| {
        let (emitter, flux) = backflow::emitter::<u32>(2);
        // A second handle keeps the stream open until both items arrived: only the producer's
        // wake can rescue a parked consumer, not the completion's drain.
        let keep_open = emitter.clone();
        let mut iter = flux.into_blocking_iter_with(2);
        let producer = thread::spawn(move || {
            assert!(emitter.try_emit(0).is_ok());
            assert!(emitter.try_emit(1).is_ok());
        });
        assert_eq!(iter.next().unwrap().unwrap(), 0);
        assert_eq!(iter.next().unwrap().unwrap(), 1);
        drop(keep_open);
        assert!(iter.next().is_none());
        producer.join().unwrap();
    });
}

/// Pull fusion with a full ring: capacity 1 and a prefetch of 1, so the producer's second offer
/// finds the ring full and drains on its own thread against the demand (capacity = buffered +
/// demand), or waits for room the consumer's pull frees. Either way nothing is lost or doubled.
#[test]
fn a_fused_producer_meeting_a_full_ring_drains_or_waits_and_loses_nothing() {
    loom::model(|| {
        let (emitter, flux) = backflow::emitter::<u32>(1);
        let keep_open = emitter.clone();
        let mut iter = flux.into_blocking_iter_with(1);
        let producer = thread::spawn(move || {
            emitter.emit(0).unwrap();
            emitter.emit(1).unwrap();
        });
        assert_eq!(iter.next().unwrap().unwrap(), 0);
        assert_eq!(iter.next().unwrap().unwrap(), 1);
        drop(keep_open);
        assert!(iter.next().is_none());
        producer.join().unwrap();
    });
}

/// Pull fusion with two producers: a pull may meet a slot claimed but not yet written (its
/// producer preempted between the claim and the write), and the pull that takes the last item
/// makes no look at the tail after it leaves the gate (`Pulling::pull`): the consumer's own exact
/// look before it parks, and the producers' wake after each push, must still bring every item
/// in. Both arrive once, then the end.
#[test]
fn a_fused_pull_that_meets_a_slot_being_written_gets_it_later() {
    loom::model(|| {
        let (first, flux) = backflow::emitter::<u32>(2);
        let second = first.clone();
        let keep_open = first.clone();
        let mut iter = flux.into_blocking_iter_with(2);
        let a = thread::spawn(move || assert!(first.try_emit(1).is_ok()));
        let b = thread::spawn(move || assert!(second.try_emit(2).is_ok()));
        let mut got = [iter.next().unwrap().unwrap(), iter.next().unwrap().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(keep_open);
        a.join().unwrap();
        b.join().unwrap();
        assert!(iter.next().is_none());
    });
}

/// A `SingleEmitter` to a fused blocking iterator: each offer claims its slot with a plain store
/// (no read-modify-write) and then checks for a parked consumer behind a SeqCst fence. A consumer
/// that parks while the producer pushes is always woken (without that fence this model finds the
/// lost wake-up); the items arrive once, in order, then the end. The producer hands the handle
/// back through `join`, so only its wake-ups can rescue a parked consumer, not the completion's
/// drain.
#[test]
fn a_single_emitter_wakes_a_fused_blocking_iterator_after_every_plain_push() {
    loom::model(|| {
        let (emitter, flux) = backflow::emitter::<u32>(2);
        let single = emitter.into_single().unwrap();
        let mut iter = flux.into_blocking_iter_with(2);
        let producer = thread::spawn(move || {
            assert!(single.try_emit(0).is_ok());
            assert!(single.try_emit(1).is_ok());
            single
        });
        assert_eq!(iter.next().unwrap().unwrap(), 0);
        assert_eq!(iter.next().unwrap().unwrap(), 1);
        drop(producer.join().unwrap());
        assert!(iter.next().is_none());
    });
}

/// A `SingleEmitter` meeting a full ring (capacity 1, prefetch 1): it waits a moment for room
/// (`Shared::room_soon`; under loom one yield), then drains on its own thread against the demand
/// or waits for the room the consumer's pull frees. Nothing is lost or doubled, and neither side is left parked.
#[test]
fn a_single_emitter_meeting_a_full_ring_waits_or_drains_and_loses_nothing() {
    loom::model(|| {
        let (emitter, flux) = backflow::emitter::<u32>(1);
        let single = emitter.into_single().unwrap();
        let mut iter = flux.into_blocking_iter_with(1);
        let producer = thread::spawn(move || {
            single.emit(0).unwrap();
            single.emit(1).unwrap();
            single.emit(2).unwrap();
            single
        });
        assert_eq!(iter.next().unwrap().unwrap(), 0);
        assert_eq!(iter.next().unwrap().unwrap(), 1);
        assert_eq!(iter.next().unwrap().unwrap(), 2);
        drop(producer.join().unwrap());
        assert!(iter.next().is_none());
    });
}
