//! The mpsc ring: producers race for positions with a CAS on the tail, the consumer reads slots
//! in position order. Every item ends up exactly once in one place (popped, rejected as full and
//! handed back, or dropped with the ring), each producer's items keep their order, and every item
//! is dropped once.
//!
//! The consumer never spins here while two producers run: a producer preempted between claiming
//! a position and writing it holds up everyone behind it (Vyukov's design), and loom's scheduler
//! explodes on two threads spinning on a third. Waiting on each other (one producer, one
//! consumer) is modelled separately.
#![cfg(loom)]

use backflow::queue::mpsc;
use backflow_loom_tests::DropLog;
use loom::thread;

/// Two producers push `per_producer` items each, once each, into a ring of `capacity`, while the
/// consumer tries `pops` pops; then everything left is drained and accounted for.
fn two_producers(capacity: usize, per_producer: usize, pops: usize) {
    loom::model(move || {
        let items = 2 * per_producer;
        let log = DropLog::new(items);
        let (producer, mut consumer) = mpsc::channel(capacity);
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let producer = producer.clone();
                let log = log.clone();
                thread::spawn(move || {
                    let mut rejected = Vec::new();
                    for i in 0..per_producer {
                        if let Err(full) = producer.push(log.item(w * per_producer + i)) {
                            rejected.push(full.into_inner().id);
                        }
                    }
                    rejected
                })
            })
            .collect();
        drop(producer);
        let mut popped = Vec::new();
        for _ in 0..pops {
            popped.extend(consumer.pop().map(|item| item.id));
        }
        let rejected: Vec<usize> = writers
            .into_iter()
            .flat_map(|writer| writer.join().unwrap())
            .collect();
        assert!(consumer.is_abandoned());
        popped.extend(std::iter::from_fn(|| consumer.pop()).map(|item| item.id));

        for w in 0..2 {
            let mine: Vec<_> = popped
                .iter()
                .filter(|&&id| id / per_producer == w)
                .collect();
            assert!(
                mine.windows(2).all(|p| p[0] < p[1]),
                "producer {w} reordered: {popped:?}"
            );
        }
        let mut all: Vec<_> = popped.iter().chain(&rejected).copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..items).collect::<Vec<_>>(),
            "popped {popped:?} rejected {rejected:?}"
        );
        if capacity >= items {
            assert!(rejected.is_empty());
        }
        log.assert_each_dropped_once();
    });
}

#[test]
fn producers_race_for_positions() {
    two_producers(2, 1, 2);
}

#[test]
fn producers_race_into_a_full_ring() {
    two_producers(1, 1, 1);
}

#[test]
fn each_producer_keeps_its_order() {
    two_producers(4, 2, 2);
}

#[test]
fn wrap_around_with_waiting() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (producer, mut consumer) = mpsc::channel(2);
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            for id in 0..3 {
                let mut item = writer_log.item(id);
                while let Err(full) = producer.push(item) {
                    item = full.into_inner();
                    thread::yield_now();
                }
            }
        });
        let mut ids = Vec::new();
        while ids.len() < 3 {
            match consumer.pop() {
                Some(item) => ids.push(item.id),
                None => thread::yield_now(),
            }
        }
        assert_eq!(ids, [0, 1, 2]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn leftovers_dropped_once() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (producer, mut consumer) = mpsc::channel(2);
        let other = producer.clone();
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            for id in 0..2 {
                // Full or not, the item goes in or comes back and is dropped here.
                drop(other.push(writer_log.item(id)));
            }
        });
        drop(producer.push(log.item(2)));
        drop(consumer.pop());
        drop(consumer);
        drop(producer);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

/// Weak memory: a pop that happens-before a push (here through a Release/Acquire flag) always
/// leaves room for it. A ring of one: the consumer pops the only item and raises the flag; a
/// producer that sees the flag must find the slot free (no spurious `Full` from a stale stamp or
/// a stale head, on any ordering loom explores).
#[test]
fn a_pop_that_happens_before_a_push_leaves_room() {
    loom::model(|| {
        let (producer, mut consumer) = mpsc::channel::<u32>(1);
        producer.push(1).unwrap();
        let popped = std::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let writer = {
            let producer = producer.clone();
            let popped = popped.clone();
            thread::spawn(move || {
                if popped.load(std::sync::atomic::Ordering::Acquire) {
                    assert!(producer.push(2).is_ok(), "spurious Full after a pop");
                    true
                } else {
                    false
                }
            })
        };
        assert_eq!(consumer.pop(), Some(1));
        popped.store(true, std::sync::atomic::Ordering::Release);
        let pushed = writer.join().unwrap();
        assert_eq!(consumer.pop(), pushed.then_some(2));
    });
}

/// Two producers, one slot, the consumer popping between: whoever claims second sees either the
/// item still held (`Full`, honest) or the freed slot, never a lost or doubled item.
#[test]
fn two_producers_and_a_pop_on_a_ring_of_one() {
    loom::model(|| {
        let (producer, mut consumer) = mpsc::channel::<u32>(1);
        let other = {
            let producer = producer.clone();
            thread::spawn(move || producer.push(2).is_ok())
        };
        let mine = producer.push(1).is_ok();
        let first = consumer.pop();
        let theirs = other.join().unwrap();
        let mut got: Vec<u32> = first.into_iter().collect();
        got.extend(consumer.pop());
        assert!(mine || theirs);
        assert_eq!(got.len(), usize::from(mine) + usize::from(theirs));
    });
}
