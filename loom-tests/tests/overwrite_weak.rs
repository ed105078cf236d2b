//! The drop-oldest ring on weak memory (issue 8 §2.4): `pop` must not report "empty" while the
//! ring holds an item at every instant.
//!
//! The interleaving the old code lost: the consumer popped a slot a lap ago (so that slot's stamp
//! is the consumer's own write, "free for position `h`"), the producer then pushed position `h`
//! into it and evicted the item before it, moving `head` to `h`. A consumer reading that head
//! with Relaxed could pair it with its own stale stamp and answer `None`. Loom returns stale
//! values for loads not ordered by happens-before, so it finds this; with the producer's Release
//! eviction and the consumer's Acquire head (and the tail re-check) it cannot happen.
#![cfg(loom)]

use backflow::queue::overwrite;
use loom::thread;

/// Capacity 2: the ring holds item 1 when the race starts; the producer pushes 4 and 5 (the
/// second evicts 1), so the ring is never empty while the consumer pops.
#[test]
fn pop_never_reports_empty_after_an_eviction_capacity_2() {
    loom::model(|| {
        let (mut producer, mut consumer) = overwrite::channel(2);
        assert_eq!(producer.push_overwrite(0u32), None);
        assert_eq!(producer.push_overwrite(1), None);
        assert_eq!(consumer.pop(), Some(0)); // slot 0 now stamped "free" by the consumer
        let writer = thread::spawn(move || {
            assert_eq!(producer.push_overwrite(2), None);
            let evicted = producer.push_overwrite(3);
            (producer, evicted)
        });
        let popped = consumer.pop();
        assert!(popped.is_some(), "the ring held an item at every instant");
        let (producer, evicted) = writer.join().unwrap();
        // Every item is in exactly one place.
        let mut seen: Vec<u32> = popped.into_iter().chain(evicted).collect();
        seen.extend(std::iter::from_fn(|| consumer.pop()));
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3]);
        drop(producer);
    });
}

/// Capacity 1: every push after the first evicts. The consumer pops twice while the producer
/// pushes twice; the ring is never empty once the first item is in.
#[test]
fn pop_never_reports_empty_after_an_eviction_capacity_1() {
    loom::model(|| {
        let (mut producer, mut consumer) = overwrite::channel(1);
        assert_eq!(producer.push_overwrite(0u32), None);
        assert_eq!(producer.push_overwrite(1), Some(0));
        let writer = thread::spawn(move || {
            let evicted: Vec<u32> = (2..4).filter_map(|i| producer.push_overwrite(i)).collect();
            (producer, evicted)
        });
        let first = consumer.pop();
        assert!(first.is_some(), "item 1 or a later one is held");
        let (producer, evicted) = writer.join().unwrap();
        let mut seen: Vec<u32> = first.into_iter().chain(evicted).collect();
        seen.extend(std::iter::from_fn(|| consumer.pop()));
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3]);
        drop(producer);
    });
}

/// A consumer that saw the producer's tail (through `is_empty`) must find the item `pop`: the tail
/// re-check and the stamps agree.
#[test]
fn len_then_pop_agree() {
    loom::model(|| {
        let (mut producer, mut consumer) = overwrite::channel(2);
        let writer = thread::spawn(move || {
            assert_eq!(producer.push_overwrite(7u32), None);
            producer
        });
        if !consumer.is_empty() {
            assert_eq!(consumer.pop(), Some(7));
        }
        let _producer = writer.join().unwrap();
    });
}
