//! The drop-oldest ring: the producer's eviction races the consumer's pop for the oldest item.
//! Every item ends up exactly once in one place (popped, evicted back to the producer, or dropped
//! with the ring), pops and evictions each come out in order, and every item is dropped once.
#![cfg(loom)]

use backflow::queue::overwrite;
use backflow_loom_tests::DropLog;
use loom::thread;

/// Pushes `items` items into a ring of `capacity` while the consumer tries `pops` pops, then
/// checks where every item went.
fn race(capacity: usize, items: usize, pops: usize) {
    loom::model(move || {
        let log = DropLog::new(items);
        let (mut producer, mut consumer) = overwrite::channel(capacity);
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            let mut evicted = Vec::new();
            for id in 0..items {
                if let Some(old) = producer.push_overwrite(writer_log.item(id)) {
                    evicted.push(old.id);
                }
            }
            evicted
        });
        let mut popped = Vec::new();
        for _ in 0..pops {
            if let Some(item) = consumer.pop() {
                popped.push(item.id);
            }
        }
        let evicted = writer.join().unwrap();
        let left: Vec<_> = std::iter::from_fn(|| consumer.pop())
            .map(|item| item.id)
            .collect();

        assert!(
            popped.windows(2).all(|w| w[0] < w[1]),
            "pops out of order: {popped:?}"
        );
        assert!(
            evicted.windows(2).all(|w| w[0] < w[1]),
            "evictions out of order: {evicted:?}"
        );
        assert!(left.len() <= capacity);
        let mut all: Vec<_> = popped
            .iter()
            .chain(&evicted)
            .chain(&left)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..items).collect::<Vec<_>>(),
            "popped {popped:?} evicted {evicted:?} left {left:?}"
        );
        log.assert_each_dropped_once();
    });
}

#[test]
fn eviction_races_pop_capacity_1() {
    race(1, 3, 2);
}

#[test]
fn eviction_races_pop_capacity_2() {
    race(2, 4, 2);
}

#[test]
fn eviction_races_pop_across_laps() {
    race(2, 5, 3);
}

#[test]
fn leftovers_dropped_once() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (mut producer, mut consumer) = overwrite::channel(2);
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            for id in 0..3 {
                drop(producer.push_overwrite(writer_log.item(id)));
            }
        });
        drop(consumer.pop());
        drop(consumer);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}
